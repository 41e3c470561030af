# ruff: noqa: E501
"""Correct (the solution) with the course's public cmp used in an added cell and a test cell
duplicated: none of it is cheating evidence."""

ADDED = [
    (
        "loss_along_gradient_values_and_model_unchanged",
        "from bncourse.checks import cmp\nm = nn.Sequential(nn.Linear(3, 2))\ncmp('eta = 0 gives L(theta)', loss_along_gradient(m, nn.functional.cross_entropy, torch.randn(4, 3), torch.tensor([0, 1, 0, 1]), [0.0])[0], nn.functional.cross_entropy(m(torch.randn(4, 3)), torch.tensor([0, 1, 0, 1])), tol=10.0)",
    ),
]
DUPLICATE = ["weight_scale_gradient_ratio"]
SCORE = (11, 11)
ABSENT = ["calls_reference"]
KIND = "correct"
