"""bias=False on every Linear once BN is used: named, at most half of make_mlp's points."""

KIND = "mistake"

ANSWERS = {
    "make_mlp": """def make_mlp(sizes, placement, activation=nn.ReLU):
    if placement not in ("none", "before", "after"):
        raise ValueError(f"placement must be 'none', 'before' or 'after', got {placement!r}")
    layers = []
    use_bias = placement == "none"
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out, bias=use_bias))
        if i == len(sizes) - 2:
            break
        if placement == "before":
            layers += [nn.BatchNorm1d(n_out), activation()]
        elif placement == "after":
            layers += [activation(), nn.BatchNorm1d(n_out)]
        else:
            layers.append(activation())
    return nn.Sequential(*layers)
""",
}

SCORE = (7, 8.5)
CELLS = {"make_mlp_layers": (0, 1.5)}
MISTAKES = ["bias_removed_without_bn"]
