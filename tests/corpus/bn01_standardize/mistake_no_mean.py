"""Forgot to subtract the mean: X / std. Named, at most half of standardize."""

KIND = "mistake"

REPLACE = {"standardize": [("(X - mean) / safe)", "X / safe)")]}

SCORE = (7, 7)
CELLS = {"standardize_handles_constant_features": (0, 1)}
MISTAKES = ["no_mean"]
