"""Recalibration without the reset: old statistics and count keep weighing in: named."""

KIND = "mistake"

REPLACE = {
    "recalibrate": [
        ("    bn.running_mean = np.zeros_like(bn.running_mean)\n", ""),
        ("    bn.running_var = np.ones_like(bn.running_var)\n", ""),
        ("    bn.num_batches_tracked = 0\n", ""),
    ]
}

SCORE = (10, 11)
CELLS = {"recalibrate_is_a_cumulative_average": (0, 1)}
MISTAKES = ["recal_no_reset"]
ABSENT = ["calls_reference"]
