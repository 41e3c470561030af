"""Wrong return types: strings, a dict, a generator."""

KIND = "degenerate"
DEGENERATE = "wrong type"
SCORE = (0, 0.9)
MISTAKES = ["bad_return"]
ANSWERS = {
    "batchnorm_forward": (
        "def batchnorm_forward(x, gamma, beta, eps=1e-5):\n    return 'out', 'cache'\n"
    ),
    "batchnorm_backward": ("def batchnorm_backward(dout, cache):\n    return {'dx': dout}\n"),
    "spatial_batchnorm_forward": (
        "def spatial_batchnorm_forward(x, gamma, beta, eps=1e-5):\n"
        "    return (v for v in (x, None))\n"
    ),
    "spatial_batchnorm_backward": (
        "def spatial_batchnorm_backward(dout, cache):\n    return [str(dout)] * 3\n"
    ),
}
