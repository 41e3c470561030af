"""P from torch's global generator (torch.manual_seed + torch.randn): the caller's random state
changes."""

REPLACE = {
    "weight_scale_effect": [
        (
            "proj = torch.randn(out.shape, generator=gen, dtype=out.dtype)",
            "torch.manual_seed(0)\n            proj = torch.randn(out.shape, dtype=out.dtype)",
        )
    ]
}
SCORE = (8, 8)
CELLS = {
    "weight_scale_output_change_and_nothing_changed": (0, 0),
    "weight_scale_gradient_ratio": (0, 0),
}
MISTAKES = ["global_rng"]
KIND = "mistake"
