"""Degenerate: zeros of the right shapes (and kappa 1): a right shape earns nothing."""

KIND = "degenerate"
DEGENERATE = "zeros"

ANSWERS = {
    "fit_standardizer": "def fit_standardizer(X):\n"
    "    return np.zeros(X.shape[-1]), np.zeros(X.shape[-1])\n",
    "standardize": "def standardize(X, mean, std):\n    return np.zeros(X.shape)\n",
    "min_max_scale": "def min_max_scale(X, lo, hi):\n    return np.zeros(X.shape)\n",
    "hessian_condition_number": "def hessian_condition_number(X):\n    return 1.0\n",
    "standardize_split": "def standardize_split(X_train, X_test):\n"
    "    return np.zeros(X_train.shape), np.zeros(X_test.shape)\n",
}

SCORE = (0, 1.1)
