"""Switches the model to training mode for the measurement and never switches it back."""

REPLACE = {
    "layer_input_percentiles": [
        ("    handle = layer.register", "    model.train()\n    handle = layer.register"),
        ("            m.training = mode", "            pass"),
    ]
}
SCORE = (11, 11)
CELLS = {"percentiles_match_and_model_unchanged": (0, 1.5)}
MISTAKES = ["left_in_train"]
KIND = "mistake"
