"""Hidden cases of ``bn01_standardize`` (see ``bncourse/checks/bn01_standardize.py``).

Scored in place of the visible cases when the notebook is graded: other shapes, a constant
feature, a column of 3.7s, a feature at 1e6 with spread 0.01, float32 input, singular X.
"""

FIT = [
    dict(label="X (64, 7) float64", shape=(64, 7), seed=1101),
    dict(label="X (9, 3) float64, feature 1 at 1e6 + 0.01 noise", shape=(9, 3), seed=1102,
         offset=1),
    dict(label="X (33, 6) float32", shape=(33, 6), seed=1103, dtype="float32"),
    dict(label="X (20, 4), feature 0 constant, feature 3 all 3.7", shape=(20, 4), seed=1104,
         constant=0, near_constant=3),
    dict(label="X (2, 5) float64", shape=(2, 5), seed=1105),
]  # fmt: skip

REJECT = [
    dict(label="X of shape (2, 3, 4)", shape=(2, 3, 4)),
    dict(label="X of shape (0, 3)", shape=(0, 3)),
    dict(label="X of shape (11,)", shape=(11,)),
]

STANDARDIZE = [
    dict(label="X (50, 6), feature 4 constant", shape=(50, 6), seed=1201, constant=4),
    dict(label="X (17, 3), feature 1 all 3.7", shape=(17, 3), seed=1202, near_constant=1),
    dict(label="X (40, 3), feature 2 at 1e6 + 0.01 noise", shape=(40, 3), seed=1203, offset=2),
    dict(label="X (25, 5) float32, feature 0 constant", shape=(25, 5), seed=1204,
         dtype="float32", constant=0),
]  # fmt: skip

MINMAX = [
    dict(label="X (31, 6), bounds from training data", shape=(28, 6), seed=1301),
    dict(label="X (13, 4), feature 2 with hi == lo", shape=(10, 4), seed=1302, flat=2),
    dict(label="X (21, 2) float32", shape=(18, 2), seed=1303, dtype="float32"),
]

KAPPA = [
    dict(label="X (80, 4)", shape=(80, 4), seed=1401),
    dict(label="X (60, 5), scales 1 to 1e4", shape=(60, 5), seed=1402, kind="scaled"),
    dict(label="X (30, 3), last column = first", shape=(30, 3), seed=1403, kind="duplicate"),
    dict(label="X (10, 2) all zeros", shape=(10, 2), seed=1404, kind="zeros"),
    dict(label="X (45, 6) float32", shape=(45, 6), seed=1405, dtype="float32"),
]

SPLIT = [
    dict(label="X_train (50, 5), X_test (9, 5)", shape=(50, 5), seed=1501, test_rows=9),
    dict(label="X_train (20, 3), feature 0 constant", shape=(20, 3), seed=1502, constant=0),
    dict(label="X_train (35, 4) float32, feature 1 constant", shape=(35, 4), seed=1503,
         dtype="float32", constant=1),
    dict(label="X_train (12, 3), X_test (1, 3): one test row", shape=(12, 3), seed=1504,
         test_rows=1),
]  # fmt: skip
