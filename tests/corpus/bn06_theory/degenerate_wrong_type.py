"""Returns the wrong types (a string, None, a dict, a class that is no module): short messages,
no traceback."""

ANSWERS = {
    "SkipInitBlock": """class SkipInitBlock:
    def __init__(self, branch):
        self.branch = branch
""",
    "loss_along_gradient": """def loss_along_gradient(model, loss_fn, x, y, step_sizes):
    return "losses"
""",
    "gradient_predictiveness": """def gradient_predictiveness(model, loss_fn, x, y, step_sizes):
    return None
""",
    "weight_scale_effect": """def weight_scale_effect(linear, bn, x, c):
    return {"max_output_change": 0.0, "grad_norm_ratio": 1 / c}
""",
}
SCORE = (0, 1.1)
KIND = "degenerate"
DEGENERATE = "wrong type"
