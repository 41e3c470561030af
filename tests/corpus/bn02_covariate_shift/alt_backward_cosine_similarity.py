"""Correct in another style: .backward() with the .grad fields saved and put back,
F.cosine_similarity, model.train(was) to restore the mode, shift drawn before scale."""

ANSWERS = {
    "layer_input_percentiles": """def layer_input_percentiles(model, layer, x, q=(15, 50, 85)):
    was_training = model.training
    saved = [b.clone() for b in model.buffers()]
    box = []
    handle = layer.register_forward_pre_hook(lambda m, args: box.append(args[0].detach()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
        with torch.no_grad():
            for b, s in zip(model.buffers(), saved):
                b.copy_(s)
        model.train(was_training)
    z = box[0]
    levels = torch.tensor(q, dtype=z.dtype) / 100
    return torch.quantile(z, levels, dim=0)
""",
    "ics": """def ics(grad_before, grad_after):
    G = torch.cat([g.flatten() for g in grad_before]).double()
    H = torch.cat([g.flatten() for g in grad_after]).double()
    if not G.any() or not H.any():
        raise ValueError("cosine undefined for a zero gradient")
    cos = torch.nn.functional.cosine_similarity(G, H, dim=0, eps=0.0)
    return torch.dist(G, H).item(), cos.item()
""",
    "gradient_shift": """def gradient_shift(model, loss_fn, x, y, layer, lr):
    params = list(model.parameters())
    old_values = [p.detach().clone() for p in params]
    old_grads = [None if p.grad is None else p.grad.clone() for p in params]
    old_buffers = [b.clone() for b in model.buffers()]
    idx = list(model).index(layer)
    earlier = [p for m in list(model)[:idx] for p in m.parameters()]
    try:
        model.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        G = layer.weight.grad.clone()
        with torch.no_grad():
            for p in earlier:
                if p.grad is not None:
                    p -= lr * p.grad
        model.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        G2 = layer.weight.grad.clone()
    finally:
        with torch.no_grad():
            for p, v in zip(params, old_values):
                p.copy_(v)
            for b, v in zip(model.buffers(), old_buffers):
                b.copy_(v)
        for p, g in zip(params, old_grads):
            p.grad = g
    return ics([G], [G2])
""",
    "NoisyBatchNorm1d": """class NoisyBatchNorm1d(nn.Module):
    def __init__(self, num_features, noise=1.0, generator=None):
        super().__init__()
        self.inner = nn.BatchNorm1d(num_features)
        self.noise = noise
        self.gen = generator

    def forward(self, x):
        y = self.inner(x)
        if not self.training:
            return y
        n = self.noise
        m = torch.rand(y.shape[1], generator=self.gen) * 2 * n - n   # shift first
        s = torch.rand(y.shape[1], generator=self.gen) * n + 1
        return y * s.to(y.dtype) + m.to(y.dtype)
""",
}
SCORE = (13, 13)
KIND = "correct"
