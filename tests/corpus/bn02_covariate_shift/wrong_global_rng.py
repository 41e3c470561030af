# ruff: noqa: E501
"""Draws the noise from torch's global generator."""

REPLACE = {
    "NoisyBatchNorm1d": [
        ("shift = (torch.rand(c, generator=self.generator, dtype", "shift = (torch.rand(c, dtype"),
        (
            "scale = 1 + torch.rand(c, generator=self.generator, dtype",
            "scale = 1 + torch.rand(c, dtype",
        ),
    ]
}
SCORE = (10, 10)
CELLS = {"noisy_batchnorm_behaviour": (0, 1.5)}
MISTAKES = ["global_rng"]
KIND = "mistake"
