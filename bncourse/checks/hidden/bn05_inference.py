"""Hidden cases of ``bn05_inference`` (see ``bncourse/checks/bn05_inference.py``).

Scored in place of the visible cases when the notebook is graded: other sizes, momenta
(None included), eps, features with variance about 1e-6, N = 2, N = 1 at inference,
float32 input, a generator of batches.
"""

INIT = [
    dict(label="BatchNorm(7, momentum=None, eps=1e-3)", D=7, momentum=None, eps=1e-3),
    dict(label="BatchNorm(1, momentum=0.3, eps=1e-5)", D=1, momentum=0.3, eps=1e-5),
    dict(label="BatchNorm(5) (defaults)", D=5, defaults=True),
]

TRAIN = [
    dict(label="D=5, batches of 16, 16, 16, 16, momentum=0.1, feature 3 std 1e-3", D=5,
         sizes=(16, 16, 16, 16), seed=1501, tiny=3),
    dict(label="D=4, batches of 10, 7, 12, momentum=None (cumulative)", D=4,
         sizes=(10, 7, 12), seed=1502, momentum=None),
    dict(label="D=2, batches of 2, 2, 3, momentum=0.3, eps=1e-3", D=2, sizes=(2, 2, 3),
         seed=1503, momentum=0.3, eps=1e-3),
    dict(label="D=6, batches of 20, 20, momentum=None, feature 0 std 1e-3", D=6,
         sizes=(20, 20), seed=1504, momentum=None, tiny=0),
    dict(label="D=3, batches of 12, 9, 12 float32, momentum=0.05", D=3, sizes=(12, 9, 12),
         seed=1505, momentum=0.05, dtype="float32"),
]  # fmt: skip

INFER = [
    dict(label="D=5, N=9, running_var[4] = 1e-6", D=5, N=9, seed=1601, tiny=4),
    dict(label="D=3, N=1 (one example)", D=3, N=1, seed=1602),
    dict(label="D=4, N=7, momentum=None, count 3", D=4, N=7, seed=1603, momentum=None,
         count=3),
    dict(label="D=2, N=5, eps=1e-3, running_var[0] = 1e-6", D=2, N=5, seed=1604, eps=1e-3,
         tiny=0),
    dict(label="D=3, N=8 float32, momentum=0.2", D=3, N=8, seed=1605, momentum=0.2,
         dtype="float32"),
]  # fmt: skip

REJECT = [
    dict(label="x of shape (1, 1)", D=1, seed=1701),
    dict(label="x of shape (1, 6)", D=6, seed=1702),
]

CONVERT = [
    dict(label="0.01 torch->keras, 0.9 keras->torch, 0.99 keras->keras",
         calls=[(0.01, "torch", "keras"), (0.9, "keras", "torch"), (0.99, "keras", "keras")]),
    dict(label="0.3 torch->keras, 0.0 keras->torch", calls=[(0.3, "torch", "keras"),
                                                            (0.0, "keras", "torch")]),
    dict(label="unknown names: 'cs231n', 'Torch', 'tensorflow'",
         calls=[(None, "cs231n", "torch"), (None, "Torch", "keras"),
                (None, "keras", "tensorflow")]),
]  # fmt: skip

FOLD = [
    dict(label="W (6, 5), b (6,)", out=6, inp=5, seed=1801),
    dict(label="W (3, 7), b None", out=3, inp=7, seed=1802, bias=False),
    dict(label="W (5, 2), b (5,), eps=1e-3, running_var[1] = 1e-6", out=5, inp=2, seed=1803,
         eps=1e-3, tiny=1),
    dict(label="W (1, 4), b (1,)", out=1, inp=4, seed=1804),
]  # fmt: skip

RECAL = [
    dict(label="D=4, 5 batches of 12 (a generator), momentum=0.1", D=4, sizes=(12,) * 5,
         seed=1901, generator=True),
    dict(label="D=2, batches of 8, 20, 5 (a list), momentum=0.3", D=2, sizes=(8, 20, 5),
         seed=1902, momentum=0.3),
    dict(label="D=3, 3 batches of 6 (a generator), momentum=None", D=3, sizes=(6, 6, 6),
         seed=1903, momentum=None, generator=True),
    dict(label="D=5, one batch of 30 (a list), momentum=0.05", D=5, sizes=(30,), seed=1904,
         momentum=0.05),
]  # fmt: skip
