"""Returns the wrong types (strings, None, a list): short messages, no traceback."""

ANSWERS = {
    "layer_input_percentiles": """def layer_input_percentiles(model, layer, x, q=(15, 50, 85)):
    return "percentiles"
""",
    "ics": """def ics(grad_before, grad_after):
    return None
""",
    "gradient_shift": """def gradient_shift(model, loss_fn, x, y, layer, lr):
    return ["l2", "cosine"]
""",
    "NoisyBatchNorm1d": """NoisyBatchNorm1d = "a class"
""",
}
SCORE = (0, 1.3)
KIND = "degenerate"
DEGENERATE = "wrong type"
