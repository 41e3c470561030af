"""Part D computes the change but returns the eps-free theory, a ratio of exactly 1/c.
This passed the ratio test (2 points) while its hidden cases had small eps; the hidden ratio
cases now have an eps comparable to the variances, where c * ratio is far from 1: 0, with
the ratio_theory diagnosis."""

REPLACE = {
    "weight_scale_effect": [
        (
            "return (outs[1] - outs[0]).abs().max(), norms[1] / norms[0]",
            "return (outs[1] - outs[0]).abs().max(), 1.0 / c",
        )
    ]
}
SCORE = (9, 9)
CELLS = {"weight_scale_gradient_ratio": (0, 0)}
MISTAKES = ["ratio_theory"]
KIND = "mistake"
