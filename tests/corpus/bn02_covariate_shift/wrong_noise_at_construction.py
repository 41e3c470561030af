"""Draws scale and shift once, in __init__."""

ANSWERS = {
    "NoisyBatchNorm1d": """class NoisyBatchNorm1d(nn.Module):
    def __init__(self, num_features, noise=1.0, generator=None):
        super().__init__()
        self.bn = nn.BatchNorm1d(num_features)
        self.shift = (torch.rand(num_features, generator=generator) * 2 - 1) * noise
        self.scale = 1 + torch.rand(num_features, generator=generator) * noise

    def forward(self, x):
        y = self.bn(x)
        return y * self.scale + self.shift if self.training else y
"""
}
SCORE = (10, 10)
CELLS = {"noisy_batchnorm_behaviour": (0, 1.5)}
MISTAKES = ["noise_at_construction"]
KIND = "mistake"
