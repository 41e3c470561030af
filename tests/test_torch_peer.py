"""bnref.torch side by side with torch on PyTorch's own BatchNorm test material.

The samples are the ones PyTorch's test suite uses: the ModuleInfo entries of
``torch.nn.BatchNorm1d/2d/3d`` (``torch.testing._internal.common_modules.module_db``, as
``test/test_modules.py`` drives them: forward in training and evaluation mode, backward,
state_dict, pickling, memory formats, non-contiguous inputs, error inputs) and the OpInfo
samples of ``nn.functional.batch_norm`` (``common_methods_invocations.op_db``, as
``test/test_ops.py``, ``test_fwd_gradients`` and functorch's tests drive them). Each sample
runs through torch and through bnref; on top of value comparisons, ``gradcheck`` with
batched gradients and forward AD, ``torch.func.vjp`` and ``torch.func.vmap``.

Every case passes or matches one rule of ``DOCUMENTED`` (the README's "Using bnref"
section repeats that list). Each rule must still be needed: a rule that no case uses
fails the test, so the list stays short and true. All samples run (44 module samples
and 12 functional ones, float32 and float64); only the module gradchecks take a fixed
subset (see that test). Torch's test material is imported once, on one xdist worker
(``xdist_group``).
"""

from __future__ import annotations

import copy
import io
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bnref.torch as bt

pytest.importorskip("expecttest", reason="torch.testing._internal needs expecttest")
pytestmark = pytest.mark.xdist_group("torch_peer")

OURS = {
    nn.BatchNorm1d: bt.BatchNorm1d,
    nn.BatchNorm2d: bt.BatchNorm2d,
    nn.BatchNorm3d: bt.BatchNorm3d,
}

# (scope, check pattern, case pattern, reason), patterns are regexes. Keep in step with
# README.md's "Using bnref" section.
DOCUMENTED = [
    (
        "module",
        r"^gradgrad$",
        r".*",
        "double backward is not implemented: the backward is a hand-written closed form; "
        "bnref raises a RuntimeError that says so (use F.batch_norm for gradient penalties)",
    ),
    (
        "functional",
        r".*",
        r"momentum=-",
        "momentum outside [0, 1] is refused with a ValueError, in evaluation mode too (torch "
        "accepts any number, e.g. the OpInfo samples' -1.2, which extrapolates the statistics)",
    ),
    (
        "functional",
        r"^forward$",
        r"shape=\(0,\)",
        "1-D input is refused (bnref needs (N, C, *)); torch accepts an empty 1-D tensor",
    ),
]


# --------------------------------------------------------------------------------------
# torch's test material, imported once
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def module_infos():
    from torch.testing._internal.common_modules import module_db

    return [m for m in module_db if m.module_cls in OURS]


@pytest.fixture(scope="module")
def op_info():
    from torch.testing._internal.common_methods_invocations import op_db

    return next(
        o for o in op_db if o.name == "nn.functional.batch_norm" and not o.variant_test_name
    )


class Ledger:
    """Failures by (check, case id); compared with DOCUMENTED at the end."""

    def __init__(self, scope: str):
        self.rules = [(i, r) for i, r in enumerate(DOCUMENTED) if r[0] == scope]
        self.failures: dict[tuple[str, str], str] = {}
        self.checks: set[str] = set()
        self.cases = 0

    def run(self, check: str, case: str, fn, *args) -> None:
        self.cases += 1
        self.checks.add(check)
        try:
            fn(*args)
        except Exception as error:  # noqa: BLE001 - every failure is recorded and judged
            self.failures[check, case] = f"{type(error).__name__}: {str(error)[:300]}"

    def assert_only_documented(self) -> None:
        used = set()
        undocumented = []
        for (check, case), error in sorted(self.failures.items()):
            rule = next(
                (
                    i
                    for i, (_, c, pat, _) in self.rules
                    if re.search(c, check) and re.search(pat, case)
                ),
                None,
            )
            if rule is None:
                undocumented.append(f"{check} | {case} | {error}")
            else:
                used.add(rule)
        assert not undocumented, f"{len(undocumented)} undocumented failures:\n" + "\n".join(
            undocumented
        )
        stale = [
            r[3]
            for i, r in self.rules
            if i not in used and any(re.search(r[1], check) for check in self.checks)
        ]
        assert not stale, f"documented differences that no case shows any more: {stale}"


