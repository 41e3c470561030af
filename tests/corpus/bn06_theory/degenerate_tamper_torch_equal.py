"""Never restores the model in loss_along_gradient and replaces torch.equal (which the state
comparison uses) in an added cell with one that always says True: the static scan refuses
the notebook (every test 0, status 'partly graded'), the feedback quotes the line."""

ADDED = [("setup", "torch.equal = lambda a, b: True")]
REPLACE = {
    "loss_along_gradient": [
        (
            """        with torch.no_grad():
            for p, p0 in zip(params, saved):
                p.copy_(p0)
            for b, b0 in zip(model.buffers(), buffers):
                b.copy_(b0)
    return torch.stack(losses)""",
            """        pass
    return torch.stack(losses)""",
        )
    ],
}
SCORE = (0, 0)
STATUS = "partly graded"
CELLS = {"loss_along_gradient_values_and_model_unchanged": (0, 0)}
KIND = "tamper"
