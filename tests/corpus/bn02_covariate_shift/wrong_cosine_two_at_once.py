# ruff: noqa: E501
"""Two mistakes in the cosine at once: minus the plain dot product. No single mutant matches,
so no diagnosis: the feedback says the cosine is wrong, on which case, by how much;
gradient_shift (the solution, returning ics) is wrong with it."""

KIND = "mistake"
REPLACE = {"ics": [("float(g @ h / (g.norm() * h.norm()))", "-float(g @ h)")]}
SCORE = (8, 8)
CELLS = {"ics_values": (0, 0), "gradient_shift_values_and_model_unchanged": (0, 0)}
ABSENT = ["cosine_sign", "cosine_unnormalised"]
FEEDBACK = ["cosine is wrong on"]
