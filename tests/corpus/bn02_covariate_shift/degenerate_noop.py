"""Nothing written: every answer is the release's stub."""

STUB = ["layer_input_percentiles", "ics", "gradient_shift", "NoisyBatchNorm1d"]
SCORE = (0, 0)
KIND = "degenerate"
DEGENERATE = "no-op"
