"""The folded bias misses -running_mean * s: named, fold test at most half."""

KIND = "mistake"

REPLACE = {"fold_bn": [("(b - running_mean) * s + beta", "b * s + beta")]}

SCORE = (10, 11)
CELLS = {"fold_bn_matches_bn_after_linear": (0, 1)}
MISTAKES = ["fold_bias_no_mean"]
ABSENT = ["calls_reference"]
