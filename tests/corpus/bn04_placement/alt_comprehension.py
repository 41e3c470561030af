"""Correct, other style: nested list comprehension for make_mlp, regex-free name building."""

KIND = "correct"

ANSWERS = {
    "make_mlp": """def make_mlp(sizes, placement, activation=nn.ReLU):
    if placement not in ("none", "before", "after"):
        raise ValueError("placement: expected 'none', 'before' or 'after'")
    def hidden(a, b):
        if placement == "before":
            return [nn.Linear(a, b, bias=False), nn.BatchNorm1d(b), activation()]
        if placement == "after":
            return [nn.Linear(a, b), activation(), nn.BatchNorm1d(b)]
        return [nn.Linear(a, b), activation()]
    body = [layer for a, b in zip(sizes[:-2], sizes[1:-1]) for layer in hidden(a, b)]
    return nn.Sequential(*body, nn.Linear(sizes[-2], sizes[-1]))
""",
    "redundant_biases": """def redundant_biases(model):
    out = []
    for path, seq in model.named_modules():
        if isinstance(seq, nn.Sequential):
            names = [n for n, _ in seq.named_children()]
            mods = [m for _, m in seq.named_children()]
            for i in range(len(mods) - 1):
                if isinstance(mods[i], (nn.Linear, nn.modules.conv._ConvNd)) and isinstance(
                        mods[i + 1], nn.modules.batchnorm._BatchNorm) and mods[i].bias is not None:
                    out.append(".".join([p for p in (path, names[i], "bias") if p]))
    return out
""",
}

SCORE = (10, 10)
ABSENT = ["calls_reference", "unknown"]
