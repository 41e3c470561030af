"""Gradient predictiveness as the sum of one norm per parameter tensor."""

REPLACE = {
    "gradient_predictiveness": [
        (
            "diff = torch.cat([(a - b).reshape(-1) for a, b in zip(g0, g1)])  # (all params,)\n"
            "            changes.append(diff.norm())",
            "changes.append(sum((a - b).norm() for a, b in zip(g0, g1)))",
        )
    ]
}
SCORE = (8, 8)
CELLS = {"gradient_predictiveness_values_and_model_unchanged": (0, 0)}
MISTAKES = ["per_tensor"]
KIND = "mistake"
