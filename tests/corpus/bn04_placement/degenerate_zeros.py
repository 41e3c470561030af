"""Degenerate: empty networks, zeros, an empty list. At most 10% (an empty list is right
only for the one hidden model without BN)."""

KIND = "degenerate"
DEGENERATE = "zeros"

ANSWERS = {
    "make_mlp": "def make_mlp(sizes, placement, activation=nn.ReLU):\n    return nn.Sequential()\n",
    "make_conv_block": "def make_conv_block(c_in, c_out, placement, kernel_size=3):\n"
    "    return nn.Sequential()\n",
    "relu_active_fraction": "def relu_active_fraction(gamma, beta):\n"
    "    return torch.zeros_like(gamma)\n",
    "redundant_biases": "def redundant_biases(model):\n    return []\n",
}

SCORE = (0, 1)
