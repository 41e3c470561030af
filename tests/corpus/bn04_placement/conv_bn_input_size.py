"""BatchNorm2d sized by c_in: named, at most half of make_conv_block's points."""

KIND = "mistake"

ANSWERS = {
    "make_conv_block": """def make_conv_block(c_in, c_out, placement, kernel_size=3):
    conv = nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=placement != "before")
    if placement == "before":
        return nn.Sequential(conv, nn.BatchNorm2d(c_in), nn.ReLU())
    if placement == "after":
        return nn.Sequential(conv, nn.ReLU(), nn.BatchNorm2d(c_in))
    return nn.Sequential(conv, nn.ReLU())
""",
}

SCORE = (8, 9)
CELLS = {"conv_block_layers_and_shape": (0, 1)}
MISTAKES = ["bn_sized_by_input"]
