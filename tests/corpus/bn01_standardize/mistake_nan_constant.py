"""No guard for constant features: 0/0 = NaN (and noise / 1e-16 for the 3.7s). Named,
at most half of standardize."""

KIND = "mistake"

ANSWERS = {
    "standardize": """def standardize(X, mean, std):
    return (X - mean) / std
"""
}

SCORE = (8.5, 8.5)
CELLS = {"standardize_handles_constant_features": (0, 1)}
MISTAKES = ["nan_constant"]
