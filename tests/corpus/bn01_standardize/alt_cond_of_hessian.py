"""Correct, other style: np.linalg.cond of X^T X / N with an explicit singular test,
standardize via np.nan_to_num-free masking, min-max with np.ptp-style bounds. Full marks."""

KIND = "correct"

ANSWERS = {
    "hessian_condition_number": """def hessian_condition_number(X):
    X = np.asarray(X, dtype=np.float64)
    H = X.T @ X / len(X)
    lam = np.linalg.eigvalsh(H)
    if not lam[-1] > 0 or lam[0] <= 1e-12 * lam[-1]:
        return np.inf
    return float(np.linalg.cond(H))
""",
    "standardize": """def standardize(X, mean, std):
    Z = np.array(X, dtype=np.float64, copy=True)
    for j, (m, s) in enumerate(zip(mean, std)):
        Z[:, j] = 0.0 if s <= 1e-12 * max(1.0, abs(m)) else (Z[:, j] - m) / s
    return Z
""",
    "min_max_scale": """def min_max_scale(X, lo, hi):
    lo = np.asarray(lo, dtype=float)
    rng = np.asarray(hi, dtype=float) - lo
    return np.divide(X - lo, rng, out=np.zeros(np.shape(X)), where=rng != 0)
""",
}

SCORE = (11, 11)
ABSENT = ["calls_reference"]
