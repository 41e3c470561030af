"""The running statistics are updated at every call, inference included: named."""

KIND = "mistake"

REPLACE = {
    "batchnorm_class": [
        (
            "if training:\n            n = x.shape[0]\n            if n < 2:",
            "if True:\n            n = x.shape[0]\n            if training and n < 2:",
        ),
        ("        else:\n            mu, var = self.running_mean, self.running_var\n", ""),
    ]
}

SCORE = (9, 11)
CELLS = {"batchnorm_inference_uses_running_stats": (0, 1)}
MISTAKES = ["updates_in_inference"]
ABSENT = ["calls_reference"]
