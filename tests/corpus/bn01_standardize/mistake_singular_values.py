"""The ratio of the singular values of X (np.linalg.cond(X)): the square root of the
answer. Named, at most half of hessian_condition_number."""

KIND = "mistake"

ANSWERS = {
    "hessian_condition_number": """def hessian_condition_number(X):
    s = np.linalg.svd(np.asarray(X, dtype=np.float64), compute_uv=False)
    if s[0] == 0 or s[-1] ** 2 <= 1e-12 * s[0] ** 2:
        return np.inf
    return s[0] / s[-1]
"""
}

SCORE = (9.8, 9.8)
CELLS = {"hessian_condition_number_is_lambda_ratio": (0, 1)}
MISTAKES = ["singular_values"]
