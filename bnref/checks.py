"""Checks for the exercises: compare a learner's batch norm with bnref and say what is wrong.

Book: chapter 3 (``book/03_mechanics.md``), sections ``bn-transform``, ``bn-backward``
and ``bn-conv``; exercise ``exercises/bn03_mechanics``.

Every ``check_*`` function

* builds its inputs from a local seeded generator (the learner's own use of the
  global random state changes nothing),
* refuses a learner function that calls bnref's reference implementation (score 0),
* prints one line per output in the style of makemore's ``cmp``: exact, approximate,
  maxdiff, and the tolerance the output has to meet,
* when an output is wrong, runs deliberately wrong "mutant" implementations of the
  usual mistakes on the same inputs and names the one the learner's output matches
  ("your variance divides by N-1"),
* returns a :class:`Score`, a float in ``[0, points]`` that nbgrader reads as
  partial credit; it also remembers the mistakes found (``score.mistakes``),
* under nbgrader's Validate (``NBGRADER_EXECUTION=validate``) and only there, also
  writes a failing check's report to stderr, which is what the Validate dialog shows.

Scoring: a function that raises (a stub raises ``NotImplementedError``), returns the
wrong kind of thing, or calls bnref earns 0 for the case. Otherwise every output
of every case carries an equal share of the points: a third of the share for the
right shape, the rest for the right values (and dtype).

Tolerances are ``rtol * max(1, max|reference|)`` with ``rtol`` 1e-7 for float64,
1e-4 for float32 and 2e-2 for float32 input with a large mean (its last digits are
rounding noise). The reference is always computed in float64.
"""

from __future__ import annotations

import os
import sys
import traceback
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import bnref
import bnref.numpy as ref

__all__ = [
    "MISTAKES",
    "Score",
    "check_backward",
    "check_backward_edge_cases",
    "check_forward",
    "check_forward_edge_cases",
    "check_spatial_backward",
    "check_spatial_edge_cases",
    "check_spatial_forward",
    "cmp",
]

