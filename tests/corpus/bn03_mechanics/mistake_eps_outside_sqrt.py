"""eps added outside the square root."""

KIND = "mistake"
SCORE = (0, 7.5)
CELLS = {"bn_forward_matches_reference": (0, 1), "bn_forward_edge_cases": (0, 0.5)}
MISTAKES = ["eps_outside_sqrt"]
REPLACE = {"batchnorm_forward": [("np.sqrt(var + eps)", "np.sqrt(var) + eps")]}
