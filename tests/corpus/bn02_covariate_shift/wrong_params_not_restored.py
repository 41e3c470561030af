"""Leaves the stepped parameters (and buffers) in the model."""

REPLACE = {"gradient_shift": [("        model.load_state_dict(saved)", "        pass")]}
SCORE = (10, 10)
CELLS = {"gradient_shift_values_and_model_unchanged": (0, 1.5)}
MISTAKES = ["params_not_restored"]
KIND = "mistake"
