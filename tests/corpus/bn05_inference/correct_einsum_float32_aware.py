"""Correct: einsum for the statistics and the fold, float64 forced for float32 input,
convert_momentum with abs(): full marks."""

KIND = "correct"

ANSWERS = {
    "batchnorm_class": """class BatchNorm:
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.momentum = momentum
        self.eps = float(eps)
        self.gamma = np.ones(num_features, dtype=np.float64)
        self.beta = np.zeros(num_features, dtype=np.float64)
        self.running_mean = np.zeros(num_features, dtype=np.float64)
        self.running_var = np.ones(num_features, dtype=np.float64)
        self.num_batches_tracked = np.int64(0)

    def forward(self, x, training):
        x = np.array(x, dtype=np.float64)
        n = x.shape[0]
        if training:
            if n <= 1:
                raise ValueError("BatchNorm in training mode needs a batch of at least 2")
            mu = np.einsum("nd->d", x) / n
            xc = x - mu
            var = np.einsum("nd,nd->d", xc, xc) / n
            self.num_batches_tracked += 1
            m = 1 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            self.running_mean = self.running_mean + m * (mu - self.running_mean)
            self.running_var = self.running_var + m * (var * n / (n - 1) - self.running_var)
        else:
            mu, var = self.running_mean, self.running_var
            xc = x - mu
        return np.einsum("d,nd->nd", self.gamma / np.sqrt(var + self.eps), xc) + self.beta
""",
    "convert_momentum": """def convert_momentum(momentum, src, dst):
    known = {"torch", "keras"}
    if src not in known:
        raise ValueError(f"src {src!r} not in {known}")
    if dst not in known:
        raise ValueError(f"dst {dst!r} not in {known}")
    return float(momentum) if src == dst else float(abs(1.0 - momentum))
""",
    "fold_bn": """def fold_bn(W, b, running_mean, running_var, gamma, beta, eps=1e-5):
    s = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(running_var, np.float64) + eps)
    b = np.zeros(len(s)) if b is None else np.asarray(b, np.float64)
    return np.einsum("oi,o->oi", W, s), np.einsum("o,o->o", b - running_mean, s) + beta
""",
}

SCORE = (12, 12)
