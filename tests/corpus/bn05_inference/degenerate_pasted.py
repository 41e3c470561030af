"""Degenerate: the visible cases' values pasted in (BatchNorm(4)'s state, a (8, 3) output,
the visible conversions, a (4, 3) fold, the
recalibrated statistics): the hidden cases score, <= 10%."""

import numpy as np

from bncourse.checks import bn05_inference as checks

_case = checks._fold_case("W (4, 3), b (4,)", 4, 3, 504)
_W, _b = checks._ref_fold(_case)
_W_TEXT = np.array2string(_W, separator=", ", precision=17, max_line_width=10**6)
_B_TEXT = np.array2string(_b, separator=", ", precision=17, max_line_width=10**6)
_rm, _rv = checks._ref_recal(checks._recal_case("visible", 3, (10,) * 4, 505))[:2]
_RM_TEXT = np.array2string(_rm, separator=", ", precision=17, max_line_width=10**6)
_RV_TEXT = np.array2string(_rv, separator=", ", precision=17, max_line_width=10**6)

KIND = "degenerate"
DEGENERATE = "pasted"

ANSWERS = {
    "batchnorm_class": """class BatchNorm:
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.momentum = 0.1
        self.eps = 1e-5
        self.gamma = np.ones(4)
        self.beta = np.zeros(4)
        self.running_mean = np.zeros(4)
        self.running_var = np.ones(4)
        self.num_batches_tracked = 0

    def forward(self, x, training):
        return np.full((8, 3), 0.5)
""",
    "convert_momentum": """def convert_momentum(momentum, src, dst):
    return {0.1: 0.9, 0.99: 0.01}.get(momentum, 0.1)
""",
    "fold_bn": f"""def fold_bn(W, b, running_mean, running_var, gamma, beta, eps=1e-5):
    return np.array({_W_TEXT}), np.array({_B_TEXT})
""",
    "recalibrate": f"""def recalibrate(bn, batches):
    bn.running_mean = np.array({_RM_TEXT})
    bn.running_var = np.array({_RV_TEXT})
    bn.num_batches_tracked = 4
""",
}

SCORE = (0, 1.2)
STATUS = "graded"
