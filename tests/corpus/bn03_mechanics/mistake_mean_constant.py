"""dx treats the batch mean as a constant."""

KIND = "mistake"
SCORE = (0, 7.5)
CELLS = {"bn_backward_matches_reference": (0, 1), "bn_backward_edge_cases": (0, 0.5)}
MISTAKES = ["mean_constant"]
REPLACE = {
    "batchnorm_backward": [
        (
            "dx = (dx_hat - dx_hat.mean(axis=0) - x_hat * (dx_hat * x_hat).mean(axis=0)) / std",
            "dx = (dx_hat - x_hat * (dx_hat * x_hat).mean(axis=0)) / std",
        )
    ]
}
