# ruff: noqa: E501
"""loss_along_gradient switches the model to training mode and leaves it there."""

REPLACE = {
    "loss_along_gradient": [
        (
            "    params = list(model.parameters())\n",
            "    model.train()\n    params = list(model.parameters())\n",
        )
    ]
}
SCORE = (9.5, 9.5)
CELLS = {"loss_along_gradient_values_and_model_unchanged": (1.5, 1.5)}
MISTAKES = ["left_in_train"]
KIND = "mistake"
