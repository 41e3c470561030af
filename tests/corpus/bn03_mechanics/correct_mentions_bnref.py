"""Correct; comments and docstrings name bnref, cmp is imported late and used, a test cell
is duplicated (a Jupyter accident), and an extra cell compares with the reference."""

KIND = "correct"
SCORE = (9, 9)
ABSENT = ["calls_reference"]
REPLACE = {
    "batchnorm_forward": [
        (
            "    mu = x.mean(axis=0)",
            "    # same formula as bnref.numpy.batchnorm_forward, written by hand\n"
            '    """bnref uses the biased variance too."""\n'
            "    mu = x.mean(axis=0)",
        )
    ],
    "spatial_batchnorm_backward": [
        (
            "    return dx, dgamma, dbeta",
            "    # checked against bnref.numpy.spatial_batchnorm_backward while debugging\n"
            "    return dx, dgamma, dbeta",
        )
    ],
}
DUPLICATE = ["bn_forward_matches_reference"]
ADDED = [
    (
        "bn_forward_matches_reference",
        "from bncourse.checks import cmp\n"
        "import bnref.numpy as bn  # only to compare, never called by my functions\n"
        "xs = np.random.default_rng(0).normal(size=(6, 3))\n"
        "cmp('out', batchnorm_forward(xs, np.ones(3), np.zeros(3))[0],\n"
        "    bn.batchnorm_forward(xs, np.ones(3), np.zeros(3))[0])",
    ),
    (
        "batchnorm_backward",
        "from bncourse.checks.bn03_mechanics import cmp\ncmp('same', np.ones(2), np.ones(2))",
    ),
]
