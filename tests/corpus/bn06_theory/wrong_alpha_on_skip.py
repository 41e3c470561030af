# ruff: noqa: E501
"""alpha scales the skip path: alpha * x + branch(x)."""

REPLACE = {
    "SkipInitBlock": [
        ("return x + self.alpha * self.branch(x)", "return self.alpha * x + self.branch(x)")
    ]
}
SCORE = (9, 9)
CELLS = {"skipinit_block_starts_as_identity": (0, 0)}
MISTAKES = ["alpha_on_skip"]
KIND = "mistake"
