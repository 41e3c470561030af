"""Checks for the assignment ``bn04_placement``: BN before or after the activation (PyTorch).

Book: chapter 4 (``book/04_placement.md``), sections ``bn-placement-two``,
``bn-placement-bias`` and ``bn-placement-phi``; notebook
``exercises/bn04_placement/bn_placement.ipynb``, which imports this module as
``from bncourse.checks import bn04_placement as checks``.

What it checks:

* ``make_mlp(sizes, placement, activation=nn.ReLU) -> nn.Sequential`` and
  ``make_conv_block(c_in, c_out, placement, kernel_size=3) -> nn.Sequential``: the layers
  of the returned flat ``nn.Sequential``, in order, each described by one row
  ``[kind, in, out, bias, kernel]`` (kinds: :data:`KINDS`); for the conv block also the
  (H, W) of its output on a (2, c_in, 6, 7) input, so any padding that keeps H and W is
  right; ``make_mlp`` must refuse an unknown ``placement`` with a ``ValueError`` (or a
  subclass) whose message names the allowed values, and still build a valid one (a function
  that raises for everything rejects nothing);
* ``relu_active_fraction(gamma, beta)``: ``Phi(beta / |gamma|)`` (1 where gamma = 0 and
  beta > 0, else 0 there), in gamma's dtype;
* ``redundant_biases(model)``: which parameter names it returns, as a set: one flag per
  entry of ``model.named_parameters()``, and how many returned names are not parameter
  names of the model at all.

Cases: the visible test cells show fixed cases; when the notebook is graded they score on
hidden cases of the same kind (``bncourse/checks/hidden/bn04_placement.py``). A case counts
when all its outputs are right.

Named mistakes: :data:`MISTAKES` (one mutant each, compared on every case). The issue also
named "ReLU ``inplace=True`` overwriting what BN needs for backward": it was checked and
dropped, because it does not break anything in PyTorch 2.13 (BN's backward uses its saved
input and statistics, not its output; gradients agree exactly in both placements).

Using the reference: calling anything in :data:`FORBIDDEN` scores 0 for that test.
``torch.nn`` layers (``nn.BatchNorm1d`` ...) are what the exercise asks you to use.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .core import (
    MESSAGES,
    Case,
    Output,
    Score,
    _fn_name,
    _Problem,
    _Stop,
    _timed_out,
    cmp,
    run_check,
    with_hidden,
)

__all__ = [
    "FORBIDDEN",
    "KINDS",
    "MISTAKES",
    "Score",
    "check_conv_block",
    "check_make_mlp",
    "check_make_mlp_rejects",
    "check_redundant_biases",
    "check_relu_active_fraction",
    "cmp",
    "describe",
]

#: What counts as using the reference: the course's own builders of these networks.
FORBIDDEN = (
    "bncourse.experiments",
    "bncourse.checks.bn04_placement._ref_mlp",
    "bncourse.checks.bn04_placement._ref_conv",
    "bncourse.checks.bn04_placement._ref_fraction",
    "bncourse.checks.bn04_placement._ref_biases",
)

#: Layer kinds in the rows of ``describe``.
KINDS = {
    1: "Linear",
    2: "BatchNorm1d",
    3: "BatchNorm2d",
    4: "activation",
    5: "Conv2d",
    8: "other module",
    9: "nested Sequential",
}

MISTAKES: dict[str, str] = {
    "bn2d_in_mlp": (
        "Your MLP uses BatchNorm2d. A fully connected layer's output is (N, features): "
        "use nn.BatchNorm1d(features)."
    ),
    "bn1d_in_conv": (
        "Your conv block uses BatchNorm1d. A conv layer's output is (N, C, H, W): use "
        "nn.BatchNorm2d(C), which normalizes each channel over N, H and W."
    ),
    "bn_sized_by_input": (
        "Your BN layers are sized by the layer's input. BN normalizes the output of the "
        "Linear/Conv layer it follows, so its size is that layer's out_features / "
        "out_channels."
    ),
    "bn_after_output": (
        "You put BN after the output layer too. The last Linear gives the logits: no BN "
        "(and no activation) after it."
    ),
    "bias_before_bn": (
        "A Linear/Conv layer directly followed by BN still has its bias. BN subtracts the "
        "mean, so that bias has no effect and a zero gradient: build it with bias=False."
    ),
    "bias_removed_without_bn": (
        "You removed the bias where no BN directly follows (the output layer, or the "
        "layer before the activation when BN comes after it). Only a layer directly "
        "followed by BN loses its bias."
    ),
    "bias_removed_after": (
        "With BN after the activation you removed the bias of the Linear layer before the "
        "activation. The activation sits between that layer and BN, so BN does not cancel "
        "its bias: keep it. Only a layer directly followed by BN loses its bias."
    ),
    "placement_accepted": (
        "make_mlp accepted a placement other than 'none', 'before' and 'after': raise a "
        "ValueError for it."
    ),
    "placement_not_valueerror": (
        "make_mlp raised for the unknown placement, but not a ValueError (or a subclass of "
        "it): raise ValueError(...)."
    ),
    "placement_message": (
        "The ValueError's message should name the allowed values 'none', 'before' and 'after'."
    ),
    "placement_rejects_valid": (
        "make_mlp raised a ValueError for the unknown placement, but it also fails for a "
        "valid one, make_mlp([10, 5, 2], 'before'): only an unknown placement may raise."
    ),
    "phi_swapped": (
        "You compute Phi(gamma / beta). The ReLU passes y = gamma * x_hat + beta > 0, i.e. "
        "x_hat > -beta / gamma: the fraction is Phi(beta / gamma)."
    ),
    "one_minus_phi": (
        "You compute 1 - Phi(beta / gamma), the fraction the ReLU blocks. The fraction it "
        "passes is P(x_hat > -beta/gamma) = 1 - Phi(-beta/gamma) = Phi(beta / gamma)."
    ),
    "blocked_fraction": (
        "You compute 1 - Phi(beta / |gamma|), the fraction the ReLU blocks (y <= 0). It "
        "passes y = gamma * x_hat + beta > 0, which happens on a fraction Phi(beta / |gamma|)."
    ),
    "no_abs_gamma": (
        "Right for gamma > 0, wrong for gamma < 0: dividing by a negative gamma flips the "
        "inequality, so the fraction is Phi(beta / |gamma|)."
    ),
    "nested_missed": (
        "You only look at the model's own children. The Sequentials can sit anywhere in "
        "the module tree: walk model.named_modules() and look inside every nn.Sequential."
    ),
    "no_module_path": (
        "Your names lack the module path: they are relative to the Sequential. Use the "
        "names of model.named_parameters(), e.g. 'features.0.bias', by prefixing the "
        "Sequential's own name from model.named_modules()."
    ),
}

HINTS = {
    "activation": (
        "It is wrong only on the cases with another activation (nn.Tanh, nn.GELU): create the "
        "layers with the activation you are given, activation(), not nn.ReLU()."
    ),
    "kernel": (
        "It is wrong only on the cases with another kernel_size: pass kernel_size to "
        "Conv2d and pad by kernel_size // 2 (or padding='same')."
    ),
    "gamma_zero": (
        "It is wrong only on the cases with gamma = 0: there y = beta for every input, so "
        "the fraction is 1 where beta > 0 and 0 otherwise (beta / 0 gives inf or NaN)."
    ),
    "y_zero": (
        "It is wrong only on the case with a channel where gamma = 0 and beta = 0: there "
        "y = 0 for every input, and the ReLU passes only y > 0, so the fraction is 0."
    ),
}

_PLACEMENTS = ("none", "before", "after")
_MAX_NAMES = 10_000  # more names than any model here has parameters: an endless generator
_BY_PLACEMENT = tuple(Output(f"layers[{p!r}]") for p in _PLACEMENTS)


# ----------------------------------------------------------------------------------------
# describing a network
# ----------------------------------------------------------------------------------------
def _row(m: nn.Module, activation) -> list[int]:
    if isinstance(m, nn.Linear):
        return [1, m.in_features, m.out_features, int(m.bias is not None), 0]
    if isinstance(m, nn.BatchNorm1d):
        return [2, m.num_features, m.num_features, 0, 0]
    if isinstance(m, nn.BatchNorm2d):
        return [3, m.num_features, m.num_features, 0, 0]
    if isinstance(m, nn.Conv2d):
        k = m.kernel_size[0]
        return [5, m.in_channels, m.out_channels, int(m.bias is not None), k]
    if isinstance(m, activation):
        return [4, 0, 0, 0, 0]
    if isinstance(m, nn.Sequential):
        return [9, 0, 0, 0, 0]
    return [8, 0, 0, 0, 0]


def describe(model, activation=nn.ReLU) -> np.ndarray:
    """One row ``[kind, in, out, bias, kernel]`` per layer of a flat ``nn.Sequential``.

    Kinds are :data:`KINDS`; ``bias`` is 1 when the Linear/Conv layer has one. An
    ``nn.Identity`` (a placeholder, ``BatchNorm1d(n) if bn else nn.Identity()``) computes
    nothing and gets no row. Public: use it to look at your own network. Raises
    ``TypeError`` if ``model`` is no Sequential.
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"expected an nn.Sequential, got a {type(model).__name__}")
    rows = [_row(m, activation) for m in model if not isinstance(m, nn.Identity)]
    return np.array(rows, dtype=np.int64).reshape(len(rows), 5)  # (layers, 5)


