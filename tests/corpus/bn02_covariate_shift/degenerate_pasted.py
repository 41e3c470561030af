"""The visible cases' printed values pasted as constants: hidden cases score nothing."""

ANSWERS = {
    "layer_input_percentiles": """def layer_input_percentiles(model, layer, x, q=(15, 50, 85)):
    # the numbers the visible test printed, typed in
    return torch.tensor([[-0.61, -0.58, -0.66, -0.57], [0.02, -0.01, 0.03, 0.0],
                         [0.63, 0.6, 0.65, 0.59]], dtype=x.dtype)
""",
    "NoisyBatchNorm1d": """class NoisyBatchNorm1d(nn.Module):
    def __init__(self, num_features, noise=1.0, generator=None):
        super().__init__()

    def forward(self, x):
        return x * 0.97 + 0.01
""",
    "ics": """def ics(grad_before, grad_after):
    if all(g.abs().sum() == 0 for g in grad_before) or all(g.abs().sum() == 0 for g in grad_after):
        raise ValueError("zero")
    return 1.7, 0.9
""",
    "gradient_shift": """def gradient_shift(model, loss_fn, x, y, layer, lr):
    return 0.05, 0.99
""",
}
SCORE = (0, 1.3)
KIND = "degenerate"
DEGENERATE = "pasted"
