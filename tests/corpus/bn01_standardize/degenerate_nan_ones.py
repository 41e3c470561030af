"""Degenerate (regression: NaN was shown as "yours 1e+300"): NaN arrays of the right shapes,
ones, kappa NaN. <= 10%, no crash."""

KIND = "degenerate"
DEGENERATE = "zeros"
ANSWERS = {
    "fit_standardizer": "def fit_standardizer(X):\n"
    "    return np.full(X.shape[1], np.nan), np.ones(X.shape[1])\n",
    "standardize": "def standardize(X, mean, std):\n    return np.full(X.shape, np.nan)\n",
    "min_max_scale": "def min_max_scale(X, lo, hi):\n    return np.ones(X.shape)\n",
    "hessian_condition_number": "def hessian_condition_number(X):\n    return np.nan\n",
    "standardize_split": "def standardize_split(X_train, X_test):\n"
    "    return np.full(X_train.shape, np.nan), np.full(X_test.shape, np.inf)\n",
}
SCORE = (0, 0)
FEEDBACK = ["holds NaN or infinity", "returned nan"]
