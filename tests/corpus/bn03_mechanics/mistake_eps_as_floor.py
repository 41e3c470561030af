"""eps used as a floor, sqrt(max(var, eps)): not 'eps missing'."""

KIND = "mistake"
SCORE = (0, 7.5)
CELLS = {"bn_forward_matches_reference": (0, 1), "bn_forward_edge_cases": (0, 0.5)}
MISTAKES = ["eps_as_floor"]
ABSENT = ["eps_missing"]
REPLACE = {"batchnorm_forward": [("np.sqrt(var + eps)", "np.sqrt(np.maximum(var, eps))")]}
