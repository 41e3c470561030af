"""NaN arrays of the right shapes in the forward passes; scalars from the backward passes.
The NaN outputs get the not_finite message, not "no common mistake matches" (review)."""

KIND = "degenerate"
DEGENERATE = "zeros"
SCORE = (0, 0)
MISTAKES = ["not_finite"]
ANSWERS = {
    "batchnorm_forward": "def batchnorm_forward(x, gamma, beta, eps=1e-5):\n"
    "    return np.full_like(x, np.nan), None\n",
    "batchnorm_backward": "def batchnorm_backward(dout, cache):\n    return 0.0, 0.0, 0.0\n",
    "spatial_batchnorm_forward": "def spatial_batchnorm_forward(x, gamma, beta, eps=1e-5):\n"
    "    return np.full(x.shape, np.nan, dtype=x.dtype), ()\n",
    "spatial_batchnorm_backward": "def spatial_batchnorm_backward(dout, cache):\n"
    "    return 1, 2, 3\n",
}
