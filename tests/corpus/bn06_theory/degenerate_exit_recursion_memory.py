"""Hostile returns: sys.exit() in SkipInitBlock, endless recursion in loss_along_gradient,
a 16 TB torch.empty in gradient_predictiveness, raise SystemExit in Part D: graded, one
short message each (no traceback), 0."""

ANSWERS = {
    "SkipInitBlock": """import sys


class SkipInitBlock(nn.Module):
    def __init__(self, branch):
        super().__init__()
        sys.exit("bye")
""",
    "loss_along_gradient": """def loss_along_gradient(model, loss_fn, x, y, step_sizes):
    return loss_along_gradient(model, loss_fn, x, y, step_sizes)
""",
    "gradient_predictiveness": """def gradient_predictiveness(model, loss_fn, x, y, step_sizes):
    big = torch.empty(2 ** 42)  # 16 TB
    return big[: len(step_sizes)]
""",
    "weight_scale_effect": """def weight_scale_effect(linear, bn, x, c):
    raise SystemExit(0)
""",
}
SCORE = (0, 1.1)
KIND = "degenerate"
DEGENERATE = "wrong type"
