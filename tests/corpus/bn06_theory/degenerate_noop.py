"""Nothing written: every answer is the release's stub."""

STUB = ["SkipInitBlock", "loss_along_gradient", "gradient_predictiveness", "weight_scale_effect"]
SCORE = (0, 0)
KIND = "degenerate"
DEGENERATE = "no-op"
