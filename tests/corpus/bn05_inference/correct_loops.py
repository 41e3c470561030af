"""Correct: plain Python loops over features and examples, a separate batch counter,
convert_momentum through a table, fold row by row, recalibrate computing the cumulative
average itself (no forward): full marks."""

KIND = "correct"

ANSWERS = {
    "batchnorm_class": """class BatchNorm:
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.momentum = momentum
        self.eps = eps
        self.gamma = np.array([1.0] * num_features)
        self.beta = np.array([0.0] * num_features)
        self.running_mean = np.array([0.0] * num_features)
        self.running_var = np.array([1.0] * num_features)
        self.num_batches_tracked = 0

    def forward(self, x, training):
        N, D = x.shape
        out = np.empty((N, D))
        if training and N < 2:
            raise ValueError(f"batch of {N}: training needs at least two examples")
        if training:
            self.num_batches_tracked = self.num_batches_tracked + 1
        new_mean = self.running_mean.copy()
        new_var = self.running_var.copy()
        for j in range(D):
            col = [float(v) for v in x[:, j]]
            if training:
                mu = sum(col) / N
                ss = sum((v - mu) ** 2 for v in col)
                var = ss / N
                if self.momentum is None:
                    w = 1.0 / self.num_batches_tracked
                else:
                    w = self.momentum
                new_mean[j] = (1 - w) * self.running_mean[j] + w * mu
                new_var[j] = (1 - w) * self.running_var[j] + w * ss / (N - 1)
            else:
                mu, var = self.running_mean[j], self.running_var[j]
            for i in range(N):
                out[i, j] = self.gamma[j] * (col[i] - mu) / (var + self.eps) ** 0.5 + self.beta[j]
        self.running_mean, self.running_var = new_mean, new_var
        return out
""",
    "convert_momentum": """def convert_momentum(momentum, src, dst):
    weighs_new = {"torch": True, "keras": False}
    if src not in weighs_new or dst not in weighs_new:
        raise ValueError("src and dst must be 'torch' or 'keras'")
    if weighs_new[src] == weighs_new[dst]:
        return momentum
    return 1 - momentum
""",
    "fold_bn": """def fold_bn(W, b, running_mean, running_var, gamma, beta, eps=1e-5):
    out = W.shape[0]
    W2 = np.zeros_like(W, dtype=float)
    b2 = np.zeros(out)
    for o in range(out):
        s = gamma[o] / (running_var[o] + eps) ** 0.5
        W2[o] = W[o] * s
        b2[o] = ((0.0 if b is None else b[o]) - running_mean[o]) * s + beta[o]
    return W2, b2
""",
    "recalibrate": """def recalibrate(bn, batches):
    means, variances = [], []
    for x in batches:
        x = np.asarray(x, dtype=float)
        means.append(x.mean(axis=0))
        variances.append(x.var(axis=0, ddof=1))
    bn.running_mean = np.mean(means, axis=0)
    bn.running_var = np.mean(variances, axis=0)
    bn.num_batches_tracked = len(means)
""",
}

SCORE = (12, 12)
