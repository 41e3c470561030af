"""ddof=1 in fit_standardizer (the sample std): named; fit_standardizer gets at most half,
and standardize_split, which reuses it, is wrong too (named there as well)."""

KIND = "mistake"

REPLACE = {
    "fit_standardizer": [
        ("std = np.sqrt(np.mean((X - mean) ** 2, axis=0))", "std = X.std(axis=0, ddof=1)")
    ]
}

SCORE = (7, 7)
CELLS = {
    "fit_standardizer_matches_numpy": (0, 1),
    "standardize_split_uses_training_statistics": (0, 1),
}
MISTAKES = ["ddof1"]
