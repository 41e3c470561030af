"""Correct: an added cell changes torch's default dtype to float64, seeds torch and sets the
thread count; relu_active_fraction uses float constants (float64 by that default) and casts
back; redundant_biases returns a tuple (sorted); make_mlp validates in an if/elif/else."""

KIND = "correct"
SCORE = (10, 10)
ABSENT = ["calls_reference", "unknown", "wrong_dtype"]
ADDED = [
    (
        "setup",
        "torch.set_default_dtype(torch.float64)\ntorch.manual_seed(0)\n"
        "torch.set_num_threads(1)\nprint('set up')\n",
    ),
]
ANSWERS = {
    "make_mlp": """def make_mlp(sizes, placement, activation=nn.ReLU):
    layers = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        if placement == "before":
            layers += [nn.Linear(n_in, n_out, bias=False), nn.BatchNorm1d(n_out), activation()]
        elif placement == "after":
            layers += [nn.Linear(n_in, n_out), activation(), nn.BatchNorm1d(n_out)]
        elif placement == "none":
            layers += [nn.Linear(n_in, n_out), activation()]
        else:
            raise ValueError("placement must be 'none', 'before' or 'after'")
    if placement not in ("none", "before", "after"):
        raise ValueError("placement must be 'none', 'before' or 'after'")
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    print("built", len(layers), "layers")
    return nn.Sequential(*layers)
""",
    "relu_active_fraction": """def relu_active_fraction(gamma, beta):
    half = torch.tensor(0.5)
    t = beta.double() / gamma.double().abs()
    f = half * (1 + torch.erf(t * torch.tensor(0.5).sqrt()))
    f = torch.where(gamma == 0, (beta > 0).double(), f)
    return f.type(gamma.dtype)
""",
    "redundant_biases": """def redundant_biases(model):
    found = set()
    for prefix, seq in model.named_modules():
        if type(seq) is not nn.Sequential:
            continue
        kids = list(seq.named_children())
        for i in range(len(kids) - 1):
            name, layer = kids[i]
            weighted = isinstance(layer, (nn.Linear, nn.modules.conv._ConvNd))
            if weighted and getattr(layer, "bias", None) is not None:
                if isinstance(kids[i + 1][1], nn.modules.batchnorm._BatchNorm):
                    found.add(".".join(filter(None, [prefix, name, "bias"])))
    return tuple(sorted(found))
""",
}
