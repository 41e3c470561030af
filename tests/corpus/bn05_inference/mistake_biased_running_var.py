"""The running variance is fed the biased batch variance (Keras's choice, not torch's):
named, training test at most half."""

KIND = "mistake"

REPLACE = {"batchnorm_class": [("m * var * n / (n - 1)", "m * var")]}

SCORE = (9, 10.5)
CELLS = {"batchnorm_training_updates_running_stats": (0, 1.5)}
MISTAKES = ["biased_running_var"]
ABSENT = ["calls_reference"]
