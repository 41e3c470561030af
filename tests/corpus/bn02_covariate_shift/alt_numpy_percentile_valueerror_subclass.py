# ruff: noqa: E501
"""Correct (regression: ics raising its own ValueError subclass scored 0 of 1, 12/13), other style: percentiles with numpy.percentile on the captured input (converted
back to a tensor of its dtype); ics raising its own ValueError subclass; gradient_shift with
loss.backward(), the .grad fields saved and put back (None stays None), p.data stepped and
restored by hand. Full marks."""

KIND = "correct"
ANSWERS = {
    "layer_input_percentiles": """import numpy as np


def layer_input_percentiles(model, layer, x, q=(15, 50, 85)):
    saved = [b.clone() for b in model.buffers()]
    was = {m: m.training for m in model.modules()}
    box = []
    h = layer.register_forward_pre_hook(lambda m, a: box.append(a[0].detach().clone()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        h.remove()
        for b, s in zip(model.buffers(), saved):
            b.data.copy_(s)
        for m, t in was.items():
            m.training = t
    z = box[0]
    p = np.percentile(z.cpu().double().numpy(), list(q), axis=0)
    return torch.from_numpy(np.asarray(p)).to(z.dtype)
""",
    "ics": """class ZeroGradientError(ValueError):
    pass


def ics(grad_before, grad_after):
    G = torch.cat([g.reshape(-1) for g in grad_before]).double()
    H = torch.cat([g.reshape(-1) for g in grad_after]).double()
    if not G.any() or not H.any():
        raise ZeroGradientError("one of the gradients is all zeros")
    return float(torch.dist(G, H)), float((G * H).sum() / G.norm() / H.norm())
""",
    "gradient_shift": """def gradient_shift(model, loss_fn, x, y, layer, lr):
    mods = list(model)
    earlier = [p for m in mods[: mods.index(layer)] for p in m.parameters()]
    params = list(model.parameters())
    old_grads = [None if p.grad is None else p.grad.clone() for p in params]
    old_data = [p.data.clone() for p in params]
    old_bufs = [b.clone() for b in model.buffers()]
    try:
        for p in params:
            p.grad = None
        loss_fn(model(x), y).backward()
        G = layer.weight.grad.clone()
        for p in earlier:
            if p.grad is not None:
                p.data -= lr * p.grad
        for p in params:
            p.grad = None
        loss_fn(model(x), y).backward()
        G2 = layer.weight.grad.clone()
    finally:
        for p, d, g in zip(params, old_data, old_grads):
            p.data.copy_(d)
            p.grad = g
        for b, s in zip(model.buffers(), old_bufs):
            b.data.copy_(s)
    return ics([G], [G2])
""",
}
SCORE = (13, 13)
