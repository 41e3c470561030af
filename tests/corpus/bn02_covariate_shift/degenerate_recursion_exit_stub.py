# ruff: noqa: E501
"""Degenerate (regression: a RecursionError is a RuntimeError, and must not count as the
forward's own exception propagating): percentiles recurse forever, ics raises SystemExit (sys.exit), gradient_shift
loops forever, NoisyBatchNorm1d.__init__ raises NotImplementedError. 0, short messages."""

KIND = "degenerate"
DEGENERATE = "endless loop"
ANSWERS = {
    "layer_input_percentiles": "def layer_input_percentiles(model, layer, x, q=(15, 50, 85)):\n    return layer_input_percentiles(model, layer, x, q)\n",
    "ics": "import sys\n\ndef ics(grad_before, grad_after):\n    sys.exit(1)\n",
    "gradient_shift": "def gradient_shift(model, loss_fn, x, y, layer, lr):\n    while True:\n        pass\n",
    "NoisyBatchNorm1d": """class NoisyBatchNorm1d(nn.Module):
    def __init__(self, num_features, noise=1.0, generator=None):
        raise NotImplementedError
""",
}
SCORE = (0, 0)
