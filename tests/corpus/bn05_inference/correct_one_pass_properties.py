# ruff: noqa: E501
"""Correct: running statistics kept in a dict behind properties with setters, one-pass
variance E[x^2] - E[x]^2 in float64, the count a numpy int, m = 1/(t + 1) computed before
the increment, dead debugging code: full marks."""

ANSWERS = {
    "batchnorm_class": '''class BatchNorm:
    """BN."""

    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.momentum, self.eps = momentum, eps
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self._state = {"mean": np.zeros(num_features), "var": np.ones(num_features), "t": np.int64(0)}

    @property
    def running_mean(self):
        return self._state["mean"]

    @running_mean.setter
    def running_mean(self, v):
        self._state["mean"] = v

    @property
    def running_var(self):
        return self._state["var"]

    @running_var.setter
    def running_var(self, v):
        self._state["var"] = v

    @property
    def num_batches_tracked(self):
        return self._state["t"]

    @num_batches_tracked.setter
    def num_batches_tracked(self, v):
        self._state["t"] = v

    def forward(self, x, training):
        x = np.array(x, dtype=np.float64)
        if not training:
            return self.gamma * (x - self.running_mean) / np.sqrt(self.running_var + self.eps) + self.beta
        n = len(x)
        if n == 1:
            raise ValueError("need more than one example")
        mu = x.sum(axis=0) / n
        var = (x * x).sum(axis=0) / n - mu * mu
        m = 1.0 / (self.num_batches_tracked + 1) if self.momentum is None else self.momentum
        self.num_batches_tracked = self.num_batches_tracked + 1
        self.running_mean = self.running_mean + m * (mu - self.running_mean)
        self.running_var = self.running_var + m * (var * n / (n - 1) - self.running_var)
        if False:
            print("debug", mu, var)
        return (x - mu) / np.sqrt(var + self.eps) * self.gamma + self.beta
'''
}
SCORE = (12, 12)
KIND = "correct"
