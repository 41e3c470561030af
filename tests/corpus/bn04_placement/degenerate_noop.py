"""Degenerate: every function does nothing (returns None). At most 10%, never a crash."""

KIND = "degenerate"
DEGENERATE = "no-op"

ANSWERS = {
    "make_mlp": "def make_mlp(sizes, placement, activation=nn.ReLU):\n    pass\n",
    "make_conv_block": "def make_conv_block(c_in, c_out, placement, kernel_size=3):\n    pass\n",
    "relu_active_fraction": "def relu_active_fraction(gamma, beta):\n    pass\n",
    "redundant_biases": "def redundant_biases(model):\n    pass\n",
}

SCORE = (0, 1)
