"""Degenerate: make_mlp loops forever (the other answers are still the blank stubs). It is
stopped by the per-call time limit once and not called again: 0 points, graded."""

KIND = "degenerate"
DEGENERATE = "endless loop"

ANSWERS = {
    "make_mlp": "def make_mlp(sizes, placement, activation=nn.ReLU):\n"
    "    while True:\n        pass\n",
}
STUB = ["make_conv_block", "relu_active_fraction", "redundant_biases"]

SCORE = (0, 0.5)
MISTAKES = ["timeout"]
STATUS = "graded"
