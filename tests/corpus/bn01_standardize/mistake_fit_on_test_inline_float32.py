"""Regression (it was not named: the float32 case, computed in float32, missed the float64
tolerance): the test split standardized with its own mean/std, written inline with X_test.mean(0):
named fit_on_test, the split <= 1 of 2."""

KIND = "mistake"
ANSWERS = {
    "standardize_split": """def standardize_split(X_train, X_test):
    out = []
    for part in (X_train, X_test):
        mu, sd = part.mean(0), part.std(0)
        out.append(standardize(part, mu, sd))
    return tuple(out)
"""
}
SCORE = (9, 9)
CELLS = {"standardize_split_uses_training_statistics": (0, 1)}
MISTAKES = ["fit_on_test"]
