"""Degenerate: zeros of the right shapes everywhere: a right shape alone earns nothing."""

KIND = "degenerate"
DEGENERATE = "zeros"

ANSWERS = {
    "batchnorm_class": """class BatchNorm:
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.momentum = 0.0
        self.eps = 0.0
        self.gamma = np.zeros(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.zeros(num_features)
        self.num_batches_tracked = 0

    def forward(self, x, training):
        return np.zeros(x.shape)
""",
    "convert_momentum": "def convert_momentum(momentum, src, dst):\n    return 0.0\n",
    "fold_bn": """def fold_bn(W, b, running_mean, running_var, gamma, beta, eps=1e-5):
    return np.zeros(W.shape), np.zeros(W.shape[0])
""",
    "recalibrate": """def recalibrate(bn, batches):
    bn.running_mean = np.zeros_like(bn.running_mean)
    bn.running_var = np.zeros_like(bn.running_var)
""",
}

SCORE = (0, 1.2)
STATUS = "graded"