def _words(rows: np.ndarray) -> str:
    out = []
    for kind, a, b, bias, k in rows.tolist():
        if kind == 1:
            out.append(f"Linear({a}, {b}{'' if bias else ', bias=False'})")
        elif kind == 5:
            out.append(f"Conv2d({a}, {b}, k={k}{'' if bias else ', bias=False'})")
        elif kind in (2, 3):
            out.append(f"{KINDS[kind]}({a})")
        else:
            out.append(KINDS[kind])
    return ", ".join(out) if out else "(no layers)"


def _shape_hint(name, got, want, case) -> str:
    if name.startswith("layers") and len(got) == 2:
        return f"Your Sequential has {got[0]} layers; {want[0]} expected"
    return ""


# ----------------------------------------------------------------------------------------
# references and mutants (plain functions of the case inputs)
# ----------------------------------------------------------------------------------------
def _mlp_rows(sizes, placement, *, bn_kind=2, bn_in=False, bn_out=False, bias=None) -> list:
    """Rows of make_mlp, or of one of its named mistakes."""
    rows = []
    n = len(sizes) - 1
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        last = i == n - 1
        has_bn = placement != "none" and (not last or bn_out)
        follows = placement == "before" and (not last or bn_out)  # BN right after it
        keep = not follows if bias is None else bias(placement, last)
        rows.append([1, a, b, int(keep), 0])
        bn = [bn_kind, a if bn_in else b, a if bn_in else b, 0, 0]
        if last:
            if has_bn:
                rows.append(bn)
            break
        if placement == "before":
            rows += [bn, [4, 0, 0, 0, 0]]
        elif placement == "after":
            rows += [[4, 0, 0, 0, 0], bn]
        else:
            rows.append([4, 0, 0, 0, 0])
    return rows


