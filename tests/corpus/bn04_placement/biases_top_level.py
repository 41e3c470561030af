"""Only the model's own children are searched: named, at most half of redundant_biases."""

KIND = "mistake"

ANSWERS = {
    "redundant_biases": """def redundant_biases(model):
    names = []
    children = list(model.named_children()) if isinstance(model, nn.Sequential) else []
    for (name, layer), (_, after) in zip(children, children[1:]):
        if isinstance(layer, (nn.Linear, nn.modules.conv._ConvNd)) and isinstance(
                after, nn.modules.batchnorm._BatchNorm) and layer.bias is not None:
            names.append(f"{name}.bias")
    return names
""",
}

SCORE = (8, 9)
CELLS = {"redundant_biases_found": (0, 1)}
MISTAKES = ["nested_missed"]
