"""Correct values, but the forward pass normalizes x in place (x -= mu; x /= std)."""

KIND = "mutation"
# forward tests lose 25% each (2 -> 1.5, 1 -> 0.75); the spatial edge cases lose 25% of their
# forward half where the spatial rows are a view of x (H=W=1, C=1), so x changes there too
SCORE = (8.0, 8.25)
CELLS = {"bn_forward_matches_reference": (1.5, 1.5), "bn_forward_edge_cases": (0.75, 0.75),
         "bn_backward_matches_reference": (2, 2), "bn_backward_edge_cases": (1, 1)}  # fmt: skip
MISTAKES = ["modifies_input"]
FEEDBACK = ["batchnorm_forward changed its argument `x`"]
REPLACE = {
    "batchnorm_forward": [
        ("    x_hat = (x - mu) / std  # (N, D)", "    x -= mu\n    x /= std\n    x_hat = x")
    ]
}