def _rows_array(rows) -> np.ndarray:
    return np.array(rows, np.int64).reshape(-1, 5)  # (layers, 5)


def _ref_mlp(case: Case) -> tuple:
    return tuple(_rows_array(_mlp_rows(case.inputs["sizes"], p)) for p in _PLACEMENTS)


def _mlp_mutant(**kw) -> Callable:
    def m(case):
        return tuple(_rows_array(_mlp_rows(case.inputs["sizes"], p, **kw)) for p in _PLACEMENTS)

    return m


_MLP_MUTANTS = {
    "bn2d_in_mlp": _mlp_mutant(bn_kind=3),
    "bn_sized_by_input": _mlp_mutant(bn_in=True),
    "bn_after_output": _mlp_mutant(bn_out=True),
    "bias_before_bn": _mlp_mutant(bias=lambda placement, last: True),
    "bias_removed_without_bn": _mlp_mutant(bias=lambda placement, last: placement == "none"),
    # the same idea, but the output layer keeps its bias (as the notebook says it must)
    "bias_removed_after": _mlp_mutant(bias=lambda placement, last: last or placement == "none"),
}


def _conv_rows(c_in, c_out, placement, k, *, bn_kind=3, bn_in=False, bias=None) -> list:
    bn_size = c_in if bn_in else c_out
    keep = placement != "before" if bias is None else bias(placement)
    rows = [[5, c_in, c_out, int(keep), k]]
    bn = [bn_kind, bn_size, bn_size, 0, 0]
    if placement == "before":
        rows += [bn, [4, 0, 0, 0, 0]]
    elif placement == "after":
        rows += [[4, 0, 0, 0, 0], bn]
    else:
        rows.append([4, 0, 0, 0, 0])
    return rows


