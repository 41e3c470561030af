# ruff: noqa: E501
"""Correct with loops: percentiles by sorting and interpolating per unit by hand, ics by
summing over elements, and the model's state saved with state_dict."""

ANSWERS = {
    "layer_input_percentiles": """def _percentile(sorted_col, p):
    n = len(sorted_col)
    pos = p / 100 * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return sorted_col[lo] * (1 - frac) + sorted_col[hi] * frac


def layer_input_percentiles(model, layer, x, q=(15, 50, 85)):
    snapshot = {k: v.clone() for k, v in model.state_dict().items()}
    modes = {name: m.training for name, m in model.named_modules()}
    got = []
    h = layer.register_forward_pre_hook(lambda mod, inp: got.append(inp[0].detach().clone()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        h.remove()
        model.load_state_dict(snapshot)
        for name, m in model.named_modules():
            m.training = modes[name]
    z = got[0].double()
    units = z.shape[1]
    out = torch.zeros(len(q), units, dtype=torch.float64)
    for j in range(units):
        col = torch.sort(z[:, j]).values
        for i, p in enumerate(q):
            out[i, j] = _percentile(col, p)
    return out.to(got[0].dtype)
""",
    "ics": """def ics(grad_before, grad_after):
    dot = sq_g = sq_h = sq_d = 0.0
    for a, b in zip(grad_before, grad_after):
        for u, v in zip(a.detach().double().flatten().tolist(), b.detach().double().flatten().tolist()):
            dot += u * v
            sq_g += u * u
            sq_h += v * v
            sq_d += (u - v) ** 2
    if sq_g == 0.0 or sq_h == 0.0:
        raise ValueError("all-zero gradient")
    return sq_d ** 0.5, dot / (sq_g ** 0.5 * sq_h ** 0.5)
""",
}
SCORE = (13, 13)
KIND = "correct"
