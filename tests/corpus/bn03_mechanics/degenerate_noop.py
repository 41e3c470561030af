"""No-op: every function hands back its input."""

KIND = "degenerate"
DEGENERATE = "no-op"
SCORE = (0, 0.9)
ANSWERS = {
    "batchnorm_forward": "def batchnorm_forward(x, gamma, beta, eps=1e-5):\n    return x, x\n",
    "batchnorm_backward": "def batchnorm_backward(dout, cache):\n    return dout, dout, dout\n",
    "spatial_batchnorm_forward": (
        "def spatial_batchnorm_forward(x, gamma, beta, eps=1e-5):\n    return x, x\n"
    ),
    "spatial_batchnorm_backward": (
        "def spatial_batchnorm_backward(dout, cache):\n    return dout, dout, dout\n"
    ),
}
