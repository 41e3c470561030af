"""Scales linear.weight in place by c and divides it back: bit-exact on some cases (c a power
of two, or rounding that happens to come back) but not on the float32 c = 3 / c = 0.3 cases:
the flag 'parameters changed' is wrong on those only, partial credit, no diagnosis (the
mutant would have to match on every case); the feedback names the flag and the case."""

ANSWERS = {
    "weight_scale_effect": """def weight_scale_effect(linear, bn, x, c):
    gen = torch.Generator().manual_seed(5)
    weight = None if bn.weight is None else bn.weight.detach()
    shift = None if bn.bias is None else bn.bias.detach()
    outs, norms, P = [], [], None
    for scale in (1.0, c):
        with torch.no_grad():
            linear.weight.mul_(scale)
        w = linear.weight.detach().clone().requires_grad_()
        z = torch.nn.functional.linear(x, w, linear.bias.detach())
        out = torch.nn.functional.batch_norm(z, None, None, weight, shift, True, 0.0, bn.eps)
        if P is None:
            P = torch.randn(out.shape, generator=gen, dtype=out.dtype)
        (g,) = torch.autograd.grad((out * P).sum(), w)
        outs.append(out.detach())
        norms.append(g.norm())
    with torch.no_grad():
        linear.weight.div_(c)
    return (outs[1] - outs[0]).abs().max(), norms[1] / norms[0]
"""
}
SCORE = (9, 10.9)
FEEDBACK = ["parameters changed is wrong on"]
KIND = "mistake"
