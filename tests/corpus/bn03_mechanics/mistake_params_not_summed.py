"""dgamma and dbeta not summed over the batch."""

KIND = "mistake"
SCORE = (0, 7.5)
CELLS = {"bn_backward_matches_reference": (0, 1), "bn_backward_edge_cases": (0, 0.5)}
MISTAKES = ["params_not_summed"]
REPLACE = {
    "batchnorm_backward": [
        ("dbeta = dout.sum(axis=0)", "dbeta = dout"),
        ("dgamma = (dout * x_hat).sum(axis=0)", "dgamma = dout * x_hat"),
    ]
}
