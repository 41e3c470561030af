"""Correct, float32 arithmetic (regression: the float32 cases allowed only float64 rounding,
10.1/11): for float32 input every function computes in float32 (the statistics are cast to
float64 at the end, as the task asks). Full marks expected: the dtype of
standardize/min_max/split is free and the values are right to float32 rounding."""

KIND = "correct"
ANSWERS = {
    "fit_standardizer": """def fit_standardizer(X):
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must be 2-D with rows, got shape {X.shape}")
    mean = X.mean(axis=0)
    std = np.sqrt(((X - mean) ** 2).mean(axis=0))
    return mean.astype(np.float64), std.astype(np.float64)
""",
    "standardize": """def standardize(X, mean, std):
    dt = X.dtype
    mean = np.asarray(mean).astype(dt)
    std = np.asarray(std).astype(dt)
    const = std <= 1e-12 * np.maximum(1, np.abs(mean))
    Z = (X - mean) / np.where(const, np.ones_like(std), std)
    Z[:, const] = 0
    return Z
""",
    "min_max_scale": """def min_max_scale(X, lo, hi):
    lo = np.asarray(lo).astype(X.dtype)
    hi = np.asarray(hi).astype(X.dtype)
    span = hi - lo
    out = (X - lo) / np.where(span == 0, np.ones_like(span), span)
    out[:, span == 0] = 0
    return out
""",
    "standardize_split": """def standardize_split(X_train, X_test):
    dt = X_train.dtype
    m = X_train.mean(axis=0)
    s = X_train.std(axis=0)
    const = s <= 1e-12 * np.maximum(1, np.abs(m))
    s = np.where(const, np.ones_like(s), s)
    zt, zs = (X_train - m) / s, (X_test.astype(dt) - m) / s
    zt[:, const] = 0
    zs[:, const] = 0
    return zt, zs
""",
}
SCORE = (11, 11)
ABSENT = ["calls_reference"]
