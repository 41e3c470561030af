"""Degenerate: right ideas, wrong types (a list, a string, a dict, a tuple of strings):
short messages, <= 10%."""

KIND = "degenerate"
DEGENERATE = "wrong type"

ANSWERS = {
    "batchnorm_class": """class BatchNorm:
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.momentum = "torch"
        self.eps = "1e-5"
        self.gamma = "ones"
        self.beta = "zeros"
        self.running_mean = {"mean": 0}
        self.running_var = [[1]] * 2
        self.num_batches_tracked = None

    def forward(self, x, training):
        return x.tolist()
""",
    "convert_momentum": "def convert_momentum(momentum, src, dst):\n    return 'keras'\n",
    "fold_bn": """def fold_bn(W, b, running_mean, running_var, gamma, beta, eps=1e-5):
    return {"W": W, "b": b}
""",
    "recalibrate": """def recalibrate(bn, batches):
    bn.running_mean = "recalibrated"
    return "done"
""",
}

SCORE = (0, 1.2)
STATUS = "graded"
