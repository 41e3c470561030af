"""standardize right, but it repairs the caller's std in place (std[const] = 1.0): the values
are right, the in-place change costs 25% of standardize (2 -> 1.5), naming `std`; the split
(the solution's, calling standardize twice with one std) then maps the test split's constant
feature to 1, not 0: wrong on the two constant-feature cases (1 of 2), with that hint."""

KIND = "mutation"
ANSWERS = {
    "standardize": """def standardize(X, mean, std):
    const = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
    std[const] = 1.0
    Z = (X - mean) / std
    Z[:, const] = 0.0
    return Z
"""
}
SCORE = (9.5, 9.5)
CELLS = {
    "standardize_handles_constant_features": (1.5, 1.5),
    "standardize_split_uses_training_statistics": (1, 1),
}
FEEDBACK = ["changed its argument `std`", "It is wrong only on the cases with a constant feature"]
