"""An endless loop in every function: stopped by the time limit, graded, no traceback."""

ANSWERS = {
    "layer_input_percentiles": """def layer_input_percentiles(model, layer, x, q=(15, 50, 85)):
    while True:
        pass
""",
    "ics": """def ics(grad_before, grad_after):
    while True:
        pass
""",
    "gradient_shift": """def gradient_shift(model, loss_fn, x, y, layer, lr):
    while True:
        pass
""",
    "NoisyBatchNorm1d": """class NoisyBatchNorm1d(nn.Module):
    def __init__(self, num_features, noise=1.0, generator=None):
        super().__init__()

    def forward(self, x):
        while True:
            pass
""",
}
SCORE = (0, 1.3)
STATUS = "graded"
KIND = "degenerate"
DEGENERATE = "endless loop"
