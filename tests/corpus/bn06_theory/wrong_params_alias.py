"""The saved parameters are references (p.detach() without clone): every step starts where the
last one ended, and the 'restore' copies the stepped values onto themselves."""

REPLACE = {
    "loss_along_gradient": [
        ("saved = [p.detach().clone() for p in params]", "saved = [p.detach() for p in params]")
    ]
}
SCORE = (8, 8)
CELLS = {"loss_along_gradient_values_and_model_unchanged": (0, 0)}
MISTAKES = ["params_not_restored"]
KIND = "mistake"
