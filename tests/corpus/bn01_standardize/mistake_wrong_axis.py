"""Statistics per sample (axis=1) instead of per feature: named, at most half."""

KIND = "mistake"

REPLACE = {
    "fit_standardizer": [
        ("mean = X.mean(axis=0)", "mean = X.mean(axis=1)"),
        ("std = np.sqrt(np.mean((X - mean) ** 2, axis=0))", "std = X.std(axis=1)"),
    ]
}
ANSWERS = {
    "standardize_split": """def standardize_split(X_train, X_test):
    m, s = X_train.mean(axis=0), X_train.std(axis=0)
    const = s <= 1e-12 * np.maximum(1.0, np.abs(m))
    f = lambda X: np.where(const, 0.0, (X - m) / np.where(const, 1.0, s))
    return f(X_train), f(X_test)
"""
}

SCORE = (9, 9)
CELLS = {"fit_standardizer_matches_numpy": (0, 1)}
MISTAKES = ["wrong_axis"]
