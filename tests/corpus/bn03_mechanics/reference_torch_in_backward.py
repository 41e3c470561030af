"""Forward is the learner's own; the backward runs torch's F.batch_norm under autograd:
the (N, D) backward tests score 0 and the line is quoted; the spatial backward reuses it."""

KIND = "reference"
SCORE = (4.5, 4.5)
STATUS = "partly graded"
CELLS = {"bn_forward_matches_reference": (2, 2), "bn_backward_matches_reference": (0, 0)}
MISTAKES = ["calls_reference"]
FEEDBACK = ["F.batch_norm(xt, None, None, gt, bt, training=True, eps=eps)"]
ANSWERS = {
    "batchnorm_forward": """def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=0)
    std = np.sqrt(x.var(axis=0) + eps)
    return gamma * (x - mu) / std + beta, (x, gamma, beta, eps)
""",
    "batchnorm_backward": """import torch
import torch.nn.functional as F


def batchnorm_backward(dout, cache):
    x, gamma, beta, eps = cache
    xt = torch.tensor(x, requires_grad=True)
    gt = torch.tensor(gamma, requires_grad=True)
    bt = torch.tensor(beta, requires_grad=True)
    out = F.batch_norm(xt, None, None, gt, bt, training=True, eps=eps)
    out.backward(torch.tensor(dout))
    return xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()
""",
}