# One message per mistake. Keys are stable (tests and ``Score.mistakes`` use them).
MISTAKES: dict[str, str] = {
    # forward, (N, D)
    "unbiased_variance": (
        "Your variance divides by N-1 (unbiased, ddof=1). The batch is normalized with the "
        "biased variance, which divides by N: x.var(axis=0). The unbiased one only feeds "
        "running_var."
    ),
    "eps_outside_sqrt": (
        "eps is outside the square root: you divide by sqrt(var) + eps. "
        "Put it inside: sqrt(var + eps)."
    ),
    "eps_missing": (
        "eps is missing: you divide by sqrt(var). Add it inside the square root, "
        "sqrt(var + eps), so that a feature with almost no spread does not blow up."
    ),
    "eps_ignored": (
        "You ignore the eps argument (your result matches eps=1e-5 whatever eps is passed): "
        "use the eps your function receives."
    ),
    "no_sqrt": (
        "You divide by var + eps instead of its square root: the standard deviation is "
        "sqrt(var + eps)."
    ),
    "stats_per_example": (
        "Your statistics are taken over axis 1, within each example (that is layer norm). "
        "Batch norm takes one mean and one variance per feature, over the batch: axis=0, "
        "shape (D,)."
    ),
    "stats_over_everything": (
        "Your mean and variance are single numbers over the whole array. Batch norm needs "
        "one per feature: reduce over axis=0 only, shape (D,)."
    ),
    "gamma_beta_missing": (
        "gamma and beta are not applied: you return x_hat. The output is gamma * x_hat + beta."
    ),
    "gamma_missing": "gamma is not applied: you compute x_hat + beta, not gamma * x_hat + beta.",
    "beta_missing": "beta is not applied: you compute gamma * x_hat, not gamma * x_hat + beta.",
    "gamma_beta_swapped": (
        "gamma and beta are swapped: you compute beta * x_hat + gamma. gamma scales and beta "
        "shifts: out = gamma * x_hat + beta."
    ),
    # spatial forward, (N, C, H, W)
    "spatial_reshape_without_transpose": (
        "You reshaped (N, C, H, W) straight to (-1, C): each row then mixes values of "
        "different channels. Move C last first, x.transpose(0, 2, 3, 1).reshape(-1, C), "
        "and undo both steps in reverse order afterwards."
    ),
    "spatial_stats_over_batch_only": (
        "Your statistics are taken over N only, one per (c, h, w) position. Spatial batch "
        "norm shares one mean and one variance per channel, over N, H and W."
    ),
    "spatial_stats_per_example": (
        "Your statistics are taken over H and W within each example (that is instance "
        "norm). Spatial batch norm averages each channel over N, H and W."
    ),
    "spatial_stats_over_channels": (
        "Your statistics are taken over the channel axis (axis 1). Spatial batch norm "
        "averages each channel over N, H and W: axes (0, 2, 3)."
    ),
    # backward
    "stats_constant": (
        "Your dx treats the batch mean and variance as constants (dx = dout * gamma / std). "
        "Both are computed from every x in the batch, so each x also moves the output "
        "through them: two more terms, one through the mean, one through the variance."
    ),
    "var_constant": (
        "Your dx follows the path through the mean but treats the variance as a constant: "
        "the variance depends on x too, which adds a term proportional to x_hat."
    ),
    "mean_constant": (
        "Your dx follows the path through the variance but treats the mean as a constant: "
        "the mean depends on x too, which subtracts the batch mean of the upstream gradient."
    ),
    "dx_missing_gamma": (
        "Your dx misses the factor gamma: out = gamma * x_hat + beta, so dout reaches "
        "x_hat multiplied by gamma."
    ),
    "params_not_summed": (
        "dgamma and dbeta must be summed over the batch: one entry per feature, shape (D,) "
        "(shape (C,) for the spatial version). Yours are not summed."
    ),
    "params_keepdims": (
        "dgamma and dbeta must have gamma's shape, (D,) or (C,): yours keep the reduced "
        "axes (keepdims). Sum without keepdims."
    ),
    "params_wrong_axis": (
        "dgamma and dbeta are summed over the wrong axis: sum over the batch (axis 0, and "
        "H and W for the spatial version), keeping one entry per feature."
    ),
    "params_averaged": (
        "dgamma and dbeta are averaged over the batch instead of summed: every example "
        "adds its own contribution, so sum them."
    ),
    "dgamma_dbeta_swapped": (
        "dgamma and dbeta are swapped: dbeta = sum(dout), dgamma = sum(dout * x_hat)."
    ),
    "dgamma_uses_x": "dgamma uses x instead of x_hat: dgamma = sum(dout * x_hat) over the batch.",
    # any output
    "wrong_output_shape": "Your output has the wrong shape: it must have the shape of the input.",
    "wrong_dtype": (
        "Your output does not keep the input's dtype: float32 in must give float32 out "
        "(avoid float64 helper arrays such as np.zeros(shape) without dtype=x.dtype)."
    ),
    "calls_bnref": (
        "You called bnref's reference implementation; implement it yourself. This part scores 0."
    ),
    "not_implemented": "Not implemented yet: the function raises NotImplementedError.",
    "raises": "Your function raised an exception (shown below).",
    "bad_return": "Your function does not return what the docstring promises.",
    "modifies_input": (
        "Your function changes its input arrays in place (for example x -= mu). Work on new "
        "arrays: x - mu makes a copy; the caller still needs x."
    ),
    "forward_wrong": (
        "Your forward pass does not match the reference on this input either, and the "
        "backward works from its cache: fix the forward pass first."
    ),
    "large_mean_precision": (
        "Wrong only for input with a large mean: if you compute var = mean(x**2) - mean(x)**2, "
        "the two terms are huge and nearly equal, and their difference loses every digit "
        "(in float32 especially). Use var = mean((x - mu)**2)."
    ),
    "unknown": (
        "The values differ from the reference and from every common mistake this check "
        "knows. Compare your code with the formulas, line by line, on a tiny batch."
    ),
}

_RTOL = {np.dtype(np.float64): 1e-7, np.dtype(np.float32): 1e-4}
_RTOL_LARGE_MEAN = 2e-2
_SHAPE_SHARE = 1 / 3
_CORRECT = "_correct"  # the mutant without a mistake
_BNREF_DIR = os.path.dirname(os.path.abspath(bnref.__file__)) + os.sep
_THIS_FILE = __file__  # the checks themselves (cmp) may be used while debugging


class Score(float):
    """A check's score: a float in ``[0, points]`` that also keeps what the check found.

    Attributes
    ----------
    points : float
        The most this check gives.
    mistakes : tuple of str
        Keys of :data:`MISTAKES` diagnosed, in the order found, without repeats.
    report : str
        Everything the check printed.
    """

    points: float
    mistakes: tuple[str, ...]
    report: str

    def __new__(cls, value: float, points: float, mistakes=(), report: str = ""):
        self = super().__new__(cls, value)
        self.points = float(points)
        self.mistakes = tuple(dict.fromkeys(mistakes))
        self.report = report
        return self


# ----------------------------------------------------------------------------------------
# makemore-style comparison
# ----------------------------------------------------------------------------------------
def _tolerance(want: np.ndarray, rtol: float) -> float:
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    return rtol * max(1.0, scale)


def _maxdiff(got: np.ndarray, want: np.ndarray) -> float:
    if got.size == 0:
        return 0.0
    with np.errstate(all="ignore"):
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    return float(np.nan) if np.isnan(diff).any() else float(diff.max())


