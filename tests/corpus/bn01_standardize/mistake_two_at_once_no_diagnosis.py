"""Two mistakes at once in standardize: no mean subtracted AND divided by the variance.
No single mutant matches on every case, so no diagnosis is named; the feedback must say
which output is wrong, on which case, by how much. standardize <= 1 of 2."""

KIND = "mistake"
REPLACE = {"standardize": [("(X - mean) / safe)", "X / safe**2)")]}
SCORE = (7, 7)
CELLS = {"standardize_handles_constant_features": (0, 1)}
ABSENT = ["variance", "no_mean"]
FEEDBACK = ["Z is wrong on", "maxdiff"]
