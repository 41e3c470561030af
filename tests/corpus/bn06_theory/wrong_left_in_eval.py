# ruff: noqa: E501
"""gradient_predictiveness switches the model to eval mode and leaves it there."""

REPLACE = {
    "gradient_predictiveness": [
        (
            "    params = list(model.parameters())\n",
            "    model.eval()\n    params = list(model.parameters())\n",
        )
    ]
}
SCORE = (9.5, 9.5)
CELLS = {"gradient_predictiveness_values_and_model_unchanged": (1.5, 1.5)}
MISTAKES = ["left_in_eval"]
KIND = "mistake"
