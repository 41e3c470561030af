"""Correct values, but forward centres the caller's x in place (x -= mu) for float64
input: full marks minus 25% of the training (3 -> 2.25) and inference (2 -> 1.5) tests."""

KIND = "mutation"

REPLACE = {
    "batchnorm_class": [
        (
            "        return self.gamma * (x - mu) / np.sqrt(var + self.eps) + self.beta  # (N, D)",
            "        x -= mu\n        return self.gamma * x / np.sqrt(var + self.eps) + self.beta",
        )
    ]
}

SCORE = (10.75, 10.75)
CELLS = {
    "batchnorm_training_updates_running_stats": (2.25, 2.25),
    "batchnorm_inference_uses_running_stats": (1.5, 1.5),
}
FEEDBACK = ["changed its argument `x`"]
ABSENT = ["calls_reference"]
