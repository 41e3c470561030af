"""Correct in another style: BN written out by hand (biased variance, eps inside the root) in
float64 for the weight-scale probe, loops over parameters with torch.no_grad copies,
losses collected as Python floats; SkipInit built with setattr."""

ANSWERS = {
    "SkipInitBlock": """class SkipInitBlock(nn.Module):
    def __init__(self, branch):
        super().__init__()
        setattr(self, "f", branch)
        self.alpha = nn.Parameter(torch.tensor(0.0, dtype=torch.float32))

    def forward(self, x):
        y = self.f(x)
        return x + self.alpha * y
""",
    "loss_along_gradient": """def loss_along_gradient(model, loss_fn, x, y, step_sizes):
    params = [p for p in model.parameters()]
    copies = []
    for p in params:
        copies.append(p.detach().clone())
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    loss = loss_fn(model(x), y)
    grads = torch.autograd.grad(loss, params)
    values = []
    for eta in step_sizes:
        with torch.no_grad():
            for i in range(len(params)):
                params[i].copy_(copies[i])
                params[i].add_(-eta * grads[i])
            values.append(float(loss_fn(model(x), y)))
    with torch.no_grad():
        for i in range(len(params)):
            params[i].copy_(copies[i])
        for name, b in model.named_buffers():
            b.copy_(buffers[name])
    return torch.tensor(values, dtype=copies[0].dtype)
""",
    "weight_scale_effect": """def weight_scale_effect(linear, bn, x, c):
    gen = torch.Generator().manual_seed(3)
    x64 = x.double()
    W = linear.weight.detach().double()
    b = linear.bias.detach().double()
    gamma = bn.weight.detach().double()
    beta = bn.bias.detach().double()
    P = torch.randn(x.shape[0], W.shape[0], generator=gen, dtype=torch.float64)
    outs, norms = [], []
    for s in [1.0, c]:
        Ws = (W * s).requires_grad_()
        z = x64 @ Ws.T + b  # (N, out)
        mu = z.mean(dim=0)
        var = ((z - mu) ** 2).mean(dim=0)  # biased, as BN in training mode
        out = gamma * (z - mu) / torch.sqrt(var + bn.eps) + beta
        (g,) = torch.autograd.grad((out * P).sum(), Ws)
        outs.append(out.detach())
        norms.append(torch.linalg.norm(g))
    return torch.max(torch.abs(outs[1] - outs[0])), norms[1] / norms[0]
""",
}
SCORE = (11, 11)
ABSENT = ["calls_reference"]
KIND = "correct"
