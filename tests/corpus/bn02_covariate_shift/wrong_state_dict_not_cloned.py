# ruff: noqa: E501
"""Running statistics 'saved' with model.state_dict() without cloning: the saved tensors are
the live buffers, so the restore restores nothing. Named running_stats_changed; <= half."""

KIND = "mistake"
REPLACE = {
    "layer_input_percentiles": [
        (
            "    buffers = [b.detach().clone() for b in model.buffers()]",
            "    saved_state = model.state_dict()",
        ),
        (
            "            for b, saved in zip(model.buffers(), buffers):\n                b.copy_(saved)",
            "            model.load_state_dict(saved_state)",
        ),
    ]
}
SCORE = (11, 11)
CELLS = {
    "percentiles_match_and_model_unchanged": (0, 1.5),
    "percentiles_clean_up_when_forward_raises": (0, 0.5),
}
MISTAKES = ["running_stats_changed"]
