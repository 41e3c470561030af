"""Degenerate: every function loops forever. Stopped after 5 s each; 0 points, graded."""

ANSWERS = {
    "make_mlp": "def make_mlp(sizes, placement, activation=nn.ReLU):\n    while True:\n        pass\n",
    "make_conv_block": "def make_conv_block(c_in, c_out, placement, kernel_size=3):\n"
    "    while True:\n        pass\n",
    "relu_active_fraction": "def relu_active_fraction(gamma, beta):\n    while True:\n        pass\n",
    "redundant_biases": "def redundant_biases(model):\n    while True:\n        pass\n",
}

SCORE = (0, 0.5)
STATUS = "graded"
