# ruff: noqa: E501
"""The hook is never removed: the percentile tests score 0 and name the mistake."""

REPLACE = {"layer_input_percentiles": [("        handle.remove()\n", "")]}
SCORE = (9, 9)
CELLS = {
    "percentiles_match_and_model_unchanged": (0, 1.5),
    "percentiles_clean_up_when_forward_raises": (0, 0),
}
MISTAKES = ["hook_left"]
KIND = "mistake"
