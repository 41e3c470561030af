"""fold_bn scales columns (W * s[None, :]) instead of rows: broadcasting fails on most
shapes (the exception and the learner's line, shown once each) and the (1, 4) layer is
right by accident: fold test 0.5 of 2."""

REPLACE = {
    "fold_bn": [
        (
            "return W * s[:, None], (b - running_mean) * s + beta",
            "return W * s[None, :], (b - running_mean) * s + beta",
        )
    ]
}
SCORE = (10, 10.5)
CELLS = {"fold_bn_matches_bn_after_linear": (0, 0.5)}
KIND = "mistake"
