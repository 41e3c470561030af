"""Inference normalizes with the batch statistics instead of the running ones: named."""

KIND = "mistake"

REPLACE = {
    "batchnorm_class": [
        (
            "mu, var = self.running_mean, self.running_var",
            "mu, var = x.mean(axis=0), x.var(axis=0)",
        ),
    ]
}

SCORE = (10, 11)
CELLS = {"batchnorm_inference_uses_running_stats": (0, 1)}
MISTAKES = ["inference_batch_stats"]
ABSENT = ["calls_reference"]
