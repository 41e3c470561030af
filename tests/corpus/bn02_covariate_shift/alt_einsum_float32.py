# ruff: noqa: E501
"""Correct in another style: einsum for the cosine, float32 percentiles kept in float32,
the noise drawn with torch.rand(..., generator=) in one call and split."""

ANSWERS = {
    "ics": """def ics(grad_before, grad_after):
    a = torch.cat([t.reshape(-1) for t in grad_before]).to(torch.float64)
    b = torch.cat([t.reshape(-1) for t in grad_after]).to(torch.float64)
    na, nb = torch.sqrt(torch.einsum("i,i->", a, a)), torch.sqrt(torch.einsum("i,i->", b, b))
    if na.item() == 0 or nb.item() == 0:
        raise ValueError("ics: a gradient is all zeros")
    d = a - b
    return float(torch.sqrt(torch.einsum("i,i->", d, d))), float(torch.einsum("i,i->", a, b) / (na * nb))
""",
    "NoisyBatchNorm1d": """class NoisyBatchNorm1d(nn.BatchNorm1d):
    def __init__(self, num_features, noise=1.0, generator=None):
        super().__init__(num_features)
        self.noise_level = noise
        self.noise_generator = generator

    def forward(self, x):
        y = super().forward(x)
        if self.training:
            u = torch.rand(2, y.shape[1], generator=self.noise_generator).to(y.dtype)
            y = y * (1 + self.noise_level * u[0]) + self.noise_level * (2 * u[1] - 1)
        return y
""",
}
SCORE = (13, 13)
KIND = "correct"
