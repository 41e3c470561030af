"""Correct in another style: state_dict deep copies saved and loaded back, .grad saved and put
back, parameters_to_vector / vector_to_parameters for the steps, norms in float64 by
hand, P of random signs, the weight scaled in place and restored from the state_dict."""

ANSWERS = {
    "loss_along_gradient": """import copy
from torch.nn.utils import parameters_to_vector, vector_to_parameters


def loss_along_gradient(model, loss_fn, x, y, step_sizes):
    saved = copy.deepcopy(model.state_dict())
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    params = list(model.parameters())
    theta = parameters_to_vector(params).detach().clone()
    g = parameters_to_vector(torch.autograd.grad(loss_fn(model(x), y), params)).detach()
    out = torch.empty(len(step_sizes), dtype=theta.dtype)
    with torch.no_grad():
        for i, eta in enumerate(step_sizes):
            vector_to_parameters(theta - eta * g, params)
            out[i] = loss_fn(model(x), y)
    model.load_state_dict(saved)
    for p, gr in zip(model.parameters(), grads):
        p.grad = gr
    return out
""",
    "gradient_predictiveness": """import copy
from torch.nn.utils import parameters_to_vector, vector_to_parameters


def gradient_predictiveness(model, loss_fn, x, y, step_sizes):
    saved = copy.deepcopy(model.state_dict())
    params = list(model.parameters())
    theta = parameters_to_vector(params).detach().clone()

    def flat_grad():
        return parameters_to_vector(torch.autograd.grad(loss_fn(model(x), y), params))

    g0 = flat_grad().detach()
    values = []
    for eta in step_sizes:
        with torch.no_grad():
            vector_to_parameters(theta - eta * g0, params)
        d = (g0 - flat_grad()).double()
        values.append(float(torch.sqrt(torch.dot(d, d))))
    model.load_state_dict(saved)
    return torch.tensor(values)
""",
    "weight_scale_effect": """import copy


def weight_scale_effect(linear, bn, x, c):
    keep = [copy.deepcopy(m.state_dict()) for m in (linear, bn)]
    grad_before = None if linear.weight.grad is None else linear.weight.grad.clone()
    rng = torch.Generator().manual_seed(11)
    signs = None
    outs, norms = [], []
    try:
        for scale in (1.0, c):
            with torch.no_grad():
                linear.weight.mul_(scale)
            out = bn(linear(x))
            if signs is None:
                signs = torch.randint(0, 2, out.shape, generator=rng).to(out.dtype) * 2 - 1
            (gw,) = torch.autograd.grad((out * signs).sum(), linear.weight)
            outs.append(out.detach())
            norms.append(gw.double().pow(2).sum().sqrt())
            linear.load_state_dict(keep[0])
    finally:
        linear.load_state_dict(keep[0])
        bn.load_state_dict(keep[1])
        linear.weight.grad = grad_before
    return (outs[1] - outs[0]).abs().max().item(), (norms[1] / norms[0]).item()
""",
}
SCORE = (11, 11)
ABSENT = ["calls_reference"]
KIND = "correct"
