"""bncourse.checks.bn06_theory in-process: the references against independent computations,
the eps-derived band of the weight-scale ratio against many projections, every mutant
distinguishable from the reference, the solution at full marks and the rounding-noise
diagnosis. Fast (no kernels); the real grade path is tests/test_assignments.py."""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from torch import nn

from bncourse.checks import bn06_theory as checks
from bncourse.checks import core
from bncourse.checks.core import hidden_specs

NOTEBOOK = Path(__file__).resolve().parent.parent / "solutions/bn06_theory/bn_theory.ipynb"


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: threads only cost time on a shared machine (as in the grading kernel)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _solution() -> dict:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    ns = {"torch": torch, "nn": nn}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            exec("\n".join(ln for ln in cell.source.splitlines() if "SOLUTION" not in ln), ns)
    return ns


def _quiet(fn, *args, **kw):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kw)


def _probe_cases(kind: str) -> list:
    visible = checks._probe_case("visible", checks._PROBE_VISIBLE, [0.0, 0.1, 0.5, 1.0])
    return [visible] + [checks._probe_case(**s) for s in hidden_specs("bn06_theory", kind)]


def _scale_specs() -> list[tuple[dict, float]]:
    visible = ({"seed": 620, "d_in": 6, "d_out": 8, "n": 64, "eps": 1e-5}, 3.0)
    return [visible] + [(s["spec"], s["c"]) for s in hidden_specs("bn06_theory", "SCALE")]


def test_solution_gets_full_marks_on_hidden_cases():
    ns = _solution()
    runs = [
        (checks.check_skipinit_block, "SkipInitBlock"),
        (checks.check_loss_along_gradient, "loss_along_gradient"),
        (checks.check_gradient_predictiveness, "gradient_predictiveness"),
        (checks.check_weight_scale_output, "weight_scale_effect"),
        (checks.check_weight_scale_gradient, "weight_scale_effect"),
    ]
    for check, name in runs:
        score = _quiet(check, ns[name], hidden=True)
        assert float(score) == score.points, (name, score.report)


def _plain_probe(spec: dict, step_sizes) -> tuple[np.ndarray, np.ndarray]:
    """Losses and gradient changes by the simplest loop: a deep copy, .data steps, backward."""
    model, x, y, loss_fn = checks._build64(spec)

    def grads(m):
        m.zero_grad(set_to_none=True)
        loss = loss_fn(m(x), y)
        loss.backward()
        return loss.item(), [p.grad.clone() for p in m.parameters()]

    _, g0 = grads(copy.deepcopy(model))
    losses, changes = [], []
    for eta in step_sizes:
        m = copy.deepcopy(model)
        for p, g in zip(m.parameters(), g0, strict=True):
            p.data -= eta * g
        loss, g1 = grads(m)
        losses.append(loss)
        squares = [float(((a - b) ** 2).sum()) for a, b in zip(g0, g1, strict=True)]
        changes.append(np.sqrt(sum(squares)))
    return np.array(losses), np.array(changes)


@pytest.mark.parametrize("kind", ["LOSS", "PREDICTIVENESS"])
def test_probe_references_agree_with_a_plain_loop(kind):
    for case in _probe_cases(kind):
        losses, changes = _plain_probe(case.inputs["spec"], case.inputs["step_sizes"])
        ref = checks._probe_losses(case) if kind == "LOSS" else checks._probe_changes(case)
        want = losses if kind == "LOSS" else changes
        np.testing.assert_allclose(ref.detach().numpy(), want, rtol=1e-10, atol=1e-12)


def _differs(outs, ref, case, outputs) -> bool:
    for o, m, r in zip(outputs, outs, ref, strict=True):
        if m is None:
            continue
        m, r = core.numeric(m), core.numeric(r)
        if m.shape != r.shape or not core._maxdiff(m, r) <= case.tol(r, o):
            return True
    return False


