"""Divides q by 100 twice: the 0.15th percentile instead of the 15th."""

REPLACE = {"layer_input_percentiles": [("float(v) / 100", "float(v) / 10000")]}
SCORE = (10, 10)
CELLS = {"percentiles_match_and_model_unchanged": (0, 1.5)}
MISTAKES = ["percent_as_fraction"]
KIND = "mistake"
