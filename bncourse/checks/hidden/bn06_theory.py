"""Hidden cases of ``bn06_theory`` (see ``bncourse/checks/bn06_theory.py``).

Scored in place of the visible cases when the notebook is graded: other branches (a single
Linear, a module of its own, a conv branch with BatchNorm2d), BN from ``torch.nn`` and
``bnref.torch``, training and eval mode, ``.grad`` set before the call (all, some, none),
step sizes including 0, float64 and float32, MSE and cross-entropy, several ``c`` and BN
``eps`` (for the ratio: eps comparable to the variances, where the ratio is far from 1/c),
batch sizes from 16 to 96.
"""

SKIPINIT = [
    dict(label="branch Linear(5, 5), float32, a = -1.3",
         spec=dict(seed=700, kind="linear", d=5, n=12, dtype="float32"), a=-1.3),
    dict(label="branch a module of its own (Linear-bnref BN-tanh-Linear), a = 0.25",
         spec=dict(seed=701, kind="module", d=3, n=20), a=0.25),
    dict(label="conv branch Conv2d-BatchNorm2d-ReLU, x (6, 3, 5, 5), a = 2.0",
         spec=dict(seed=702, kind="conv", d=3, n=6), a=2.0),
    dict(label="branch with bnref BN, float32, x (24, 6), a = 0.5",
         spec=dict(seed=703, kind="mlp", d=6, n=24, bn="bnref", dtype="float32"), a=0.5),
]  # fmt: skip

LOSS = [
    dict(label="MLP with BN, eval mode, .grad set on some parameters, eta from 0",
         spec=dict(seed=710, d=5, hidden=[8, 8], classes=4, n=24, mode="eval", grads="some"),
         step_sizes=[0.0, 0.05, 0.2, 0.8]),
    dict(label="MLP with bnref BN, training mode, no .grad, Tanh, MSE module, a tuple of etas",
         spec=dict(seed=711, d=4, hidden=[9], classes=3, n=40, bn="bnref", act="tanh",
                   loss="mse_module"),
         step_sizes=[0.3, 0.0, 1.5], as_tuple=True),
    dict(label="float32 MLP with BN, training mode, .grad set",
         spec=dict(seed=712, d=6, hidden=[10, 10, 10], classes=3, n=48, dtype="float32",
                   grads="all"),
         step_sizes=[0.0, 0.1, 0.4]),
    dict(label="conv net with BatchNorm2d, training mode, .grad set on some",
         spec=dict(seed=713, conv=True, channels=3, classes=3, n=16, grads="some"),
         step_sizes=[0.05, 0.5]),
    dict(label="MLP without BN, eval mode, no .grad, one-hot MSE",
         spec=dict(seed=714, d=5, hidden=[7, 7], classes=3, n=20, bn=None, mode="eval",
                   loss="mse_onehot"),
         step_sizes=[0.0, 0.25, 1.0, 2.0]),
    dict(label="float32 MLP with bnref BN, eval mode, .grad set",
         spec=dict(seed=715, d=4, hidden=[6, 6], classes=2, n=32, bn="bnref", mode="eval",
                   dtype="float32", grads="all"),
         step_sizes=[0.0, 0.2]),
]  # fmt: skip

# the same kinds of model, step sizes and .grad as LOSS, on other seeds
PREDICTIVENESS = [dict(case, spec={**case["spec"], "seed": case["spec"]["seed"] + 10})
                  for case in LOSS]  # fmt: skip

SCALE = [
    dict(label="float32, bnref BN (eps 1e-3), x (48, 5), c = 0.5",
         spec=dict(seed=730, d_in=5, d_out=6, n=48, eps=1e-3, bn="bnref", dtype="float32"),
         c=0.5),
    dict(label="float64, BN eps 1e-5, x (96, 8), c = 10, linear.weight.grad set",
         spec=dict(seed=731, d_in=8, d_out=5, n=96, eps=1e-5, grads=True), c=10.0),
    dict(label="float32, BN eps 1e-2, x (40, 4), c = 3",
         spec=dict(seed=732, d_in=4, d_out=7, n=40, eps=1e-2, dtype="float32"), c=3.0),
    dict(label="float64, bnref BN eps 1e-3, x (32, 6), c = 2",
         spec=dict(seed=733, d_in=6, d_out=4, n=32, eps=1e-3, bn="bnref"), c=2.0),
]  # fmt: skip

# The ratio check: BN's eps comparable to (or above) the batch variances of linear(x)
# (``var``), where c * grad_norm_ratio lies in a band far from 1, so a ratio of exactly 1/c
# (the eps-free theory, pasted) is wrong; c both above and below 1, none equal to a visible
# case's c where the bands are alike (a pasted visible ratio then lands outside).
SCALE_RATIO = [
    dict(label="float64, BN eps 1e-2, variances of linear(x) about 1e-4, x (48, 5), c = 3",
         spec=dict(seed=740, d_in=5, d_out=6, n=48, eps=1e-2, var=(0.9e-4, 1.1e-4)), c=3.0),
    dict(label="float32, bnref BN eps 0.1, variances about 1e-2, linear.weight.grad set, "
               "c = 0.5",
         spec=dict(seed=741, d_in=4, d_out=5, n=40, eps=0.1, var=(0.008, 0.012), bn="bnref",
                   dtype="float32", grads=True), c=0.5),
    dict(label="float64, bnref BN eps 1e-2, variances about 2e-4, x (64, 6), c = 2.5",
         spec=dict(seed=742, d_in=6, d_out=4, n=64, eps=1e-2, var=(1.8e-4, 2.2e-4),
                   bn="bnref"), c=2.5),
    dict(label="float32, BN eps 1e-2, variances about 3e-3, x (32, 5), c = 0.3",
         spec=dict(seed=743, d_in=5, d_out=7, n=32, eps=1e-2, var=(2.5e-3, 3.5e-3),
                   dtype="float32"), c=0.3),
    dict(label="float64, BN eps 0.1, variances about 2.5e-2, x (24, 3), c = 0.5",
         spec=dict(seed=745, d_in=3, d_out=4, n=24, eps=1e-1, var=(0.02, 0.03)), c=0.5),
]  # fmt: skip