def _ref_conv(case: Case) -> tuple:
    i = case.inputs
    rows = [
        _rows_array(_conv_rows(i["c_in"], i["c_out"], p, i["kernel_size"])) for p in _PLACEMENTS
    ]
    return (*rows, np.array([[6, 7]] * 3))


def _conv_mutant(runs: Callable[[dict], bool], **kw) -> Callable:
    def m(case):
        i = case.inputs
        rows = [
            _rows_array(_conv_rows(i["c_in"], i["c_out"], p, i["kernel_size"], **kw))
            for p in _PLACEMENTS
        ]
        hw = [[6, 7] if runs({**i, "placement": p}) else [-1, -1] for p in _PLACEMENTS]
        return (*rows, np.array(hw))

    return m


def _no_bn(i) -> bool:
    return i["placement"] == "none"


_CONV_MUTANTS = {
    "bn1d_in_conv": _conv_mutant(_no_bn, bn_kind=2),
    "bn_sized_by_input": _conv_mutant(lambda i: _no_bn(i) or i["c_in"] == i["c_out"], bn_in=True),
    "bias_before_bn": _conv_mutant(lambda i: True, bias=lambda placement: True),
    "bias_removed_without_bn": _conv_mutant(lambda i: True, bias=lambda p: p == "none"),
}


def _phi(t: np.ndarray) -> np.ndarray:
    return torch.special.ndtr(torch.as_tensor(t, dtype=torch.float64)).numpy()


def _gb(case: Case):
    return (
        np.asarray(case.inputs["gamma"], np.float64),
        np.asarray(case.inputs["beta"], np.float64),
    )


def _ref_fraction(case: Case) -> tuple:
    g, b = _gb(case)
    with np.errstate(all="ignore"):
        phi = _phi(b / np.abs(g))
    return (np.where(g == 0, (b > 0).astype(np.float64), phi),)


def _fraction_mutant(f) -> Callable:
    def m(case):
        g, b = _gb(case)
        with np.errstate(all="ignore"):
            return (np.where(g == 0, (b > 0).astype(np.float64), f(g, b)),)

    return m


_FRACTION_MUTANTS = {
    "phi_swapped": _fraction_mutant(lambda g, b: _phi(g / b)),
    "one_minus_phi": _fraction_mutant(lambda g, b: 1 - _phi(b / g)),
    "no_abs_gamma": _fraction_mutant(lambda g, b: _phi(b / g)),
    "blocked_fraction": _fraction_mutant(lambda g, b: 1 - _phi(b / np.abs(g))),
}


def _pairs(model: nn.Module, nested: bool = True):
    """(Sequential's name, child name, child) of every Linear/Conv directly followed by BN."""
    seqs = (
        [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Sequential)]
        if nested
        else ([("", model)] if isinstance(model, nn.Sequential) else [])
    )
    for prefix, seq in seqs:
        kids = list(seq.named_children())
        for (name, a), (_, b) in zip(kids[:-1], kids[1:], strict=True):
            lin = isinstance(a, nn.Linear | nn.modules.conv._ConvNd)
            if lin and isinstance(b, nn.modules.batchnorm._BatchNorm) and a.bias is not None:
                yield prefix, name, a


def _encode(model: nn.Module, names) -> tuple:
    params = [n for n, _ in model.named_parameters()]
    chosen = set(names)
    flags = [float(n in chosen) for n in params]  # one per parameter, in order
    return (np.array(flags + [float(len(chosen - set(params)))]),)  # + names not found


