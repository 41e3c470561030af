"""Checks for the assignment ``bn02_covariate_shift``: measuring layer inputs and ICS (PyTorch).

Book: chapter 2 (``book/02_covariate_shift.md``), sections ``cs-fig1``, ``cs-noisy`` and
``cs-ics-gradient``; notebook ``exercises/bn02_covariate_shift/covariate_shift.ipynb``,
which imports this module as ``from bncourse.checks import bn02_covariate_shift as checks``.

What it checks, by behaviour only (attribute names, helper functions and the order of
random draws are the learner's choice):

* ``layer_input_percentiles(model, layer, x, q=(15, 50, 85))``: the percentiles, and six
  facts about the model afterwards: hooks left on any module, mode changed, buffers
  (running statistics) changed, parameter values changed, ``.grad`` changed,
  ``requires_grad`` changed (each must be 0); and, in a second check, that an exception
  raised by the forward propagates and leaves no hook and no change behind;
* ``ics(grad_before, grad_after)``: ``l2`` and ``cosine``; a ``ValueError`` when either
  gradient is all zeros;
* ``gradient_shift(model, loss_fn, x, y, layer, lr)``: ``l2``, ``cosine`` and four facts
  about the model afterwards (parameters, buffers, ``.grad``, mode changed: each 0);
* ``NoisyBatchNorm1d(num_features, noise, generator)``: nine facts, each 1 when right:
  eval output equals BN's (fed the same training batches), eval draws nothing from the
  generator, the training output is BN's output times a per-unit scale plus a per-unit
  shift, that map is not the identity (noise is added at all), every scale in
  [1, 1 + noise], every shift in [-noise, noise], scale and shift
  change from one forward to the next, the same generator state gives the same output, and
  torch's global generator is untouched.

Cases: the visible test cells show fixed cases; when the notebook is graded they score on
hidden cases of the same kind (``bncourse/checks/hidden/bn02_covariate_shift.py``). A case
counts when all its outputs are right.

Using the reference: calling anything in :data:`FORBIDDEN` (the course's own versions of
these functions in ``bncourse.experiments``) scores 0 for that test. BN layers
(``torch.nn.BatchNorm1d``, ``bnref.torch.BatchNorm1d``) are allowed inside
``NoisyBatchNorm1d``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .core import MESSAGES, Case, Output, Score, _Problem, _Stop, cmp, run_check, with_hidden

__all__ = [
    "FORBIDDEN",
    "MISTAKES",
    "Score",
    "check_gradient_shift",
    "check_ics",
    "check_ics_zero",
    "check_layer_input_percentiles",
    "check_percentiles_when_forward_raises",
    "check_noisy_batchnorm",
    "cmp",
]

#: What counts as using the reference: the course's own implementations.
FORBIDDEN = (
    "bncourse.experiments.ch2_ioffe_fig1.layer_input_percentiles",
    "bncourse.experiments.ch2_santurkar.ics",
    "bncourse.experiments.ch2_santurkar.gradient_shift",
    "bncourse.experiments.ch2_santurkar.NoisyBatchNorm1d",
)

MISTAKES: dict[str, str] = {
    "hook_left": (
        "Your hook stays registered after the measurement. Keep the handle that "
        "register_forward_hook / register_forward_pre_hook returns and call handle.remove() "
        "in a `finally:` block, so it goes also when the forward raises."
    ),
    "left_in_eval": (
        "You switch the model to eval mode and leave it there. Measure in the model's "
        "current mode (BN in training mode uses the batch's statistics) and do not change it."
    ),
    "left_in_train": (
        "You switch the model to training mode and leave it there. Measure in the model's "
        "current mode and leave it as you found it."
    ),
    "running_stats_changed": (
        "Your measurement moves BN's running statistics: a forward in training mode updates "
        "running_mean, running_var and num_batches_tracked. Save the model's buffers before "
        "the forward and copy them back afterwards."
    ),
    "wrong_dim": (
        "Your percentiles run over the units instead of over the batch: torch.quantile(z, "
        "levels, dim=0) gives one value per unit, shape (len(q), units)."
    ),
    "whole_tensor": (
        "You take the percentiles of the whole tensor. Each unit gets its own: pass dim=0 "
        "to torch.quantile, giving shape (len(q), units)."
    ),
    "percent_as_fraction": (
        "Your percentiles are the q/100-th percentiles: q is in percent (15 means the 15th "
        "percentile), so the quantile level is q / 100, divided once."
    ),
    "cosine_sign": (
        "Your cosine has the wrong sign: cos = <G, G'> / (||G|| ||G'||) is +1 for equal gradients."
    ),
    "cosine_unnormalised": (
        "Your cosine is the plain dot product <G, G'>: divide it by ||G|| * ||G'||."
    ),
    "step_includes_layer": (
        "You also step the layer itself before taking G'. Definition 2.1 updates only the "
        "layers *before* it: the layer's own weights stay as they were."
    ),
    "step_all_layers": (
        "You step every layer before taking G'. Definition 2.1 updates only the modules "
        "before `layer`; the layer itself and everything after it stay unchanged."
    ),
    "params_not_restored": (
        "The model's parameters are not restored after the measurement: copy them before "
        "the step (p.detach().clone()) and copy them back (under torch.no_grad())."
    ),
    "noise_at_construction": (
        "Your scale and shift are drawn once, in __init__. The noise must change at every "
        "step: draw it in forward, each time the layer runs in training mode."
    ),
    "noise_in_eval": (
        "Your layer adds noise in eval mode too. In eval mode it must be plain BN and draw "
        "nothing: check self.training in forward."
    ),
    "global_rng": (
        "Your noise comes from torch's global generator: pass generator=self.generator (the "
        "one given to __init__) to torch.rand, so runs are reproducible and the global "
        "generator is untouched."
    ),
    # notes (facts about the model after the call that no named mistake covers)
    "grad_changed": (
        "After your call the .grad fields of the model's parameters differ from before "
        "(backward() adds to them, zero_grad() empties them). Save them first (p.grad.clone(), "
        "or None) and put them back, or use torch.autograd.grad, which leaves .grad alone."
    ),
    "requires_grad_changed": (
        "After your call a parameter's requires_grad flag differs from before: put back any "
        "flag you change."
    ),
    "state_changed": (
        "After your call the model's buffers (BN's running statistics: a training-mode "
        "forward moves them) or a module's mode differ from before: save them first and put "
        "them back."
    ),
}

_PCT_FLAGS = (
    "hooks left",
    "mode changed",
    "buffers changed",
    "parameters changed",
    ".grad changed",
    "requires_grad changed",
)
_SHIFT_FLAGS = ("parameters changed", "buffers changed", ".grad changed", "mode changed")
_NOISY_FACTS = (
    "eval equals BN",
    "eval draws nothing",
    "train = BN * scale + shift",
    "training adds noise",
    "scale in [1, 1 + noise]",
    "shift in [-noise, noise]",
    "noise changes between steps",
    "same generator state, same output",
    "global RNG untouched",
)


_ID = "bn02_covariate_shift"  # hidden cases: bncourse/checks/hidden/<_ID>.py


_DT = {"float64": torch.float64, "float32": torch.float32}


# ----------------------------------------------------------------------------------------
# models of the cases
# ----------------------------------------------------------------------------------------
def _build(spec: dict) -> tuple[nn.Sequential, torch.Tensor, torch.Tensor]:
    """A fresh model, input and labels from a case's spec (same spec, same everything)."""
    g = torch.Generator().manual_seed(spec["seed"])
    dt = _DT[spec.get("dtype", "float64")]
    widths = spec["widths"]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        lin = nn.Linear(a, b)
        with torch.no_grad():
            lin.weight.normal_(0, (2 / a) ** 0.5, generator=g)
            lin.bias.uniform_(-0.5, 0.5, generator=g)
        layers.append(lin)
        if i < len(widths) - 2:
            if spec.get("bn", True):
                layers.append(nn.BatchNorm1d(b))
            layers.append(nn.Tanh() if spec.get("act") == "tanh" else nn.ReLU())
    model = nn.Sequential(*layers).to(dt)
    n = spec["n"]
    x = (torch.randn(n, widths[0], generator=g) * 2 + 1).to(dt)  # (N, in)
    y = torch.randint(0, widths[-1], (n,), generator=g)
    for _ in range(spec.get("warm", 2)):  # move the running statistics off (0, 1)
        model.train()(torch.randn(n, widths[0], generator=g).to(dt))
    if spec.get("grads", True):  # some .grad fields set, one parameter frozen
        nn.functional.cross_entropy(model(x), y).backward()
        model[0].bias.grad = None
    if spec.get("frozen", True):
        model[0].bias.requires_grad_(False)
    model.train(spec.get("mode", "train") == "train")
    return model, x, y


