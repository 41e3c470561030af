"""min_max_scale with the data's own min and max instead of the given bounds: named, 0."""

KIND = "mistake"

ANSWERS = {
    "min_max_scale": """def min_max_scale(X, lo, hi):
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = hi - lo
    return np.where(span == 0, 0.0, (X - lo) / np.where(span == 0, 1.0, span))
"""
}

SCORE = (9, 9)
CELLS = {"min_max_scale_uses_the_given_bounds": (0, 1)}
MISTAKES = ["minmax_own"]
