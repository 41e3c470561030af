"""The folded bias drops the layer bias b: named (right only where b is None)."""

KIND = "mistake"

REPLACE = {"fold_bn": [("(b - running_mean) * s + beta", "-running_mean * s + beta")]}

SCORE = (10, 11)
CELLS = {"fold_bn_matches_bn_after_linear": (0, 1)}
MISTAKES = ["fold_bias_no_b"]
ABSENT = ["calls_reference"]
