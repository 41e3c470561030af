"""Hidden cases of ``bn03_mechanics`` (see ``bncourse/checks/bn03_mechanics.py``).

Each entry is the keyword arguments of ``make_case``: label, shape, rng (a seed), and
optionally dtype, eps, loc (the features' mean), scale (their spread), tiny (a feature
with almost no spread).
"""

# Scored in place of the visible case of each visible test cell when the notebook is graded:
# the same kind of input, other shapes, seeds and eps (so pasted values earn nothing and an
# ignored eps argument shows).
FORWARD = [
    dict(label="x (24, 7), eps=1e-3", shape=(24, 7), rng=301, eps=1e-3, tiny=2),
    dict(label="x (9, 3), eps=1e-2", shape=(9, 3), rng=302, eps=1e-2, scale=0.2),
    dict(label="x (50, 4), eps=1e-4, feature 0 almost constant", shape=(50, 4), rng=303,
         eps=1e-4, tiny=0),
]  # fmt: skip
BACKWARD = [
    dict(label="x (24, 7), eps=1e-3", shape=(24, 7), rng=311, eps=1e-3),
    dict(label="x (9, 3), eps=1e-2", shape=(9, 3), rng=312, eps=1e-2, scale=0.2),
    dict(label="x (33, 5), eps=1e-4", shape=(33, 5), rng=313, eps=1e-4),
]
SPATIAL = [
    dict(
        label="x (3, 4, 2, 5), eps=1e-3, channel 2 almost constant",
        shape=(3, 4, 2, 5),
        rng=321,
        eps=1e-3,
        tiny=2,
    ),
    dict(label="x (5, 2, 3, 3), eps=1e-2", shape=(5, 2, 3, 3), rng=322, eps=1e-2, scale=0.2),
    dict(label="x (2, 6, 4, 3), eps=1e-4", shape=(2, 6, 4, 3), rng=323, eps=1e-4),
]

# The hidden edge-case cells.
EDGE_2D = [
    dict(label="N=2: x (2, 4)", shape=(2, 4), rng=11),
    dict(label="D=1: x (7, 1)", shape=(7, 1), rng=12),
    dict(label="x (3, 17), eps=1e-2", shape=(3, 17), rng=13, eps=1e-2, scale=0.1),
    dict(label="large mean: 1e4 + randn, (16, 3) float64", shape=(16, 3), rng=14, loc=1e4,
         scale=1.0),
    dict(label="float32: x (20, 6)", shape=(20, 6), rng=15, dtype="float32"),
    dict(label="large mean in float32: 1e4 + randn, (16, 3)", shape=(16, 3), rng=16,
         dtype="float32", loc=1e4, scale=1.0),
]  # fmt: skip
EDGE_4D = [
    dict(label="C=1, N=2: x (2, 1, 4, 3)", shape=(2, 1, 4, 3), rng=21),
    dict(label="H=W=1: x (5, 3, 1, 1)", shape=(5, 3, 1, 1), rng=22),
    dict(label="x (2, 6, 3, 2), eps=1e-2", shape=(2, 6, 3, 2), rng=23, eps=1e-2, scale=0.1),
    dict(label="large mean in float32: 1e4 + randn, (3, 4, 2, 5)", shape=(3, 4, 2, 5), rng=24,
         dtype="float32", loc=1e4, scale=1.0),
]  # fmt: skip
