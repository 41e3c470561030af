"""Adds the noise in eval mode too."""

REPLACE = {"NoisyBatchNorm1d": [("        if not self.training:\n            return y\n", "")]}
SCORE = (10, 10)
CELLS = {"noisy_batchnorm_behaviour": (0, 1.5)}
MISTAKES = ["noise_in_eval"]
KIND = "mistake"
