"""Correct: running statistics updated in place (as PyTorch does), np.var(ddof=1) for the
unbiased variance, comments naming bnref and torch: full marks."""

KIND = "correct"

ANSWERS = {
    "batchnorm_class": """class BatchNorm:
    # same update as bnref.numpy.update_running_stats / torch.nn.BatchNorm1d (not called)
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.momentum, self.eps = momentum, eps
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.num_batches_tracked = 0

    def forward(self, x, training):
        x = x.astype(np.float64)
        if not training:
            x_hat = (x - self.running_mean) / np.sqrt(self.running_var + self.eps)
            return self.gamma * x_hat + self.beta
        if len(x) == 1:
            raise ValueError("need more than one example per batch in training")
        mean = np.mean(x, axis=0)
        self.num_batches_tracked += 1
        m = self.momentum if self.momentum is not None else 1 / self.num_batches_tracked
        self.running_mean *= 1 - m
        self.running_mean += m * mean
        self.running_var *= 1 - m
        self.running_var += m * np.var(x, axis=0, ddof=1)
        x_hat = (x - mean) / np.sqrt(np.var(x, axis=0) + self.eps)
        return self.gamma * x_hat + self.beta
""",
}

SCORE = (12, 12)
ABSENT = ["calls_reference"]
