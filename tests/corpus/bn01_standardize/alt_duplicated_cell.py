"""Correct (the solution) with a duplicated test cell and a scratch cell: full marks,
the copy is not counted twice and breaks nothing."""

KIND = "correct"

DUPLICATE = ["standardize_handles_constant_features"]
ADDED = [("fit_standardizer_matches_numpy", "print(fit_standardizer(np.eye(3)))")]

SCORE = (11, 11)
ABSENT = ["calls_reference"]
