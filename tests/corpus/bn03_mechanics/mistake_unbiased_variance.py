"""The forward pass divides the variance by N-1."""

KIND = "mistake"
SCORE = (0, 7.5)
CELLS = {"bn_forward_matches_reference": (0, 1), "bn_forward_edge_cases": (0, 0.5)}
MISTAKES = ["unbiased_variance"]
REPLACE = {"batchnorm_forward": [("x.var(axis=0)", "x.var(axis=0, ddof=1)")]}
