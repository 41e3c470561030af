"""Correct in another style: torch.func.functional_call with copies of the buffers (the model is
never touched), alpha as torch.zeros(()) under another branch name, F.linear and a deep copy
of bn for the weight-scale probe."""

ANSWERS = {
    "SkipInitBlock": """class SkipInitBlock(nn.Module):
    def __init__(self, branch):
        super().__init__()
        self.residual = branch
        self.alpha = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return x + self.residual(x) * self.alpha
""",
    "loss_along_gradient": """from torch.func import functional_call


def loss_along_gradient(model, loss_fn, x, y, step_sizes):
    params = {k: p.detach().requires_grad_() for k, p in model.named_parameters()}

    def loss_at(ps):
        # copies of the buffers: a training-mode forward updates these, not the model's
        buffers = {k: b.clone() for k, b in model.named_buffers()}
        return loss_fn(functional_call(model, {**ps, **buffers}, (x,)), y)

    grads = torch.autograd.grad(loss_at(params), list(params.values()))
    g = dict(zip(params, grads))
    with torch.no_grad():
        return torch.stack([loss_at({k: params[k] - eta * g[k] for k in params})
                            for eta in step_sizes])
""",
    "gradient_predictiveness": """from torch.func import functional_call


def gradient_predictiveness(model, loss_fn, x, y, step_sizes):
    names = [k for k, _ in model.named_parameters()]
    base = [p.detach().requires_grad_() for _, p in model.named_parameters()]

    def grad_at(ps):
        buffers = {k: b.clone() for k, b in model.named_buffers()}
        out = functional_call(model, {**dict(zip(names, ps)), **buffers}, (x,))
        return torch.autograd.grad(loss_fn(out, y), ps)

    g0 = grad_at(base)
    flat0 = torch.cat([g.flatten() for g in g0])
    out = []
    for eta in step_sizes:
        moved = [(p - eta * g).detach().requires_grad_() for p, g in zip(base, g0)]
        out.append((flat0 - torch.cat([g.flatten() for g in grad_at(moved)])).norm())
    return torch.stack(out)
""",
    "weight_scale_effect": """import copy


def weight_scale_effect(linear, bn, x, c):
    gen = torch.Generator()
    gen.manual_seed(2024)
    twin = copy.deepcopy(bn).train()  # its running statistics may move: it is a copy
    w0 = linear.weight.detach()
    results = []
    p = None
    for scale in (1.0, c):
        w = (scale * w0).requires_grad_(True)
        out = twin(nn.functional.linear(x, w, linear.bias.detach()))
        if p is None:
            p = torch.randn(out.shape, generator=gen).to(out.dtype)
        results.append((out.detach(), torch.autograd.grad((out * p).sum(), w)[0]))
    (o1, g1), (oc, gc) = results
    return float((oc - o1).abs().max()), float(gc.norm() / g1.norm())
""",
}
SCORE = (11, 11)
ABSENT = ["calls_reference"]
KIND = "correct"
