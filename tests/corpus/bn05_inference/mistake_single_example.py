"""N = 1 in training is not rejected (the unbiased variance divides by zero): the note says
so, and that test scores 0."""

KIND = "mistake"

REPLACE = {"batchnorm_class": [("            if n < 2:\n", "            if n < 1:\n")]}

SCORE = (11, 11)
CELLS = {"batchnorm_rejects_one_example_in_training": (0, 0)}
MISTAKES = ["single_example"]
ABSENT = ["calls_reference"]
