"""Tamper: an added cell replaces numpy.abs through another import name (every maxdiff
would read 0), fold_bn returns zeros: the static scan refuses the notebook, 0."""

ADDED = [("setup", "import numpy as onp\nonp.abs = lambda a, *k, **kw: a * 0")]
ANSWERS = {
    "fold_bn": """def fold_bn(W, b, running_mean, running_var, gamma, beta, eps=1e-5):
    return np.zeros_like(W), np.zeros(W.shape[0])
""",
}
SCORE = (0, 0)
CELLS = {"fold_bn_matches_bn_after_linear": (0, 0)}
KIND = "tamper"
STATUS = "partly graded"