def _close(a, b, dtype=torch.float64, what=""):
    tol = {torch.float64: (1e-9, 1e-10), torch.float32: (1e-4, 1e-5)}[dtype]
    torch.testing.assert_close(a, b, rtol=tol[0], atol=tol[1], msg=what)


# --------------------------------------------------------------------------------------
# ModuleInfo samples: nn.BatchNorm1d/2d/3d
# --------------------------------------------------------------------------------------
def _module_cases(module_infos, dtype, requires_grad=True):
    """(case id, torch class, ctor args, ctor kwargs, input, training) for every sample."""
    for info in module_infos:
        for training in (True, False):
            samples = info.module_inputs_func(
                info, device="cpu", dtype=dtype, requires_grad=requires_grad, training=training
            )
            for i, s in enumerate(samples):
                ci = s.constructor_input
                (x,) = s.forward_input.args
                mode = "train" if training else "eval"
                case = f"{info.name}[{i}:{s.desc or 'default'}] {mode} {dtype}"
                yield case, info.module_cls, ci.args, ci.kwargs, x, training


def _build(module_cls, args, kwargs, dtype, training):
    ref = module_cls(*args, **kwargs).to(dtype)
    ours = OURS[module_cls](*args, **kwargs).to(dtype)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # non-trivial parameters and statistics, the same in both
        for (_, a), (_, b) in zip(ref.named_parameters(), ours.named_parameters(), strict=True):
            a.copy_(0.5 + torch.rand(a.shape, generator=gen, dtype=dtype))
            b.copy_(a)
        if ref.running_mean is not None:
            ref.running_mean.copy_(torch.randn(ref.running_mean.shape, generator=gen, dtype=dtype))
            ref.running_var.copy_(
                0.5 + torch.rand(ref.running_var.shape, generator=gen, dtype=dtype)
            )
            ours.load_state_dict(ref.state_dict())
    ref.train(training)
    ours.train(training)
    return ours, ref


def _step(model, x, dout):
    x = x.detach().clone().requires_grad_(x.requires_grad)
    for p in model.parameters():
        p.grad = None
    out = model(x)
    grads = {}
    if x.requires_grad and out.requires_grad:
        out.backward(dout)
        grads = {"dx": x.grad, **{f"d{n}": p.grad for n, p in model.named_parameters()}}
    return out, grads


def _check_forward_backward(ours, ref, x, dtype):
    dout = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    for step in range(2):  # twice: the second step sees updated running statistics
        a, ga = _step(ours, x, dout)
        b, gb = _step(ref, x, dout)
        _close(a, b, dtype, f"out, step {step}")
        assert ga.keys() == gb.keys()
        for key in gb:
            if gb[key] is None:
                assert ga[key] is None, key
            else:
                _close(ga[key], gb[key], dtype, f"{key}, step {step}")
        for (name, p), q in zip(ours.named_buffers(), ref.buffers(), strict=True):
            _close(p, q, dtype, name)


def test_module_samples_side_by_side(module_infos):
    """Forward/backward, state_dict, pickle, memory formats, non-contiguous input, errors."""
    ledger = Ledger("module")
    for dtype in (torch.float32, torch.float64):
        for case, cls, args, kwargs, x, training in _module_cases(module_infos, dtype):
            ours, ref = _build(cls, args, kwargs, dtype, training)
            ledger.run("forward", case, _check_forward_backward, ours, ref, x, dtype)
            ledger.run("state_dict", case, _check_state_dict, cls, args, kwargs, dtype, training)
            ledger.run("pickle", case, _check_pickle, cls, args, kwargs, x, dtype, training)
            if x.dim() in (4, 5):
                ledger.run(
                    "memory_format",
                    case,
                    _check_memory_format,
                    cls,
                    args,
                    kwargs,
                    x,
                    dtype,
                    training,
                )
            ledger.run(
                "noncontiguous",
                case,
                _check_noncontiguous,
                cls,
                args,
                kwargs,
                x,
                dtype,
                training,
            )
    for info in module_infos:
        for training in (True, False):
            errors = info.module_error_inputs_func(
                info, device="cpu", dtype=torch.float32, requires_grad=False, training=training
            )
            for i, e in enumerate(errors):
                case = f"{info.name}[error {i}] {'train' if training else 'eval'}"
                ledger.run("errors", case, _check_error, info.module_cls, e, training)
    assert ledger.cases > 200
    ledger.assert_only_documented()


