"""Zeros everywhere: a block that outputs zeros, zero losses and changes, (0, 0)."""

ANSWERS = {
    "SkipInitBlock": """class SkipInitBlock(nn.Module):
    def __init__(self, branch):
        super().__init__()
        self.branch = branch
        self.alpha = nn.Parameter(torch.tensor(0.0))

    def forward(self, x):
        return torch.zeros_like(x)
""",
    "loss_along_gradient": """def loss_along_gradient(model, loss_fn, x, y, step_sizes):
    return torch.zeros(len(step_sizes))
""",
    "gradient_predictiveness": """def gradient_predictiveness(model, loss_fn, x, y, step_sizes):
    return torch.zeros(len(step_sizes))
""",
    "weight_scale_effect": """def weight_scale_effect(linear, bn, x, c):
    return 0.0, 0.0
""",
}
SCORE = (0, 1.1)
KIND = "degenerate"
DEGENERATE = "zeros"
