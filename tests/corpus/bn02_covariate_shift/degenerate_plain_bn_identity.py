# ruff: noqa: E501
"""Degenerate (regression: plain BN was told its noise was "drawn once, in __init__"): percentiles return x itself, ics returns (0.0, 1.0), gradient_shift the same,
NoisyBatchNorm1d is plain nn.BatchNorm1d (no noise). <= 10%; NoisyBatchNorm1d must NOT be
told its noise is 'drawn once in __init__' (it has none)."""

KIND = "degenerate"
DEGENERATE = "no-op"
ANSWERS = {
    "layer_input_percentiles": "def layer_input_percentiles(model, layer, x, q=(15, 50, 85)):\n    return x\n",
    "ics": "def ics(grad_before, grad_after):\n    return 0.0, 1.0\n",
    "gradient_shift": "def gradient_shift(model, loss_fn, x, y, layer, lr):\n    return 0.0, 1.0\n",
    "NoisyBatchNorm1d": """class NoisyBatchNorm1d(nn.BatchNorm1d):
    def __init__(self, num_features, noise=1.0, generator=None):
        super().__init__(num_features)
""",
}
SCORE = (0, 1.3)
ABSENT = ["noise_at_construction"]
FEEDBACK = ["training adds noise is wrong on"]
