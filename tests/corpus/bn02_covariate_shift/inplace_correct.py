# ruff: noqa: E501
"""Correct, but zeroes the caller's x after using it: full marks minus 25% of each test
that watches x (the two percentile tests)."""

REPLACE = {
    "layer_input_percentiles": [
        (
            "    z = captured[0].detach()  # (N, units)",
            "    z = captured[0].detach().clone()  # (N, units)\n    x.zero_()",
        ),
    ]
}
SCORE = (12.25, 12.25)
FEEDBACK = ["changed its argument `x`"]
KIND = "mutation"