def _ref_biases(case: Case) -> tuple:
    model = case.inputs["build"]()
    names = [f"{p}.{n}.bias" if p else f"{n}.bias" for p, n, _ in _pairs(model)]
    return _encode(model, names)


def _biases_mutant(nested: bool, path: bool) -> Callable:
    def m(case):
        model = case.inputs["build"]()
        names = [
            (f"{p}.{n}.bias" if p and path else f"{n}.bias") for p, n, _ in _pairs(model, nested)
        ]
        return _encode(model, names)

    return m


_BIAS_MUTANTS = {
    "nested_missed": _biases_mutant(nested=False, path=True),
    "no_module_path": _biases_mutant(nested=True, path=False),
}


# ----------------------------------------------------------------------------------------
# learner runners
# ----------------------------------------------------------------------------------------
def _sequential(model, what: str) -> None:
    if not isinstance(model, nn.Sequential):
        raise _Problem(
            "bad_return", f"{what} must return an nn.Sequential; got a {type(model).__name__}"
        )


def _show_all(got: list, want: tuple) -> None:
    for p, rows, ref in zip(_PLACEMENTS, got, want, strict=False):
        if rows.shape != ref.shape or not np.array_equal(rows, ref):
            print(f"  placement={p!r}")
            print(f"    yours:    {_words(rows)}")
            print(f"    expected: {_words(ref)}")


def _mlp_learner(fn: Callable) -> Callable:
    def learner(call, case):
        i, got = case.inputs, []
        for p in _PLACEMENTS:
            model = call(fn, list(i["sizes"]), p, i["activation"])
            _sequential(model, "make_mlp")
            got.append(describe(model, i["activation"]))
        _show_all(got, _ref_mlp(case))
        return tuple(got)

    return learner


def _conv_learner(fn: Callable) -> Callable:
    def learner(call, case):
        i, got, hw = case.inputs, [], []
        x = torch.randn(2, i["c_in"], 6, 7, generator=torch.Generator().manual_seed(0))
        for p in _PLACEMENTS:
            block = call(fn, i["c_in"], i["c_out"], p, i["kernel_size"])
            _sequential(block, "make_conv_block")
            got.append(describe(block, nn.ReLU))
            try:
                out = call(block.train(), x, charge=False)
                hw.append(list(out.shape[2:]))
            except _Stop:
                raise
            except _Problem as e:
                print(f"  placement={p!r}: your block fails on a (2, {i['c_in']}, 6, 7) input: "
                      f"{e.detail.splitlines()[0]}")  # fmt: skip
                hw.append([-1, -1])
        _show_all(got, _ref_conv(case))
        if any(len(h) != 2 for h in hw):
            raise _Problem("bad_return", "the block's output is not (N, C, H, W)")
        return (*got, np.array(hw))

    return learner


def _fraction_learner(fn: Callable) -> Callable:
    def learner(call, case):
        g = torch.tensor(case.inputs["gamma"])
        b = torch.tensor(case.inputs["beta"])
        res = call(fn, g, b)
        if not torch.is_tensor(res):
            raise _Problem(
                "bad_return",
                f"relu_active_fraction must return a torch Tensor; got a {type(res).__name__}",
            )
        return (res,)

    return learner


def _biases_learner(fn: Callable) -> Callable:
    def learner(call, case):
        model = case.inputs["build"]()
        res = call(fn, model, watch=())
        if isinstance(res, str | bytes) or not hasattr(res, "__iter__"):
            raise _Problem(
                "bad_return",
                f"redundant_biases must return a list of str; got a {type(res).__name__}",
            )

        def read(items=res):  # a generator runs the learner's code: time-limited, watched
            return list(itertools.islice(items, _MAX_NAMES + 1))

        read.__name__ = _fn_name(fn)
        try:
            res = call(read, watch=())
        finally:  # out of time: the learner's function is not called again, not this reader
            if id(read.__code__) in _timed_out:
                _timed_out.discard(id(read.__code__))
                if hasattr(fn, "__code__"):
                    _timed_out.add(id(fn.__code__))
        if len(res) > _MAX_NAMES:
            raise _Problem("bad_return", f"redundant_biases returned more than {_MAX_NAMES} names")
        bad = [r for r in res if not isinstance(r, str)]
        if bad:
            raise _Problem(
                "bad_return",
                f"redundant_biases must return names (str); got a {type(bad[0]).__name__}",
            )
        want = {f"{p}.{n}.bias" if p else f"{n}.bias" for p, n, _ in _pairs(model)}
        if set(res) != want:
            print(f"  yours:    {sorted(set(res))}")
            print(f"  expected: {sorted(want)}")
        return _encode(model, res)

    return learner


