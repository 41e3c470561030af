"""An endless loop in every function: stopped by the time limit, graded, no traceback."""

ANSWERS = {
    "SkipInitBlock": """class SkipInitBlock(nn.Module):
    def __init__(self, branch):
        super().__init__()
        while True:
            pass
""",
    "loss_along_gradient": """def loss_along_gradient(model, loss_fn, x, y, step_sizes):
    while True:
        pass
""",
    "gradient_predictiveness": """def gradient_predictiveness(model, loss_fn, x, y, step_sizes):
    while True:
        pass
""",
    "weight_scale_effect": """def weight_scale_effect(linear, bn, x, c):
    while True:
        pass
""",
}
SCORE = (0, 1.1)
STATUS = "graded"
KIND = "degenerate"
DEGENERATE = "endless loop"
