"""A learner renamed fit_standardizer to fit_standardiser (British spelling): its two tests
raise NameError (one short line, no traceback), the split that calls it scores 0 with a
short message; the other functions keep their points: 6 of 11."""

KIND = "renamed"
ANSWERS = {
    "fit_standardizer": """def fit_standardiser(X):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"got shape {X.shape}")
    return X.mean(0), X.std(0)
"""
}
SCORE = (6, 6)
FEEDBACK = ["name 'fit_standardizer' is not defined"]
