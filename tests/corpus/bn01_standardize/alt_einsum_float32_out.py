"""Correct, other style: einsum statistics, float32 results kept float32 in standardize
and min_max_scale (their dtype is free), the split without the Part A helpers. Full marks."""

KIND = "correct"

ANSWERS = {
    "fit_standardizer": """def fit_standardizer(X):
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"expected (N, D) with N >= 1, got {X.shape}")
    X = X.astype("float64")
    n = X.shape[0]
    mean = np.einsum("nd->d", X) / n
    centered = X - mean
    std = np.sqrt(np.einsum("nd,nd->d", centered, centered) / n)
    return mean, std
""",
    "standardize": """def standardize(X, mean, std):
    X = np.asarray(X)
    const = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
    z = (X.astype(np.float64) - mean) / np.where(const, 1.0, std)
    z[:, const] = 0.0
    return z.astype(X.dtype) if X.dtype == np.float32 else z
""",
    "min_max_scale": """def min_max_scale(X, lo, hi):
    width = hi - lo
    z = (X.astype(np.float64) - lo) / np.where(width == 0, 1.0, width)
    z[:, width == 0] = 0.0
    return z.astype(X.dtype)
""",
    "standardize_split": """def standardize_split(X_train, X_test):
    A = np.asarray(X_train, np.float64)
    mu, sd = A.mean(0), A.std(0)
    ok = sd > 1e-12 * np.maximum(1.0, np.abs(mu))
    scale = np.where(ok, sd, np.inf)  # dividing by inf gives 0 for constant features
    return (A - mu) / scale * ok, (np.asarray(X_test, np.float64) - mu) / scale * ok
""",
}

SCORE = (11, 11)
ABSENT = ["calls_reference"]
