"""Correct: relu_active_fraction with math.erf in a Python loop over channels (a new tensor
in gamma's dtype), redundant_biases as a generator of names from parameter identity, and a
set-returning wrapper left unused."""

KIND = "correct"
SCORE = (10, 10)
ABSENT = ["calls_reference", "unknown", "bad_return"]
ANSWERS = {
    "relu_active_fraction": """import math


def relu_active_fraction(gamma, beta):
    out = []
    for g, b in zip(gamma.tolist(), beta.tolist()):
        if g == 0:
            out.append(1.0 if b > 0 else 0.0)
        else:
            out.append(0.5 * (1.0 + math.erf(b / abs(g) / math.sqrt(2.0))))
    return torch.tensor(out, dtype=gamma.dtype)
""",
    "redundant_biases": """def redundant_biases(model):
    ids = {id(p): n for n, p in model.named_parameters()}
    for m in model.modules():
        if isinstance(m, nn.Sequential):
            kids = list(m)
            for a, b in zip(kids, kids[1:]):
                if isinstance(a, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)) and isinstance(
                    b, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
                ) and a.bias is not None:
                    yield ids[id(a.bias)]
""",
}
