"""Correct; computes in float64 internally and casts every output back to x's dtype."""

KIND = "correct"
SCORE = (9, 9)
ABSENT = ["calls_reference", "wrong_dtype"]
ANSWERS = {
    "batchnorm_forward": """def batchnorm_forward(x, gamma, beta, eps=1e-5):
    x64 = x.astype(np.float64)
    mean = np.mean(x64, axis=0)
    variance = np.var(x64, axis=0)
    stdev = np.sqrt(variance + np.float64(eps))
    normed = (x64 - mean) / stdev
    result = gamma.astype(np.float64) * normed + beta.astype(np.float64)
    return result.astype(x.dtype), (normed, gamma.astype(np.float64), stdev, x.dtype)
""",
    "batchnorm_backward": """def batchnorm_backward(dout, cache):
    normed, g, stdev, dtype = cache
    d = dout.astype(np.float64)
    m = d.shape[0]
    dbeta = d.sum(axis=0)
    dgamma = (d * normed).sum(axis=0)
    dnormed = d * g
    dx = (m * dnormed - dnormed.sum(axis=0) - normed * (dnormed * normed).sum(axis=0))
    dx = dx / (m * stdev)
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
""",
}
