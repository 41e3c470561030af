"""1 - Phi(beta / |gamma|): the fraction the ReLU blocks, with the abs right. Regression
(review 2026-12-04): only 1 - Phi(beta / gamma) (no abs) was named."""

KIND = "mistake"
SCORE = (8, 9)
CELLS = {"relu_active_fraction_values": (0, 1)}
MISTAKES = ["blocked_fraction"]
ABSENT = ["one_minus_phi", "no_abs_gamma"]
REPLACE = {
    "relu_active_fraction": [
        ("torch.special.ndtr(beta / gamma.abs())", "1 - torch.special.ndtr(beta / gamma.abs())")
    ]
}
