"""Degenerate: forward, convert_momentum, fold_bn and recalibrate loop forever (the layer's
__init__ is right: 1 point of 12). Stopped by the time limit; graded, no traceback."""

KIND = "degenerate"
DEGENERATE = "endless loop"

REPLACE = {
    "batchnorm_class": [
        ("        x = np.asarray(x, dtype=np.float64)\n",
         "        while True:\n            pass\n"),
    ]
}  # fmt: skip
ANSWERS = {
    "convert_momentum": (
        "def convert_momentum(momentum, src, dst):\n    while True:\n        pass\n"
    ),
    "fold_bn": """def fold_bn(W, b, running_mean, running_var, gamma, beta, eps=1e-5):
    while True:
        pass
""",
    "recalibrate": "def recalibrate(bn, batches):\n    while True:\n        pass\n",
}

SCORE = (0, 1.2)
STATUS = "graded"
