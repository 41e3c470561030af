"""Correct, other style: plain loops over the columns; the condition number from the
eigenvalues of X^T X without dividing by N (the same ratio: NOT a mistake). Full marks."""

KIND = "correct"

ANSWERS = {
    "fit_standardizer": """def fit_standardizer(X):
    import math
    X = np.asarray(X)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError("need a 2-D array with rows, got shape " + str(X.shape))
    n, d = X.shape
    mean = np.empty(d)
    std = np.empty(d)
    for j in range(d):
        col = [float(v) for v in X[:, j]]
        m = sum(col) / n
        mean[j] = m
        std[j] = math.sqrt(sum((v - m) ** 2 for v in col) / n)
    return mean, std
""",
    "standardize": """def standardize(X, mean, std):
    Z = np.zeros(X.shape)
    for j in range(X.shape[1]):
        if std[j] > 1e-12 * max(1.0, abs(mean[j])):
            Z[:, j] = (X[:, j] - mean[j]) / std[j]
    return Z
""",
    "min_max_scale": """def min_max_scale(X, lo, hi):
    out = np.zeros(X.shape)
    for j in range(X.shape[1]):
        if hi[j] != lo[j]:
            out[:, j] = (X[:, j] - lo[j]) / (hi[j] - lo[j])
    return out
""",
    "hessian_condition_number": """def hessian_condition_number(X):
    A = np.asarray(X, dtype=float)
    lam = np.linalg.eigvalsh(A.T @ A)  # no /N: the ratio is the same
    if lam.max() <= 0 or lam.min() <= 1e-12 * lam.max():
        return float("inf")
    return lam.max() / lam.min()
""",
}

SCORE = (11, 11)
ABSENT = ["calls_reference", "singular_values"]
