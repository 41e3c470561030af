"""Correct, but clears the caller's x after using it: full marks minus 25% of the test of
loss_along_gradient (0.75 of 3 points)."""

REPLACE = {
    "loss_along_gradient": [
        (
            "    return torch.stack(losses)  # (len(step_sizes),)",
            "    x.zero_()  # done with it\n    return torch.stack(losses)  # (len(step_sizes),)",
        )
    ]
}
SCORE = (10.25, 10.25)
CELLS = {"loss_along_gradient_values_and_model_unchanged": (2.25, 2.25)}
FEEDBACK = ["changed its argument `x`"]
KIND = "mutation"
