"""Correct in another style: every probe works on copy.deepcopy of the model (loss.backward()
and in-place steps on the copy), alpha registered with register_parameter, the branch in a
ModuleList; a comment names bnref and the course's experiments (never called)."""

ANSWERS = {
    "SkipInitBlock": """class SkipInitBlock(nn.Module):
    def __init__(self, branch):
        super().__init__()
        self.parts = nn.ModuleList([branch])
        self.register_parameter("alpha", nn.Parameter(torch.tensor(0.0)))

    def forward(self, x):
        f = self.parts[0]
        return torch.add(x, self.alpha * f(x))
""",
    "loss_along_gradient": """import copy


def loss_along_gradient(model, loss_fn, x, y, step_sizes):
    # my own, not bncourse.experiments.ch6_santurkar (nor bnref.torch.BatchNorm1d's code)
    probe = copy.deepcopy(model)
    probe.zero_grad(set_to_none=True)
    loss_fn(probe(x), y).backward()
    start = [(p.detach().clone(), p.grad.detach().clone()) for p in probe.parameters()]
    losses = []
    for eta in step_sizes:
        with torch.no_grad():
            for p, (p0, g) in zip(probe.parameters(), start):
                p.copy_(p0)
                p.sub_(eta * g)
            losses.append(loss_fn(probe(x), y).item())
    return torch.tensor(losses, dtype=torch.float64)
""",
    "gradient_predictiveness": """import copy


def gradient_predictiveness(model, loss_fn, x, y, step_sizes):
    def grads(m):
        m.zero_grad(set_to_none=True)
        loss_fn(m(x), y).backward()
        return [p.grad.detach().clone() for p in m.parameters()]

    g0 = grads(copy.deepcopy(model))
    result = []
    for eta in step_sizes:
        moved = copy.deepcopy(model)
        with torch.no_grad():
            for p, g in zip(moved.parameters(), g0):
                p.add_(g, alpha=-eta)
        g1 = grads(moved)
        result.append(sum(((a - b) ** 2).sum() for a, b in zip(g0, g1)).sqrt())
    return torch.stack(result)
""",
    "weight_scale_effect": """import copy


def weight_scale_effect(linear, bn, x, c):
    g = torch.Generator().manual_seed(7)
    outs, norms, P = [], [], None
    for scale in (1.0, c):
        lin, norm = copy.deepcopy(linear), copy.deepcopy(bn)
        with torch.no_grad():
            lin.weight.mul_(scale)
        lin.zero_grad(set_to_none=True)
        out = norm.train()(lin(x))
        if P is None:
            P = torch.rand(out.shape, generator=g, dtype=out.dtype) - 0.5
        (out * P).sum().backward()
        outs.append(out.detach())
        norms.append(lin.weight.grad.norm())
    return (outs[1] - outs[0]).abs().max(), norms[1] / norms[0]
""",
}
SCORE = (11, 11)
ABSENT = ["calls_reference"]
KIND = "correct"
