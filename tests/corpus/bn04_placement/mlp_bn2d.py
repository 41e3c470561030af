"""BatchNorm2d in the MLP: named, at most half of make_mlp's points."""

KIND = "mistake"

ANSWERS = {
    "make_mlp": """def make_mlp(sizes, placement, activation=nn.ReLU):
    if placement not in ("none", "before", "after"):
        raise ValueError(f"placement must be 'none', 'before' or 'after', got {placement!r}")
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i == len(sizes) - 2:
            layers.append(nn.Linear(n_in, n_out))
            break
        layers.append(nn.Linear(n_in, n_out, bias=placement != "before"))
        if placement == "before":
            layers += [nn.BatchNorm2d(n_out), activation()]
        elif placement == "after":
            layers += [activation(), nn.BatchNorm2d(n_out)]
        else:
            layers.append(activation())
    return nn.Sequential(*layers)
""",
}

SCORE = (7, 8.5)
CELLS = {"make_mlp_layers": (0, 1.5)}
MISTAKES = ["bn2d_in_mlp"]
