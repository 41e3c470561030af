"""Correct; its own helpers (other names) live in a cell the learner added, and the spatial
pair uses them; the staged (graph) backward, one chain-rule step at a time."""

KIND = "correct"
SCORE = (9, 9)
ABSENT = ["calls_reference", "unknown"]
ADDED = [
    (
        "setup",
        "def to_rows(t):\n"
        "    n, c, h, w = t.shape\n"
        "    return t.transpose(0, 2, 3, 1).reshape(n * h * w, c)\n\n\n"
        "def from_rows(r, shape):\n"
        "    n, c, h, w = shape\n"
        "    return r.reshape(n, h, w, c).transpose(0, 3, 1, 2)\n",
    )
]
ANSWERS = {
    "batchnorm_forward": """def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=0)
    centred = x - mean
    var = (centred ** 2).mean(axis=0)
    std = np.sqrt(var + eps)
    inv = 1.0 / std
    xhat = centred * inv
    return gamma * xhat + beta, (centred, inv, std, var, eps, gamma, xhat)
""",
    "batchnorm_backward": """def batchnorm_backward(dout, cache):
    centred, inv, std, var, eps, gamma, xhat = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dinv = (dxhat * centred).sum(axis=0)
    dcentred = dxhat * inv
    dstd = -dinv / std**2
    dvar = 0.5 * dstd / np.sqrt(var + eps)
    dcentred += 2 * centred * dvar / N
    dmean = -dcentred.sum(axis=0)
    dx = dcentred + dmean / N
    return dx, dgamma, dbeta
""",
    "spatial_batchnorm_forward": """def spatial_batchnorm_forward(x, gamma, beta, eps=1e-5):
    y, c = batchnorm_forward(to_rows(x), gamma, beta, eps)
    return from_rows(y, x.shape), (c, x.shape)
""",
    "spatial_batchnorm_backward": """def spatial_batchnorm_backward(dout, cache):
    c, shape = cache
    dx, dg, db = batchnorm_backward(to_rows(dout), c)
    return from_rows(dx, shape), dg, db
""",
}
