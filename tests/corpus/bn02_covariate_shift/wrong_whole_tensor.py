"""Percentiles of the whole tensor, not per unit."""

REPLACE = {"layer_input_percentiles": [("levels, dim=0)", "levels)")]}
SCORE = (10, 10)
CELLS = {"percentiles_match_and_model_unchanged": (0, 1.5)}
MISTAKES = ["whole_tensor"]
KIND = "mistake"
