"""The cosine without the division by the norms (gradient_shift is wrong too)."""

REPLACE = {"ics": [("float(g @ h / (g.norm() * h.norm()))", "float(g @ h)")]}
SCORE = (8, 8)
CELLS = {"ics_values": (0, 1)}
MISTAKES = ["cosine_unnormalised"]
KIND = "mistake"
