"""Correct, with einsum, a hand-written variance and np.moveaxis for the spatial version."""

KIND = "correct"
SCORE = (9, 9)
ABSENT = ["calls_reference", "unknown"]
ANSWERS = {
    "batchnorm_forward": """def batchnorm_forward(x, gamma, beta, eps=1e-5):
    n = x.shape[0]
    mu = np.einsum("nd->d", x) / n
    xc = x - mu
    var = np.einsum("nd,nd->d", xc, xc) / n
    rstd = 1 / np.sqrt(var + eps)
    xn = xc * rstd
    return np.einsum("d,nd->nd", gamma, xn) + beta, (xn, rstd, gamma)
""",
    "batchnorm_backward": """def batchnorm_backward(dout, cache):
    xn, rstd, gamma = cache
    n = dout.shape[0]
    dbeta = np.einsum("nd->d", dout)
    dgamma = np.einsum("nd,nd->d", dout, xn)
    dxn = dout * gamma
    dx = rstd / n * (n * dxn - np.einsum("nd->d", dxn) - xn * np.einsum("nd,nd->d", dxn, xn))
    return dx, dgamma, dbeta
""",
    "spatial_batchnorm_forward": """def spatial_batchnorm_forward(x, gamma, beta, eps=1e-5):
    moved = np.moveaxis(x, 1, -1)  # (N, H, W, C)
    out, cache = batchnorm_forward(moved.reshape(-1, x.shape[1]), gamma, beta, eps)
    return np.moveaxis(out.reshape(moved.shape), -1, 1), (cache, moved.shape)
""",
    "spatial_batchnorm_backward": """def spatial_batchnorm_backward(dout, cache):
    cache2d, shape = cache
    moved = np.moveaxis(dout, 1, -1).reshape(-1, dout.shape[1])
    dx, dgamma, dbeta = batchnorm_backward(moved, cache2d)
    return np.moveaxis(dx.reshape(shape), -1, 1), dgamma, dbeta
""",
}
