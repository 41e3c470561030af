# ruff: noqa: E501
"""Correct in another style: Part D through the modules themselves: linear.weight scaled in
place and copied back from a clone (bit-exact), bn's own forward in training mode (its
running statistics put back), loss.backward() with every .grad saved and restored, P
float32 from a local generator (promoted to float64 by the product)."""

ANSWERS = {
    "weight_scale_effect": """def weight_scale_effect(linear, bn, x, c):
    w_saved = linear.weight.detach().clone()
    grads = {id(p): (None if p.grad is None else p.grad.clone()) for p in [*linear.parameters(), *bn.parameters()]}
    bufs = [b.clone() for b in bn.buffers()]
    gen = torch.Generator()
    gen.manual_seed(1234)
    P = None
    outs, norms = [], []
    try:
        for s in (1.0, c):
            with torch.no_grad():
                linear.weight.copy_(w_saved * s)
            linear.weight.grad = None
            out = bn(linear(x))
            if P is None:
                P = torch.randn(out.shape, generator=gen)  # float32
            (out * P).sum().backward()
            outs.append(out.detach().clone())
            norms.append(linear.weight.grad.norm())
    finally:
        with torch.no_grad():
            linear.weight.copy_(w_saved)
            for b, b0 in zip(bn.buffers(), bufs):
                b.copy_(b0)
        for p in [*linear.parameters(), *bn.parameters()]:
            p.grad = grads[id(p)]
    return float((outs[1] - outs[0]).abs().max()), float(norms[1] / norms[0])
"""
}
SCORE = (11, 11)
KIND = "correct"
