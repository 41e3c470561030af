# ruff: noqa: E501
"""The hook is removed only when the forward succeeds (no try/finally): the main test passes,
the forward-raises test finds the hook left (named hook_left), 0 of its 1 point."""

KIND = "mistake"
ANSWERS = {
    "layer_input_percentiles": """def layer_input_percentiles(model, layer, x, q=(15, 50, 85)):
    captured = []
    buffers = [b.detach().clone() for b in model.buffers()]
    handle = layer.register_forward_pre_hook(lambda _m, inputs: captured.append(inputs[0]))
    with torch.no_grad():
        model(x)
    handle.remove()
    with torch.no_grad():
        for b, saved in zip(model.buffers(), buffers):
            b.copy_(saved)
    z = captured[0].detach()
    levels = torch.tensor([float(v) / 100 for v in q], dtype=torch.float64)
    return torch.quantile(z.double(), levels, dim=0).to(z.dtype)
"""
}
SCORE = (12, 12)
CELLS = {
    "percentiles_clean_up_when_forward_raises": (0, 0),
    "percentiles_match_and_model_unchanged": (3, 3),
}
MISTAKES = ["hook_left"]
