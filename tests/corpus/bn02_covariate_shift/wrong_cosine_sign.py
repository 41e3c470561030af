# ruff: noqa: E501
"""The cosine with the wrong sign (gradient_shift, which calls ics, is wrong too)."""

REPLACE = {
    "ics": [("float(g @ h / (g.norm() * h.norm()))", "-float(g @ h / (g.norm() * h.norm()))")]
}
SCORE = (8, 8)
CELLS = {"ics_values": (0, 1)}
MISTAKES = ["cosine_sign"]
KIND = "mistake"
