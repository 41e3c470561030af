"""The forward pass calls os._exit(1): the kernel dies in each test that calls it, 4 times,
then the rest is not run. Regression (review 2026-12-04): the cell of the last allowed death
kept only its partial output, which nbgrader scored as a pass (1 point)."""

KIND = "degenerate"
DEGENERATE = "no-op"
SCORE = (0, 0)
STATUS = "partly graded"
FEEDBACK = ["the code ended the Python process"]
ANSWERS = {
    "batchnorm_forward": "import os\n\n\ndef batchnorm_forward(x, gamma, beta, eps=1e-5):\n"
    "    os._exit(1)\n",
}