def _check_state_dict(cls, args, kwargs, dtype, training):
    ours, ref = _build(cls, args, kwargs, dtype, training)
    assert list(ours.state_dict()) == list(ref.state_dict())
    fresh_ours, fresh_ref = _build(cls, args, kwargs, dtype, training)
    fresh_ours.load_state_dict(ref.state_dict(), strict=True)  # torch -> bnref
    fresh_ref.load_state_dict(ours.state_dict(), strict=True)  # bnref -> torch
    for a, b in zip(fresh_ours.state_dict().values(), ref.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def _check_pickle(cls, args, kwargs, x, dtype, training):
    ours, _ = _build(cls, args, kwargs, dtype, training)
    buf = io.BytesIO()
    torch.save(ours, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    assert type(loaded) is type(ours)
    a = copy.deepcopy(ours)(x.detach())
    _close(loaded(x.detach()), a, dtype, "pickled module output")


def _check_memory_format(cls, args, kwargs, x, dtype, training):
    fmt = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
    ours, ref = _build(cls, args, kwargs, dtype, training)
    xc = x.detach().contiguous(memory_format=fmt).requires_grad_()
    _check_forward_backward(ours, ref, xc, dtype)
    out_ours, out_ref = ours(xc), ref(xc)
    assert out_ours.is_contiguous(memory_format=fmt) == out_ref.is_contiguous(memory_format=fmt)


def _check_noncontiguous(cls, args, kwargs, x, dtype, training):
    ours, ref = _build(cls, args, kwargs, dtype, training)
    xn = torch.repeat_interleave(x.detach(), 2, dim=-1)[..., ::2]  # same values, strided
    assert xn.numel() == 0 or not xn.is_contiguous()
    _check_forward_backward(ours, ref, xn.requires_grad_(x.requires_grad), dtype)


def _check_error(module_cls, error_input, training):
    mi = error_input.module_error_input
    ci, (x,) = mi.constructor_input, mi.forward_input.args
    for cls in (module_cls, OURS[module_cls]):
        with pytest.raises(error_input.error_type, match=error_input.error_regex):
            m = cls(*ci.args, **ci.kwargs)
            m(x)


def test_module_samples_gradients_under_torch_func(module_infos):
    """gradcheck (batched grads, forward AD), gradgradcheck, torch.func.vjp and vmap, float64.

    vjp and vmap run on every sample; gradcheck (the slow one: finite differences, batched
    gradients, forward AD) on every 4th sample and gradgradcheck on every 15th, a fixed
    subset that covers the three modules and both modes, to keep ``make test`` fast.
    """
    ledger = Ledger("module")
    cases = _module_cases(module_infos, torch.float64)
    for k, (case, cls, args, kwargs, x, training) in enumerate(cases):
        if x.numel() == 0:
            continue
        ours, ref = _build(cls, args, kwargs, torch.float64, training)
        # the running statistics are copied per call: gradcheck calls the function many times
        params = dict(ours.named_parameters())
        buffers = dict(ours.named_buffers())

        def f(x, *p, model=ours, names=tuple(params), buffers=buffers):
            state = {
                **{k: v.clone() for k, v in buffers.items()},
                **dict(zip(names, p, strict=True)),
            }
            return torch.func.functional_call(model, state, (x,))

        inputs = (
            x.detach().clone().requires_grad_(),
            *(p.detach().clone().requires_grad_() for p in params.values()),
        )
        if k % 4 == 0:
            ledger.run("gradcheck", case, _gradcheck, f, inputs)
        if k % 15 == 0:
            ledger.run("gradgrad", case, torch.autograd.gradgradcheck, f, inputs)
        ledger.run("vjp", case, _check_vjp, f, ref, inputs, buffers)
        ledger.run("vmap", case, _check_vmap, ours, ref, x, training)
    ledger.assert_only_documented()


def _gradcheck(f, inputs):
    assert torch.autograd.gradcheck(
        f, inputs, check_batched_grad=True, check_forward_ad=True, check_backward_ad=True
    )


def _check_vjp(f, ref, inputs, buffers):
    names = [n for n, _ in ref.named_parameters()]

    def g(x, *p):
        state = {**{k: v.clone() for k, v in buffers.items()}, **dict(zip(names, p, strict=True))}
        return torch.func.functional_call(ref, state, (x,))

    out, vjp_ours = torch.func.vjp(f, *inputs)
    out_ref, vjp_ref = torch.func.vjp(g, *inputs)
    _close(out, out_ref)
    dout = torch.randn_like(out)
    for a, b in zip(vjp_ours(dout), vjp_ref(dout), strict=True):
        _close(a, b)


def _check_vmap(ours, ref, x, training):
    """vmap over 3 copies of the batch: the same behaviour as torch (values, or both refuse)."""
    xs = torch.stack([x.detach(), 2 * x.detach(), x.detach() - 1])

    def call(model):
        model = copy.deepcopy(model)
        try:
            return torch.func.vmap(model)(xs), None
        except RuntimeError as error:
            return None, error

    (a, err_a), (b, err_b) = call(ours), call(ref)
    assert (err_a is None) == (err_b is None), f"bnref: {err_a!r}; torch: {err_b!r}"
    if a is not None:
        _close(a, b)


# --------------------------------------------------------------------------------------
# OpInfo samples: nn.functional.batch_norm
# --------------------------------------------------------------------------------------
def _op_case(sample):
    kw = dict(sample.kwargs)
    return f"shape={tuple(sample.input.shape)} " + " ".join(
        f"{k}={v}" for k, v in sorted(kw.items())
    )


def _op_call(fn, sample):
    x, args, kwargs = sample.input, list(sample.args), dict(sample.kwargs)
    # running statistics are copied: each call starts from the same state
    args[:2] = [None if a is None else a.detach().clone() for a in args[:2]]
    return fn(x, *args, **kwargs), args[:2]


def test_functional_samples_side_by_side(op_info):
    """Every OpInfo sample: forward, running statistics, backward, gradcheck, jvp, vmap."""
    ledger = Ledger("functional")
    for dtype in (torch.float32, torch.float64):
        for i, sample in enumerate(op_info.sample_inputs("cpu", dtype, requires_grad=True)):
            case = f"[{i}] {_op_case(sample)} {dtype}"
            ledger.run("forward", case, _check_op_forward, sample, dtype)
            if dtype == torch.float64 and sample.input.numel() > 0:
                ledger.run("gradcheck", case, _check_op_gradcheck, sample)
    ledger.assert_only_documented()


def _check_op_forward(sample, dtype):
    (a, run_a) = _op_call(bt.batch_norm, sample)
    (b, run_b) = _op_call(F.batch_norm, sample)
    _close(a, b, dtype, "out")
    for r_a, r_b in zip(run_a, run_b, strict=True):
        if r_b is not None:
            _close(r_a, r_b, dtype, "running statistics")
    if b.requires_grad and b.numel():
        dout = torch.randn_like(b)
        diff = [t for t in (sample.input, *sample.args[2:4]) if t is not None and t.requires_grad]
        for ga, gb in zip(
            torch.autograd.grad(a, diff, dout), torch.autograd.grad(b, diff, dout), strict=True
        ):
            _close(ga, gb, dtype, "gradient")


def _check_op_gradcheck(sample):
    x, args, kwargs = sample.input, list(sample.args), dict(sample.kwargs)
    rm, rv = args[:2]
    diff = [t for t in (x, *args[2:4]) if t is not None and t.requires_grad]

    def f(*inputs):
        it = iter(inputs)
        x_, w_, b_ = (next(it) if t is not None and t.requires_grad else t for t in (x, *args[2:4]))
        copies = [None if r is None else r.detach().clone() for r in (rm, rv)]
        return bt.batch_norm(x_, *copies, w_, b_, **kwargs)

    assert torch.autograd.gradcheck(
        f,
        tuple(diff),
        check_batched_grad=True,
        check_forward_ad=True,
        check_batched_forward_grad=True,
    )
