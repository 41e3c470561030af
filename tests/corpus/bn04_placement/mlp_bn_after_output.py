"""BN after the output layer too: named, at most half of make_mlp's points."""

KIND = "mistake"

ANSWERS = {
    "make_mlp": """def make_mlp(sizes, placement, activation=nn.ReLU):
    if placement not in ("none", "before", "after"):
        raise ValueError(f"placement must be 'none', 'before' or 'after', got {placement!r}")
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        layers.append(nn.Linear(n_in, n_out, bias=placement != "before"))
        if placement == "before":
            layers.append(nn.BatchNorm1d(n_out))
        if not last:
            layers.append(activation())
        if placement == "after":
            layers.append(nn.BatchNorm1d(n_out))
    return nn.Sequential(*layers)
""",
}

SCORE = (7, 8.5)
CELLS = {"make_mlp_layers": (0, 1.5)}
MISTAKES = ["bn_after_output"]
