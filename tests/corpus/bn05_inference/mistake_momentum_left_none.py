"""Recalibration leaves momentum at None: named."""

KIND = "mistake"

REPLACE = {
    "recalibrate": [
        (
            "    try:\n        for x in batches:\n            bn.forward(x, training=True)\n"
            "    finally:\n        bn.momentum = momentum",
            "    for x in batches:\n        bn.forward(x, training=True)",
        )
    ]
}

SCORE = (10, 11)
CELLS = {"recalibrate_is_a_cumulative_average": (0, 1)}
MISTAKES = ["momentum_left_none"]
ABSENT = ["calls_reference"]
