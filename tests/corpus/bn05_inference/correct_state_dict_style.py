"""Correct in another style: a recalibrate that resets in place and passes a momentum
through a helper, a forward written with keepdims and a biased-to-unbiased factor, and
a fold that builds the bias with np.where-free arithmetic: full marks."""

KIND = "correct"

ANSWERS = {
    "batchnorm_class": """class BatchNorm:
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.num_features = num_features
        self.momentum = momentum
        self.eps = eps
        self.reset()
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)

    def reset(self):
        self.running_mean = np.zeros(self.num_features)
        self.running_var = np.ones(self.num_features)
        self.num_batches_tracked = 0

    def _factor(self):
        return 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum

    def forward(self, x, training):
        x = np.asarray(x, dtype=np.float64)
        if training:
            if x.shape[0] == 1:
                raise ValueError(f"x has shape {x.shape}: a batch of one has no variance")
            mean = x.mean(axis=0, keepdims=True)
            var = ((x - mean) ** 2).mean(axis=0, keepdims=True)
            self.num_batches_tracked += 1
            f = self._factor()
            bessel = x.shape[0] / (x.shape[0] - 1)
            self.running_mean = (1 - f) * self.running_mean + f * mean[0]
            self.running_var = (1 - f) * self.running_var + f * bessel * var[0]
            return (x - mean) / np.sqrt(var + self.eps) * self.gamma + self.beta
        x_hat = (x - self.running_mean) / np.sqrt(self.running_var + self.eps)
        return x_hat * self.gamma + self.beta
""",
    "recalibrate": """def recalibrate(bn, batches):
    saved = bn.momentum
    bn.running_mean[:] = 0.0
    bn.running_var[:] = 1.0
    bn.num_batches_tracked = 0
    bn.momentum = None
    for batch in iter(batches):
        bn.forward(batch, True)
    bn.momentum = saved
    return None
""",
}

SCORE = (12, 12)
