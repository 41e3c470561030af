"""The momentum weights the old value (Keras/CS231n convention inside a torch-style
layer): named."""

KIND = "mistake"

REPLACE = {
    "batchnorm_class": [
        (
            "self.running_mean = (1 - m) * self.running_mean + m * mu",
            "self.running_mean = m * self.running_mean + (1 - m) * mu",
        ),
        (
            "self.running_var = (1 - m) * self.running_var + m * var * n / (n - 1)",
            "self.running_var = m * self.running_var + (1 - m) * var * n / (n - 1)",
        ),
    ]
}

SCORE = (9, 10.5)
CELLS = {"batchnorm_training_updates_running_stats": (0, 1.5)}
MISTAKES = ["momentum_swapped"]
ABSENT = ["calls_reference"]
