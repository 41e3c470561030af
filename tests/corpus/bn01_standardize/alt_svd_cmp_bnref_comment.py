"""Correct, other style: singular values of X squared for the condition number, np.divide
with where=, a comment naming bnref, and checks.cmp used inside an answer. Full marks."""

KIND = "correct"

ANSWERS = {
    "fit_standardizer": """def fit_standardizer(X):
    # like bnref.numpy's batch statistics: biased variance (ddof=0)
    if np.ndim(X) != 2 or np.shape(X)[0] < 1:
        raise ValueError(f"fit_standardizer: bad shape {np.shape(X)}")
    X64 = np.array(X, dtype=np.float64)
    mean = np.mean(X64, axis=0)
    std = np.std(X64, axis=0)
    checks.cmp("std via var", np.sqrt(np.var(X64, axis=0)), std)
    return mean, std
""",
    "standardize": """def standardize(X, mean, std):
    keep = std > 1e-12 * np.maximum(1, np.abs(mean))
    out = np.zeros(np.shape(X))
    np.divide(X - mean, std, out=out, where=np.broadcast_to(keep, np.shape(X)))
    return out
""",
    "hessian_condition_number": """def hessian_condition_number(X):
    s = np.linalg.svd(np.asarray(X, np.float64), compute_uv=False)
    lam_max, lam_min = s.max() ** 2, s.min() ** 2  # eigenvalues of X^T X are s**2
    if lam_max == 0 or lam_min <= 1e-12 * lam_max:
        return np.inf
    return lam_max / lam_min
""",
}

SCORE = (11, 11)
ABSENT = ["calls_reference", "singular_values"]
