"""gradient_predictiveness never puts the parameters back (the buffers it does)."""

REPLACE = {
    "gradient_predictiveness": [
        (
            """            for p, p0 in zip(params, saved):
                p.copy_(p0)
            for b, b0""",
            """            for b, b0""",
        )
    ]
}
SCORE = (8, 8)
CELLS = {"gradient_predictiveness_values_and_model_unchanged": (0, 0)}
MISTAKES = ["params_not_restored"]
KIND = "mistake"
