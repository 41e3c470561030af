"""Test split standardized with its own statistics: named, at most half of the split."""

KIND = "mistake"

ANSWERS = {
    "standardize_split": """def standardize_split(X_train, X_test):
    return (standardize(X_train, *fit_standardizer(X_train)),
            standardize(X_test, *fit_standardizer(X_test)))
"""
}

SCORE = (9, 9)
CELLS = {"standardize_split_uses_training_statistics": (0, 1)}
MISTAKES = ["fit_on_test"]
