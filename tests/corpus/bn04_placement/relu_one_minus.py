"""1 - Phi(beta / gamma): named, at most half of relu_active_fraction's points."""

KIND = "mistake"

ANSWERS = {
    "relu_active_fraction": """def relu_active_fraction(gamma, beta):
    fraction = torch.special.ndtr(-beta / gamma)
    constant = (beta > 0).to(gamma.dtype)
    return torch.where(gamma == 0, constant, fraction).to(gamma.dtype)
""",
}

SCORE = (8, 9)
CELLS = {"relu_active_fraction_values": (0, 1)}
MISTAKES = ["one_minus_phi"]
