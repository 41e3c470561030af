"""gradient_predictiveness restores the parameters but not BN's running statistics."""

REPLACE = {
    "gradient_predictiveness": [
        (
            """            for b, b0 in zip(model.buffers(), buffers):
                b.copy_(b0)""",
            """            pass""",
        )
    ]
}
SCORE = (9.5, 9.5)
CELLS = {"gradient_predictiveness_values_and_model_unchanged": (1.5, 1.5)}
MISTAKES = ["running_stats_changed"]
KIND = "mistake"
