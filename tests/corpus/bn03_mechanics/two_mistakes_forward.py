"""Two forward mistakes at once (N-1 variance and gamma/beta swapped): no single named
mistake matches, so none may be named; the feedback says which output, where, how much."""

KIND = "two mistakes"
SCORE = (0, 4.5)
CELLS = {"bn_forward_matches_reference": (0, 0), "bn_forward_edge_cases": (0, 0)}
ABSENT = ["unbiased_variance", "gamma_beta_swapped"]
MISTAKES = ["unknown"]
FEEDBACK = ["out is wrong on"]
REPLACE = {
    "batchnorm_forward": [
        ("x.var(axis=0)", "x.var(axis=0, ddof=1)"),
        ("out = gamma * x_hat + beta", "out = beta * x_hat + gamma"),
    ]
}
