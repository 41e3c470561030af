# ruff: noqa: E501
"""Steps the layer itself too before taking G'."""

REPLACE = {
    "gradient_shift": [("modules[: modules.index(layer)]", "modules[: modules.index(layer) + 1]")]
}
SCORE = (10, 10)
CELLS = {"gradient_shift_values_and_model_unchanged": (0, 1.5)}
MISTAKES = ["step_includes_layer"]
KIND = "mistake"
