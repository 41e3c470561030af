"""Correct (regression: a ValueError subclass was "not a ValueError", 10/11): fit_standardizer
raises its own ValueError subclass (class ShapeError(ValueError)) whose message names the
shape, and returns a list [mean, std] (the container is free); keepdims statistics flattened
with ravel; debugging prints left in. Full marks."""

KIND = "correct"
ANSWERS = {
    "fit_standardizer": """class ShapeError(ValueError):
    pass


def fit_standardizer(X):
    X = np.asarray(X, dtype=np.float64)
    print("fit_standardizer got", X.shape)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ShapeError(f"X must be 2-D with at least one row, got shape {X.shape}")
    mean = X.mean(axis=0, keepdims=True)
    std = np.sqrt(((X - mean) ** 2).mean(axis=0, keepdims=True))
    return [mean.ravel(), std.ravel()]
""",
}
SCORE = (11, 11)