def _state(model: nn.Module) -> dict:
    return {
        "params": [p.detach().clone() for p in model.parameters()],
        "buffers": [b.detach().clone() for b in model.buffers()],
        "grads": [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()],
        "flags": [p.requires_grad for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
    }


def _eq(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(torch.equal(a, b))


def _changes(model: nn.Module, before: dict) -> dict[str, float]:
    after = _state(model)
    return {
        "hooks left": float(
            sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
        ),
        "mode changed": float(before["modes"] != after["modes"]),
        "buffers changed": float(
            not all(_eq(a, b) for a, b in zip(before["buffers"], after["buffers"], strict=True))
        ),
        "parameters changed": float(
            not all(_eq(a, b) for a, b in zip(before["params"], after["params"], strict=True))
        ),
        ".grad changed": float(
            not all(_eq(a, b) for a, b in zip(before["grads"], after["grads"], strict=True))
        ),
        "requires_grad changed": float(before["flags"] != after["flags"]),
    }


_NOTE_OF = {
    "grad_changed": (".grad changed",),
    "requires_grad_changed": ("requires_grad changed",),
    "state_changed": ("buffers changed", "mode changed"),
}


def _note_changes(call, ch: dict, keys) -> None:
    """Say in words what the learner's call left changed (the flags alone read 'yours 1')."""
    for key in keys:
        if any(ch[flag] for flag in _NOTE_OF[key]):
            call.note(key)


def _layer_input(spec: dict, train: bool) -> torch.Tensor:
    model, x, _ = _build(spec)
    layer = model[spec["layer"]]
    seen = []
    h = layer.register_forward_pre_hook(lambda _m, inp: seen.append(inp[0].detach().clone()))
    model.train(train)
    with torch.no_grad():
        model(x)
    h.remove()
    return seen[0].double()  # (N, units)


def _quantiles(z: torch.Tensor, levels, dim=0) -> torch.Tensor:
    lv = torch.tensor(levels, dtype=torch.float64)
    return torch.quantile(z, lv) if dim is None else torch.quantile(z, lv, dim=dim)


def _q(case: Case) -> tuple:
    return tuple(case.inputs.get("q", (15, 50, 85)))


# ----------------------------------------------------------------------------------------
# layer_input_percentiles
# ----------------------------------------------------------------------------------------
def _pct_outputs(values, **flags) -> tuple:
    return (
        values,
        *(flags.get(name.replace(" ", "_").replace(".", ""), 0.0) for name in _PCT_FLAGS),
    )


def _ref_pct(case: Case) -> tuple:
    spec = case.inputs["spec"]
    z = _layer_input(spec, spec.get("mode", "train") == "train")
    return _pct_outputs(_quantiles(z, [v / 100 for v in _q(case)]))


def _pct_mutant(kind: str) -> Callable:
    def m(case):
        spec = case.inputs["spec"]
        train = spec.get("mode", "train") == "train"
        has_bn = spec.get("bn", True)
        levels = [v / 100 for v in _q(case)]
        if kind == "hook_left":
            return _pct_outputs(_quantiles(_layer_input(spec, train), levels), hooks_left=1.0)
        if kind in ("left_in_eval", "left_in_train"):
            now = kind == "left_in_train"
            z = _layer_input(spec, now)
            return _pct_outputs(_quantiles(z, levels), mode_changed=float(now != train))
        if kind == "running_stats_changed":
            z = _layer_input(spec, train)
            return _pct_outputs(_quantiles(z, levels), buffers_changed=float(train and has_bn))
        z = _layer_input(spec, train)
        if kind == "wrong_dim":
            return _pct_outputs(_quantiles(z, levels, dim=1))
        if kind == "whole_tensor":
            return _pct_outputs(_quantiles(z, levels, dim=None))
        return _pct_outputs(_quantiles(z, [v / 100 for v in levels]))  # percent_as_fraction

    return m


_PCT_MUTANTS = {
    k: _pct_mutant(k)
    for k in (
        "hook_left",
        "left_in_eval",
        "left_in_train",
        "running_stats_changed",
        "wrong_dim",
        "whole_tensor",
        "percent_as_fraction",
    )
}


def _pct_learner(fn: Callable) -> Callable:
    def learner(call, case):
        model, x, _ = _build(case.inputs["spec"])
        layer = model[case.inputs["spec"]["layer"]]
        before = _state(model)
        args = (model, layer, x) if "q" not in case.inputs else (model, layer, x, _q(case))
        res = call(fn, *args, watch=(2,))
        if not torch.is_tensor(res):
            raise _Problem(
                "bad_return",
                f"layer_input_percentiles must return a torch Tensor; got a {type(res).__name__}",
            )
        ch = _changes(model, before)
        _note_changes(call, ch, ("grad_changed", "requires_grad_changed"))
        return (res, *(ch[name] for name in _PCT_FLAGS))

    return learner


def _pct_case(label, spec, q=None, **kw) -> Case:
    inputs = {"spec": spec} if q is None else {"spec": spec, "q": tuple(q)}
    return Case(label, inputs, dtype=spec.get("dtype", "float64"), atol=1e-6, **kw)


_PCT_OUTPUTS = (Output("percentiles"), *(Output(n, check_dtype=False) for n in _PCT_FLAGS))


def check_layer_input_percentiles(
    layer_input_percentiles: Callable, points: float = 3, hidden: bool | None = None
) -> Score:
    """Percentiles of a BN layer's input in a training-mode MLP, and the model unchanged.

    Book: chapter 2, section ``cs-fig1``. When graded, hidden cases (eval mode, other
    layers, q, dtypes) score instead.
    """
    visible = [
        _pct_case(
            "MLP 6-8-8-3 with BN, training mode, input of the second BN layer",
            {"seed": 20, "widths": [6, 8, 8, 3], "n": 40, "layer": 4},
        )
    ]
    return run_check(
        "check_layer_input_percentiles: layer_input_percentiles(model, layer, x, q)",
        points,
        with_hidden(visible, _ID, "PERCENTILES", _pct_case, hidden),
        _PCT_OUTPUTS,
        _pct_learner(layer_input_percentiles),
        _ref_pct,
        mutants=_PCT_MUTANTS,
        messages=MISTAKES,
        forbidden=FORBIDDEN,
    )


_BOOM = "this layer always fails"


class _Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError(_BOOM)


def _raises_learner(fn: Callable) -> Callable:
    def learner(call, case):
        model, x, _ = _build(case.inputs["spec"])
        model.append(_Boom().train(model.training))  # raises after the measured layer ran
        layer = model[case.inputs["spec"]["layer"]]
        before = _state(model)
        raised = 0.0
        try:
            call(fn, model, layer, x, watch=(2,))
            print("  your function returned although the forward raised a RuntimeError")
        except _Stop:
            raise
        except _Problem as e:
            # the forward's own exception (a RecursionError is a RuntimeError too: not it)
            raised = float(_BOOM in str(e.__cause__) or _BOOM in e.detail)
            if not raised:
                print(f"  expected the forward's RuntimeError; got: {e.detail.splitlines()[0]}")
        ch = _changes(model, before)
        return (raised, ch["hooks left"], ch["mode changed"], ch["buffers changed"])

    return learner


def check_percentiles_when_forward_raises(
    layer_input_percentiles: Callable, points: float = 1, hidden: bool | None = None
) -> Score:
    """If the model's forward raises, the exception propagates, and no hook, mode change
    or buffer change stays behind."""
    spec = {"seed": 21, "widths": [5, 6, 4], "n": 16, "layer": 1}
    visible = [Case("the last module raises RuntimeError", {"spec": spec}, dtype=None)]
    return run_check(
        "check_percentiles_when_forward_raises: the forward raises RuntimeError",
        points,
        with_hidden(
            visible,
            _ID,
            "RAISES",
            lambda label, spec, **kw: Case(label, {"spec": spec}, dtype=None, **kw),
            hidden,
        ),
        (Output("raised"), Output("hooks left"), Output("mode changed"), Output("buffers changed")),
        _raises_learner(layer_input_percentiles),
        lambda case: (1.0, 0.0, 0.0, 0.0),
        mutants={"hook_left": lambda case: (1.0, 1.0, 0.0, 0.0)},
        messages=MISTAKES,
        forbidden=FORBIDDEN,
    )


# ----------------------------------------------------------------------------------------
# ics
# ----------------------------------------------------------------------------------------
def _grads(case: Case) -> tuple[list, list]:
    i = case.inputs
    g = torch.Generator().manual_seed(i["seed"])
    dt = _DT[i.get("dtype", "float64")]
    before = [torch.randn(*s, generator=g).to(dt) for s in i["shapes"]]
    after = [b * i.get("scale", 1.0) + i["noise"] * torch.randn(*b.shape, generator=g).to(dt)
             for b in before]  # fmt: skip
    return before, after


def _flat64(ts) -> torch.Tensor:
    return torch.cat([t.reshape(-1).double() for t in ts])


def _ref_ics(case: Case) -> tuple:
    a, b = (_flat64(t) for t in _grads(case))
    return float((a - b).norm()), float(a @ b / (a.norm() * b.norm()))


def _ics_mutant(kind: str) -> Callable:
    def m(case):
        a, b = (_flat64(t) for t in _grads(case))
        l2 = float((a - b).norm())
        if kind == "cosine_sign":
            return l2, -float(a @ b / (a.norm() * b.norm()))
        return l2, float(a @ b)  # cosine_unnormalised

    return m


def _scalar(value, what: str) -> float:
    if isinstance(value, bool) or value is None:
        raise _Problem("bad_return", f"{what} must be a float; got {value!r}")
    try:
        if torch.is_tensor(value) or isinstance(value, np.ndarray):
            if value.numel() if torch.is_tensor(value) else value.size != 1:
                raise TypeError("not a single number")
            return float(value.item())
        return float(value)
    except Exception as e:  # noqa: BLE001 - whatever the learner returned
        raise _Problem("bad_return", f"{what} must be a float; got a {type(value).__name__}") from e


def _ics_learner(fn: Callable) -> Callable:
    def learner(call, case):
        before, after = _grads(case)
        res = call(fn, before, after)
        l2, cos = call.unpack(res, ("l2", "cosine"), fn)
        return _scalar(l2, "l2"), _scalar(cos, "cosine")

    return learner


def _ics_case(label, shapes, seed, noise=0.5, scale=1.0, dtype="float64", **kw) -> Case:
    inputs = {"shapes": [tuple(s) for s in shapes], "seed": seed, "noise": noise,
              "scale": scale, "dtype": dtype}  # fmt: skip
    return Case(label, inputs, dtype=None, rtol=1e-6 if dtype == "float64" else 1e-4, **kw)


def check_ics(ics: Callable, points: float = 2, hidden: bool | None = None) -> Score:
    """``(l2, cosine)`` of two lists of gradient tensors (visible: a weight and a bias).

    Book: chapter 2, section ``cs-ics-gradient``.
    """
    visible = [_ics_case("a (4, 3) weight and a (4,) bias", [(4, 3), (4,)], seed=30)]
    return run_check(
        "check_ics: ics(grad_before, grad_after) -> (l2, cosine)",
        points,
        with_hidden(visible, _ID, "ICS", _ics_case, hidden),
        (Output("l2"), Output("cosine")),
        _ics_learner(ics),
        _ref_ics,
        mutants={k: _ics_mutant(k) for k in ("cosine_sign", "cosine_unnormalised")},
        messages=MISTAKES,
        forbidden=FORBIDDEN,
    )


def _ics_zero_learner(fn: Callable) -> Callable:
    def learner(call, case):
        g = [torch.zeros(3, 2, dtype=torch.float64)]
        h = [torch.arange(6.0, dtype=torch.float64).reshape(3, 2) + 1]
        args = (g, h) if case.inputs["zero"] == "before" else (h, g)
        try:
            call(fn, *args)
        except _Stop:
            raise
        except _Problem as e:
            if isinstance(e.__cause__, ValueError):  # a subclass of the learner's own too
                return (1.0,)
            print(f"  expected a ValueError; got: {e.detail.splitlines()[0]}")
            return (0.0,)
        print("  no exception: the cosine of a zero gradient is undefined, raise ValueError")
        return (0.0,)

    return learner


def check_ics_zero(ics: Callable, points: float = 1, hidden: bool | None = None) -> Score:
    """A gradient that is all zeros (before or after) raises ``ValueError``."""
    cases = [
        Case("grad_before all zeros", {"zero": "before"}, dtype=None),
        Case("grad_after all zeros", {"zero": "after"}, dtype=None),
    ]
    return run_check(
        "check_ics_zero: ics raises ValueError for an all-zero gradient",
        points,
        cases,
        (Output("raised ValueError"),),
        _ics_zero_learner(ics),
        lambda case: (1.0,),
        messages=MISTAKES,
        forbidden=FORBIDDEN,
    )


# ----------------------------------------------------------------------------------------
# gradient_shift
# ----------------------------------------------------------------------------------------
_LOSSES = {"cross_entropy": nn.functional.cross_entropy}


def _mse_onehot(out, y):
    return nn.functional.mse_loss(out, nn.functional.one_hot(y, out.shape[1]).to(out.dtype))


_LOSSES["mse"] = _mse_onehot


def _shift_values(case: Case, which: str) -> tuple[float, float]:
    """(l2, cosine) with the step applied to ``which``: "before", "through" (the layer too)
    or "all" parameters."""
    spec = case.inputs["spec"]
    model, x, y = _build(spec)
    loss_fn = _LOSSES[case.inputs.get("loss", "cross_entropy")]
    idx = spec["layer"]
    mods = list(model)
    stop = {"before": idx, "through": idx + 1, "all": len(mods)}[which]
    stepped = [p for m in mods[:stop] for p in m.parameters()]
    w = model[idx].weight
    g0 = torch.autograd.grad(loss_fn(model(x), y), [w, *stepped], allow_unused=True)
    with torch.no_grad():
        for p, g in zip(stepped, g0[1:], strict=True):
            if g is not None:
                p.sub_(case.inputs["lr"] * g)
    (g1,) = torch.autograd.grad(loss_fn(model(x), y), [w])
    a, b = g0[0].reshape(-1).double(), g1.reshape(-1).double()
    return float((a - b).norm()), float(a @ b / (a.norm() * b.norm()))


def _ref_shift(case: Case) -> tuple:
    return (*_shift_values(case, "before"), 0.0, 0.0, 0.0, 0.0)


_SHIFT_MUTANTS = {
    "step_includes_layer": lambda c: (*_shift_values(c, "through"), None, None, None, None),
    "step_all_layers": lambda c: (*_shift_values(c, "all"), None, None, None, None),
    "params_not_restored": lambda c: (*_shift_values(c, "before"), 1.0, None, None, None),
}


def _shift_learner(fn: Callable) -> Callable:
    def learner(call, case):
        spec = case.inputs["spec"]
        model, x, y = _build(spec)
        layer = model[spec["layer"]]
        before = _state(model)
        loss_fn = _LOSSES[case.inputs.get("loss", "cross_entropy")]
        res = call(fn, model, loss_fn, x, y, layer, case.inputs["lr"], watch=(2, 3))
        l2, cos = call.unpack(res, ("l2", "cosine"), fn)
        ch = _changes(model, before)
        _note_changes(call, ch, ("grad_changed", "state_changed"))
        return (_scalar(l2, "l2"), _scalar(cos, "cosine"), *(ch[n] for n in _SHIFT_FLAGS))

    return learner


def _shift_case(label, spec, lr, loss="cross_entropy", **kw) -> Case:
    spec = {"frozen": False, **spec}  # every parameter trainable: SGD steps them all
    return Case(label, {"spec": spec, "lr": lr, "loss": loss}, dtype=None, rtol=1e-5,
                atol=1e-9, **kw)  # fmt: skip


def check_gradient_shift(gradient_shift: Callable, points: float = 3, hidden: bool | None = None):
    """Definition 2.1 for one layer of an MLP with BN, and the model left unchanged.

    Book: chapter 2, section ``cs-ics-gradient``.
    """
    visible = [
        _shift_case(
            "MLP 10-12-12-4 with BN, training mode, the third Linear, lr 0.5",
            {"seed": 40, "widths": [10, 12, 12, 4], "n": 32, "layer": 6},
            0.5,
        )
    ]
    return run_check(
        "check_gradient_shift: gradient_shift(model, loss_fn, x, y, layer, lr) -> (l2, cosine)",
        points,
        with_hidden(visible, _ID, "SHIFT", _shift_case, hidden),
        (Output("l2"), Output("cosine"), *(Output(n) for n in _SHIFT_FLAGS)),
        _shift_learner(gradient_shift),
        _ref_shift,
        mutants=_SHIFT_MUTANTS,
        messages=MISTAKES,
        forbidden=FORBIDDEN,
    )


# ----------------------------------------------------------------------------------------
# NoisyBatchNorm1d
# ----------------------------------------------------------------------------------------
def _affine_fit(out: torch.Tensor, bn: torch.Tensor):
    """Per unit, the least-squares scale and shift of out = bn * scale + shift; max residual."""
    o, b = out.detach().double(), bn.detach().double()
    bc = b - b.mean(0)
    scale = (bc * (o - o.mean(0))).sum(0) / (bc * bc).sum(0)  # (C,)
    shift = o.mean(0) - scale * b.mean(0)  # (C,)
    resid = float((o - (b * scale + shift)).abs().max())
    return scale, shift, resid


def _noisy_learner(cls: Callable) -> Callable:
    def learner(call, case):
        i = case.inputs
        c, n, size = i["C"], i["noise"], i["N"]
        data = torch.Generator().manual_seed(i["seed"])
        x = torch.randn(size, c, generator=data) * 3 + 2  # (N, C)
        x2 = torch.randn(size, c, generator=data) * 2 - 1
        torch.manual_seed(12345)
        global_before = torch.get_rng_state()
        g1 = torch.Generator().manual_seed(i["seed"] + 1)
        m1 = call(cls, c, noise=n, generator=g1)
        if not isinstance(m1, nn.Module):
            raise _Problem("bad_return", f"NoisyBatchNorm1d(...) is a {type(m1).__name__}")
        ref = nn.BatchNorm1d(c)
        call(m1.train, charge=False)
        out_a = call(m1, x, watch=())
        out_b = call(m1, x, watch=())
        bn_a, bn_b = ref.train()(x), ref(x)
        for name, out in (("training output", out_a), ("training output", out_b)):
            if not torch.is_tensor(out) or out.shape != x.shape:
                what = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
                raise _Problem(
                    "bad_return", f"the {name} is {what}; expected shape {tuple(x.shape)}"
                )
        sa, ta, ra = _affine_fit(out_a, bn_a)
        sb, tb, rb = _affine_fit(out_b, bn_b)
        tol = 1e-4 * max(1.0, n)
        affine = float(max(ra, rb) < 1e-3 * (1 + n))
        scale_ok = float(bool(((sa >= 1 - tol) & (sa <= 1 + n + tol)).all()
                              and ((sb >= 1 - tol) & (sb <= 1 + n + tol)).all()))  # fmt: skip
        shift_ok = float(bool((ta.abs() <= n + tol).all() and (tb.abs() <= n + tol).all()))
        # no noise at all (plain BN) is not "noise drawn once": scale 1 and shift 0 throughout,
        # reported as such (whether it changes is then moot, and not reported again)
        noisy = float(bool(max((sa - 1).abs().max(), ta.abs().max(), (sb - 1).abs().max(),
                               tb.abs().max()) > 1e-3 * n + 1e-5))  # fmt: skip
        changes = float(bool((sa - sb).abs().max() > 1e-6 or (ta - tb).abs().max() > 1e-6))
        changes = changes if noisy else 1.0
        if n <= 0:  # noise=0: plain BN in training too, nothing to add or change
            noisy = changes = 1.0
        call(m1.eval, charge=False)
        gen_before = g1.get_state()
        out_e = call(m1, x2, watch=())
        draws = float(torch.equal(g1.get_state(), gen_before))
        bn_e = ref.eval()(x2)
        eval_ok = float(
            torch.is_tensor(out_e)
            and out_e.shape == bn_e.shape
            and bool(torch.allclose(out_e.detach().double(), bn_e.detach().double(), atol=1e-4))
        )
        g2 = torch.Generator().manual_seed(i["seed"] + 1)
        m2 = call(cls, c, noise=n, generator=g2)
        call(m2.train, charge=False)
        again = call(m2, x, watch=())
        same = float(
            torch.is_tensor(again)
            and again.shape == out_a.shape
            and bool(torch.allclose(again.detach(), out_a.detach(), atol=1e-6))
        )
        untouched = float(torch.equal(torch.get_rng_state(), global_before))
        return eval_ok, draws, affine, noisy, scale_ok, shift_ok, changes, same, untouched

    return learner


def _noisy_mutant(**wrong) -> Callable:
    def m(case):
        return tuple(0.0 if name in wrong else 1.0 for name in _NOISY_FACTS)

    return m


_NOISY_MUTANTS = {
    "noise_at_construction": _noisy_mutant(**{"noise changes between steps": 1}),
    "noise_in_eval": _noisy_mutant(**{"eval equals BN": 1, "eval draws nothing": 1}),
    "global_rng": _noisy_mutant(
        **{"same generator state, same output": 1, "global RNG untouched": 1}
    ),
}


def _noisy_case(label, C, noise, N, seed, **kw) -> Case:
    return Case(label, {"C": C, "noise": noise, "N": N, "seed": seed}, dtype=None, **kw)


def check_noisy_batchnorm(
    NoisyBatchNorm1d: Callable,  # noqa: N803 - the learner's class, by its name
    points: float = 3,
    hidden: bool | None = None,
) -> Score:
    """NoisyBatchNorm1d's behaviour: eval is BN; training adds a fresh per-unit affine noise
    in the stated ranges, drawn from the given generator only.

    Book: chapter 2, section ``cs-noisy``.
    """
    visible = [_noisy_case("C=5, noise=0.5, N=32", 5, 0.5, 32, 50)]
    return run_check(
        "check_noisy_batchnorm: NoisyBatchNorm1d(num_features, noise, generator)",
        points,
        with_hidden(visible, _ID, "NOISY", _noisy_case, hidden),
        tuple(Output(n) for n in _NOISY_FACTS),
        _noisy_learner(NoisyBatchNorm1d),
        lambda case: tuple(1.0 for _ in _NOISY_FACTS),
        mutants=_NOISY_MUTANTS,
        messages=MISTAKES,
        forbidden=FORBIDDEN,
    )


assert set(MESSAGES).isdisjoint(MISTAKES), "an assignment key shadows a shared message"
