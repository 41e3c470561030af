"""Correct values, but standardize subtracts the mean from the caller's X in place
(X -= mean): full marks minus 25% of that test (2 -> 1.5)."""

KIND = "mutation"

ANSWERS = {
    "standardize": """def standardize(X, mean, std):
    const = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
    if X.dtype == np.float64:
        X -= mean
        return np.where(const, 0.0, X / np.where(const, 1.0, std))
    return np.where(const, 0.0, (X - mean) / np.where(const, 1.0, std))
"""
}

SCORE = (10.5, 10.5)
CELLS = {"standardize_handles_constant_features": (1.5, 1.5)}
FEEDBACK = ["changed its argument `X`"]
ABSENT = ["calls_reference"]
