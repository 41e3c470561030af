"""Statistics fitted on train + test (leakage): named, at most half of standardize_split."""

KIND = "mistake"

REPLACE = {
    "standardize_split": [
        ("fit_standardizer(X_train)", "fit_standardizer(np.concatenate([X_train, X_test]))")
    ]
}

SCORE = (9, 9)
CELLS = {"standardize_split_uses_training_statistics": (0, 1)}
MISTAKES = ["leak"]
