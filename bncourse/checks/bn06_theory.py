"""Checks for the assignment ``bn06_theory``: SkipInit and probes of the landscape (PyTorch).

Book: chapter 6, *Why does it work?*: section 6.4 (``book/06_4_identity.md``, SkipInit),
section 6.2 (``book/06_2_smoothness.md``, ``ch6-smoothness-measures``: the probes) and
section 6.1 (``book/06_1_results.md``, ``ch6-scale-invariance``); notebook
``exercises/bn06_theory/bn_theory.ipynb``, which imports this module as
``from bncourse.checks import bn06_theory as checks``.

What it checks, by behaviour only (attribute names other than ``alpha``, helper functions,
how the model is saved and restored, and the learner's random projection are free):

* ``SkipInitBlock(branch)``: ``alpha`` (value 0, 0-dim, an ``nn.Parameter``), the output
  at initialisation (``x``), the output with ``alpha`` set to ``a`` (``x + a branch(x)``),
  ``alpha.grad`` after a backward pass, the output in eval mode (the branch follows the
  block's mode, so it must be a registered submodule) and the number of parameters
  (the branch's plus one);
* ``loss_along_gradient(model, loss_fn, x, y, step_sizes)``: the losses at
  ``theta - eta grad L(theta)``, and four facts about the model afterwards (parameters,
  ``.grad`` fields, buffers, mode: each must be unchanged, 0);
* ``gradient_predictiveness(model, loss_fn, x, y, step_sizes)``: ``||grad L(theta) -
  grad L(theta - eta grad L(theta))||`` over all parameters, and the same four facts;
* ``weight_scale_effect(linear, bn, x, c)``: in one test the largest output change (exact,
  P-independent: compared with the reference within rounding) and five facts (parameters,
  buffers, ``.grad``, modes of ``linear``/``bn`` and torch's global generator unchanged); in
  another ``c * grad_norm_ratio``, which lies within an eps-derived band around 1 for every
  projection ``P`` that varies across the batch (:func:`ratio_band`), and whether the ratio
  is rounding noise (0, NaN/inf, or changed by more than 0.1% when ``x`` moves by a rounding
  error: the symptom of ``out.sum()`` or a ``P`` constant across the batch).

Cases: each visible test cell shows fixed cases; when the notebook is graded it scores on
hidden cases of the same kind (``bncourse/checks/hidden/bn06_theory.py``): training and eval
mode, BN from ``torch.nn`` and ``bnref.torch``, conv nets, ``.grad`` fields set before the
call (or None), step sizes including 0, float64 and float32, several ``c`` and BN ``eps``.

Using the reference: calling anything in :data:`FORBIDDEN` (the course's experiments and
this module's own reference functions) scores 0 for that test. BN layers from ``torch.nn``
or ``bnref.torch``, ``torch.func`` and ``torch.nn.utils`` are allowed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

import bnref.torch as bt

from .core import MESSAGES, Case, Output, Score, _Problem, cmp, run_check, with_hidden

__all__ = [
    "FORBIDDEN",
    "MISTAKES",
    "Score",
    "check_gradient_predictiveness",
    "check_loss_along_gradient",
    "check_skipinit_block",
    "check_weight_scale_gradient",
    "check_weight_scale_output",
    "cmp",
    "ratio_band",
]

#: What counts as using the reference: the course's experiments (chapter 6's probes and
#: SkipInit blocks live there) and this module's own reference functions.
FORBIDDEN = (
    "bncourse.experiments",
    "bncourse.checks.bn06_theory._ref_skipinit",
    "bncourse.checks.bn06_theory._probe_losses",
    "bncourse.checks.bn06_theory._probe_changes",
    "bncourse.checks.bn06_theory._scale_outputs",
    "bncourse.checks.bn06_theory._scale_ratio",
)

MISTAKES: dict[str, str] = {
    "alpha_init_one": (
        "Your alpha starts at 1. SkipInit starts it at 0, so that each residual block is the "
        "identity at initialisation: nn.Parameter(torch.tensor(0.0))."
    ),
    "alpha_vector": (
        "Your alpha is a vector (shape (1,) or per feature). SkipInit's alpha is one scalar "
        "per block, a 0-dim parameter: nn.Parameter(torch.tensor(0.0)) or "
        "nn.Parameter(torch.zeros(()))."
    ),
    "alpha_on_skip": (
        "Your alpha multiplies the skip path (alpha * x + branch(x)). SkipInit scales the "
        "residual branch: x + alpha * branch(x), the identity while alpha = 0."
    ),
    "alpha_not_parameter": (
        "Your alpha is not a trainable parameter (a plain tensor or a buffer): it gets no "
        "gradient and the optimizer never sees it. Wrap it in nn.Parameter."
    ),
    "ascent": (
        "You step uphill, to theta + eta * grad L. The probe looks along the gradient descent "
        "step: theta - eta * grad L(theta)."
    ),
    "params_not_restored": (
        "The parameters are not as before after your function: save copies first "
        "(p.detach().clone(), or copy.deepcopy(model.state_dict()); model.state_dict() "
        "alone returns references to the very tensors you change, and multiplying then "
        "dividing by c is not exact) and copy them back under torch.no_grad(), or work on "
        "a copy of the model or with torch.func.functional_call."
    ),
    "grad_changed": (
        "Your function changes the parameters' .grad fields (loss.backward() writes, or adds "
        "to, them). Leave them exactly as they were, None included: use "
        "torch.autograd.grad(loss, params), which does not touch .grad, or save and restore "
        "them."
    ),
    "grad_accumulated": (
        "Your step uses p.grad after loss.backward(), which ADDS the new gradient to the "
        ".grad that was already there: your direction is old .grad + grad L. Use "
        "torch.autograd.grad(loss, params) for the gradient itself."
    ),
    "running_stats_changed": (
        "Your probes move BN's running statistics: every forward in training mode updates "
        "running_mean, running_var and num_batches_tracked. Save the buffers (or the "
        "state_dict, deep-copied) before and copy them back afterwards."
    ),
    "left_in_train": (
        "You switch the model to training mode (and leave it there). Probe in the model's "
        "current mode: in eval mode BN uses its running statistics, and the mode must be "
        "as before afterwards."
    ),
    "left_in_eval": (
        "You switch the model to eval mode (and leave it there). Probe in the model's "
        "current mode: in training mode BN uses the batch's statistics, and the mode must "
        "be as before afterwards."
    ),
    "per_tensor": (
        "You add up the norms of each parameter tensor's gradient change. Gradient "
        "predictiveness is ONE norm over all parameters: flatten and concatenate every "
        "tensor first (sqrt of the sum of squares, not the sum of norms)."
    ),
    "constant_projection": (
        "Your ratio is 0, NaN or inf, or it changes when x moves by a rounding error: the "
        "gradient you measure is rounding noise. Through BN in training mode the gradient of "
        "out.sum(), or of (out * P).sum() with P constant across the batch, is exactly zero "
        "(BN subtracts the batch mean: chapter 3). Draw P of out's shape, varying across the "
        "batch, from a seeded torch.Generator."
    ),
    "ratio_c": (
        "Your ratio is upside down: grad norm before / after. The gradient shrinks when W "
        "grows by c (BN(cWx) = BN(Wx)): after / before is about 1/c (closer to 1 when eps "
        "is not small next to the variances of linear(x))."
    ),
    "ratio_theory": (
        "Your grad_norm_ratio is exactly 1/c on every case: the eps-free theory, not a "
        "measurement. When BN's eps is comparable to the variances of linear(x) the ratio is "
        "far from 1/c (BN then hardly normalises): compute both gradient norms and divide."
    ),
    "global_rng": (
        "Your function draws from torch's global generator (torch.randn without "
        "generator=..., or torch.manual_seed). Draw P from your own "
        "torch.Generator().manual_seed(...): the caller's random state must not change."
    ),
}

HINTS = {
    "grads": (
        "It is wrong only on the cases whose parameters had .grad set before the call: "
        "leave every .grad exactly as it was (torch.autograd.grad does not touch them)."
    ),
    "train_bn": (
        "It is wrong only on the cases with BN in training mode: a forward there moves the "
        "running statistics; put the buffers back."
    ),
    "eval": (
        "It is wrong only on the cases where the model is in eval mode: probe in the mode "
        "the model is in (BN then uses its running statistics)."
    ),
    "zero_step": (
        "It is wrong only on the cases whose step sizes include 0: eta = 0 is theta itself."
    ),
}

_DT = {"float64": torch.float64, "float32": torch.float32}
_FLAGS = ("parameters changed", ".grad changed", "buffers changed", "mode changed")


def _scalar(value, what: str) -> float:
    """A learner's scalar (float, 0-dim or 1-element tensor/array) as a float."""
    if isinstance(value, bool) or value is None:
        raise _Problem("bad_return", f"{what} must be a number; got {value!r}")
    try:
        if torch.is_tensor(value):
            if value.numel() != 1:
                raise TypeError("not one number")
            return float(value.detach().cpu().double().reshape(()))
        if isinstance(value, np.ndarray):
            if value.size != 1:
                raise TypeError("not one number")
            return float(value.reshape(()))
        return float(value)
    except Exception as e:  # noqa: BLE001 - whatever the learner returned
        raise _Problem(
            "bad_return", f"{what} must be one number; got a {type(value).__name__}"
        ) from e


