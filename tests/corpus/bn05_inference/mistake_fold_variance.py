"""Fold divides gamma by the variance, not the standard deviation: named."""

KIND = "mistake"

REPLACE = {
    "fold_bn": [("s = gamma / np.sqrt(running_var + eps)", "s = gamma / (running_var + eps)")]
}

SCORE = (10, 11)
CELLS = {"fold_bn_matches_bn_after_linear": (0, 1)}
MISTAKES = ["fold_variance"]
ABSENT = ["calls_reference"]
