"""Percentiles over the units (dim=1) instead of over the batch."""

REPLACE = {"layer_input_percentiles": [("levels, dim=0)", "levels, dim=1)")]}
SCORE = (10, 10)
CELLS = {"percentiles_match_and_model_unchanged": (0, 1.5)}
MISTAKES = ["wrong_dim"]
KIND = "mistake"
