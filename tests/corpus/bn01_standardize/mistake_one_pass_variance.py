"""Regression (random features at 5000 with spread 0.002 made it fail on ordinary cases too, so
the hint never showed; 9.7): one-pass variance E[X^2] - E[X]^2 (loses every digit at the 1e6
offset): wrong only there; fit 4/5 hidden cases (1.6 of 2) with the offset hint."""

KIND = "mistake"
REPLACE = {
    "fit_standardizer": [
        (
            "std = np.sqrt(np.mean((X - mean) ** 2, axis=0))",
            "std = np.sqrt(np.abs(np.mean(X ** 2, axis=0) - mean ** 2))",
        )
    ]
}
SCORE = (10.6, 10.6)
CELLS = {"fit_standardizer_matches_numpy": (1.6, 1.6)}
FEEDBACK = ["mean(X**2) - mean**2"]
