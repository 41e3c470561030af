"""Dividing by the variance instead of the std: named, at most half of standardize."""

KIND = "mistake"

REPLACE = {"standardize": [("(X - mean) / safe)", "(X - mean) / safe**2)")]}

SCORE = (7, 7)
CELLS = {"standardize_handles_constant_features": (0, 1)}
MISTAKES = ["variance"]
