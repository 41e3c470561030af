"""bncourse.checks.bn05_inference: correct code gets full marks, each named mistake is named.

The learner code is a plain NumPy solution written here (never bnref); each buggy variant
is that code with one edit, the way a learner would get it wrong. The checks' reference is
cross-checked against torch.nn.BatchNorm1d (training steps, momentum=None, inference) and
against bnref's converter and folding.
"""

from __future__ import annotations

import numpy as np
import pytest

import bnref.numpy
from bncourse.checks import bn05_inference as checks

SOLUTION = """
import numpy as np


class BatchNorm:
    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.momentum = momentum
        self.eps = eps
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.num_batches_tracked = 0

    def forward(self, x, training):
        x = np.asarray(x, dtype=np.float64)
        if training:
            n = x.shape[0]
            if n < 2:
                raise ValueError(f"training needs N > 1, got {x.shape}")
            mu = x.mean(axis=0)
            var = x.var(axis=0)
            self.num_batches_tracked += 1
            m = 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * mu
            self.running_var = (1 - m) * self.running_var + m * var * n / (n - 1)
        else:
            mu, var = self.running_mean, self.running_var
        return self.gamma * (x - mu) / np.sqrt(var + self.eps) + self.beta


def convert_momentum(momentum, src, dst):
    for name in (src, dst):
        if name not in ("torch", "keras"):
            raise ValueError(f"unknown convention {name!r}")
    return momentum if src == dst else 1.0 - momentum


def fold_bn(W, b, running_mean, running_var, gamma, beta, eps=1e-5):
    s = gamma / np.sqrt(running_var + eps)
    if b is None:
        b = np.zeros(W.shape[0])
    return W * s[:, None], (b - running_mean) * s + beta


def recalibrate(bn, batches):
    momentum = bn.momentum
    bn.running_mean = np.zeros_like(bn.running_mean)
    bn.running_var = np.ones_like(bn.running_var)
    bn.num_batches_tracked = 0
    bn.momentum = None
    for x in batches:
        bn.forward(x, training=True)
    bn.momentum = momentum
"""

CHECKS = {
    "init": (checks.check_batchnorm_init, "BatchNorm"),
    "train": (checks.check_forward_training, "BatchNorm"),
    "infer": (checks.check_forward_inference, "BatchNorm"),
    "reject": (checks.check_rejects_single_example, "BatchNorm"),
    "convert": (checks.check_convert_momentum, "convert_momentum"),
    "fold": (checks.check_fold_bn, "fold_bn"),
    "recal": (checks.check_recalibrate, "recalibrate"),
}


def _learner(*edits):
    src = SOLUTION
    for old, new in edits:
        assert old in src, old
        src = src.replace(old, new)
    ns: dict = {}
    exec(compile(src, "<learner>", "exec"), ns)  # noqa: S102 - the learner's code, a test
    return ns


def _run(ns, which, hidden=True):
    check, name = CHECKS[which]
    return check(ns[name], hidden=hidden)


@pytest.mark.parametrize("hidden", [False, True])
def test_correct_code_gets_full_marks(hidden):
    ns = _learner()
    for which in CHECKS:
        score = _run(ns, which, hidden)
        assert score == score.points, (which, score.report)


MUTANTS = {
    "biased_running_var": ("train", [("m * var * n / (n - 1)", "m * var")]),
    "momentum_swapped": ("train", [
        ("self.running_mean = (1 - m) * self.running_mean + m * mu",
         "self.running_mean = m * self.running_mean + (1 - m) * mu"),
        ("self.running_var = (1 - m) * self.running_var + m * var * n / (n - 1)",
         "self.running_var = m * self.running_var + (1 - m) * var * n / (n - 1)")]),
    "eps_outside_sqrt": ("train", [("np.sqrt(var + self.eps)", "(np.sqrt(var) + self.eps)")]),
    "no_count": ("train", [
        ("            self.num_batches_tracked += 1\n", ""),
        ("1.0 / self.num_batches_tracked", "1.0 / (self.num_batches_tracked + 1)")]),
    "inference_batch_stats": ("infer", [
        ("mu, var = self.running_mean, self.running_var",
         "mu, var = x.mean(axis=0), x.var(axis=0)")]),
    "updates_in_inference": ("infer", [
        ("if training:\n            n = x.shape[0]\n            if n < 2:",
         "if True:\n            n = x.shape[0]\n            if training and n < 2:"),
        ("        else:\n            mu, var = self.running_mean, self.running_var\n", "")]),
    "fold_bias_no_mean": ("fold", [("(b - running_mean) * s + beta", "b * s + beta")]),
    "fold_bias_no_b": ("fold", [("(b - running_mean) * s + beta", "-running_mean * s + beta")]),
    "fold_variance": ("fold", [("gamma / np.sqrt(running_var + eps)",
                                "gamma / (running_var + eps)")]),
    "recal_ema": ("recal", [("    bn.momentum = None\n", "")]),
    "recal_no_reset": ("recal", [
        ("    bn.running_mean = np.zeros_like(bn.running_mean)\n", ""),
        ("    bn.running_var = np.ones_like(bn.running_var)\n", ""),
        ("    bn.num_batches_tracked = 0\n", "")]),
    "momentum_left_none": ("recal", [("    bn.momentum = momentum\n", "")]),
}  # fmt: skip


