"""Degenerate: the visible cases' printed values pasted in. Hidden cases score: <= 10%."""

KIND = "degenerate"
DEGENERATE = "pasted"

ANSWERS = {
    "fit_standardizer": """def fit_standardizer(X):
    return np.array([1.5, -20.0, 3.0, 0.2, 7.0]), np.array([0.9, 2.0, 0.3, 0.05, 1.2])
""",
    "standardize": """def standardize(X, mean, std):
    return np.ones((30, 4))
""",
    "min_max_scale": """def min_max_scale(X, lo, hi):
    return np.full((23, 3), 0.5)
""",
    "hessian_condition_number": """def hessian_condition_number(X):
    return 3.42392
""",
    "standardize_split": """def standardize_split(X_train, X_test):
    return np.zeros((30, 4)), np.ones((7, 4))
""",
}

SCORE = (0, 1.1)
