"""Unbiased variance written by hand, sum of squares / (N - 1): named, and no case passes.
Regression (review 2026-12-04): the float32 large-mean spatial case had rtol 2e-2 on every
output, and the N-1 variance (1.7e-2 off there) passed it."""

KIND = "mistake"
SCORE = (0, 0)
CELLS = {"bn_forward_matches_reference": (0, 0), "bn_forward_edge_cases": (0, 0),
         "spatial_bn_edge_cases": (0, 0)}  # fmt: skip
MISTAKES = ["unbiased_variance"]
REPLACE = {
    "batchnorm_forward": [
        ("x.var(axis=0)", "((x - mu) ** 2).sum(axis=0) / (x.shape[0] - 1)"),
    ]
}