def cmp(name: str, got, want, tol: float | None = None) -> bool:
    """Print how close ``got`` is to ``want``: exact / approximate / maxdiff / tolerance.

    The learner can use it too, for example against a numerical gradient.
    Book: chapter 3, section ``bn-gradcheck``.

    Parameters
    ----------
    name : str
        What is compared (printed first).
    got, want : array_like, same shape
        The value to check and the value it should have.
    tol : float, optional
        Largest allowed ``max|got - want|``; by default ``1e-7 * max(1, max|want|)``
        (``1e-4`` relative for float32).

    Returns
    -------
    bool
        Whether ``got`` is within ``tol`` of ``want`` (False on a shape mismatch).
    """
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        print(f"{name:<8} shape {got.shape} but expected {want.shape}")
        return False
    if tol is None:
        tol = _tolerance(want, _RTOL.get(got.dtype, 1e-7))
    line, ok = _cmp_line(name, got, want, tol)
    print(line)
    return ok


def _cmp_line(name: str, got: np.ndarray, want: np.ndarray, tol: float) -> tuple[str, bool]:
    maxdiff = _maxdiff(got, want)
    exact = bool(np.array_equal(got, want))
    ok = maxdiff <= tol  # False for NaN
    line = (
        f"  {name:<7} {str(got.shape):<14} exact: {exact!s:<5} | approximate: {ok!s:<5} | "
        f"maxdiff: {maxdiff:.1e} | tolerance: {tol:.1e}"
    )
    return line, ok


# ----------------------------------------------------------------------------------------
# calling the learner's code
# ----------------------------------------------------------------------------------------
class _Abort(Exception):
    """The learner's function cannot be scored on this case (the key says why)."""

    def __init__(self, key: str, detail: str = ""):
        super().__init__(key)
        self.key, self.detail = key, detail


def _is_bnref(obj) -> bool:
    """Whether ``obj`` is bnref or part of it (a module, function or class), the checks aside."""
    if isinstance(obj, types.ModuleType):
        name = obj.__name__
    else:
        name = getattr(obj, "__module__", None)
        if not isinstance(name, str):
            return False
    return (name == "bnref" or name.startswith("bnref.")) and name != __name__


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _bnref_uses(fn) -> list[str]:
    """Names of bnref objects that ``fn`` (or a function of the learner it uses) refers to."""
    home = getattr(fn, "__module__", None)
    found: list[str] = []
    seen: set[int] = set()

    def visit(obj, name: str) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if _is_bnref(obj):
            found.append(name)
            return
        func = getattr(obj, "__func__", obj)
        code = getattr(func, "__code__", None)
        if code is None or getattr(func, "__module__", None) != home:
            return
        glb = getattr(func, "__globals__", {})
        for ref_name in sorted(_code_names(code)):
            if ref_name in glb:
                visit(glb[ref_name], ref_name)
        for cell in getattr(func, "__closure__", None) or ():
            try:
                visit(cell.cell_contents, "a closure variable")
            except ValueError:  # empty cell
                pass
        for default in (func.__defaults__ or ()) + tuple((func.__kwdefaults__ or {}).values()):
            visit(default, "a default argument")

    visit(fn, getattr(fn, "__name__", "your function"))
    return found


def _call(fn: Callable, *args, notes: list[str] | None = None):
    """Call the learner's ``fn`` on copies of ``args``, watching for bnref and in-place edits."""
    uses = _bnref_uses(fn)
    if uses:
        raise _Abort("calls_bnref", f"your code refers to {', '.join(sorted(set(uses)))}")
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    hits: list[str] = []

    def profile(frame, event, arg):
        filename = frame.f_code.co_filename
        if event == "call" and filename.startswith(_BNREF_DIR) and filename != _THIS_FILE:
            hits.append(frame.f_code.co_name)

    old = sys.getprofile()
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            sys.setprofile(profile)
            try:
                result = fn(*copies)
            finally:
                sys.setprofile(old)
    except NotImplementedError as e:
        raise _Abort("not_implemented") from e
    except Exception as e:  # the learner's bug, reported, never raised into the notebook
        if hits:
            raise _Abort("calls_bnref", f"it called bnref's {hits[0]}") from e
        raise _Abort("raises", _describe_exception(e)) from e
    if hits:
        raise _Abort("calls_bnref", f"it called bnref's {hits[0]}")
    if notes is not None:
        for a, c in zip(args, copies, strict=True):
            if isinstance(a, np.ndarray) and not np.array_equal(a, c, equal_nan=True):
                notes.append("modifies_input")
    return result


def _describe_exception(e: Exception) -> str:
    text = "".join(traceback.format_exception_only(type(e), e)).strip()
    frames = [
        f
        for f in traceback.extract_tb(e.__traceback__)
        if not f.filename.startswith(_BNREF_DIR) and os.sep + "numpy" + os.sep not in f.filename
    ]
    if frames and frames[-1].line:
        text += f"\n     in your line: {frames[-1].line.strip()}"
    if "broadcast" in text:
        text += (
            "\n     Hint: check the axis of your mean and variance; axis=0 gives one value "
            "per feature, shape (D,), which broadcasts against (N, D)."
        )
    return text


