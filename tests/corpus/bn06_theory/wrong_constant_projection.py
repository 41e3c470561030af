"""The loss is out.sum(): its gradient through BN is rounding noise, so is the ratio."""

REPLACE = {"weight_scale_effect": [("(out * proj).sum()", "out.sum()")]}
SCORE = (9, 9)
CELLS = {"weight_scale_gradient_ratio": (0, 0)}
MISTAKES = ["constant_projection"]
KIND = "mistake"
