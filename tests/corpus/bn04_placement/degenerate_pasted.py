"""Degenerate: the visible cases' answers pasted in. The hidden cases score: at most 10%."""

KIND = "degenerate"
DEGENERATE = "pasted"

ANSWERS = {
    "make_mlp": """def make_mlp(sizes, placement, activation=nn.ReLU):
    if placement == "before":
        return nn.Sequential(nn.Linear(784, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU(),
                             nn.Linear(256, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU(),
                             nn.Linear(256, 10))
    if placement == "after":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.BatchNorm1d(256),
                             nn.Linear(256, 256), nn.ReLU(), nn.BatchNorm1d(256),
                             nn.Linear(256, 10))
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 10))
""",
    "make_conv_block": """def make_conv_block(c_in, c_out, placement, kernel_size=3):
    if placement == "before":
        return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16),
                             nn.ReLU())
    if placement == "after":
        return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(16))
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU())
""",
    "relu_active_fraction": """def relu_active_fraction(gamma, beta):
    return torch.tensor([1.0, 0.5, 0.3, 0.8, 0.6, 0.2, 0.7, 0.4], dtype=gamma.dtype)
""",
    "redundant_biases": """def redundant_biases(model):
    return ["features.0.bias", "head.0.bias"]
""",
}

SCORE = (0, 1)
