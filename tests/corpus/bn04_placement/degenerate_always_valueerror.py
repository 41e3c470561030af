"""Every function raises ValueError naming the three values: a one-liner that rejects valid
placements too. Regression (review 2026-12-04): it earned the reject test's point (10%)."""

KIND = "degenerate"
DEGENERATE = "no-op"
SCORE = (0, 0)
MISTAKES = ["placement_rejects_valid"]
ANSWERS = {
    "make_mlp": "def make_mlp(sizes, placement, activation=nn.ReLU):\n"
    "    raise ValueError(\"'none', 'before', 'after'\")\n",
    "make_conv_block": "def make_conv_block(c_in, c_out, placement, kernel_size=3):\n"
    "    raise ValueError('no')\n",
    "relu_active_fraction": "def relu_active_fraction(gamma, beta):\n    raise ValueError('no')\n",
    "redundant_biases": "def redundant_biases(model):\n    raise ValueError('no')\n",
}
