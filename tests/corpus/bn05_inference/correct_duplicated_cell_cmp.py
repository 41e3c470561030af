"""Correct (the solution) with a duplicated test cell, and an added scratch cell that
uses the course's public checks.cmp: full marks, nothing counted twice."""

KIND = "correct"

DUPLICATE = ["batchnorm_training_updates_running_stats"]
ADDED = [
    (
        "fold_bn_matches_bn_after_linear",
        "W, b = np.ones((2, 3)), np.zeros(2)\n"
        "Wf, bf = fold_bn(W, b, np.zeros(2), np.ones(2), np.ones(2), np.zeros(2), eps=0.0)\n"
        "checks.cmp('W_folded', Wf, W)",
    )
]

SCORE = (12, 12)
ABSENT = ["calls_reference"]