def _as_array(value, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception as e:
        raise _Abort("bad_return", f"{what} is not an array") from e
    if arr.dtype.kind not in "fiu":
        raise _Abort("bad_return", f"{what} is not a numeric array (dtype {arr.dtype})")
    return arr


def _unpack(result, names: tuple[str, ...], fn_name: str) -> tuple:
    if not isinstance(result, tuple | list) or len(result) != len(names):
        raise _Abort("bad_return", f"{fn_name} must return a tuple ({', '.join(names)})")
    return tuple(result)


# ----------------------------------------------------------------------------------------
# test inputs
# ----------------------------------------------------------------------------------------
@dataclass
class _Case:
    label: str
    x: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    eps: float = 1e-5
    dout: np.ndarray | None = None
    rtol: float = 1e-7
    large_mean: bool = False
    notes: list[str] = field(default_factory=list)


def _generator(rng, seed: int) -> np.random.Generator:
    """The check's own generator: ``rng`` itself, a generator seeded with it, or ``seed``."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(seed if rng is None else rng)


def _case(label, shape, rng, *, dtype=np.float64, eps=1e-5, loc=None, scale=None, tiny=None):
    """Inputs drawn from ``rng``: x with per-feature location and spread, gamma, beta, dout."""
    C = shape[1]
    loc = rng.uniform(-3, 3, C) if loc is None else np.broadcast_to(loc, C).astype(float)
    scale = rng.uniform(0.5, 3.0, C) if scale is None else np.broadcast_to(scale, C).astype(float)
    if tiny is not None:  # a feature with almost no spread: where eps matters
        scale = scale.copy()
        scale[tiny] = 2e-3
    bshape = (1, C) + (1,) * (len(shape) - 2)
    x = loc.reshape(bshape) + scale.reshape(bshape) * rng.standard_normal(shape)
    gamma = rng.uniform(0.5, 2.0, C)
    beta = rng.uniform(-2.0, 2.0, C)
    dout = rng.standard_normal(shape)
    large_mean = bool(np.abs(loc).max() > 100)
    rtol = _RTOL_LARGE_MEAN if large_mean and dtype == np.float32 else _RTOL[np.dtype(dtype)]
    return _Case(
        label,
        x.astype(dtype),
        gamma.astype(dtype),
        beta.astype(dtype),
        eps,
        dout.astype(dtype),
        rtol,
        large_mean,
    )


def _visible_2d(rng: np.random.Generator) -> _Case:
    return _case("x (40, 5) float64, feature 3 almost constant", (40, 5), rng, tiny=3)


def _edge_2d(rng: np.random.Generator) -> list[_Case]:
    return [
        _case("N=2: x (2, 4)", (2, 4), rng),
        _case("D=1: x (7, 1)", (7, 1), rng),
        _case("x (3, 17), eps=1e-2", (3, 17), rng, eps=1e-2, scale=0.1),
        _case("large mean: 1e4 + randn, (16, 3) float64", (16, 3), rng, loc=1e4, scale=1.0),
        _case("float32: x (20, 6)", (20, 6), rng, dtype=np.float32),
        _case(
            "large mean in float32: 1e4 + randn, (16, 3)",
            (16, 3),
            rng,
            dtype=np.float32,
            loc=1e4,
            scale=1.0,
        ),
    ]


def _visible_4d(rng: np.random.Generator) -> _Case:
    return _case("x (4, 3, 5, 6) float64", (4, 3, 5, 6), rng)


def _edge_4d(rng: np.random.Generator) -> list[_Case]:
    return [
        _case("C=1, N=2: x (2, 1, 4, 3)", (2, 1, 4, 3), rng),
        _case("H=W=1: x (5, 3, 1, 1)", (5, 3, 1, 1), rng),
        _case("x (2, 6, 3, 2), eps=1e-2", (2, 6, 3, 2), rng, eps=1e-2, scale=0.1),
        _case(
            "large mean in float32: 1e4 + randn, (3, 4, 2, 5)",
            (3, 4, 2, 5),
            rng,
            dtype=np.float32,
            loc=1e4,
            scale=1.0,
        ),
    ]


# ----------------------------------------------------------------------------------------
# the reference, and the mutants (the common mistakes), all in float64
# ----------------------------------------------------------------------------------------
def _f64(case: _Case):
    x, g, b = (np.asarray(a, np.float64) for a in (case.x, case.gamma, case.beta))
    return x, g, b, np.asarray(case.dout, np.float64)


def _rows(a: np.ndarray) -> np.ndarray:
    N, C, H, W = a.shape
    return a.transpose(0, 2, 3, 1).reshape(N * H * W, C)  # (N*H*W, C)


def _unrows(a: np.ndarray, shape) -> np.ndarray:
    N, C, H, W = shape
    return a.reshape(N, H, W, C).transpose(0, 3, 1, 2)  # (N, C, H, W)


def _normalize(x, gamma, beta, mu, var, eps, *, sqrt=True, eps_inside=True):
    std = np.sqrt(var + eps) if eps_inside else np.sqrt(var) + eps
    if not sqrt:
        std = var + eps
    return gamma * ((x - mu) / std) + beta


def _forward_mutants_2d() -> dict[str, Callable]:
    """(x (N, D), gamma, beta, eps) -> out for each common forward mistake.

    The ``_CORRECT`` entry is this module's own correct computation: a mistake is only
    named where its output differs from it (and from bnref's).
    """

    def stats(x, axis=0, ddof=0):
        return x.mean(axis=axis, keepdims=True), x.var(axis=axis, ddof=ddof, keepdims=True)

    def unbiased(x, g, b, eps):
        return _normalize(x, g, b, *stats(x, ddof=1), eps)

    def x_hat(x, eps=1e-5):
        mu, var = stats(x)
        return (x - mu) / np.sqrt(var + eps)

    return {
        _CORRECT: lambda x, g, b, eps: _normalize(x, g, b, *stats(x), eps),
        "unbiased_variance": unbiased,
        "eps_outside_sqrt": lambda x, g, b, eps: _normalize(
            x, g, b, *stats(x), eps, eps_inside=False
        ),
        "eps_missing": lambda x, g, b, eps: _normalize(x, g, b, *stats(x), 0.0),
        "eps_ignored": lambda x, g, b, eps: _normalize(x, g, b, *stats(x), 1e-5),
        "no_sqrt": lambda x, g, b, eps: _normalize(x, g, b, *stats(x), eps, sqrt=False),
        "stats_per_example": lambda x, g, b, eps: _normalize(x, g, b, *stats(x, axis=1), eps),
        "stats_over_everything": lambda x, g, b, eps: _normalize(
            x, g, b, *stats(x, axis=None), eps
        ),
        "gamma_beta_missing": lambda x, g, b, eps: x_hat(x, eps),
        "gamma_missing": lambda x, g, b, eps: x_hat(x, eps) + b,
        "beta_missing": lambda x, g, b, eps: g * x_hat(x, eps),
        "gamma_beta_swapped": lambda x, g, b, eps: b * x_hat(x, eps) + g,
    }


def _forward_mutants_4d() -> dict[str, Callable]:
    """(x (N, C, H, W), gamma, beta, eps) -> out: the 2-D mistakes, plus spatial ones."""

    def spatial(m2d):
        return lambda x, g, b, eps: _unrows(m2d(_rows(x), g, b, eps), x.shape)

    mutants = {key: spatial(m) for key, m in _forward_mutants_2d().items()}
    p = (slice(None), None, None)  # gamma[p]: (C, 1, 1)

    def over(axes):
        def m(x, g, b, eps):
            mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
            return _normalize(x, g[p], b[p], mu, var, eps)

        return m

    def no_transpose(x, g, b, eps):
        rows = x.reshape(-1, x.shape[1])  # (N*H*W, C), but each row mixes channels
        mu, var = rows.mean(axis=0), rows.var(axis=0)
        return _normalize(rows, g, b, mu, var, eps).reshape(x.shape)

    mutants["spatial_reshape_without_transpose"] = no_transpose
    mutants["spatial_stats_over_batch_only"] = over(0)
    mutants["spatial_stats_per_example"] = over((2, 3))
    mutants["spatial_stats_over_channels"] = over(1)
    return mutants


def _backward_mutants_2d() -> dict[str, Callable]:
    """(x, gamma, beta, eps, dout), all (N, D) or (D,) -> (dx, dgamma, dbeta), one mistake each."""

    def parts(x, g, eps, dout):
        mu, var = x.mean(axis=0), x.var(axis=0)
        std = np.sqrt(var + eps)
        x_hat = (x - mu) / std
        dbeta, dgamma = dout.sum(axis=0), (dout * x_hat).sum(axis=0)
        dxh = dout * g
        dx = (dxh - dxh.mean(axis=0) - x_hat * (dxh * x_hat).mean(axis=0)) / std
        return x_hat, std, dxh, dx, dgamma, dbeta

    def mutant(which):
        def m(x, g, b, eps, dout):
            x_hat, std, dxh, dx, dgamma, dbeta = parts(x, g, eps, dout)
            if which == "stats_constant":
                dx = dxh / std
            elif which == "var_constant":
                dx = (dxh - dxh.mean(axis=0)) / std
            elif which == "mean_constant":
                dx = (dxh - x_hat * (dxh * x_hat).mean(axis=0)) / std
            elif which == "dx_missing_gamma":
                dx = (dout - dout.mean(axis=0) - x_hat * (dout * x_hat).mean(axis=0)) / std
            elif which == "params_averaged":
                dgamma, dbeta = dgamma / len(x), dbeta / len(x)
            elif which == "dgamma_dbeta_swapped":
                dgamma, dbeta = dbeta, dgamma
            elif which == "dgamma_uses_x":
                dgamma = (dout * x).sum(axis=0)
            return dx, dgamma, dbeta

        return m

    keys = (
        _CORRECT,
        "stats_constant",
        "var_constant",
        "mean_constant",
        "dx_missing_gamma",
        "params_averaged",
        "dgamma_dbeta_swapped",
        "dgamma_uses_x",
    )
    return {k: mutant(k) for k in keys}


def _backward_mutants_4d() -> dict[str, Callable]:
    def spatial(m2d):
        def m(x, g, b, eps, dout):
            dx, dgamma, dbeta = m2d(_rows(x), g, b, eps, _rows(dout))
            return _unrows(dx, x.shape), dgamma, dbeta

        return m

    return {key: spatial(m) for key, m in _backward_mutants_2d().items()}


def _on_case(kind: str, mutants: dict[str, Callable]) -> dict[str, Callable]:
    """The mutants as ``case -> tuple of outputs`` on the case's inputs in float64."""

    def wrap(m):
        def run(case: _Case):
            x, g, b, dout = _f64(case)
            if kind == "forward":
                return (m(x, g, b, case.eps),)
            return tuple(m(x, g, b, case.eps, dout))

        return run

    return {key: wrap(m) for key, m in mutants.items()}


def _reference_forward(case: _Case) -> np.ndarray:
    x, g, b, _ = _f64(case)
    if x.ndim == 2:
        return ref.batchnorm_forward(x, g, b, case.eps)[0]
    return ref.spatial_batchnorm_forward(x, g, b, case.eps)[0]


def _reference_backward(case: _Case) -> tuple[np.ndarray, ...]:
    x, g, b, dout = _f64(case)
    if x.ndim == 2:
        return ref.batchnorm_backward(dout, ref.batchnorm_forward(x, g, b, case.eps)[1])
    return ref.spatial_batchnorm_backward(dout, ref.spatial_batchnorm_forward(x, g, b, case.eps)[1])


# ----------------------------------------------------------------------------------------
# shapes
# ----------------------------------------------------------------------------------------
def _shape_problem(name: str, got: tuple, want: tuple, x_shape: tuple) -> tuple[str, str]:
    """(mistake key, detail) for an output of the wrong shape."""
    detail = f"{name} has shape {got}, expected {want}."
    if name in ("dgamma", "dbeta"):
        N = x_shape[0]
        C = x_shape[1]
        rest = x_shape[2:]
        if got in (x_shape, (N, C), (N * int(np.prod(rest, dtype=int)), C), (C, *rest)):
            return "params_not_summed", detail
        if got == tuple(C if i == 1 else 1 for i in range(len(x_shape))):
            return "params_keepdims", detail
        return "params_wrong_axis", detail
    if len(x_shape) == 4:
        N, C, H, W = x_shape
        if got == (N, H, W, C):
            detail += " That is (N, H, W, C): move the channels back with .transpose(0, 3, 1, 2)."
        elif got == (N * H * W, C):
            detail += " That is (N*H*W, C): reshape to (N, H, W, C), then transpose(0, 3, 1, 2)."
    elif got == want[::-1]:
        detail += " It is transposed."
    return "wrong_output_shape", detail


# ----------------------------------------------------------------------------------------
# one check = cases x outputs
# ----------------------------------------------------------------------------------------
@dataclass
class _Printer:
    lines: list[str] = field(default_factory=list)
    mistakes: list[str] = field(default_factory=list)

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)

    def mistake(self, key: str, detail: str = "", indent: str = "  -> ") -> None:
        """Print a mistake's message (in full the first time, by name after that)."""
        if key in self.mistakes:
            self(f"{indent}{key.replace('_', ' ')} again (see above)")
        else:
            self(f"{indent}{MISTAKES[key]}")
        self.mistakes.append(key)
        if detail:
            self(f"     {detail}")


def _grade_outputs(pr: _Printer, case: _Case, names, got, want, mutants) -> float:
    """Compare each output, diagnose the wrong ones; the fraction of this case earned."""
    share = 1.0 / len(names)
    earned = 0.0
    mutant_outputs = None
    for i, (name, g, w) in enumerate(zip(names, got, want, strict=True)):
        g = _as_array(g, name)
        tol = _tolerance(w, case.rtol)
        if g.shape != w.shape:
            key, detail = _shape_problem(name, g.shape, w.shape, case.x.shape)
            pr(f"  {name:<7} shape {g.shape}, expected {w.shape}")
            pr.mistake(key, detail)
            continue
        line, ok = _cmp_line(name, g, w, tol)
        pr(line)
        earned += share * _SHAPE_SHARE
        if ok and g.dtype != case.x.dtype:
            pr.mistake("wrong_dtype", f"{name} is {g.dtype} for {case.x.dtype} input.")
            continue
        if ok:
            earned += share * (1 - _SHAPE_SHARE)
            continue
        if mutant_outputs is None:
            mutant_outputs = {key: _try(m, case) for key, m in mutants.items()}
        found = _diagnose(name, i, g, w, tol, mutant_outputs)
        if found:
            key, diff = found
            pr.mistake(
                key,
                f"(maxdiff {_maxdiff(g, w):.1e} from the reference, over tolerance {tol:.1e}; "
                f"your {name} matches this mistake to {diff:.1e}.)",
            )
        elif "forward_wrong" in case.notes:
            pr.mistake("forward_wrong")
        elif case.large_mean:
            pr.mistake("large_mean_precision")
        else:
            pr.mistake("unknown", f"(maxdiff {_maxdiff(g, w):.1e}, tolerance {tol:.1e})")
    return earned


def _try(mutant: Callable, case: _Case):
    """A mutant's outputs on the case, or None where that mistake cannot even run."""
    try:
        with np.errstate(all="ignore"):
            return mutant(case)
    except (ValueError, IndexError, ZeroDivisionError):
        return None


def _diagnose(name, i, got, want, tol, mutant_outputs):
    """The mistake whose output ``got`` matches (and a correct result does not), or None."""
    correct = mutant_outputs.get(_CORRECT)
    best = None
    for key, outs in mutant_outputs.items():
        if key == _CORRECT or outs is None or np.shape(outs[i]) != want.shape:
            continue
        if not _maxdiff(outs[i], want) > tol:  # this mistake changes nothing here
            continue
        if correct is not None and not _maxdiff(outs[i], correct[i]) > tol:
            continue
        diff = _maxdiff(got, outs[i])
        if diff <= tol and (best is None or diff < best[1]):
            best = (key, diff)
    return best


def _run(title, points, cases, names, learner, reference, mutants) -> Score:
    pr = _Printer()
    pr(title)
    total = 0.0
    for case in cases:
        pr(f"case: {case.label}")
        try:
            got = learner(case)
        except _Abort as e:
            pr.mistake(e.key, e.detail)
            if e.key in ("calls_bnref", "not_implemented"):
                total = 0.0
                break
            continue
        want = reference(case)
        total += _grade_outputs(pr, case, names, got, want, mutants)
        for key in dict.fromkeys(case.notes):
            if key not in pr.mistakes:
                pr.mistake(key, indent="  note: ")
    score = round(points * total / len(cases), 2)
    score = min(max(score, 0.0), float(points))
    verdict = "all outputs match" if score == points else "see the messages above"
    pr(f"score: {score:g} / {points:g} points ({verdict})")
    report = "\n".join(pr.lines)
    if score < points and os.environ.get("NBGRADER_EXECUTION") == "validate":
        # nbgrader's Validate button shows a failing test cell's stderr; without this the
        # learner reads only "Partial credit; passed some but not all of the tests".
        # Never while autograding: any stderr output there zeroes the cell.
        print(report, file=sys.stderr, flush=True)
    return Score(score, points, pr.mistakes, report)


def _forward_learner(fn):
    def learner(case: _Case):
        res = _call(fn, case.x, case.gamma, case.beta, case.eps, notes=case.notes)
        out, _cache = _unpack(res, ("out", "cache"), getattr(fn, "__name__", "forward"))
        return (out,)

    return learner


def _backward_learner(fwd, bwd):
    def learner(case: _Case):
        res = _call(fwd, case.x, case.gamma, case.beta, case.eps)
        out, cache = _unpack(res, ("out", "cache"), getattr(fwd, "__name__", "forward"))
        res = _call(bwd, case.dout, cache, notes=case.notes)
        grads = _unpack(res, ("dx", "dgamma", "dbeta"), getattr(bwd, "__name__", "backward"))
        want = _reference_forward(case)
        out = np.asarray(out)
        if out.shape != want.shape or not _maxdiff(out, want) <= _tolerance(want, case.rtol):
            case.notes.append("forward_wrong")
        return grads

    return learner


def _check_forward(title: str, fn: Callable, points: float, cases: list[_Case]) -> Score:
    """A forward check: the learner's ``fn(x, gamma, beta, eps) -> (out, cache)``."""
    mutants = _forward_mutants_2d() if cases[0].x.ndim == 2 else _forward_mutants_4d()
    return _run(
        title,
        points,
        cases,
        ("out",),
        _forward_learner(fn),
        lambda case: (_reference_forward(case),),
        _on_case("forward", mutants),
    )


def _check_backward(title: str, fwd: Callable, bwd: Callable, points, cases) -> Score:
    """A backward check: the learner's ``bwd(dout, cache)`` on the cache of ``fwd``."""
    mutants = _backward_mutants_2d() if cases[0].x.ndim == 2 else _backward_mutants_4d()
    return _run(
        title,
        points,
        cases,
        ("dx", "dgamma", "dbeta"),
        _backward_learner(fwd, bwd),
        _reference_backward,
        _on_case("backward", mutants),
    )


# ----------------------------------------------------------------------------------------
# the checks the notebook calls
# ----------------------------------------------------------------------------------------
def check_forward(batchnorm_forward: Callable, points: float = 2, rng=None) -> Score:
    """Check the (N, D) training-mode forward pass against :func:`bnref.numpy.batchnorm_forward`.

    Book: chapter 3, section ``bn-transform``.

    Parameters
    ----------
    batchnorm_forward : callable
        ``batchnorm_forward(x, gamma, beta, eps) -> (out, cache)`` with x (N, D).
    points : float
        The most this check gives.
    rng : numpy.random.Generator or int, optional
        Where the test inputs come from: the test cell's own seeded generator, so that
        no randomness used by the learner's code can change them. Default: a fixed seed.

    Returns
    -------
    Score
        In ``[0, points]``; prints what it compared and what is wrong.
    """
    return _check_forward(
        "check_forward: batchnorm_forward(x, gamma, beta, eps) -> (out, cache)",
        batchnorm_forward,
        points,
        [_visible_2d(_generator(rng, 2024))],
    )


def check_forward_edge_cases(batchnorm_forward: Callable, points: float = 1, rng=None) -> Score:
    """Forward-pass edge cases: N=2, D=1, an eps argument, large means, float32.

    Book: chapter 3, section ``bn-transform``. Parameters and result as :func:`check_forward`.
    """
    return _check_forward(
        "check_forward_edge_cases: batchnorm_forward on unusual inputs",
        batchnorm_forward,
        points,
        _edge_2d(_generator(rng, 11)),
    )


def check_backward(
    batchnorm_forward: Callable, batchnorm_backward: Callable, points: float = 2, rng=None
) -> Score:
    """Check the (N, D) backward pass against :func:`bnref.numpy.batchnorm_backward`.

    Book: chapter 3, section ``bn-backward``. The learner's backward receives the cache
    of the learner's forward pass.

    Parameters
    ----------
    batchnorm_forward : callable
        ``batchnorm_forward(x, gamma, beta, eps) -> (out, cache)``.
    batchnorm_backward : callable
        ``batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)``.
    points : float
        The most this check gives.
    rng : numpy.random.Generator or int, optional
        Where the test inputs come from: the test cell's own seeded generator, so that
        no randomness used by the learner's code can change them. Default: a fixed seed.

    Returns
    -------
    Score
        In ``[0, points]``; prints what it compared and what is wrong.
    """
    return _check_backward(
        "check_backward: batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)",
        batchnorm_forward,
        batchnorm_backward,
        points,
        [_visible_2d(_generator(rng, 2024))],
    )


def check_backward_edge_cases(
    batchnorm_forward: Callable, batchnorm_backward: Callable, points: float = 1, rng=None
) -> Score:
    """Backward-pass edge cases: N=2, D=1, an eps argument, large means, float32.

    Book: chapter 3, section ``bn-backward``. Parameters and result as :func:`check_backward`.
    """
    return _check_backward(
        "check_backward_edge_cases: batchnorm_backward on unusual inputs",
        batchnorm_forward,
        batchnorm_backward,
        points,
        _edge_2d(_generator(rng, 11)),
    )


def check_spatial_forward(
    spatial_batchnorm_forward: Callable, points: float = 1, rng=None
) -> Score:
    """Check the (N, C, H, W) forward pass against :func:`bnref.numpy.spatial_batchnorm_forward`.

    Book: chapter 3, section ``bn-conv``. Parameters and result as :func:`check_forward`.
    """
    return _check_forward(
        "check_spatial_forward: spatial_batchnorm_forward(x, gamma, beta, eps) -> (out, cache)",
        spatial_batchnorm_forward,
        points,
        [_visible_4d(_generator(rng, 2025))],
    )


def check_spatial_backward(
    spatial_batchnorm_forward: Callable,
    spatial_batchnorm_backward: Callable,
    points: float = 1,
    rng=None,
) -> Score:
    """Check the (N, C, H, W) backward pass against bnref's spatial_batchnorm_backward.

    Book: chapter 3, section ``bn-conv``. Parameters and result as :func:`check_backward`.
    """
    return _check_backward(
        "check_spatial_backward: spatial_batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)",
        spatial_batchnorm_forward,
        spatial_batchnorm_backward,
        points,
        [_visible_4d(_generator(rng, 2025))],
    )


def check_spatial_edge_cases(
    spatial_batchnorm_forward: Callable,
    spatial_batchnorm_backward: Callable,
    points: float = 1,
    rng=None,
) -> Score:
    """Spatial edge cases, forward and backward: C=1, N=2, H=W=1, eps, large means in float32.

    Book: chapter 3, section ``bn-conv``. Half the points for the forward pass, half for
    the backward pass.
    """
    rng = _generator(rng, 21)
    fwd = _check_forward(
        "check_spatial_edge_cases (forward): spatial_batchnorm_forward on unusual inputs",
        spatial_batchnorm_forward,
        points / 2,
        _edge_4d(rng),
    )
    bwd = _check_backward(
        "check_spatial_edge_cases (backward): spatial_batchnorm_backward on unusual inputs",
        spatial_batchnorm_forward,
        spatial_batchnorm_backward,
        points / 2,
        _edge_4d(rng),
    )
    total = min(max(round(float(fwd) + float(bwd), 2), 0.0), float(points))
    print(f"total: {total:g} / {points:g} points")
    return Score(total, points, fwd.mistakes + bwd.mistakes, fwd.report + "\n" + bwd.report)
