# ruff: noqa: E501
"""Correct (the solution) with the course's public cmp used in an answer cell, a scratch
cell added and a test cell duplicated: none of it is cheating evidence."""

ADDED = [
    (
        "ics_values",
        "from bncourse.checks import cmp\ncmp('l2 of equal gradients', ics([torch.ones(3)], [torch.ones(3)])[0], 0.0)",
    ),
]
DUPLICATE = ["ics_values"]
SCORE = (13, 13)
ABSENT = ["calls_reference"]
KIND = "correct"