# ----------------------------------------------------------------------------------------
# cases
# ----------------------------------------------------------------------------------------
_ACTIVATIONS = {"ReLU": nn.ReLU, "Tanh": nn.Tanh, "GELU": nn.GELU}


_ID = "bn04_placement"  # hidden cases: bncourse/checks/hidden/<_ID>.py


def _hidden():
    return importlib.import_module("bncourse.checks.hidden.bn04_placement")


def _mlp_case(label, sizes, activation="ReLU", **kw) -> Case:
    tags = frozenset({"activation"} if activation != "ReLU" else set())
    inputs = {"sizes": list(sizes), "activation": _ACTIVATIONS[activation]}
    return Case(label, inputs, dtype=None, tags=tags, **kw)


def _conv_case(label, c_in, c_out, kernel_size=3, **kw) -> Case:
    inputs = {"c_in": c_in, "c_out": c_out, "kernel_size": kernel_size}
    tags = frozenset({"kernel"} if kernel_size != 3 else set())
    return Case(label, inputs, dtype=None, tags=tags, **kw)


def _fraction_case(label, n, seed, dtype="float64", zeros=0, **kw) -> Case:
    rng = np.random.default_rng(seed)
    gamma = rng.uniform(0.2, 2.0, n) * rng.choice([-1.0, 1.0], n)
    beta = rng.normal(0.0, 1.5, n)
    if zeros:
        gamma[:zeros] = 0.0
        beta[:zeros] = np.resize([1.0, -0.5, 0.0], zeros)
    inputs = {"gamma": gamma.astype(dtype), "beta": beta.astype(dtype)}
    # beta cycles 1, -0.5, 0 over the channels with gamma = 0: three or more include y = 0
    tags = frozenset(({"gamma_zero"} if zeros else set()) | ({"y_zero"} if zeros >= 3 else set()))
    return Case(label, inputs, dtype=dtype, atol=1e-6, tags=tags, **kw)


def _biases_case(label, build, **kw) -> Case:
    return Case(label, {"build": build}, dtype=None, **kw)


