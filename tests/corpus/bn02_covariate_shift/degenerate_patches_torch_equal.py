# ruff: noqa: E501
"""Tampering: the answer cell replaces torch.equal and torch.allclose (which the checks use to
see whether the model changed) with lambdas returning True, and leaves running statistics
changed. Must not earn those points."""

KIND = "degenerate"
DEGENERATE = "pasted"
ANSWERS = {
    "layer_input_percentiles": """def layer_input_percentiles(model, layer, x, q=(15, 50, 85)):
    captured = []
    handle = layer.register_forward_pre_hook(lambda _m, inputs: captured.append(inputs[0]))
    model(x)
    z = captured[0].detach()
    levels = torch.tensor([float(v) / 100 for v in q], dtype=torch.float64)
    return torch.quantile(z.double(), levels, dim=0).to(z.dtype)


torch.equal = lambda a, b: True
torch.allclose = lambda *a, **k: True
"""
}
SCORE = (0, 0)
STATUS = "partly graded"
FEEDBACK = ["changes `torch.equal`"]
