"""Correct values, but gamma.abs_() changes the caller's gamma: full marks minus 25% of that
test (2 points -> 1.5)."""

KIND = "mutation"

ANSWERS = {
    "relu_active_fraction": """def relu_active_fraction(gamma, beta):
    zero = gamma == 0
    positive_beta = (beta > 0).to(gamma.dtype)
    gamma.abs_()
    return torch.where(zero, positive_beta, torch.special.ndtr(beta / gamma)).to(gamma.dtype)
""",
}

SCORE = (9.5, 9.5)
CELLS = {"relu_active_fraction_values": (1.5, 1.5)}
FEEDBACK = ["changed its argument `gamma`"]
ABSENT = ["calls_reference"]
