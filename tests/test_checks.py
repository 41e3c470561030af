"""bncourse.checks.bn03_mechanics: learner code is scored, and each typical mistake is named.

The learner functions below are written the way a learner would write them, each with one
bug; none comes from bnref. The correct reference for the checks is also cross-checked
against torch (forward with ``torch.nn.functional.batch_norm``, backward by autograd).
"""

from __future__ import annotations

import importlib
import re

import numpy as np
import pytest

import bnref.numpy
from bncourse.checks import bn03_mechanics as checks
from bncourse.checks.bn03_mechanics import MISTAKES
from bncourse.checks.core import MESSAGES, MUTATION_SHARE


# ---------------------------------------------------------------------------------------
# a correct learner
# ---------------------------------------------------------------------------------------
def forward(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    std = np.sqrt(var + eps)
    x_hat = (x - mu) / std
    return gamma * x_hat + beta, (x_hat, gamma, std)


def backward(dout, cache):
    x_hat, gamma, std = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = gamma / (N * std) * (N * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


def _rows(a):
    N, C, H, W = a.shape
    return a.transpose(0, 2, 3, 1).reshape(-1, C)


def _unrows(a, shape):
    N, C, H, W = shape
    return a.reshape(N, H, W, C).transpose(0, 3, 1, 2)


def spatial_forward(x, gamma, beta, eps=1e-5):
    out, cache = forward(_rows(x), gamma, beta, eps)
    return _unrows(out, x.shape), (cache, x.shape)


def spatial_backward(dout, cache):
    cache2d, shape = cache
    dx, dgamma, dbeta = backward(_rows(dout), cache2d)
    return _unrows(dx, shape), dgamma, dbeta


# ---------------------------------------------------------------------------------------
# learners with one bug each
# ---------------------------------------------------------------------------------------
def fwd_unbiased_variance(x, gamma, beta, eps=1e-5):
    mu, var = x.mean(axis=0), x.var(axis=0, ddof=1)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, None


def fwd_eps_outside_sqrt(x, gamma, beta, eps=1e-5):
    mu, var = x.mean(axis=0), x.var(axis=0)
    return gamma * (x - mu) / (np.sqrt(var) + eps) + beta, None


def fwd_eps_missing(x, gamma, beta, eps=1e-5):
    mu, sigma = x.mean(axis=0), x.std(axis=0)
    return gamma * (x - mu) / sigma + beta, None


def fwd_no_sqrt(x, gamma, beta, eps=1e-5):
    mu, var = x.mean(axis=0), x.var(axis=0)
    return gamma * (x - mu) / (var + eps) + beta, None


def fwd_stats_per_example(x, gamma, beta, eps=1e-5):
    mu, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, None


def fwd_stats_over_everything(x, gamma, beta, eps=1e-5):
    mu, var = x.mean(), x.var()
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, None


def fwd_gamma_beta_missing(x, gamma, beta, eps=1e-5):
    return (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps), None


def fwd_gamma_missing(x, gamma, beta, eps=1e-5):
    return (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + beta, None


def fwd_beta_missing(x, gamma, beta, eps=1e-5):
    return gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps), None


def fwd_gamma_beta_swapped(x, gamma, beta, eps=1e-5):
    return beta * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + gamma, None


def fwd_transposed(x, gamma, beta, eps=1e-5):
    out, cache = forward(x, gamma, beta, eps)
    return out.T, cache


FORWARD_BUGS = {
    "unbiased_variance": fwd_unbiased_variance,
    "eps_outside_sqrt": fwd_eps_outside_sqrt,
    "eps_missing": fwd_eps_missing,
    "no_sqrt": fwd_no_sqrt,
    "stats_per_example": fwd_stats_per_example,
    "stats_over_everything": fwd_stats_over_everything,
    "gamma_beta_missing": fwd_gamma_beta_missing,
    "gamma_missing": fwd_gamma_missing,
    "beta_missing": fwd_beta_missing,
    "gamma_beta_swapped": fwd_gamma_beta_swapped,
    "wrong_shape": fwd_transposed,
}


def bwd_stats_constant(dout, cache):
    x_hat, gamma, std = cache
    return dout * gamma / std, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def bwd_var_constant(dout, cache):
    x_hat, gamma, std = cache
    dx_hat = dout * gamma
    return (dx_hat - dx_hat.mean(axis=0)) / std, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def bwd_mean_constant(dout, cache):
    x_hat, gamma, std = cache
    dx_hat = dout * gamma
    dx = (dx_hat - x_hat * (dx_hat * x_hat).mean(axis=0)) / std
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def bwd_dx_missing_gamma(dout, cache):
    x_hat, gamma, std = cache
    dx = (dout - dout.mean(axis=0) - x_hat * (dout * x_hat).mean(axis=0)) / std
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def bwd_params_not_summed(dout, cache):
    dx, _, _ = backward(dout, cache)
    return dx, dout * cache[0], dout


def bwd_params_keepdims(dout, cache):
    dx, _, _ = backward(dout, cache)
    return dx, (dout * cache[0]).sum(axis=0, keepdims=True), dout.sum(axis=0, keepdims=True)


def bwd_params_wrong_axis(dout, cache):
    dx, _, _ = backward(dout, cache)
    return dx, (dout * cache[0]).sum(axis=1), dout.sum(axis=1)


def bwd_params_averaged(dout, cache):
    dx, _, _ = backward(dout, cache)
    return dx, (dout * cache[0]).mean(axis=0), dout.mean(axis=0)


def bwd_dgamma_dbeta_swapped(dout, cache):
    dx, dgamma, dbeta = backward(dout, cache)
    return dx, dbeta, dgamma


BACKWARD_BUGS = {
    "stats_constant": bwd_stats_constant,
    "var_constant": bwd_var_constant,
    "mean_constant": bwd_mean_constant,
    "dx_missing_gamma": bwd_dx_missing_gamma,
    "params_not_summed": bwd_params_not_summed,
    "params_keepdims": bwd_params_keepdims,
    "params_wrong_axis": bwd_params_wrong_axis,
    "params_averaged": bwd_params_averaged,
    "dgamma_dbeta_swapped": bwd_dgamma_dbeta_swapped,
}


def sp_no_transpose_back(x, gamma, beta, eps=1e-5):
    N, C, H, W = x.shape
    out, cache = forward(_rows(x), gamma, beta, eps)
    return out.reshape(N, H, W, C), (cache, x.shape)


def sp_reshape_without_transpose(x, gamma, beta, eps=1e-5):
    out, cache = forward(x.reshape(-1, x.shape[1]), gamma, beta, eps)
    return out.reshape(x.shape), cache


def sp_stats_over_batch_only(x, gamma, beta, eps=1e-5):
    mu, var = x.mean(axis=0), x.var(axis=0)
    return gamma[:, None, None] * (x - mu) / np.sqrt(var + eps) + beta[:, None, None], None


def sp_instance_norm(x, gamma, beta, eps=1e-5):
    mu, var = x.mean(axis=(2, 3), keepdims=True), x.var(axis=(2, 3), keepdims=True)
    return gamma[:, None, None] * (x - mu) / np.sqrt(var + eps) + beta[:, None, None], None


def sp_unbiased(x, gamma, beta, eps=1e-5):
    out, _ = fwd_unbiased_variance(_rows(x), gamma, beta, eps)
    return _unrows(out, x.shape), None


SPATIAL_BUGS = {
    "spatial_channels_last": sp_no_transpose_back,
    "spatial_reshape_without_transpose": sp_reshape_without_transpose,
    "spatial_stats_over_batch_only": sp_stats_over_batch_only,
    "spatial_stats_per_example": sp_instance_norm,
    "unbiased_variance": sp_unbiased,
}


def _numbers_in(text: str, label: str) -> list[float]:
    return [float(v) for v in re.findall(rf"{label}:? ([0-9.]+e[+-][0-9]+)", text)]


# ---------------------------------------------------------------------------------------
# correct code passes
# ---------------------------------------------------------------------------------------
def test_a_correct_learner_gets_every_point(capsys):
    scores = [
        checks.check_forward(forward, points=2),
        checks.check_forward_edge_cases(forward, points=1),
        checks.check_backward(forward, backward, points=2),
        checks.check_backward_edge_cases(forward, backward, points=1),
        checks.check_spatial_forward(spatial_forward, points=1),
        checks.check_spatial_backward(spatial_forward, spatial_backward, points=1),
        checks.check_spatial_edge_cases(spatial_forward, spatial_backward, points=1),
    ]
    for s in scores:
        assert float(s) == s.points, s.report
        assert s.mistakes == (), s.report
    assert "all outputs match" in capsys.readouterr().out


def test_torch_batch_norm_and_autograd_pass_the_checks(monkeypatch):
    """The checks' reference agrees with an independent oracle: torch."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(checks, "FORBIDDEN", ())  # the oracle is what learners may not call
    F = torch.nn.functional

    def t_forward(x, gamma, beta, eps=1e-5):
        xt = torch.from_numpy(x).requires_grad_()
        g, b = torch.from_numpy(gamma).requires_grad_(), torch.from_numpy(beta).requires_grad_()
        out = F.batch_norm(xt, None, None, g, b, training=True, eps=eps)
        return out.detach().numpy(), (xt, g, b, out)

    def t_backward(dout, cache):
        xt, g, b, out = cache
        grads = torch.autograd.grad(out, (xt, g, b), torch.from_numpy(dout))
        return tuple(t.numpy() for t in grads)

    assert float(checks.check_forward(t_forward, points=2)) == 2
    assert float(checks.check_forward_edge_cases(t_forward, points=1)) == 1
    assert float(checks.check_backward(t_forward, t_backward, points=2)) == 2
    assert float(checks.check_backward_edge_cases(t_forward, t_backward, points=1)) == 1
    assert float(checks.check_spatial_forward(t_forward, points=1)) == 1  # F handles 4-D
    assert float(checks.check_spatial_edge_cases(t_forward, t_backward, points=1)) == 1


def test_the_checks_do_not_depend_on_the_global_random_state():
    np.random.seed(1)  # noqa: NPY002 (the legacy global state is the point here)
    first = checks.check_forward(fwd_unbiased_variance).report
    np.random.seed(2)  # noqa: NPY002
    np.random.standard_normal(100)  # noqa: NPY002
    assert checks.check_forward(fwd_unbiased_variance).report == first


def test_the_inputs_come_from_the_generator_the_cell_passes():
    same = [checks.check_forward(fwd_unbiased_variance, rng=np.random.default_rng(7)).report]
    same.append(checks.check_forward(fwd_unbiased_variance, rng=7).report)
    other = checks.check_forward(fwd_unbiased_variance, rng=np.random.default_rng(8)).report
    assert same[0] == same[1] != other


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_diagnoses_hold_for_any_seed(seed):
    """The named mistake does not depend on a lucky draw of the inputs."""
    for key, learner in FORWARD_BUGS.items():
        assert checks.check_forward(learner, rng=seed).mistakes[0] == key
    for key, learner in BACKWARD_BUGS.items():
        assert checks.check_backward(forward, learner, rng=seed).mistakes[0] == key
    for key, learner in SPATIAL_BUGS.items():
        assert checks.check_spatial_forward(learner, rng=seed).mistakes[0] == key
    assert float(checks.check_spatial_forward(spatial_forward, rng=seed)) == 1


# ---------------------------------------------------------------------------------------
# each mistake is named
# ---------------------------------------------------------------------------------------
def _assert_diagnosed(score, key):
    assert score.mistakes and score.mistakes[0] == key, (key, score.mistakes, score.report)
    assert {**MESSAGES, **MISTAKES}[key] in score.report
    assert 0 <= float(score) < score.points


@pytest.mark.parametrize("key", sorted(FORWARD_BUGS))
def test_forward_mistakes_are_named(key):
    score = checks.check_forward(FORWARD_BUGS[key], points=2)
    _assert_diagnosed(score, key)
    assert float(score) <= 1  # at most half: points are for right values


@pytest.mark.parametrize("key", sorted(BACKWARD_BUGS))
def test_backward_mistakes_are_named(key):
    score = checks.check_backward(forward, BACKWARD_BUGS[key], points=2)
    _assert_diagnosed(score, key)
    assert float(score) <= 1


@pytest.mark.parametrize("key", sorted(SPATIAL_BUGS))
def test_spatial_mistakes_are_named(key):
    _assert_diagnosed(checks.check_spatial_forward(SPATIAL_BUGS[key], points=1), key)


def test_spatial_backward_with_unsummed_params_is_named():
    def sp_backward(dout, cache):
        dx, dgamma, dbeta = spatial_backward(dout, cache)
        return dx, _rows(dout) * cache[0][0], _rows(dout)

    score = checks.check_spatial_backward(spatial_forward, sp_backward, points=1)
    _assert_diagnosed(score, "params_not_summed")


def test_a_wrong_value_message_gives_the_measured_error_and_the_tolerance():
    report = checks.check_forward(fwd_eps_outside_sqrt, points=2).report
    maxdiff, tolerance = _numbers_in(report, "maxdiff"), _numbers_in(report, "tolerance")
    assert maxdiff and tolerance
    assert maxdiff[0] > tolerance[0] > 0
    # the diagnosis says on how many cases the mistake matched, and how closely
    line = next(ln for ln in report.splitlines() if "matches this mistake" in ln)
    assert "on all 1 cases" in line


def test_a_backward_pass_on_a_wrong_forward_says_to_fix_the_forward_first():
    score = checks.check_backward(fwd_and_cache_unbiased, backward)
    assert "forward_wrong" in score.mistakes, score.report


def fwd_and_cache_unbiased(x, gamma, beta, eps=1e-5):
    mu, var = x.mean(axis=0), x.var(axis=0, ddof=1)
    std = np.sqrt(var + eps)
    x_hat = (x - mu) / std
    return gamma * x_hat + beta, (x_hat, gamma, std)


# ---------------------------------------------------------------------------------------
# edge cases (the hidden tests)
# ---------------------------------------------------------------------------------------
def fwd_one_pass_variance(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=0)
    var = (x * x).mean(axis=0) - mu * mu
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, None


def fwd_hard_coded_eps(x, gamma, beta, eps=1e-5):
    return forward(x, gamma, beta)


def fwd_float64_always(x, gamma, beta, eps=1e-5):
    out, cache = forward(x.astype(np.float64), gamma, beta, eps)
    return out, cache


def test_the_one_pass_variance_passes_visibly_but_fails_a_large_float32_mean():
    assert float(checks.check_forward(fwd_one_pass_variance)) == 2
    score = checks.check_forward_edge_cases(fwd_one_pass_variance, points=1)
    assert score.mistakes == ("unknown",), score.report  # a fact about the cases, no mutant
    assert checks.HINTS["large_mean_float32"] in score.report
    assert 0 < float(score) < 1


def test_ignoring_the_eps_argument_is_named_by_the_edge_cases():
    assert float(checks.check_forward(fwd_hard_coded_eps)) == 2
    _assert_diagnosed(checks.check_forward_edge_cases(fwd_hard_coded_eps), "eps_ignored")


def test_float32_input_must_give_float32_output():
    _assert_diagnosed(checks.check_forward_edge_cases(fwd_float64_always), "wrong_dtype")


def test_a_batch_of_two_exposes_the_unbiased_variance():
    score = checks.check_forward_edge_cases(fwd_unbiased_variance)
    n2 = score.report.split("case (hidden): N=2")[1].split("case")[0]
    assert "approximate: False" in n2
    _assert_diagnosed(score, "unbiased_variance")


# ---------------------------------------------------------------------------------------
# calling bnref, crashing, returning the wrong thing
# ---------------------------------------------------------------------------------------
def fwd_wraps_bnref(x, gamma, beta, eps=1e-5):
    return bnref.numpy.batchnorm_forward(x, gamma, beta, eps)


def fwd_imports_bnref_at_run_time(x, gamma, beta, eps=1e-5):
    module = importlib.import_module("bnref" + ".numpy")
    return getattr(module, "batch" + "norm_forward")(x, gamma, beta, eps)


def _closure_over_bnref():
    f = bnref.numpy.batchnorm_forward

    def batchnorm_forward(x, gamma, beta, eps=1e-5):
        return f(x, gamma, beta, eps)

    return batchnorm_forward


def sp_on_a_bnref_forward(x, gamma, beta, eps=1e-5):
    out, cache = fwd_wraps_bnref(_rows(x), gamma, beta, eps)
    return _unrows(out, x.shape), cache


@pytest.mark.parametrize(
    "learner",
    [
        bnref.numpy.batchnorm_forward,
        fwd_wraps_bnref,
        fwd_imports_bnref_at_run_time,
        _closure_over_bnref(),
    ],
    ids=["identity", "module attribute", "import at run time", "closure"],
)
def test_calling_bnref_scores_zero(learner):
    score = checks.check_forward(learner, points=2)
    assert float(score) == 0
    assert score.mistakes == ("calls_reference",)
    assert "in your line" in score.report


def test_calling_bnref_through_ones_own_helper_is_noticed():
    score = checks.check_spatial_forward(sp_on_a_bnref_forward, points=1)
    assert float(score) == 0 and score.mistakes == ("calls_reference",)


def test_using_checks_cmp_while_debugging_is_not_calling_bnref(capsys):
    def debugging(x, gamma, beta, eps=1e-5):
        out, cache = forward(x, gamma, beta, eps)
        checks.cmp("x_hat", cache[0], cache[0])
        return out, cache

    assert float(checks.check_forward(debugging)) == 2


def test_reaching_the_reference_through_the_checks_module_is_noticed():
    def sneaky(x, gamma, beta, eps=1e-5):
        return checks.ref.batchnorm_forward(x, gamma, beta, eps)

    assert checks.check_forward(sneaky).mistakes == ("calls_reference",)


def test_bnref_backward_with_bnref_forward_scores_zero():
    score = checks.check_backward(forward, bnref.numpy.batchnorm_backward, points=2)
    assert float(score) == 0 and "calls_reference" in score.mistakes


def test_a_stub_scores_zero_and_says_not_implemented():
    def stub(x, gamma, beta, eps=1e-5):
        raise NotImplementedError()

    for s in (checks.check_forward(stub), checks.check_forward_edge_cases(stub)):
        assert float(s) == 0 and s.mistakes == ("not_implemented",)


def test_an_exception_is_reported_with_the_learners_line_and_a_hint():
    def no_keepdims(x, gamma, beta, eps=1e-5):
        mu = x.mean(axis=1)
        return gamma * (x - mu) + beta, None

    score = checks.check_forward(no_keepdims)
    assert float(score) == 0 and score.mistakes == ("raises",)
    assert "could not be broadcast" in score.report
    assert "in your line: return gamma * (x - mu) + beta, None" in score.report
    assert "Traceback" not in score.report


def test_returning_only_out_is_a_bad_return():
    score = checks.check_forward(lambda x, gamma, beta, eps=1e-5: forward(x, gamma, beta)[0])
    assert float(score) == 0 and score.mistakes == ("bad_return",)


def test_changing_the_input_in_place_is_noted():
    def in_place(x, gamma, beta, eps=1e-5):
        x -= x.mean(axis=0)
        x /= np.sqrt((x * x).mean(axis=0) + eps)
        return gamma * x + beta, None

    score = checks.check_forward(in_place)
    assert float(score) == 2 * (1 - MUTATION_SHARE) and score.mistakes == ("modifies_input",)
    assert "in_place changed its argument `x`" in score.report


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def test_cmp_prints_exact_approximate_maxdiff_and_tolerance(capsys):
    a = np.linspace(0, 1, 5)
    assert checks.cmp("a", a, a)
    assert not checks.cmp("b", a + 1e-3, a, tol=1e-6)
    assert not checks.cmp("c", a[:4], a)
    out = capsys.readouterr().out.splitlines()
    assert "exact: True" in out[0] and "approximate: True" in out[0]
    assert "exact: False" in out[1] and "approximate: False" in out[1]
    assert _numbers_in(out[1], "maxdiff") == [pytest.approx(1e-3, rel=0.05)]
    assert _numbers_in(out[1], "tolerance") == [1e-6]
    assert "shape (4,) but expected (5,)" in out[2]


def test_a_score_is_a_float_with_what_was_found():
    s = checks.Score(0.5, 2, ["unbiased_variance", "unbiased_variance", "raises"], "text")
    assert float(s) == 0.5 and s.points == 2.0
    assert s.mistakes == ("unbiased_variance", "raises")
    assert float(min(max(s, 0), 2)) == 0.5


@pytest.mark.parametrize("mode", ["validate", "autograde", None])
def test_a_failing_check_writes_to_stderr_only_under_validate(mode, monkeypatch, capsys):
    """Validate shows stderr; while autograding, stderr would zero the cell."""
    if mode is None:
        monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    else:
        monkeypatch.setenv("NBGRADER_EXECUTION", mode)
    checks.check_forward(forward)
    assert capsys.readouterr().err == ""  # a passing check never writes to stderr
    checks.check_forward(fwd_unbiased_variance)
    err = capsys.readouterr().err
    if mode == "validate":
        assert MISTAKES["unbiased_variance"] in err and "tolerance" in err
    else:
        assert err == ""


def test_every_mistake_has_a_one_line_message():
    for key, message in MISTAKES.items():
        assert message and "\n" not in message, key
