"""The visible cases' values pasted as constants (and the eps-free theory: a change of 0, a
ratio of exactly 1/3): hidden cases score (almost) nothing."""

ANSWERS = {
    "SkipInitBlock": """class SkipInitBlock(nn.Module):
    def __init__(self, branch):
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(0.0))

    def forward(self, x):
        return x  # what the visible test showed at initialisation
""",
    "loss_along_gradient": """def loss_along_gradient(model, loss_fn, x, y, step_sizes):
    return torch.tensor([1.3144, 1.1838, 0.9921, 0.9958])
""",
    "gradient_predictiveness": """def gradient_predictiveness(model, loss_fn, x, y, step_sizes):
    return torch.tensor([0.0, 0.223, 0.9148, 1.0589])
""",
    "weight_scale_effect": """def weight_scale_effect(linear, bn, x, c):
    return 8.1013e-05, 1 / 3
""",
}
SCORE = (0, 1.1)
KIND = "degenerate"
DEGENERATE = "pasted"