# ----------------------------------------------------------------------------------------
# model state: what "exactly as before" means
# ----------------------------------------------------------------------------------------
def _state(*modules: nn.Module) -> dict:
    ps = [p for m in modules for p in m.parameters()]
    return {
        "params": [p.detach().clone() for p in ps],
        "grads": [None if p.grad is None else p.grad.detach().clone() for p in ps],
        "buffers": [b.detach().clone() for m in modules for b in m.buffers()],
        "modes": [s.training for m in modules for s in m.modules()],
    }


def _eq(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))


def _all_eq(xs, ys) -> bool:
    return len(xs) == len(ys) and all(_eq(a, b) for a, b in zip(xs, ys, strict=True))


def _changes(before: dict, *modules: nn.Module) -> tuple[float, ...]:
    after = _state(*modules)
    return (
        float(not _all_eq(before["params"], after["params"])),
        float(not _all_eq(before["grads"], after["grads"])),
        float(not _all_eq(before["buffers"], after["buffers"])),
        float(before["modes"] != after["modes"]),
    )


# ----------------------------------------------------------------------------------------
# Part A: SkipInitBlock
# ----------------------------------------------------------------------------------------
class _TwoLayer(nn.Module):
    """A residual branch of the learner's kind: a module of its own, not a Sequential."""

    def __init__(self, d: int, h: int):
        super().__init__()
        self.inner = nn.Linear(d, h)
        self.norm = bt.BatchNorm1d(h)
        self.outer = nn.Linear(h, d)

    def forward(self, x):
        return self.outer(torch.tanh(self.norm(self.inner(x))))