class _Net(nn.Module):
    """The visible model of check_redundant_biases: two Sequentials inside a Module."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
            nn.BatchNorm2d(8),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4))


# ----------------------------------------------------------------------------------------
# the checks the notebook calls
# ----------------------------------------------------------------------------------------
def check_make_mlp(make_mlp: Callable, points: float = 3, hidden: bool | None = None) -> Score:
    """The layers ``make_mlp`` builds for each placement (visible: sizes [784, 256, 256, 10]).

    Book: chapter 4, section ``bn-placement-two``. When graded (``hidden``, default: while
    the notebook is being graded), hidden cases with other sizes and activations score.
    """
    visible = [_mlp_case("sizes [784, 256, 256, 10], every placement", [784, 256, 256, 10])]
    return run_check(
        "check_make_mlp: make_mlp(sizes, placement, activation) -> nn.Sequential",
        points,
        with_hidden(visible, _ID, "MLP", _mlp_case, hidden),
        _BY_PLACEMENT,
        _mlp_learner(make_mlp),
        _ref_mlp,
        mutants=_MLP_MUTANTS,
        messages=MISTAKES,
        forbidden=FORBIDDEN,
        hints=HINTS,
        shape_hint=_shape_hint,
    )


def _rejects_learner(fn: Callable) -> Callable:
    def learner(call, case):
        placement = case.inputs["placement"]
        try:
            call(fn, [10, 5, 2], placement)
        except _Stop:
            raise
        except _Problem as e:
            raised = e.__cause__  # the learner's exception (None: not an exception at all)
            if not isinstance(raised, ValueError):
                raise _Problem("placement_not_valueerror", e.detail) from None
            message = str(raised)
            if not all(repr(p) in message or p in message for p in _PLACEMENTS):
                raise _Problem("placement_message", f"your message: {message!r}") from None
        else:
            raise _Problem("placement_accepted", f"make_mlp([10, 5, 2], {placement!r}) returned")
        try:  # rejecting everything is not rejecting the unknown placement
            call(fn, [10, 5, 2], "before")
        except _Stop:
            raise
        except _Problem as e:
            raise _Problem("placement_rejects_valid", e.detail) from None
        return (np.array(1.0),)

    return learner


def check_make_mlp_rejects(make_mlp: Callable, points: float = 1, hidden: bool | None = None):
    """An unknown ``placement`` raises a ``ValueError`` naming 'none', 'before', 'after'."""
    visible = [Case("placement='sideways'", {"placement": "sideways"}, dtype=None)]
    return run_check(
        "check_make_mlp_rejects: make_mlp([10, 5, 2], <unknown placement>) raises ValueError",
        points,
        with_hidden(
            visible,
            _ID,
            "REJECT",
            lambda label, placement, **kw: Case(label, {"placement": placement}, dtype=None, **kw),
            hidden,
        ),  # fmt: skip
        (Output("raises"),),
        _rejects_learner(make_mlp),
        lambda case: (np.array(1.0),),
        messages=MISTAKES,
        forbidden=FORBIDDEN,
    )


def check_conv_block(make_conv_block: Callable, points: float = 2, hidden: bool | None = None):
    """The layers of ``make_conv_block`` and the (H, W) of its output (visible: 3 -> 16).

    Book: chapter 4, sections ``bn-placement-two`` and ``bn-placement-bias``.
    """
    visible = [_conv_case("c_in=3, c_out=16, every placement", 3, 16)]
    return run_check(
        "check_conv_block: make_conv_block(c_in, c_out, placement, kernel_size) -> nn.Sequential",
        points,
        with_hidden(visible, _ID, "CONV", _conv_case, hidden),
        (*_BY_PLACEMENT, Output("HW")),
        _conv_learner(make_conv_block),
        _ref_conv,
        mutants=_CONV_MUTANTS,
        messages=MISTAKES,
        forbidden=FORBIDDEN,
        hints=HINTS,
        shape_hint=_shape_hint,
    )


def check_relu_active_fraction(
    relu_active_fraction: Callable, points: float = 2, hidden: bool | None = None
) -> Score:
    """``Phi(beta / |gamma|)`` per channel, in gamma's dtype (visible: 8 channels, float64).

    Book: chapter 4, section ``bn-placement-phi``.
    """
    visible = [_fraction_case("8 channels, float64, one gamma = 0", 8, 404, zeros=1)]
    return run_check(
        "check_relu_active_fraction: relu_active_fraction(gamma, beta) -> Tensor",
        points,
        with_hidden(visible, _ID, "FRACTION", _fraction_case, hidden),
        (Output("fraction"),),
        _fraction_learner(relu_active_fraction),
        _ref_fraction,
        mutants=_FRACTION_MUTANTS,
        messages=MISTAKES,
        forbidden=FORBIDDEN,
        hints=HINTS,
    )


def check_redundant_biases(
    redundant_biases: Callable, points: float = 2, hidden: bool | None = None
) -> Score:
    """The bias names ``redundant_biases`` returns, as a set (visible: a small conv net).

    Book: chapter 4, section ``bn-placement-bias``.
    """
    visible = [_biases_case("a Module holding two Sequentials (features, head)", _Net)]
    return run_check(
        "check_redundant_biases: redundant_biases(model) -> list of parameter names",
        points,
        with_hidden(
            visible,
            _ID,
            "BIASES",
            lambda label, build, **kw: _biases_case(label, getattr(_hidden(), build), **kw),
            hidden,
        ),  # fmt: skip
        (Output("names"),),
        _biases_learner(redundant_biases),
        _ref_biases,
        mutants=_BIAS_MUTANTS,
        messages=MISTAKES,
        forbidden=FORBIDDEN,
    )


assert set(MESSAGES).isdisjoint(MISTAKES), "an assignment key shadows a shared message"
