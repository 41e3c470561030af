"""Correct (the solution), with a test cell duplicated by the learner: still full marks."""

KIND = "correct"

DUPLICATE = ["make_mlp_layers"]
ADDED = [
    (
        "relu_active_fraction_values",
        "print(relu_active_fraction(torch.tensor([1.0, -1.0]), torch.tensor([0.0, 1.0])))",
    )
]

SCORE = (10, 10)
ABSENT = ["calls_reference", "unknown"]
