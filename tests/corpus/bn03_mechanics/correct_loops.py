"""Correct, written with explicit loops over features and channels (no vectorised stats)."""

KIND = "correct"
SCORE = (9, 9)
ABSENT = ["calls_reference", "unknown"]
ANSWERS = {
    "batchnorm_forward": """def batchnorm_forward(x, gamma, beta, eps=1e-5):
    N, D = x.shape
    out = np.empty_like(x)
    x_hat = np.empty_like(x)
    inv = np.empty(D, dtype=x.dtype)
    for j in range(D):
        col = x[:, j]
        mean = sum(col) / N
        var = sum((v - mean) ** 2 for v in col) / N
        inv[j] = 1.0 / np.sqrt(var + eps)
        x_hat[:, j] = (col - mean) * inv[j]
        out[:, j] = gamma[j] * x_hat[:, j] + beta[j]
    return out, {"x_hat": x_hat, "gamma": gamma, "inv_std": inv}
""",
    "batchnorm_backward": """def batchnorm_backward(dout, cache):
    x_hat, gamma, inv = cache["x_hat"], cache["gamma"], cache["inv_std"]
    N, D = dout.shape
    dx = np.empty_like(dout)
    dgamma = np.empty(D, dtype=dout.dtype)
    dbeta = np.empty(D, dtype=dout.dtype)
    for j in range(D):
        g = dout[:, j]
        dbeta[j] = g.sum()
        dgamma[j] = (g * x_hat[:, j]).sum()
        dx[:, j] = gamma[j] * inv[j] / N * (N * g - dbeta[j] - x_hat[:, j] * dgamma[j])
    return dx, dgamma, dbeta
""",
    "spatial_batchnorm_forward": """def spatial_batchnorm_forward(x, gamma, beta, eps=1e-5):
    N, C, H, W = x.shape
    out = np.empty_like(x)
    caches = []
    for c in range(C):
        col = x[:, c, :, :].reshape(-1, 1)
        o, cache = batchnorm_forward(col, gamma[c:c + 1], beta[c:c + 1], eps)
        out[:, c, :, :] = o.reshape(N, H, W)
        caches.append(cache)
    return out, caches
""",
    "spatial_batchnorm_backward": """def spatial_batchnorm_backward(dout, caches):
    N, C, H, W = dout.shape
    dx = np.empty_like(dout)
    dgamma = np.empty(C, dtype=dout.dtype)
    dbeta = np.empty(C, dtype=dout.dtype)
    for c in range(C):
        d, dg, db = batchnorm_backward(dout[:, c, :, :].reshape(-1, 1), caches[c])
        dx[:, c, :, :] = d.reshape(N, H, W)
        dgamma[c], dbeta[c] = dg[0], db[0]
    return dx, dgamma, dbeta
""",
}
