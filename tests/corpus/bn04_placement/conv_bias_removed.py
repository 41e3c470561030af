"""Conv bias removed whenever BN is used (also after the ReLU): named, at most half."""

KIND = "mistake"

ANSWERS = {
    "make_conv_block": """def make_conv_block(c_in, c_out, placement, kernel_size=3):
    conv = nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=placement == "none")
    if placement == "before":
        return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.ReLU())
    if placement == "after":
        return nn.Sequential(conv, nn.ReLU(), nn.BatchNorm2d(c_out))
    return nn.Sequential(conv, nn.ReLU())
""",
}

SCORE = (8, 9)
CELLS = {"conv_block_layers_and_shape": (0, 1)}
MISTAKES = ["bias_removed_without_bn"]
