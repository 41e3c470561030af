"""Two mistakes at once: eps outside the square root AND the biased variance fed to the
running average. Each output is named for the mistake whose mutant matches it on every
case (y: eps_outside_sqrt, running_var: biased_running_var); training 0, inference at
most half (the float32 case's eps difference is inside float32 tolerance)."""

MISTAKES = ["eps_outside_sqrt", "biased_running_var"]
REPLACE = {
    "batchnorm_class": [
        ("np.sqrt(var + self.eps)", "(np.sqrt(var) + self.eps)"),
        ("m * var * n / (n - 1)", "m * var"),
    ]
}
SCORE = (7, 8)
CELLS = {
    "batchnorm_training_updates_running_stats": (0, 0),
    "batchnorm_inference_uses_running_stats": (0, 1),
}
MISTAKES = ["eps_outside_sqrt", "biased_running_var"]
KIND = "mistake"
