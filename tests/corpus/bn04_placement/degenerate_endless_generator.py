"""redundant_biases returns an endless generator; the others are stubs. Regression (review
2026-12-04): the check read it outside the time limit, until the 60 s cell limit."""

KIND = "degenerate"
DEGENERATE = "endless loop"
SCORE = (0, 0)
MISTAKES = ["bad_return"]
FEEDBACK = ["returned more than 10000 names"]
STUB = ["make_mlp", "make_conv_block", "relu_active_fraction"]
ANSWERS = {
    "redundant_biases": "def redundant_biases(model):\n    while True:\n        yield '0.bias'\n",
}
