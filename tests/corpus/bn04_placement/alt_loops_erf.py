"""Correct, other style: while loop, OrderedDict names, padding='same', erf, recursive walk."""

KIND = "correct"

ANSWERS = {
    "make_mlp": """def make_mlp(sizes, placement, activation=nn.ReLU):
    # bnref has a reference; this is my own version
    from collections import OrderedDict
    allowed = ("none", "before", "after")
    if placement not in allowed:
        raise ValueError("placement must be one of " + ", ".join(map(repr, allowed)))
    parts = OrderedDict()
    i = 0
    while i < len(sizes) - 1:
        last = i == len(sizes) - 2
        parts[f"fc{i}"] = nn.Linear(sizes[i], sizes[i + 1], bias=last or placement != "before")
        if not last:
            if placement == "before":
                parts[f"bn{i}"] = nn.BatchNorm1d(sizes[i + 1])
            parts[f"act{i}"] = activation()
            if placement == "after":
                parts[f"bn{i}"] = nn.BatchNorm1d(sizes[i + 1])
        i += 1
    return nn.Sequential(parts)
""",
    "make_conv_block": """def make_conv_block(c_in, c_out, placement, kernel_size=3):
    with_bn = placement in ("before", "after")
    conv = nn.Conv2d(c_in, c_out, kernel_size, padding="same", bias=placement != "before")
    layers = [conv]
    if placement == "before":
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.ReLU())
    if placement == "after":
        layers.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*layers)
""",
    "relu_active_fraction": """def relu_active_fraction(gamma, beta):
    t = beta / gamma.abs()
    phi = 0.5 * (1 + torch.erf(t / 2**0.5))
    phi = torch.where(gamma == 0, torch.where(beta > 0, 1.0, 0.0).to(gamma.dtype), phi)
    return phi.to(gamma.dtype)
""",
    "redundant_biases": """def redundant_biases(model):
    found = []

    def walk(module, path):
        if isinstance(module, nn.Sequential):
            kids = list(module._modules.items())
            for k in range(len(kids) - 1):
                name, layer = kids[k]
                nxt = kids[k + 1][1]
                if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)) and \\
                        isinstance(nxt, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) and \\
                        layer.bias is not None:
                    found.append(path + name + ".bias")
        for name, child in module.named_children():
            walk(child, path + name + ".")

    walk(model, "")
    return found
""",
}

SCORE = (10, 10)
ABSENT = ["calls_reference", "unknown"]
