"""Correct in another style: a post-forward hook, numpy.percentile, a deep copy of the model
for the gradient step, bnref's BN inside NoisyBatchNorm1d (a comment names the reference)."""

ANSWERS = {
    "layer_input_percentiles": """import copy
import numpy as np


def layer_input_percentiles(model, layer, x, q=(15, 50, 85)):
    # not calling bncourse.experiments.ch2_ioffe_fig1.layer_input_percentiles: my own
    state = copy.deepcopy(model.state_dict())
    was = [m.training for m in model.modules()]
    seen = {}

    def hook(module, inputs, output):
        seen.setdefault("z", inputs[0].detach().clone())

    h = layer.register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(x)
    finally:
        h.remove()
        model.load_state_dict(state)
        for m, t in zip(model.modules(), was):
            m.training = t
    z = seen["z"]
    out = np.percentile(z.cpu().double().numpy(), list(q), axis=0)
    return torch.from_numpy(np.asarray(out)).to(z.dtype)
""",
    "ics": """import numpy as np


def ics(grad_before, grad_after):
    g = np.concatenate([t.detach().double().numpy().ravel() for t in grad_before])
    h = np.concatenate([t.detach().double().numpy().ravel() for t in grad_after])
    ng, nh = np.linalg.norm(g), np.linalg.norm(h)
    if ng == 0 or nh == 0:
        raise ValueError("zero gradient")
    return float(np.linalg.norm(g - h)), float(g.dot(h) / (ng * nh))
""",
    "gradient_shift": """import copy


def gradient_shift(model, loss_fn, x, y, layer, lr):
    twin = copy.deepcopy(model)
    k = [i for i, m in enumerate(model) if m is layer][0]
    loss = loss_fn(twin(x), y)
    params = [p for m in list(twin)[:k] for p in m.parameters()]
    grads = torch.autograd.grad(loss, [twin[k].weight] + params, allow_unused=True)
    with torch.no_grad():
        for p, g in zip(params, grads[1:]):
            if g is not None:
                p.add_(g, alpha=-lr)
    g_after = torch.autograd.grad(loss_fn(twin(x), y), twin[k].weight)[0]
    return ics([grads[0]], [g_after])
""",
    "NoisyBatchNorm1d": """from bnref.torch import BatchNorm1d


class NoisyBatchNorm1d(nn.Module):
    def __init__(self, num_features, noise=1.0, generator=None):
        super().__init__()
        self.norm = BatchNorm1d(num_features)
        self.n = float(noise)
        self.g = generator

    def forward(self, x):
        out = self.norm(x)
        if self.training:
            c = out.shape[1]
            scale = torch.empty(c, dtype=out.dtype).uniform_(1, 1 + self.n, generator=self.g)
            shift = torch.empty(c, dtype=out.dtype).uniform_(-self.n, self.n, generator=self.g)
            out = out * scale + shift
        return out
""",
}
SCORE = (13, 13)
ABSENT = ["calls_reference"]
KIND = "correct"
