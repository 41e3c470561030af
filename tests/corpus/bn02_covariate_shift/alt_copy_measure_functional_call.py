# ruff: noqa: E501
"""Correct, other style: percentiles measured on a deep copy of the model (the layer found
by name), so the original is never touched; gradient_shift with torch.func.functional_call
on a dict of parameters (nothing in the model changes); ics via F.cosine_similarity on
float64 vectors. Full marks."""

KIND = "correct"
ANSWERS = {
    "layer_input_percentiles": """import copy


def layer_input_percentiles(model, layer, x, q=(15, 50, 85)):
    name = next(n for n, m in model.named_modules() if m is layer)
    twin = copy.deepcopy(model)
    got = []
    dict(twin.named_modules())[name].register_forward_pre_hook(lambda m, a: got.append(a[0]))
    with torch.no_grad():
        twin(x)
    z = got[0]
    lv = torch.tensor(q, dtype=torch.float64) / 100.0
    return torch.quantile(z.to(torch.float64), lv, dim=0).to(z.dtype)
""",
    "ics": """import torch.nn.functional as F


def ics(grad_before, grad_after):
    G = torch.cat([g.detach().double().flatten() for g in grad_before])
    H = torch.cat([g.detach().double().flatten() for g in grad_after])
    if torch.count_nonzero(G) == 0 or torch.count_nonzero(H) == 0:
        raise ValueError("zero gradient")
    return (G - H).norm().item(), F.cosine_similarity(G, H, dim=0).item()
""",
    "gradient_shift": """from torch.func import functional_call


def gradient_shift(model, loss_fn, x, y, layer, lr):
    names = {id(p): n for n, p in model.named_parameters()}
    idx = next(i for i, m in enumerate(model) if m is layer)
    earlier = {names[id(p)] for m in list(model)[:idx] for p in m.parameters()}
    wname = names[id(layer.weight)]
    params = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters()}
    bufs = {n: b.clone() for n, b in model.named_buffers()}

    def grads(ps):
        out = functional_call(model, ({**ps}, {k: v.clone() for k, v in bufs.items()}), (x,))
        names_ = list(ps)
        gs = torch.autograd.grad(loss_fn(out, y), [ps[n] for n in names_], allow_unused=True)
        return dict(zip(names_, gs))

    g0 = grads(params)
    stepped = {n: (p - lr * g0[n]).detach().requires_grad_(True)
               if n in earlier and g0[n] is not None else p for n, p in params.items()}
    g1 = grads(stepped)
    return ics([g0[wname]], [g1[wname]])
""",
}
SCORE = (13, 13)
