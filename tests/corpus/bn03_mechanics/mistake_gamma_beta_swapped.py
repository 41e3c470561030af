"""gamma and beta swapped."""

KIND = "mistake"
SCORE = (0, 7.5)
CELLS = {"bn_forward_matches_reference": (0, 1), "bn_forward_edge_cases": (0, 0.5)}
MISTAKES = ["gamma_beta_swapped"]
REPLACE = {"batchnorm_forward": [("out = gamma * x_hat + beta", "out = beta * x_hat + gamma")]}
