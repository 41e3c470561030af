"""Correct values, but standardize subtracts the mean from the caller's X in place
(X -= mean): full marks minus 25% of each test it runs in: standardize (2 -> 1.5) and
standardize_split, which calls it on X_train (2 -> 1.5)."""

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

SCORE = (10, 10)
CELLS = {
    "standardize_handles_constant_features": (1.5, 1.5),
    "standardize_split_uses_training_statistics": (1.5, 1.5),
}
FEEDBACK = ["changed its argument `X`", "changed its argument `X_train`"]
ABSENT = ["calls_reference"]
