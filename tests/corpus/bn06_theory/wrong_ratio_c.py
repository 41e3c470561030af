"""The ratio upside down: before / after, about c."""

REPLACE = {"weight_scale_effect": [("norms[1] / norms[0]", "norms[0] / norms[1]")]}
SCORE = (9, 9)
CELLS = {"weight_scale_gradient_ratio": (0, 0)}
MISTAKES = ["ratio_c"]
KIND = "mistake"
