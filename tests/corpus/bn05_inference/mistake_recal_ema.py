"""Recalibration keeps the layer momentum (an exponential average from the reset values): named."""

KIND = "mistake"

REPLACE = {
    "recalibrate": [
        ("    bn.momentum = None  # cumulative average: every batch weighs the same\n", "")
    ]
}

SCORE = (10, 11)
CELLS = {"recalibrate_is_a_cumulative_average": (0, 1)}
MISTAKES = ["recal_ema"]
ABSENT = ["calls_reference"]