def test_every_mutant_differs_from_the_reference_on_some_case():
    probe_outputs = checks._probe_outputs("values")
    groups = [
        (_probe_cases("LOSS"), checks._LOSS_MUTANTS, lambda c: (checks._probe_losses(c), 0.0,
         0.0, 0.0, 0.0), probe_outputs),
        (_probe_cases("PREDICTIVENESS"), checks._CHANGE_MUTANTS, lambda c: (
            checks._probe_changes(c), 0.0, 0.0, 0.0, 0.0), probe_outputs),
        ([checks._skip_case(**s) for s in hidden_specs("bn06_theory", "SKIPINIT")],
         checks._SKIP_MUTANTS, checks._ref_skipinit, checks._SKIP_OUTPUTS),
    ]  # fmt: skip
    for cases, mutants, reference, outputs in groups:
        refs = [reference(c) for c in cases]
        for key, mutant in mutants.items():
            assert any(
                _differs(mutant(c), r, c, outputs) for c, r in zip(cases, refs, strict=True)
            ), key


def _ratio(linear, bn, x, c, proj) -> float:
    norms = []
    for s in (1.0, c):
        lin, norm = copy.deepcopy(linear).double(), copy.deepcopy(bn).double().train()
        with torch.no_grad():
            lin.weight.mul_(s)
        (g,) = torch.autograd.grad((norm(lin(x.double())) * proj).sum(), lin.weight)
        norms.append(float(g.norm()))
    return norms[1] / norms[0]


def _ratio_specs() -> list[tuple[dict, float]]:
    visible = [({"seed": 620, "d_in": 6, "d_out": 8, "n": 64, "eps": 1e-5}, 3.0),
               (checks._RATIO_EPS_VISIBLE, 2.0)]  # fmt: skip
    return visible + [(s["spec"], s["c"]) for s in hidden_specs("bn06_theory", "SCALE_RATIO")]


def _projections(n: int, k: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(n, k, generator=g, dtype=torch.float64),
        torch.rand(n, k, generator=g, dtype=torch.float64),
        torch.randint(0, 2, (n, k), generator=g).double() * 2 - 1,
        torch.randn(n, 1, generator=g, dtype=torch.float64).expand(n, k),  # per example
    ]


def test_ratio_band_holds_for_many_projections():
    for spec, c in _scale_specs() + _ratio_specs():
        linear, bn, x = checks._scale_inputs(spec)
        lo, hi = checks.ratio_band(linear, bn, x, c)
        elo, ehi = checks._exact_band(linear, bn, x, c)
        assert elo <= lo <= hi <= ehi
        for seed in range(6):
            for proj in _projections(x.shape[0], linear.out_features, seed):
                got = c * _ratio(linear, bn, x, c, proj)
                assert lo - 1e-9 <= got <= hi + 1e-9, (spec, seed)


def test_exact_band_ends_are_reached_by_autograd():
    """The singular-value band is exact: a projection P built so that one row's unscaled
    gradient is the extreme singular vector of that row's map gives, through the BN module
    and autograd, c * ratio at the band's end."""
    spec, c = _ratio_specs()[2]
    linear, bn, x = checks._scale_inputs(spec)
    elo, ehi = checks._exact_band(linear, bn, x, c)
    x64 = x.double()
    xc = x64 - x64.mean(0)
    cov = xc.T @ xc / x.shape[0]
    w = linear.weight.detach().double()
    eps, eye = float(bn.eps), torch.eye(w.shape[1], dtype=torch.float64)
    ends = []
    for j in range(w.shape[0]):
        v = w[j] @ cov @ w[j]
        radial = torch.outer(cov @ w[j], w[j])
        m1 = eye - radial / (v + eps)
        d = (eye - c * c * radial / (c * c * v + eps)) @ torch.linalg.inv(m1)
        _, _, vh = torch.linalg.svd(d)
        for u in (vh[0], vh[-1]):  # largest, smallest singular value
            a = torch.linalg.solve(m1, u)  # the a_j whose unscaled row gradient is along u
            proj = torch.zeros(x.shape[0], w.shape[0], dtype=torch.float64)
            proj[:, j] = xc @ torch.linalg.solve(xc.T @ xc, a)  # sum_n P_nj (x_n - mean) = a
            ends.append(c * _ratio(linear, bn, x, c, proj))
    assert min(ends) == pytest.approx(elo, rel=1e-6)
    assert max(ends) == pytest.approx(ehi, rel=1e-6)


