# ruff: noqa: E501
"""Correct: the learner's own exception class derived from ValueError (defined in the class
cell) for N = 1 and for unknown conventions: it IS a ValueError. The checks once looked
for the text 'ValueError' in the exception and gave 0; convert_momentum via set lookups."""

ANSWERS = {
    "convert_momentum": """_SAME = {("torch", "torch"), ("keras", "keras")}
_FLIP = {("torch", "keras"), ("keras", "torch")}


def convert_momentum(momentum, src, dst):
    if (src, dst) in _SAME:
        return momentum
    if (src, dst) in _FLIP:
        return 1 - momentum
    raise ConventionError(f"unknown convention pair {src!r} -> {dst!r}")
"""
}
REPLACE = {
    "batchnorm_class": [
        (
            "class BatchNorm:",
            'class ConventionError(ValueError):\n    """Bad input for BatchNorm or convert_momentum."""\n\n\nclass BatchNorm:',
        ),
        (
            'raise ValueError(f"training needs N > 1 examples, got x of shape {x.shape}")',
            'raise ConventionError(f"training needs N > 1 examples, got x of shape {x.shape}")',
        ),
    ]
}
SCORE = (12, 12)
KIND = "correct"
