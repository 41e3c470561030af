"""Degenerate: right ideas, wrong types (lists, a string, a dict). Short messages, <= 10%."""

KIND = "degenerate"
DEGENERATE = "wrong type"

ANSWERS = {
    "fit_standardizer": """def fit_standardizer(X):
    return {"mean": X.mean(0), "std": X.std(0)}
""",
    "standardize": """def standardize(X, mean, std):
    return "standardized"
""",
    "min_max_scale": """def min_max_scale(X, lo, hi):
    return [[0.0]]
""",
    "hessian_condition_number": """def hessian_condition_number(X):
    return "large"
""",
    "standardize_split": """def standardize_split(X_train, X_test):
    return [X_train]
""",
}

SCORE = (0, 1.1)
