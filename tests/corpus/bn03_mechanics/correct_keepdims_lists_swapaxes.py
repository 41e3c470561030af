"""Correct: keepdims statistics in x's own dtype (eps cast to it), lists instead of tuples
for every return, and a spatial rearrangement in another row order: (C, N*H*W).T."""

KIND = "correct"
SCORE = (9, 9)
ABSENT = ["calls_reference", "unknown", "wrong_dtype", "bad_return"]
ANSWERS = {
    "batchnorm_forward": """def batchnorm_forward(x, gamma, beta, eps=1e-5):
    eps = x.dtype.type(eps)
    mu = np.mean(x, axis=0, keepdims=True)   # (1, D)
    d = x - mu
    var = np.mean(d * d, axis=0, keepdims=True)
    inv = 1 / np.sqrt(var + eps)
    xh = d * inv
    return [xh * gamma.reshape(1, -1) + beta.reshape(1, -1), [xh, gamma, inv]]
""",
    "batchnorm_backward": """def batchnorm_backward(dout, cache):
    xh, gamma, inv = cache
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * xh, axis=0)
    g = dout * gamma
    dx = inv * (g - np.mean(g, axis=0, keepdims=True)
                - xh * np.mean(g * xh, axis=0, keepdims=True))
    return [dx, dgamma, dbeta]
""",
    "spatial_batchnorm_forward": """def spatial_batchnorm_forward(x, gamma, beta, eps=1e-5):
    N, C, H, W = x.shape
    cols = x.swapaxes(0, 1).reshape(C, N * H * W)   # (C, N*H*W): rows are channels
    out, cache = batchnorm_forward(cols.T, gamma, beta, eps)
    out = out.T.reshape(C, N, H, W).swapaxes(0, 1)
    return [out, [cache, (N, C, H, W)]]
""",
    "spatial_batchnorm_backward": """def spatial_batchnorm_backward(dout, cache):
    cache2d, (N, C, H, W) = cache
    rows = dout.swapaxes(0, 1).reshape(C, -1).T
    dx, dgamma, dbeta = batchnorm_backward(rows, cache2d)
    return [dx.T.reshape(C, N, H, W).swapaxes(0, 1), dgamma, dbeta]
""",
}
