"""Correct, written in torch: the forward builds an autograd graph on torch copies of the
inputs, the backward calls out.backward(dout) and returns the leaves' grads as numpy."""

KIND = "correct"
SCORE = (9, 9)
ABSENT = ["calls_reference", "unknown", "wrong_dtype"]
ANSWERS = {
    "batchnorm_forward": """import torch


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    xt = torch.tensor(x, requires_grad=True)
    gt = torch.tensor(gamma, requires_grad=True)
    bt = torch.tensor(beta, requires_grad=True)
    mu = xt.mean(dim=0)
    var = ((xt - mu) ** 2).mean(dim=0)
    out = gt * (xt - mu) / torch.sqrt(var + eps) + bt
    return out.detach().numpy(), (xt, gt, bt, out)
""",
    "batchnorm_backward": """def batchnorm_backward(dout, cache):
    xt, gt, bt, out = cache
    for t in (xt, gt, bt):
        t.grad = None
    out.backward(torch.tensor(dout), retain_graph=True)
    return xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()
""",
    "spatial_batchnorm_forward": """def spatial_batchnorm_forward(x, gamma, beta, eps=1e-5):
    xt = torch.tensor(x, requires_grad=True)
    gt = torch.tensor(gamma, requires_grad=True)
    bt = torch.tensor(beta, requires_grad=True)
    mu = xt.mean(dim=(0, 2, 3), keepdim=True)
    var = xt.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    xh = (xt - mu) / torch.sqrt(var + eps)
    out = gt[None, :, None, None] * xh + bt[None, :, None, None]
    return out.detach().numpy(), (xt, gt, bt, out)
""",
    "spatial_batchnorm_backward": """def spatial_batchnorm_backward(dout, cache):
    return batchnorm_backward(dout, cache)
""",
}
