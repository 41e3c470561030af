"""dgamma and dbeta returned in each other's place."""

KIND = "mistake"
SCORE = (0, 7.5)
CELLS = {"bn_backward_matches_reference": (0, 1), "bn_backward_edge_cases": (0, 0.5)}
MISTAKES = ["dgamma_dbeta_swapped"]
REPLACE = {"batchnorm_backward": [("return dx, dgamma, dbeta", "return dx, dbeta, dgamma")]}
