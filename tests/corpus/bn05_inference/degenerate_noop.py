"""Degenerate: nothing done (a layer without state, forward returns x, the functions
return their input or nothing): short messages, <= 10%, never a traceback."""

KIND = "degenerate"
DEGENERATE = "no-op"

ANSWERS = {
    "batchnorm_class": """class BatchNorm:
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        pass

    def forward(self, x, training):
        return x
""",
    "convert_momentum": "def convert_momentum(momentum, src, dst):\n    return momentum\n",
    "fold_bn": """def fold_bn(W, b, running_mean, running_var, gamma, beta, eps=1e-5):
    return W, b
""",
    "recalibrate": "def recalibrate(bn, batches):\n    pass\n",
}

SCORE = (0, 1.2)
STATUS = "graded"
