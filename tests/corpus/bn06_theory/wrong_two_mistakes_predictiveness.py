"""Two mistakes at once in gradient_predictiveness: the uphill step AND a sum of per-tensor
norms. No single mutant matches on every case, so neither is named: the feedback says
which output is wrong, on which case, by how much."""

REPLACE = {
    "gradient_predictiveness": [
        ("p.copy_(p0 - eta * g)", "p.copy_(p0 + eta * g)"),
        (
            "diff = torch.cat([(a - b).reshape(-1) for a, b in zip(g0, g1)])  # (all params,)",
            "diff = sum((a - b).norm() for a, b in zip(g0, g1))",
        ),
    ]
}
SCORE = (8, 8)
CELLS = {"gradient_predictiveness_values_and_model_unchanged": (0, 0)}
ABSENT = ["ascent", "per_tensor"]
FEEDBACK = ["gradient change is wrong on"]
KIND = "mistake"
