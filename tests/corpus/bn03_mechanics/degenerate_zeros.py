"""Zeros of the right shapes everywhere: a right shape alone earns nothing."""

KIND = "degenerate"
DEGENERATE = "zeros"
SCORE = (0, 0.9)
MISTAKES = ["unknown"]
ANSWERS = {
    "batchnorm_forward": (
        "def batchnorm_forward(x, gamma, beta, eps=1e-5):\n    return np.zeros_like(x), None\n"
    ),
    "batchnorm_backward": (
        "def batchnorm_backward(dout, cache):\n"
        "    D = dout.shape[1]\n"
        "    return np.zeros_like(dout), np.zeros(D, dout.dtype), np.zeros(D, dout.dtype)\n"
    ),
    "spatial_batchnorm_forward": (
        "def spatial_batchnorm_forward(x, gamma, beta, eps=1e-5):\n"
        "    return np.zeros_like(x), None\n"
    ),
    "spatial_batchnorm_backward": (
        "def spatial_batchnorm_backward(dout, cache):\n"
        "    C = dout.shape[1]\n"
        "    return np.zeros_like(dout), np.zeros(C, dout.dtype), np.zeros(C, dout.dtype)\n"
    ),
}
