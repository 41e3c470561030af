"""Degenerate: right content, wrong types (a list of layers, a list of floats, one string).
Each gets a short message, never a traceback; at most 10%."""

KIND = "degenerate"
DEGENERATE = "wrong type"

ANSWERS = {
    "make_mlp": """def make_mlp(sizes, placement, activation=nn.ReLU):
    return [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]
""",
    "make_conv_block": """def make_conv_block(c_in, c_out, placement, kernel_size=3):
    return {"conv": nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2)}
""",
    "relu_active_fraction": """def relu_active_fraction(gamma, beta):
    frac = torch.special.ndtr(beta / gamma.abs())
    return torch.where(gamma == 0, (beta > 0).to(gamma.dtype), frac).tolist()
""",
    "redundant_biases": """def redundant_biases(model):
    return ",".join(n for n, _ in model.named_parameters() if n.endswith("bias"))
""",
}

SCORE = (0, 1)
FEEDBACK = ["must return an nn.Sequential", "must return a torch Tensor"]
