"""Hidden cases of ``bn04_placement`` (see ``bncourse/checks/bn04_placement.py``).

Scored in place of the visible cases when the notebook is graded: other sizes, depths,
activations, kernel sizes, dtypes, gamma = 0, and models with Sequentials nested anywhere.
"""

from collections import OrderedDict

from torch import nn

MLP = [
    dict(label="sizes [20, 16, 8, 4]", sizes=[20, 16, 8, 4]),
    dict(label="sizes [5, 7, 3], Tanh", sizes=[5, 7, 3], activation="Tanh"),
    dict(label="sizes [12, 9, 9, 9, 2], Tanh", sizes=[12, 9, 9, 9, 2], activation="Tanh"),
    dict(label="sizes [6, 11, 3], GELU", sizes=[6, 11, 3], activation="GELU"),
    dict(label="sizes [6, 3] (no hidden layer)", sizes=[6, 3]),
]

REJECT = [
    dict(label="placement='Before'", placement="Before"),
    dict(label="placement=None", placement=None),
    dict(label="placement=''", placement=""),
]

CONV = [
    dict(label="c_in=1, c_out=4", c_in=1, c_out=4),
    dict(label="c_in=5, c_out=2, kernel_size=5", c_in=5, c_out=2, kernel_size=5),
    dict(label="c_in=2, c_out=6, kernel_size=1", c_in=2, c_out=6, kernel_size=1),
    dict(label="c_in=4, c_out=4, kernel_size=5", c_in=4, c_out=4, kernel_size=5),
]

FRACTION = [
    dict(label="12 channels, float64, two gammas = 0", n=12, seed=4041, zeros=2),
    dict(label="9 channels, float32", n=9, seed=4042, dtype="float32"),
    dict(label="16 channels, float32, three gammas = 0", n=16, seed=4043, dtype="float32",
         zeros=3),
    dict(label="5 channels, float64", n=5, seed=4044),
]  # fmt: skip


class _Deep(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.blocks = nn.ModuleList(
            [
                nn.Sequential(nn.Sequential(nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4)), nn.ReLU()),
                nn.Sequential(nn.Conv2d(4, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU()),
            ]
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 2)


def deep():
    """ModuleList of Sequentials inside Sequentials; one conv already without bias."""
    return _Deep()


def flat():
    """A top-level Sequential: BN after Linear, ReLU then BN, BN then Linear."""
    return nn.Sequential(
        nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(),
        nn.Linear(5, 5), nn.ReLU(), nn.BatchNorm1d(5),
        nn.Linear(5, 3),
    )  # fmt: skip


def named():
    """Named children (OrderedDict), a Conv1d before BatchNorm1d, a Dropout in between."""
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv1d(2, 3, 3),
            norm=nn.BatchNorm1d(3),
            body=nn.Sequential(
                OrderedDict(lin=nn.Linear(3, 3), drop=nn.Dropout(0.1), bn=nn.BatchNorm1d(3))
            ),
            head=nn.Sequential(OrderedDict(fc=nn.Linear(3, 2), bn=nn.BatchNorm1d(2))),
        )
    )


class _Split(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
        self.b = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2))
        self.c = nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)))


def split():
    """A Linear ending one Sequential and a BN starting the next do not count."""
    return _Split()


def no_bn():
    """No BN anywhere: nothing is redundant."""
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


BIASES = [
    dict(label="nested ModuleList and Sequentials", build="deep"),
    dict(label="a flat Sequential", build="flat"),
    dict(label="named children, Conv1d, Dropout in between", build="named"),
    dict(label="Linear and BN in different Sequentials", build="split"),
    dict(label="no BN at all", build="no_bn"),
]
