"""Degenerate: every function body is `pass` (returns None). Short messages, 0 points."""

KIND = "degenerate"
DEGENERATE = "no-op"

ANSWERS = {
    "fit_standardizer": "def fit_standardizer(X):\n    pass\n",
    "standardize": "def standardize(X, mean, std):\n    pass\n",
    "min_max_scale": "def min_max_scale(X, lo, hi):\n    pass\n",
    "hessian_condition_number": "def hessian_condition_number(X):\n    pass\n",
    "standardize_split": "def standardize_split(X_train, X_test):\n    pass\n",
}

SCORE = (0, 0)