def _branch(spec: dict) -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fresh branch (warmed-up BN), the inputs x and x2 and the projection R."""
    g = torch.Generator().manual_seed(spec["seed"])
    torch_state = torch.get_rng_state()
    kind, d, n = spec["kind"], spec["d"], spec["n"]
    bn1 = bt.BatchNorm1d if spec.get("bn") == "bnref" else nn.BatchNorm1d
    bn2 = bt.BatchNorm2d if spec.get("bn") == "bnref" else nn.BatchNorm2d
    if kind == "mlp":
        branch = nn.Sequential(nn.Linear(d, 2 * d), bn1(2 * d), nn.ReLU(), nn.Linear(2 * d, d))
        shape = (n, d)
    elif kind == "linear":
        branch = nn.Linear(d, d)
        shape = (n, d)
    elif kind == "module":
        branch = _TwoLayer(d, d + 3)
        shape = (n, d)
    else:  # conv
        branch = nn.Sequential(nn.Conv2d(d, d, 3, padding=1), bn2(d), nn.ReLU())
        shape = (n, d, 5, 5)
    torch.set_rng_state(torch_state)  # module construction drew from the global generator
    dt = _DT[spec.get("dtype", "float64")]
    with torch.no_grad():
        for p in branch.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5)
    branch.to(dt)
    with torch.no_grad():  # running statistics away from (0, 1)
        for _ in range(2):
            branch(torch.randn(shape, generator=g, dtype=torch.float64).to(dt) * 2 + 1)
    x = torch.randn(shape, generator=g, dtype=torch.float64).to(dt) * 1.5 - 0.5
    x2 = torch.randn(shape, generator=g, dtype=torch.float64).to(dt) + 0.7
    r = torch.randn(shape, generator=g, dtype=torch.float64).to(dt)
    return branch.train(), x, x2, r


def _numel(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _ref_skipinit(case: Case, alpha0=0.0, on_skip=False, vector=False, parameter=True):
    """The outputs of a block with the given alpha placement (float64)."""
    spec, a = case.inputs["spec"], case.inputs["a"]
    branch, x, x2, r = _branch(spec)
    branch.double()
    x, x2, r = x.double(), x2.double(), r.double()

    def blk(alpha, b, z):
        return alpha * z + b(z) if on_skip else z + alpha * b(z)

    with torch.no_grad():
        out_init = blk(alpha0, branch, x)
    alpha = torch.tensor(float(a), dtype=torch.float64, requires_grad=True)
    out_a = blk(alpha, branch, x)
    (grad,) = torch.autograd.grad((out_a * r).sum(), alpha)
    eval_branch = _branch(spec)[0].double().eval()
    with torch.no_grad():
        out_eval = blk(float(a), eval_branch, x2)
    shape = (1,) if vector else ()
    grad = grad if parameter else torch.zeros(())
    count = _numel(branch) + (int(np.prod(shape)) if parameter else 0)
    return (
        torch.full(shape, float(alpha0), dtype=torch.float64),
        float(parameter),
        out_init,
        out_a.detach(),
        grad.reshape(shape),
        out_eval,
        float(count),
    )


_SKIP_OUTPUTS = (
    Output("alpha", check_dtype=False),
    Output("alpha is an nn.Parameter", check_dtype=False),
    Output("output at init"),
    Output("output with alpha = a"),
    Output("alpha.grad", check_dtype=False),
    Output("output in eval mode"),
    Output("number of parameters", check_dtype=False),
)


def _only(outputs: tuple, keep: tuple[int, ...]) -> tuple:
    return tuple(o if i in keep else None for i, o in enumerate(outputs))


_SKIP_MUTANTS = {
    "alpha_init_one": lambda c: _only(_ref_skipinit(c, alpha0=1.0), (0, 2)),
    "alpha_vector": lambda c: _only(_ref_skipinit(c, vector=True), (0, 4)),
    "alpha_on_skip": lambda c: _only(_ref_skipinit(c, on_skip=True), (2, 3, 4, 5)),
    "alpha_not_parameter": lambda c: _only(_ref_skipinit(c, parameter=False), (1, 6)),
}


def _skip_learner(cls: Callable) -> Callable:
    def make(call, branch, dt):
        block = call(cls, branch, watch=())
        if not isinstance(block, nn.Module):
            raise _Problem("bad_return", f"SkipInitBlock(branch) is a {type(block).__name__}")
        alpha = getattr(block, "alpha", None)
        if not torch.is_tensor(alpha):
            raise _Problem(
                "bad_return",
                "the block has no tensor attribute `alpha` (got "
                f"{type(alpha).__name__}): alpha must be a 0-dim nn.Parameter",
            )
        call(block.to, dt, charge=False)
        return block

    def learner(call, case):
        spec, a = case.inputs["spec"], case.inputs["a"]
        dt = _DT[spec.get("dtype", "float64")]
        branch, x, x2, r = _branch(spec)
        block = make(call, branch, dt)
        alpha = block.alpha
        alpha0 = alpha.detach().clone()
        is_param = float(isinstance(alpha, nn.Parameter))
        count = float(_numel(block))
        with torch.no_grad():
            out_init = call(block, x, watch=(0,))
            block.alpha.fill_(a)
        out_a = call(block, x, watch=(0,))
        if isinstance(out_a, nn.Module):
            raise _Problem("bad_return", "the block's forward returns a module, not a tensor: "
                           "call the branch on x, branch(x)")  # fmt: skip
        if not torch.is_tensor(out_a):
            raise _Problem("bad_return", f"the block's output is a {type(out_a).__name__}")
        grad = torch.zeros_like(block.alpha.detach())  # no gradient reaches alpha: 0
        if out_a.requires_grad and block.alpha.requires_grad:
            call(lambda: (out_a * r).sum().backward(), charge=False)
            if block.alpha.grad is not None:
                grad = block.alpha.grad.detach().clone()
        eval_branch = _branch(spec)[0]
        block2 = make(call, eval_branch, dt)
        call(block2.eval, charge=False)
        with torch.no_grad():
            block2.alpha.fill_(a)
            out_eval = call(block2, x2, watch=(0,))
        return alpha0, is_param, out_init, out_a, grad, out_eval, count

    return learner


def _skip_case(label, spec, a, **kw) -> Case:
    return Case(label, {"spec": spec, "a": a}, dtype=spec.get("dtype", "float64"), **kw)


def _skip_shape_hint(name, got, want, case) -> str:
    if name in ("alpha", "alpha.grad") and want == ():
        return "alpha must be 0-dim (a scalar tensor): torch.tensor(0.0), not torch.zeros(1)."
    return ""


def check_skipinit_block(SkipInitBlock: Callable, points: float = 2, hidden=None) -> Score:  # noqa: N803
    """SkipInitBlock: alpha a 0-dim parameter at 0, forward x + alpha * branch(x).

    Book: section 6.4, ``ch6-identity`` (De & Smith 2020). When graded, hidden cases
    (other branches, dtypes, values of alpha) score instead.
    """
    visible = [
        _skip_case(
            "branch Linear(4, 8)-BN-ReLU-Linear(8, 4) in training mode, x (16, 4), a = 0.7",
            {"seed": 600, "kind": "mlp", "d": 4, "n": 16},
            0.7,
        )
    ]
    return run_check(
        "check_skipinit_block: SkipInitBlock(branch), forward x + alpha * branch(x)",
        points,
        with_hidden(visible, "bn06_theory", "SKIPINIT", _skip_case, hidden),
        _SKIP_OUTPUTS,
        _skip_learner(SkipInitBlock),
        _ref_skipinit,
        mutants=_SKIP_MUTANTS,
        messages=MISTAKES,
        forbidden=FORBIDDEN,
        shape_hint=_skip_shape_hint,
    )


# ----------------------------------------------------------------------------------------
# Parts B and C: probes along the gradient
# ----------------------------------------------------------------------------------------
def _mse_onehot(out, y):
    return nn.functional.mse_loss(out, nn.functional.one_hot(y, out.shape[1]).to(out.dtype))


def _loss_fn(name: str):
    if name == "mse_module":
        return nn.MSELoss()
    if name == "mse_onehot":
        return _mse_onehot
    return nn.functional.cross_entropy


def _build(spec: dict):
    """A fresh model (warmed-up BN, .grad as the spec says), x, y and the loss function."""
    g = torch.Generator().manual_seed(spec["seed"])
    torch_state = torch.get_rng_state()
    dt = _DT[spec.get("dtype", "float64")]
    n, k = spec["n"], spec["classes"]
    bn = spec.get("bn", "nn")
    bn1 = bt.BatchNorm1d if bn == "bnref" else nn.BatchNorm1d
    bn2 = bt.BatchNorm2d if bn == "bnref" else nn.BatchNorm2d
    act = nn.Tanh if spec.get("act") == "tanh" else nn.ReLU
    layers: list[nn.Module] = []
    if spec.get("conv"):
        c = spec["channels"]
        layers += [nn.Conv2d(1, c, 3, padding=1)]
        layers += [bn2(c)] if bn else []
        layers += [act(), nn.Flatten(), nn.Linear(c * 16, k)]
        in_shape = (n, 1, 4, 4)
    else:
        widths = [spec["d"], *spec["hidden"], k]
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers += ([bn1(b)] if bn else []) + [act()]
        in_shape = (n, spec["d"])
    model = nn.Sequential(*layers)
    torch.set_rng_state(torch_state)  # module construction drew from the global generator
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim > 1:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) / fan_in**0.5)
            else:
                p.copy_(torch.rand(p.shape, generator=g, dtype=torch.float64) - 0.5)
        if bn:
            for m in model.modules():
                if hasattr(m, "running_mean") and getattr(m, "weight", None) is not None:
                    m.weight.uniform_(0.5, 1.5, generator=g)
    model.to(dt)
    with torch.no_grad():  # running statistics away from the batch's statistics
        for _ in range(3):
            model.train()(torch.randn(in_shape, generator=g, dtype=torch.float64).to(dt) * 2 + 1)
    x = (torch.randn(in_shape, generator=g, dtype=torch.float64) * 1.5 + 0.3).to(dt)
    y = torch.randint(0, k, (n,), generator=g)
    loss_name = spec.get("loss", "cross_entropy")
    if loss_name == "mse_module":
        y = nn.functional.one_hot(y, k).to(dt)
    grads = spec.get("grads", "none")
    if grads != "none":
        ps = list(model.parameters())
        for i, p in enumerate(ps):
            if grads == "all" or i % 2 == 0:
                p.grad = (torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5).to(dt)
    model.train(spec.get("mode", "train") == "train")
    return model, x, y, _loss_fn(loss_name)


def _build64(spec: dict, mode: str | None = None):
    model, x, y, loss_fn = _build(spec)
    old = [None if p.grad is None else p.grad.double() for p in model.parameters()]
    model.double()
    for p, o in zip(model.parameters(), old, strict=True):
        p.grad = o
    if mode is not None:
        model.train(mode == "train")
    return model, x.double(), (y.double() if y.is_floating_point() else y), loss_fn


def _grad_at(model, params: dict, loss_fn, x, y) -> dict:
    loss = loss_fn(functional_call(model, params, (x,)), y)
    gs = torch.autograd.grad(loss, list(params.values()))
    return dict(zip(params, gs, strict=True))


def _direction(model, base, loss_fn, x, y, accumulated: bool):
    g = _grad_at(model, base, loss_fn, x, y)
    if accumulated:  # loss.backward() added the gradient to the .grad already there
        named = dict(model.named_parameters())
        g = {k: v + (0 if named[k].grad is None else named[k].grad) for k, v in g.items()}
    return g


def _probe_losses(case: Case, sign=-1.0, mode=None, accumulated=False) -> torch.Tensor:
    """The losses at theta + sign * eta * direction, float64."""
    model, x, y, loss_fn = _build64(case.inputs["spec"], mode)
    base = {k: p.detach().clone().requires_grad_() for k, p in model.named_parameters()}
    g = _direction(model, base, loss_fn, x, y, accumulated)
    out = []
    with torch.no_grad():
        for eta in case.inputs["step_sizes"]:
            moved = {k: base[k] + sign * float(eta) * g[k] for k in base}
            out.append(loss_fn(functional_call(model, moved, (x,)), y))
    return torch.stack(out)  # (len(step_sizes),)


def _probe_changes(case: Case, sign=-1.0, mode=None, per_tensor=False) -> torch.Tensor:
    """||g(theta) - g(theta + sign * eta * g(theta))|| for each eta, float64."""
    model, x, y, loss_fn = _build64(case.inputs["spec"], mode)
    base = {k: p.detach().clone().requires_grad_() for k, p in model.named_parameters()}
    g0 = _grad_at(model, base, loss_fn, x, y)
    out = []
    for eta in case.inputs["step_sizes"]:
        moved = {k: (base[k] + sign * float(eta) * g0[k]).requires_grad_() for k in base}
        g1 = _grad_at(model, moved, loss_fn, x, y)
        diffs = [(g0[k] - g1[k]).reshape(-1) for k in base]
        if per_tensor:
            out.append(sum(d.norm() for d in diffs))
        else:
            out.append(torch.cat(diffs).norm())
    return torch.stack(out)  # (len(step_sizes),)


def _flags_of(case: Case, kind: str) -> float:
    spec = case.inputs["spec"]
    train = spec.get("mode", "train") == "train"
    if kind == "buffers":
        return float(train and bool(spec.get("bn", "nn")))
    if kind == "mode_eval":
        return float(train)
    if kind == "mode_train":
        return float(not train)
    return 1.0


def _probe_mutants(values: Callable) -> dict:
    return {
        "ascent": lambda c: (values(c, sign=1.0), None, None, None, None),
        "params_not_restored": lambda c: (None, 1.0, None, None, None),
        "grad_changed": lambda c: (None, None, 1.0, None, None),
        "running_stats_changed": lambda c: (None, None, None, _flags_of(c, "buffers"), None),
        "left_in_train": lambda c: (
            values(c, mode="train"),
            None,
            None,
            None,
            _flags_of(c, "mode_train"),
        ),
        "left_in_eval": lambda c: (
            values(c, mode="eval"),
            None,
            None,
            None,
            _flags_of(c, "mode_eval"),
        ),
    }


_LOSS_MUTANTS = {
    **_probe_mutants(_probe_losses),
    "grad_accumulated": lambda c: (_probe_losses(c, accumulated=True), None, None, None, None),
}
_CHANGE_MUTANTS = {
    **_probe_mutants(_probe_changes),
    "per_tensor": lambda c: (_probe_changes(c, per_tensor=True), None, None, None, None),
}


def _probe_learner(fn: Callable, what: str) -> Callable:
    def learner(call, case):
        model, x, y, loss_fn = _build(case.inputs["spec"])
        before = _state(model)
        steps = case.inputs["step_sizes"]
        steps = tuple(steps) if case.inputs.get("as_tuple") else list(steps)
        res = call(fn, model, loss_fn, x, y, steps, watch=(2, 3, 4))
        if isinstance(res, tuple | list) and not all(
            isinstance(v, int | float) or (torch.is_tensor(v) and v.numel() == 1) for v in res
        ):
            raise _Problem("bad_return", f"{what} must return a Tensor of shape (len(step_sizes),)")
        if isinstance(res, tuple | list):
            res = [_scalar(v, what) for v in res]
        return (res, *_changes(before, model))

    return learner


def _tags(spec: dict) -> frozenset:
    tags = set()
    if spec.get("grads", "none") != "none":
        tags.add("grads")
    if spec.get("mode", "train") == "train" and spec.get("bn", "nn"):
        tags.add("train_bn")
    if spec.get("mode", "train") == "eval":
        tags.add("eval")
    return frozenset(tags)


def _probe_case(label, spec, step_sizes, as_tuple=False, **kw) -> Case:
    dt = spec.get("dtype", "float64")
    tags = _tags(spec) | ({"zero_step"} if 0 in step_sizes else set())
    return Case(
        label,
        {"spec": spec, "step_sizes": list(step_sizes), "as_tuple": as_tuple},
        dtype=None,  # a float32 result for a float64 model is fine (rounding only)
        rtol=1e-6 if dt == "float64" else 2e-4,
        tags=frozenset(tags),
        **kw,
    )


def _probe_outputs(name: str) -> tuple:
    return (Output(name), *(Output(f) for f in _FLAGS))


_PROBE_VISIBLE = {
    "seed": 610, "d": 6, "hidden": [10, 10], "classes": 3, "n": 32, "bn": "nn",
    "grads": "all",
}  # fmt: skip


def _probe_check(fn: Callable, name: str, points, hidden, seed: int, kind: str, output: str,
                 values: Callable, mutants: dict) -> Score:  # fmt: skip
    visible = [
        _probe_case(
            "MLP 6-10-10-3 with BN, training mode, .grad set, cross-entropy, N=32",
            {**_PROBE_VISIBLE, "seed": seed},
            [0.0, 0.1, 0.5, 1.0],
        )
    ]
    return run_check(
        f"check_{name}: {name}(model, loss_fn, x, y, step_sizes)",
        points,
        with_hidden(visible, "bn06_theory", kind, _probe_case, hidden),
        _probe_outputs(output),
        _probe_learner(fn, name),
        lambda case: (values(case), 0.0, 0.0, 0.0, 0.0),
        mutants=mutants,
        messages=MISTAKES,
        forbidden=FORBIDDEN,
        hints=HINTS,
    )


def check_loss_along_gradient(
    loss_along_gradient: Callable, points: float = 3, hidden: bool | None = None
) -> Score:
    """The losses along the negative gradient, and the model exactly as before.

    Book: section 6.2, ``ch6-smoothness-measures`` (Santurkar et al. 2018, Fig. 4a).
    """
    return _probe_check(loss_along_gradient, "loss_along_gradient", points, hidden, 610,
                        "LOSS", "losses", _probe_losses, _LOSS_MUTANTS)  # fmt: skip


def check_gradient_predictiveness(
    gradient_predictiveness: Callable, points: float = 3, hidden: bool | None = None
) -> Score:
    """The l2 change of the gradient along the negative gradient, model exactly as before.

    Book: section 6.2, ``ch6-smoothness-measures`` (Santurkar et al. 2018, Fig. 4b).
    """
    return _probe_check(gradient_predictiveness, "gradient_predictiveness", points, hidden,
                        611, "PREDICTIVENESS", "gradient change", _probe_changes,
                        _CHANGE_MUTANTS)  # fmt: skip


# ----------------------------------------------------------------------------------------
# Part D: weight_scale_effect
# ----------------------------------------------------------------------------------------
def _scale_inputs(spec: dict):
    """linear (weights giving batch variances in [0.2, 1]), bn in training mode, x."""
    g = torch.Generator().manual_seed(spec["seed"])
    torch_state = torch.get_rng_state()
    din, dout, n = spec["d_in"], spec["d_out"], spec["n"]
    linear = nn.Linear(din, dout)
    bn_cls = bt.BatchNorm1d if spec.get("bn") == "bnref" else nn.BatchNorm1d
    bn = bn_cls(dout, eps=spec["eps"])
    torch.set_rng_state(torch_state)
    x = torch.randn(n, din, generator=g, dtype=torch.float64) * 1.5 + 0.5
    with torch.no_grad():
        w = torch.randn(dout, din, generator=g, dtype=torch.float64)
        v = (x @ w.T).var(0, unbiased=False)  # (dout,)
        var_lo, var_hi = spec.get("var", (0.2, 1.0))  # batch variances of linear(x)
        target = torch.linspace(var_lo, var_hi, dout, dtype=torch.float64)
        target = target[torch.randperm(dout, generator=g)]
        linear.weight.copy_(w * (target / v).sqrt()[:, None])
        linear.bias.uniform_(-1, 1, generator=g)
        bn.weight.uniform_(0.5, 1.5, generator=g)
        bn.bias.uniform_(-0.5, 0.5, generator=g)
        bn.running_mean.uniform_(-1, 1, generator=g)
        bn.running_var.uniform_(0.5, 2, generator=g)
    dt = _DT[spec.get("dtype", "float64")]
    if spec.get("grads"):
        grad = torch.randn(dout, din, generator=g, dtype=torch.float64).float()
        # in the weight's dtype: a learner's torch.set_default_dtype changes the module's
        linear.weight.grad = grad.to(linear.weight.dtype)
    linear.to(dt)
    bn.to(dt).train()
    return linear, bn, x.to(dt)


def _bn_train(bn: nn.Module, z: torch.Tensor) -> torch.Tensor:
    w = None if bn.weight is None else bn.weight.detach().double()
    b = None if bn.bias is None else bn.bias.detach().double()
    return nn.functional.batch_norm(z, None, None, w, b, True, 0.0, bn.eps)


def _scale_outputs(spec: dict, c: float, proj: torch.Tensor | None = None):
    """(out(1), out(c), grad W at 1, grad W at c) in float64 for the projection ``proj``."""
    linear, bn, x = _scale_inputs(spec)
    w0, b, x = linear.weight.detach().double(), linear.bias.detach().double(), x.double()
    outs, grads = [], []
    for s in (1.0, c):
        w = (w0 * s).requires_grad_()
        out = _bn_train(bn, nn.functional.linear(x, w, b))
        if proj is not None:
            (gw,) = torch.autograd.grad((out * proj).sum(), w)
            grads.append(gw)
        outs.append(out.detach())
    return outs, grads


def _scale_ratio(case: Case) -> float:
    spec, c = case.inputs["spec"], case.inputs["c"]
    proj = torch.randn(spec["n"], spec["d_out"], generator=torch.Generator().manual_seed(7),
                       dtype=torch.float64)  # fmt: skip
    _, (g1, gc) = _scale_outputs(spec, c, proj)
    return float(gc.norm() / g1.norm())


def _exact_band(linear: nn.Module, bn: nn.Module, x: torch.Tensor, c: float):
    """The range of ``c * grad_norm_ratio`` over EVERY projection ``P`` (see ratio_band)."""
    with torch.no_grad():
        xc = x.double() - x.double().mean(0)
        cov = xc.T @ xc / x.shape[0]  # (in, in), biased like BN's batch variance
        w = linear.weight.double()  # (out, in)
        v = ((w @ cov) * w).sum(1)  # (out,): the batch variances of linear(x)
        eps, eye = float(bn.eps), torch.eye(w.shape[1], dtype=torch.float64)
        gamma = torch.ones(len(v)) if bn.weight is None else bn.weight.detach()
        svals = []
        for j in range(len(v)):
            if float(gamma[j]) == 0.0:  # that row has no gradient at either scale
                continue
            radial = torch.outer(cov @ w[j], w[j])  # (in, in)
            m1 = eye - radial / (v[j] + eps)
            mc = eye - c * c * radial / (c * c * v[j] + eps)
            d = torch.sqrt((v[j] + eps) / (c * c * v[j] + eps)) * mc @ torch.linalg.inv(m1)
            svals.append(torch.linalg.svdvals(d))
        sv = torch.cat(svals)
    return c * float(sv.min()), c * float(sv.max())


def ratio_band(linear: nn.Module, bn: nn.Module, x: torch.Tensor, c: float) -> tuple[float, float]:
    """Where ``c * grad_norm_ratio`` lies for a projection ``P`` that varies across the batch.

    Row ``j`` of the weight gradient, with ``v_j`` the batch variance of feature ``j`` of
    ``linear(x)``, ``Sigma`` the batch covariance of ``x`` and ``s = sqrt(v_j + eps)``,
    ``s' = sqrt(c^2 v_j + eps)``, is ``(gamma_j / s) (I - Sigma w_j w_j^T / (v_j + eps)) a_j``
    at scale 1 and ``(gamma_j / s') (I - c^2 Sigma w_j w_j^T / (c^2 v_j + eps)) a_j`` at
    scale ``c``, for the same vector ``a_j = sum_n P_nj (x_n - mean x)``. So the scaled
    gradient is a fixed linear map ``D_j`` of the unscaled one, and ``c * ratio`` lies,
    for EVERY ``P``, between ``c`` times the smallest and the largest singular value of the
    ``D_j``. ``D_j`` multiplies by ``s / s'`` across ``w_j`` and by ``(s / s')^3`` along
    ``Sigma w_j``; the second direction carries only an eps-sized share of the unscaled
    gradient unless ``P`` is built to align with it, so for a random ``P`` the tighter
    estimate ``f_j = c s / s'`` with a margin ``|k_j^2 - 1|``, ``k_j^2 = c^2 (v_j + eps) /
    (c^2 v_j + eps)``, holds as well. The band is where both agree.

    When the variances are much larger than ``eps`` this is 1 up to about ``4 eps / min_j
    v_j``: the ratio is ``1/c``. When they are not (``eps`` comparable to or larger than the
    variances) it is not: BN then hardly normalises, and the ratio moves towards 1. Public:
    the notebook uses it to say how close to ``1/c`` the ratio must be.
    """
    with torch.no_grad():
        z = nn.functional.linear(x.double(), linear.weight.double(), linear.bias.double())
        v = z.var(0, unbiased=False)  # (d_out,)
        eps = float(bn.eps)
        f = c * torch.sqrt((v + eps) / (c * c * v + eps))
        kappa = (eps * (c * c - 1) / (c * c * v + eps)).abs()
    lo, hi = _exact_band(linear, bn, x, c)
    return max(lo, float((f * (1 - kappa)).min())), min(hi, float((f * (1 + kappa)).max()))


_SCALE_FLAGS = (*_FLAGS, "global RNG changed")


def _scale_call(call, fn, spec: dict, c: float, x_scale: float = 1.0) -> tuple:
    """``(max_output_change, grad_norm_ratio, *flags)`` of one call on fresh inputs."""
    linear, bn, x = _scale_inputs(spec)
    x = x * x_scale
    before = _state(linear, bn)
    kernel = torch.get_rng_state()  # the notebook's own state, given back afterwards
    # a state no learner's seeding reproduces, so any use of the global generator shows
    torch.manual_seed(918_273_645 + spec["seed"])
    rng = torch.get_rng_state()
    try:
        res = call(fn, linear, bn, x, c, watch=(2,))
        moved = float(not torch.equal(rng, torch.get_rng_state()))
    finally:
        torch.set_rng_state(kernel)
    change, ratio = call.unpack(res, ("max_output_change", "grad_norm_ratio"), fn)
    return change, ratio, *_changes(before, linear, bn), moved


def _scale_output_learner(fn: Callable) -> Callable:
    def learner(call, case):
        change, _, *flags = _scale_call(call, fn, case.inputs["spec"], case.inputs["c"])
        return (_scalar(change, "max_output_change"), *flags)

    return learner


def _ref_scale_output(case: Case) -> tuple:
    (o1, oc), _ = _scale_outputs(case.inputs["spec"], case.inputs["c"])
    return (float((oc - o1).abs().max()), 0.0, 0.0, 0.0, 0.0, 0.0)


def _flag_mutant(index: int, first: int = 1) -> Callable:
    """A mistake that sets flag ``index`` (of :data:`_SCALE_FLAGS`) and nothing else."""
    return lambda case: (*(None,) * first, *(1.0 if i == index else None for i in range(5)))


_SCALE_FLAG_MUTANTS = {
    "params_not_restored": 0,
    "grad_changed": 1,
    "running_stats_changed": 2,
    "global_rng": 4,
}
_SCALE_OUTPUT_MUTANTS = {k: _flag_mutant(i) for k, i in _SCALE_FLAG_MUTANTS.items()}


def _scale_case(label, spec, c, **kw) -> Case:
    dt = spec.get("dtype", "float64")
    # rounding only: the change itself does not depend on P
    atol = 1e-9 if dt == "float64" else 2e-5
    return Case(label, {"spec": spec, "c": float(c)}, dtype=None, rtol=0.0, atol=atol, **kw)


def check_weight_scale_output(
    weight_scale_effect: Callable, points: float = 1, hidden: bool | None = None
) -> Score:
    """max_output_change is BN's eps-sized change; linear, bn and the global RNG unchanged.

    Book: section 6.1, ``ch6-scale-invariance``.
    """
    visible = [
        _scale_case(
            "Linear(6, 8), nn.BatchNorm1d(8) (eps 1e-5), x (64, 6), c = 3",
            {"seed": 620, "d_in": 6, "d_out": 8, "n": 64, "eps": 1e-5},
            3.0,
        )
    ]
    return run_check(
        "check_weight_scale_output: weight_scale_effect(linear, bn, x, c)[0] and nothing changed",
        points,
        with_hidden(visible, "bn06_theory", "SCALE", _scale_case, hidden),
        (Output("max_output_change"), *(Output(f) for f in _SCALE_FLAGS)),
        _scale_output_learner(weight_scale_effect),
        _ref_scale_output,
        mutants=_SCALE_OUTPUT_MUTANTS,
        messages=MISTAKES,
        forbidden=FORBIDDEN,
    )


#: relative perturbation of x that changes only rounding errors, by dtype
_WIGGLE = {"float64": 1e-10, "float32": 1e-5}


def _scale_ratio_learner(fn: Callable) -> Callable:
    def learner(call, case):
        spec, c = case.inputs["spec"], case.inputs["c"]
        ratios, flags = [], None
        for k in range(3):
            x_scale = 1.0 + k * _WIGGLE[spec.get("dtype", "float64")]
            _, ratio, *now = _scale_call(call, fn, spec, c, x_scale)
            ratios.append(_scalar(ratio, "grad_norm_ratio"))
            flags = flags or now
        r = np.array(ratios)
        noise = float(
            not np.isfinite(r).all()
            or (r == 0).any()
            or float(np.ptp(r)) > 1e-3 * float(np.abs(r).max())
        )
        return c * ratios[0], noise, *flags

    return learner


def _scale_ratio_case(label, spec, c, **kw) -> Case:
    """``c * grad_norm_ratio`` must lie in :func:`ratio_band` (plus rounding), whatever P.

    The reference is the band's middle and the tolerance its half-width; the upside-down
    ratio (``ratio_c``) lies in the band's image under ``y -> c^2 / y``, which the same
    tolerance must cover around its own middle, so it is the larger of the two half-widths.
    Hidden cases have an eps comparable to the variances, where the band is far from 1: a
    ratio of exactly 1/c (pasted theory) is then wrong.
    """
    linear, bn, x = _scale_inputs(spec)
    c = float(c)
    lo, hi = ratio_band(linear, bn, x, c)
    rounding = (1e-9 if spec.get("dtype", "float64") == "float64" else 2e-5) * max(1.0, c * c)
    half = max(hi - lo, c * c / lo - c * c / hi) / 2 + rounding
    assert half < 0.4, "the flags (0 or 1) share this tolerance"
    inputs = {
        "spec": spec,
        "c": c,
        "middle": (lo + hi) / 2,
        "upside_down": c * c * (1 / lo + 1 / hi) / 2,
    }
    return Case(label, inputs, dtype=None, rtol=0.0, atol=half, **kw)


#: a layer whose batch variances (about 3e-3) are below BN's eps (0.1): ratio far from 1/c
_RATIO_EPS_VISIBLE = {
    "seed": 621,
    "d_in": 5,
    "d_out": 6,
    "n": 48,
    "eps": 0.1,
    "var": (2.5e-3, 3.5e-3),
}


def check_weight_scale_gradient(
    weight_scale_effect: Callable, points: float = 2, hidden: bool | None = None
) -> Score:
    """grad_norm_ratio is about 1/c (or what BN's eps makes of it), and no rounding noise.

    Book: section 6.1, ``ch6-scale-invariance``. ``c * grad_norm_ratio`` must lie in
    :func:`ratio_band` plus rounding, which holds for every projection P that varies
    across the batch; the hidden cases have an eps comparable to the variances of
    ``linear(x)``, where that band is far from 1.
    """
    visible = [
        _scale_ratio_case(
            "Linear(6, 8), nn.BatchNorm1d(8) (eps 1e-5), x (64, 6), c = 3",
            {"seed": 620, "d_in": 6, "d_out": 8, "n": 64, "eps": 1e-5},
            3.0,
        ),
        _scale_ratio_case(
            "Linear(5, 6), nn.BatchNorm1d(6) with eps 0.1 above the variances of linear(x) "
            "(about 3e-3), x (48, 5), c = 2",
            _RATIO_EPS_VISIBLE,
            2.0,
        ),
    ]
    return run_check(
        "check_weight_scale_gradient: weight_scale_effect(linear, bn, x, c)[1], the gradient ratio",
        points,
        with_hidden(visible, "bn06_theory", "SCALE_RATIO", _scale_ratio_case, hidden),
        (
            Output("c * grad_norm_ratio"),
            Output("ratio is rounding noise"),
            *(Output(f) for f in _SCALE_FLAGS),
        ),
        _scale_ratio_learner(weight_scale_effect),
        lambda case: (case.inputs["middle"], 0.0, *(0.0,) * 5),
        mutants={
            "constant_projection": lambda case: (None, 1.0, *(None,) * 5),
            "ratio_c": lambda case: (case.inputs["upside_down"], *(None,) * 6),
            "ratio_theory": lambda case: (1.0, *(None,) * 6),
            **{k: _flag_mutant(i, first=2) for k, i in _SCALE_FLAG_MUTANTS.items()},
        },
        messages=MISTAKES,
        forbidden=FORBIDDEN,
    )


assert set(MESSAGES).isdisjoint(MISTAKES), "an assignment key shadows a shared message"
