"""eps added outside the square root, (x - mu) / (sqrt(var) + eps): named (training and
inference)."""

KIND = "mistake"

REPLACE = {"batchnorm_class": [("np.sqrt(var + self.eps)", "(np.sqrt(var) + self.eps)")]}

SCORE = (6, 10.5)
CELLS = {"batchnorm_training_updates_running_stats": (0, 1.5)}
MISTAKES = ["eps_outside_sqrt"]
ABSENT = ["calls_reference"]
