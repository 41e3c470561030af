"""Correct, other style: add_module, torch.distributions.Normal, parameter identity; uses cmp."""

KIND = "correct"

ANSWERS = {
    "make_mlp": """def make_mlp(sizes, placement, activation=nn.ReLU):
    if placement not in {"none", "before", "after"}:
        raise ValueError(f"unknown placement {placement!r}: use 'none', 'before' or 'after'")
    model = nn.Sequential()
    pairs = list(zip(sizes, sizes[1:]))
    for k, (a, b) in enumerate(pairs[:-1]):
        model.append(nn.Linear(a, b, bias=(placement != "before")))
        if placement == "before":
            model.append(nn.BatchNorm1d(b))
        model.append(activation())
        if placement == "after":
            model.append(nn.BatchNorm1d(b))
    model.append(nn.Linear(*pairs[-1]))
    return model
""",
    "relu_active_fraction": """def relu_active_fraction(gamma, beta):
    from bncourse.checks import cmp
    normal = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0)
    g, b = gamma.double(), beta.double()
    safe = torch.where(g == 0, torch.ones_like(g), g.abs())
    out = torch.where(g == 0, (b > 0).double(), normal.cdf(b / safe))
    cmp("in [0, 1]", out.clamp(0, 1), out)
    return out.to(gamma.dtype)
""",
    "redundant_biases": """def redundant_biases(model):
    name_of = {id(p): n for n, p in model.named_parameters()}
    result = set()
    for m in model.modules():
        if type(m) is nn.Sequential or isinstance(m, nn.Sequential):
            layers = list(m.children())
            for a, b in zip(layers, layers[1:]):
                has_bias = getattr(a, "bias", None) is not None
                if isinstance(b, nn.modules.batchnorm._BatchNorm) and has_bias \\
                        and isinstance(a, (nn.Linear, nn.modules.conv._ConvNd)):
                    result.add(name_of[id(a.bias)])
    return sorted(result)
""",
}

SCORE = (10, 10)
ABSENT = ["calls_reference", "unknown"]
