"""Degenerate: every function loops forever. Stopped by the time limit; 0 points, graded."""

KIND = "degenerate"
DEGENERATE = "endless loop"

ANSWERS = {
    "fit_standardizer": "def fit_standardizer(X):\n    while True:\n        pass\n",
    "standardize": "def standardize(X, mean, std):\n    while True:\n        pass\n",
    "min_max_scale": "def min_max_scale(X, lo, hi):\n    while True:\n        pass\n",
    "hessian_condition_number": "def hessian_condition_number(X):\n    while True:\n        pass\n",
    "standardize_split": "def standardize_split(X_train, X_test):\n    while True:\n        pass\n",
}

SCORE = (0, 0.5)
STATUS = "graded"
