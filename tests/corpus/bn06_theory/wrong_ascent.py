"""Both probes step uphill, to theta + eta * g."""

REPLACE = {
    "loss_along_gradient": [("p.copy_(p0 - eta * g)", "p.copy_(p0 + eta * g)")],
    "gradient_predictiveness": [("p.copy_(p0 - eta * g)", "p.copy_(p0 + eta * g)")],
}
SCORE = (5, 5)
CELLS = {
    "loss_along_gradient_values_and_model_unchanged": (0, 0),
    "gradient_predictiveness_values_and_model_unchanged": (0, 0),
}
MISTAKES = ["ascent"]
KIND = "mistake"
