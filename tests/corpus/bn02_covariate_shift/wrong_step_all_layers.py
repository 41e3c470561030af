"""Steps every layer before taking G'."""

REPLACE = {"gradient_shift": [("modules[: modules.index(layer)]", "modules")]}
SCORE = (10, 10)
CELLS = {"gradient_shift_values_and_model_unchanged": (0, 1.5)}
MISTAKES = ["step_all_layers"]
KIND = "mistake"
