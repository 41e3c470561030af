"""Does not put BN's buffers back: a training-mode measurement moves the running statistics."""

REPLACE = {"layer_input_percentiles": [("                b.copy_(saved)", "                pass")]}
SCORE = (11, 11)
CELLS = {"percentiles_match_and_model_unchanged": (0, 1.5)}
MISTAKES = ["running_stats_changed"]
KIND = "mistake"
