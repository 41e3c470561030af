"""Zeros and constants of the right shape: a right shape alone earns nothing."""

ANSWERS = {
    "layer_input_percentiles": """def layer_input_percentiles(model, layer, x, q=(15, 50, 85)):
    units = layer.weight.shape[1] if hasattr(layer, "weight") and layer.weight.dim() == 2 else 8
    return torch.zeros(len(q), units, dtype=x.dtype)
""",
    "ics": """def ics(grad_before, grad_after):
    return 0.0, 1.0
""",
    "gradient_shift": """def gradient_shift(model, loss_fn, x, y, layer, lr):
    return 0.0, 1.0
""",
    "NoisyBatchNorm1d": """class NoisyBatchNorm1d(nn.Module):
    def __init__(self, num_features, noise=1.0, generator=None):
        super().__init__()

    def forward(self, x):
        return x
""",
}
SCORE = (0, 1.3)
KIND = "degenerate"
DEGENERATE = "zeros"
