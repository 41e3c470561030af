"""Statistics over axis 1 (layer norm)."""

KIND = "mistake"
SCORE = (0, 7.5)
CELLS = {"bn_forward_matches_reference": (0, 1), "bn_forward_edge_cases": (0, 0.5)}
MISTAKES = ["stats_per_example"]
REPLACE = {
    "batchnorm_forward": [
        ("x.mean(axis=0)", "x.mean(axis=1, keepdims=True)"),
        ("x.var(axis=0)", "x.var(axis=1, keepdims=True)"),
    ]
}