def test_ratio_cases_exclude_the_theory_and_the_mistakes():
    """Hidden ratio cases: 1/c exactly (pasted theory), a ratio of 1 and the upside-down
    ratio are all outside the accepted interval, with a margin; the solution's P is inside."""
    for spec, c in _ratio_specs()[1:]:
        case = checks._scale_ratio_case("band", spec, c)
        mid, tol = case.inputs["middle"], case.atol
        assert tol < 0.4  # the 0/1 flags share the tolerance
        ref = c * checks._scale_ratio(case)
        assert abs(ref - mid) <= tol
        for wrong in (1.0, c):  # c * (1/c), c * 1
            assert abs(wrong - mid) > tol + 0.01, (spec, wrong)
        linear, bn, x = checks._scale_inputs(spec)
        lo, hi = checks.ratio_band(linear, bn, x, c)
        assert c * c / hi > mid + tol + 0.01 or c * c / lo < mid - tol - 0.01, spec


def test_output_change_reference_agrees_with_the_bn_modules():
    for spec, c in _scale_specs():
        case = checks._scale_case("change", spec, c)
        linear, bn, x = checks._scale_inputs(spec)
        outs = []
        for s in (1.0, c):
            lin, norm = copy.deepcopy(linear).double(), copy.deepcopy(bn).double().train()
            with torch.no_grad():
                lin.weight.mul_(s)
                outs.append(norm(lin(x.double())))
        want = float((outs[1] - outs[0]).abs().max())
        got = checks._ref_scale_output(case)[0]
        assert abs(got - want) <= 1e-12
        # eps makes it visible: far above the rounding tolerance, so 0 is wrong
        assert got > 20 * case.atol


@pytest.mark.parametrize("loss", ["out.sum()", "(out * proj[:1]).sum()"])
def test_a_projection_constant_over_the_batch_is_diagnosed_as_rounding_noise(loss):
    ns = _solution()
    src = _solution_source("weight_scale_effect").replace("(out * proj).sum()", loss)
    exec(src, ns)
    score = _quiet(checks.check_weight_scale_gradient, ns["weight_scale_effect"], hidden=True)
    assert float(score) == 0
    assert "constant_projection" in score.mistakes


def _solution_source(grade_id: str) -> str:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return "\n".join(ln for ln in cell.source.splitlines() if "SOLUTION" not in ln)


def test_global_random_state_untouched_by_the_checks_themselves():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    for spec, _ in _scale_specs():
        checks._scale_inputs(spec)
    for case in _probe_cases("LOSS"):
        checks._build(case.inputs["spec"])
    assert torch.equal(before, torch.get_rng_state())


def test_the_weight_scale_checks_give_the_notebook_its_random_state_back():
    ns = _solution()
    torch.manual_seed(11)
    before = torch.get_rng_state()
    _quiet(checks.check_weight_scale_output, ns["weight_scale_effect"], hidden=True)
    _quiet(checks.check_weight_scale_gradient, ns["weight_scale_effect"], hidden=True)
    assert torch.equal(before, torch.get_rng_state())


def test_a_pasted_visible_ratio_fails_every_hidden_case_with_the_same_c():
    visible = [checks._scale_ratio_case("v", s, c) for s, c in _ratio_specs()[:2]]
    for spec, c in _ratio_specs()[2:]:
        case = checks._scale_ratio_case("h", spec, c)
        for v in visible:
            if v.inputs["c"] == c:
                assert abs(v.inputs["middle"] - case.inputs["middle"]) > case.atol + 0.01


def test_the_checks_do_not_depend_on_the_learners_default_dtype():
    """A learner's torch.set_default_dtype(torch.float64) changes the modules the checks
    build; the solution still gets full marks and no check fails on its own inputs."""
    ns = _solution()
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        for check, name in [
            (checks.check_skipinit_block, "SkipInitBlock"),
            (checks.check_weight_scale_output, "weight_scale_effect"),
            (checks.check_weight_scale_gradient, "weight_scale_effect"),
        ]:
            score = _quiet(check, ns[name], hidden=True)
            assert float(score) == score.points, (name, score.report)
    finally:
        torch.set_default_dtype(old)