@pytest.mark.parametrize("key", sorted(MUTANTS))
def test_each_mistake_is_named_and_scores_at_most_half(key):
    which, edits = MUTANTS[key]
    score = _run(_learner(*edits), which)
    assert score <= score.points / 2, score.report
    assert key in score.mistakes, score.report
    assert checks.MISTAKES[key] in score.report


def test_eps_outside_sqrt_is_named_in_inference_too():
    ns = _learner(("np.sqrt(var + self.eps)", "(np.sqrt(var) + self.eps)"))
    score = _run(ns, "infer")
    assert score <= score.points / 2 and "eps_outside_sqrt" in score.mistakes, score.report


def test_no_value_error_for_one_example():
    ns = _learner(('raise ValueError(f"training needs N > 1, got {x.shape}")', "pass"))
    score = _run(ns, "reject")
    assert score == 0 and "single_example" in score.mistakes, score.report


def test_a_forward_that_always_raises_value_error_earns_nothing_for_rejecting_n_1():
    ns = _learner(("        x = np.asarray(x, dtype=np.float64)\n        if training:",
                   "        raise ValueError('not yet')\n        if training:"))  # fmt: skip
    score = _run(ns, "reject")
    assert score == 0 and "always_raises" in score.mistakes, score.report
    assert "single_example" not in score.mistakes


def test_another_exception_that_mentions_value_error_is_not_one():
    """The exception's type decides, not its text (a RuntimeError saying 'ValueError')."""
    ns = _learner(('raise ValueError(f"training needs N > 1, got {x.shape}")',
                   'raise RuntimeError("N = 1: this should be a ValueError")'))  # fmt: skip
    score = _run(ns, "reject")
    assert score == 0, score.report


def test_a_subclass_of_value_error_counts_as_a_value_error():
    """A learner's own exception class derived from ValueError is a ValueError."""
    edits = [
        (
            "    for name in (src, dst):",
            "    class UnknownConvention(ValueError):\n        pass\n\n    for name in (src, dst):",
        ),
        ('raise ValueError(f"unknown convention', 'raise UnknownConvention(f"unknown convention'),
        ('raise ValueError(f"training needs', 'raise UnknownConvention(f"training needs'),
        (
            "class BatchNorm:",
            "class UnknownConvention(ValueError):\n    pass\n\n\nclass BatchNorm:",
        ),
    ]
    ns = _learner(*edits)
    for which in ("convert", "reject"):
        score = _run(ns, which)
        assert score == score.points, score.report


def test_input_changed_in_place_costs_a_quarter():
    # an honest in-place change: the batch centred in place, values still right
    ns = _learner(("x = np.asarray(x, dtype=np.float64)\n",
                   "keep = x.copy()\n"
                   "        x -= 1.0\n"
                   "        x = np.asarray(keep, dtype=np.float64)\n"))  # fmt: skip
    score = _run(ns, "train")
    assert score == pytest.approx(0.75 * score.points), score.report
    assert "changed its argument `x`" in score.report
    # charged once per test that is about forward's values, not again by the N = 1 test
    assert _run(ns, "reject") == 1


def test_recalibrate_accepts_a_generator_and_a_one_shot_iterable():
    ns = _learner()
    # the hidden cases include generators; a learner who iterates twice loses those
    twice = _learner(("    for x in batches:\n        bn.forward(x, training=True)\n",
                      "    for x in batches:\n        pass\n"
                      "    for x in batches:\n        bn.forward(x, training=True)\n"))  # fmt: skip
    assert _run(ns, "recal") == 2
    assert _run(twice, "recal") < 2


def test_reference_agrees_with_torch_and_bnref():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for momentum in (0.1, None):
        case = checks._train_case("x", 3, (8, 5, 9), 7, momentum=momentum, tiny=1)
        y, rm, rv, t = checks._ref_training(case)
        bn = torch.nn.BatchNorm1d(3, momentum=momentum, dtype=torch.float64)
        with torch.no_grad():
            bn.weight.copy_(torch.from_numpy(case.inputs["gamma"]))
            bn.bias.copy_(torch.from_numpy(case.inputs["beta"]))
            ys = [bn(torch.from_numpy(x)).numpy() for x in case.inputs["xs"]]
        np.testing.assert_allclose(y, np.concatenate(ys), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(rm, bn.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(rv, bn.running_var.numpy(), rtol=1e-12)
        assert int(t) == int(bn.num_batches_tracked)
    for m in rng.uniform(0, 1, 5):
        assert checks._ref_convert(checks._convert_case("c", [(m, "torch", "keras")]))[0][0] == (
            pytest.approx(bnref.numpy.convert_momentum(m, "torch", "keras"))
        )
    case = checks._fold_case("f", 5, 3, 9)
    i = case.inputs
    want = bnref.numpy.fold_batch_norm(i["W"], i["b"], i["running_mean"], i["running_var"],
                                       i["gamma"], i["beta"], i["eps"])  # fmt: skip
    for got, exp in zip(checks._ref_fold(case), want, strict=True):
        np.testing.assert_allclose(got, exp, rtol=1e-12)
