"""Checks for the assignment ``bn03_mechanics``: batch norm's forward and backward by hand.

Book: chapter 3 (``book/03_mechanics.md``), sections ``bn-transform``, ``bn-backward`` and
``bn-conv``; notebook ``exercises/bn03_mechanics/batchnorm_mechanics.ipynb``, which imports
this module as ``from bncourse.checks import bn03_mechanics as checks``.

What it checks: ``batchnorm_forward(x, gamma, beta, eps) -> (out, cache)`` for x (N, D),
``batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)`` on the learner's own cache, and
the spatial pair for x (N, C, H, W). The ``cache`` is the learner's business: only ``out``,
``dx``, ``dgamma`` and ``dbeta`` are compared, with bnref's reference computed in float64.

Cases: the visible test cells show one case; when the notebook is graded they score on
hidden cases of the same kind (``bncourse/checks/hidden/bn03_mechanics.py``), and the
hidden edge-case cells add N=2, D=1, another eps, large means and float32. A case counts
when all its outputs are right.

Named mistakes: :data:`MISTAKES` (one mutant each, compared on every case).
Using the reference: calling anything in :data:`FORBIDDEN` scores 0 for that test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import bnref.numpy as ref

from .core import (
    MESSAGES,
    Case,
    Output,
    Score,
    cmp,
    hidden_specs,
    run_check,
    tolerance,
    with_hidden,
)

__all__ = [
    "FORBIDDEN",
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

#: What counts as using the reference in this assignment: these functions (dotted
#: ``module.qualname`` as defined, and as learners spell them), or anything under these
#: prefixes. Importing them, naming them in comments or strings, and the course's public
#: helpers (``cmp``) never count; only calling them does.
FORBIDDEN = (
    "bnref.numpy",
    "bnref.torch",
    "torch.nn.functional.batch_norm",
    "torch.batch_norm",
    "torch.native_batch_norm",
    "torch.nn.modules.batchnorm",
    "torch.nn.BatchNorm1d",
    "torch.nn.BatchNorm2d",
)

# One message per mistake. Keys are stable (tests, corpus and Score.mistakes use them).
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
    "eps_as_floor": (
        "You use eps as a floor, sqrt(max(var, eps)): batch norm adds it, sqrt(var + eps), "
        "which changes every feature a little, not only those with a variance below eps."
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
    "spatial_missing_inverse_transpose": (
        "Your rows (N*H*W, C) are right, but you reshape them straight back to (N, C, H, W): "
        "the values land on the wrong channels. Undo both steps in reverse order: "
        "reshape to (N, H, W, C), then transpose(0, 3, 1, 2)."
    ),
    "spatial_channels_last": (
        "Your output is (N, H, W, C): you reshaped the rows back but did not move the "
        "channels back. Finish with .transpose(0, 3, 1, 2)."
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
    "spatial_backward_reshape_without_transpose": (
        "Your spatial backward reshapes dout straight to (-1, C) (and dx straight back): "
        "each row then mixes channels, so it does not line up with the forward pass's "
        "rows. Rearrange dout exactly as the forward pass rearranged x: "
        "dout.transpose(0, 2, 3, 1).reshape(-1, C), and undo it for dx."
    ),
    "spatial_backward_missing_inverse_transpose": (
        "Your spatial backward rearranges dout correctly but reshapes dx straight back to "
        "(N, C, H, W): undo both steps in reverse order, reshape to (N, H, W, C), then "
        "transpose(0, 3, 1, 2)."
    ),
    # notes (facts about the run, not diagnoses)
    "forward_wrong": (
        "Your forward pass does not match the reference on these inputs either, and the "
        "backward works from its cache: fix the forward pass first."
    ),
}

#: Said when an output is wrong on exactly the cases with that tag.
HINTS = {
    "large_mean_float32": (
        "It is wrong only on the float32 cases whose input has a large mean (1e4 + noise). "
        "If you compute var = mean(x**2) - mean(x)**2, the two terms are huge and nearly "
        "equal and float32 keeps about 7 digits, so their difference is mostly rounding: "
        "use var = mean((x - mu)**2)."
    ),
    "float32": (
        "It is wrong only on the float32 cases: look for a step that loses precision or "
        "changes the dtype."
    ),
    "large_mean": (
        "It is wrong only on the cases whose input has a large mean (1e4 + noise). If you "
        "compute var = mean(x**2) - mean(x)**2, the two terms are huge and nearly equal "
        "and their difference loses its digits (in float32 especially): use "
        "var = mean((x - mu)**2)."
    ),
}

# float32 input with mean 1e4: x's spacing there is ~1e-3, so a float32 mean, and x_hat with
# it, is off by ~1e-3 relative. Measured (40 seeds x 4 shapes; the solution, Python loops,
# sequential sums): out and dx within 7e-4 of float64, dgamma (a sum of N such errors, next
# to a reference that can be near 0) within 7e-3. The named mistakes start at 1.1e-2 (N-1
# variance with N*H*W = 30) and 1.9e-2 (the dx mutants): 3e-3 keeps both sides 4x away.
_RTOL_LARGE_MEAN = {"out": 3e-3, "dx": 3e-3, "dgamma": 2e-2, "dbeta": 3e-3}
_OUT = (Output("out"),)
_GRADS = (Output("dx"), Output("dgamma"), Output("dbeta"))


# ----------------------------------------------------------------------------------------
# cases
# ----------------------------------------------------------------------------------------
@dataclass
class _Case(Case):
    """A case whose outputs may each have their own relative tolerance (``output_rtol``)."""

    output_rtol: dict[str, float] = field(default_factory=dict)

    def tol(self, want: np.ndarray, output: Output) -> float:
        rtol = self.output_rtol.get(output.name)
        if rtol is None:
            return super().tol(want, output)
        return tolerance(want, rtol, max(self.atol, output.atol))


def _generator(rng, seed: int) -> np.random.Generator:
    """The check's own generator: ``rng`` itself, a generator seeded with it, or ``seed``."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(seed if rng is None else rng)


def make_case(
    label, shape, rng, *, dtype="float64", eps=1e-5, loc=None, scale=None, tiny=None, **kw
) -> Case:
    """Inputs drawn from ``rng``: x with per-feature location and spread, gamma, beta, dout.

    ``tiny``: index of a feature with almost no spread (where eps matters); ``loc`` and
    ``scale``: the features' mean and spread (default: random per feature).
    """
    rng = _generator(rng, 0)
    C = shape[1]
    loc = rng.uniform(-3, 3, C) if loc is None else np.broadcast_to(loc, C).astype(float)
    scale = rng.uniform(0.5, 3.0, C) if scale is None else np.broadcast_to(scale, C).astype(float)
    if tiny is not None:
        scale = scale.copy()
        scale[tiny] = 2e-3
    bshape = (1, C) + (1,) * (len(shape) - 2)
    x = loc.reshape(bshape) + scale.reshape(bshape) * rng.standard_normal(shape)
    gamma = rng.uniform(0.5, 2.0, C)
    beta = rng.uniform(-2.0, 2.0, C)
    dout = rng.standard_normal(shape)
    large_mean = bool(np.abs(loc).max() > 100)
    inputs = {
        "x": x.astype(dtype),
        "gamma": gamma.astype(dtype),
        "beta": beta.astype(dtype),
        "eps": float(eps),
        "dout": dout.astype(dtype),
    }
    return _Case(
        label,
        inputs,
        dtype=dtype,
        output_rtol=_RTOL_LARGE_MEAN if large_mean and dtype == "float32" else {},
        tags=frozenset(({"large_mean", f"large_mean_{dtype}"} if large_mean else set()) | {dtype}),
        **kw,
    )


def _cases(visible: Case, kind: str, hidden: bool | None) -> list[Case]:
    """The visible case, plus (when grading) the hidden ones that then carry the points."""
    return with_hidden([visible], "bn03_mechanics", kind, make_case, hidden)


def _edge(kind: str) -> list[Case]:
    return [make_case(**spec, hidden=True) for spec in hidden_specs("bn03_mechanics", kind)]


# ----------------------------------------------------------------------------------------
# the reference and the mutants, in float64
# ----------------------------------------------------------------------------------------
def _f64(case: Case):
    i = case.inputs
    return tuple(np.asarray(i[k], np.float64) for k in ("x", "gamma", "beta", "dout"))


def _rows(a: np.ndarray) -> np.ndarray:
    N, C, H, W = a.shape
    return a.transpose(0, 2, 3, 1).reshape(N * H * W, C)  # (N*H*W, C)


def _unrows(a: np.ndarray, shape) -> np.ndarray:
    N, C, H, W = shape
    return a.reshape(N, H, W, C).transpose(0, 3, 1, 2)  # (N, C, H, W)


def _reference_forward(case: Case) -> tuple:
    x, g, b, _ = _f64(case)
    f = ref.batchnorm_forward if x.ndim == 2 else ref.spatial_batchnorm_forward
    return (f(x, g, b, case.inputs["eps"])[0],)


def _reference_backward(case: Case) -> tuple:
    x, g, b, dout = _f64(case)
    eps = case.inputs["eps"]
    if x.ndim == 2:
        return ref.batchnorm_backward(dout, ref.batchnorm_forward(x, g, b, eps)[1])
    return ref.spatial_batchnorm_backward(dout, ref.spatial_batchnorm_forward(x, g, b, eps)[1])


def _normalize(x, gamma, beta, mu, var, eps, *, std=None):
    std = np.sqrt(var + eps) if std is None else std
    return gamma * ((x - mu) / std) + beta


def _forward_mutants_2d() -> dict[str, Callable]:
    """(x (N, D), gamma, beta, eps) -> out for each named forward mistake."""

    def stats(x, axis=0, ddof=0):
        return x.mean(axis=axis, keepdims=True), x.var(axis=axis, ddof=ddof, keepdims=True)

    def x_hat(x, eps):
        mu, var = stats(x)
        return (x - mu) / np.sqrt(var + eps)

    def with_std(f):
        def m(x, g, b, eps):
            mu, var = stats(x)
            return _normalize(x, g, b, mu, var, eps, std=f(var, eps))

        return m

    return {
        "unbiased_variance": lambda x, g, b, eps: _normalize(x, g, b, *stats(x, ddof=1), eps),
        "eps_outside_sqrt": with_std(lambda var, eps: np.sqrt(var) + eps),
        "eps_missing": with_std(lambda var, eps: np.sqrt(var)),
        "eps_as_floor": with_std(lambda var, eps: np.sqrt(np.maximum(var, eps))),
        "eps_ignored": with_std(lambda var, eps: np.sqrt(var + 1e-5)),
        "no_sqrt": with_std(lambda var, eps: var + eps),
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
    m2d = _forward_mutants_2d()
    correct = lambda x, g, b, eps: ref.batchnorm_forward(x, g, b, eps)[0]  # noqa: E731

    def spatial(m):
        return lambda x, g, b, eps: _unrows(m(_rows(x), g, b, eps), x.shape)

    mutants = {key: spatial(m) for key, m in m2d.items()}
    p = (slice(None), None, None)  # gamma[p]: (C, 1, 1)

    def over(axes):
        def m(x, g, b, eps):
            mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
            return _normalize(x, g[p], b[p], mu, var, eps)

        return m

    def no_transpose(x, g, b, eps):
        return correct(x.reshape(-1, x.shape[1]), g, b, eps).reshape(x.shape)

    def no_inverse(x, g, b, eps):
        return correct(_rows(x), g, b, eps).reshape(x.shape)

    def channels_last(x, g, b, eps):
        N, C, H, W = x.shape
        return correct(_rows(x), g, b, eps).reshape(N, H, W, C)

    mutants["spatial_reshape_without_transpose"] = no_transpose
    mutants["spatial_missing_inverse_transpose"] = no_inverse
    mutants["spatial_channels_last"] = channels_last
    mutants["spatial_stats_over_batch_only"] = over(0)
    mutants["spatial_stats_per_example"] = over((2, 3))
    mutants["spatial_stats_over_channels"] = over(1)
    return mutants


def _backward_mutants_2d() -> dict[str, Callable]:
    """(x, gamma, beta, eps, dout) -> (dx, dgamma, dbeta), one named mistake each."""

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
            elif which == "params_not_summed":
                dgamma, dbeta = dout * x_hat, dout
            elif which == "params_keepdims":
                dgamma, dbeta = dgamma[None], dbeta[None]
            elif which == "params_wrong_axis":
                dgamma, dbeta = (dout * x_hat).sum(axis=1), dout.sum(axis=1)
            elif which == "params_averaged":
                dgamma, dbeta = dgamma / len(x), dbeta / len(x)
            elif which == "dgamma_dbeta_swapped":
                dgamma, dbeta = dbeta, dgamma
            elif which == "dgamma_uses_x":
                dgamma = (dout * x).sum(axis=0)
            return dx, dgamma, dbeta

        return m

    keys = (
        "stats_constant",
        "var_constant",
        "mean_constant",
        "dx_missing_gamma",
        "params_not_summed",
        "params_keepdims",
        "params_wrong_axis",
        "params_averaged",
        "dgamma_dbeta_swapped",
        "dgamma_uses_x",
    )
    return {k: mutant(k) for k in keys}


def _backward_mutants_4d() -> dict[str, Callable]:
    def spatial(m2d):
        def m(x, g, b, eps, dout):
            dx, dgamma, dbeta = m2d(_rows(x), g, b, eps, _rows(dout))
            if dx is not None:
                dx = _unrows(dx, x.shape)
            return dx, dgamma, dbeta

        return m

    mutants = {key: spatial(m) for key, m in _backward_mutants_2d().items()}
    if "params_keepdims" in mutants:  # spatial keepdims: (1, C, 1, 1)
        mutants["params_keepdims"] = _spatial_keepdims

    def rows_plain(a):
        return a.reshape(-1, a.shape[1])

    def no_transpose(x, g, b, eps, dout):
        _, cache = ref.batchnorm_forward(_rows(x), g, b, eps)
        dx, dgamma, dbeta = ref.batchnorm_backward(rows_plain(dout), cache)
        return dx.reshape(x.shape), dgamma, dbeta

    def no_inverse(x, g, b, eps, dout):
        _, cache = ref.batchnorm_forward(_rows(x), g, b, eps)
        dx, dgamma, dbeta = ref.batchnorm_backward(_rows(dout), cache)
        return dx.reshape(x.shape), dgamma, dbeta

    mutants["spatial_backward_reshape_without_transpose"] = no_transpose
    mutants["spatial_backward_missing_inverse_transpose"] = no_inverse
    return mutants


def _spatial_keepdims(x, g, b, eps, dout):
    dx, dgamma, dbeta = ref.spatial_batchnorm_backward(
        dout, ref.spatial_batchnorm_forward(x, g, b, eps)[1]
    )
    return dx, dgamma[None, :, None, None], dbeta[None, :, None, None]


def _on_case(kind: str, mutants: dict[str, Callable]) -> dict[str, Callable]:
    """The mutants as ``case -> outputs`` on the case's inputs in float64."""

    def wrap(m):
        def run(case: Case):
            x, g, b, dout = _f64(case)
            eps = case.inputs["eps"]
            if kind == "forward":
                return (m(x, g, b, eps),)
            return tuple(m(x, g, b, eps, dout))

        return run

    return {key: wrap(m) for key, m in mutants.items()}


def _shape_hint(name: str, got: tuple, want: tuple, case: Case) -> str:
    if len(want) == 4:
        N, C, H, W = want
        if got == (N, H, W, C):
            return "That is (N, H, W, C): move the channels back with .transpose(0, 3, 1, 2)."
        if got == (N * H * W, C):
            return "That is (N*H*W, C): reshape to (N, H, W, C), then transpose(0, 3, 1, 2)."
    return ""


# ----------------------------------------------------------------------------------------
# running the learner's code
# ----------------------------------------------------------------------------------------
def _forward_learner(fn):
    def learner(call, case: Case):
        i = case.inputs
        res = call(fn, i["x"], i["gamma"], i["beta"], i["eps"])
        out, _cache = call.unpack(res, ("out", "cache"), fn)
        return (out,)

    return learner


def _backward_learner(fwd, bwd):
    def learner(call, case: Case):
        i = case.inputs
        res = call(fwd, i["x"], i["gamma"], i["beta"], i["eps"], charge=False)
        out, cache = call.unpack(res, ("out", "cache"), fwd)
        (want,) = _reference_forward(case)
        try:
            ok = np.shape(out) == want.shape and bool(
                np.max(np.abs(np.asarray(out, np.float64) - want)) <= case.tol(want, _OUT[0])
            )
        except Exception:  # noqa: BLE001 - whatever it returned
            ok = False
        if not ok:
            call.note("forward_wrong")
        res = call(bwd, i["dout"], cache, watch=(0,))
        return call.unpack(res, ("dx", "dgamma", "dbeta"), bwd)

    return learner


def _check_forward(title: str, fn: Callable, points: float, cases: list[Case]) -> Score:
    spatial = cases[0].inputs["x"].ndim == 4
    return run_check(
        title,
        points,
        cases,
        _OUT,
        _forward_learner(fn),
        _reference_forward,
        mutants=_on_case("forward", _forward_mutants_4d() if spatial else _forward_mutants_2d()),
        messages=MISTAKES,
        forbidden=FORBIDDEN,
        hints=HINTS,
        shape_hint=_shape_hint,
    )


def _check_backward(title: str, fwd: Callable, bwd: Callable, points, cases) -> Score:
    spatial = cases[0].inputs["x"].ndim == 4
    return run_check(
        title,
        points,
        cases,
        _GRADS,
        _backward_learner(fwd, bwd),
        _reference_backward,
        mutants=_on_case("backward", _backward_mutants_4d() if spatial else _backward_mutants_2d()),
        messages=MISTAKES,
        forbidden=FORBIDDEN,
        hints=HINTS,
        shape_hint=_shape_hint,
    )


def _visible_2d(rng, seed=2024) -> Case:
    return make_case("x (40, 5) float64, feature 3 almost constant", (40, 5), _generator(rng, seed),
                     tiny=3)  # fmt: skip


def _visible_4d(rng, seed=2025) -> Case:
    return make_case(
        "x (4, 3, 5, 6) float64, channel 1 almost constant",
        (4, 3, 5, 6),
        _generator(rng, seed),
        tiny=1,
    )


# ----------------------------------------------------------------------------------------
# the checks the notebook calls
# ----------------------------------------------------------------------------------------
def check_forward(
    batchnorm_forward: Callable, points: float = 2, rng=None, hidden: bool | None = None
) -> Score:
    """Check the (N, D) training-mode forward pass against :func:`bnref.numpy.batchnorm_forward`.

    Book: chapter 3, section ``bn-transform``.

    Parameters
    ----------
    batchnorm_forward : callable
        ``batchnorm_forward(x, gamma, beta, eps) -> (out, cache)`` with x (N, D).
    points : float
        The most this check gives.
    rng : numpy.random.Generator or int, optional
        Where the visible case comes from (default: a fixed seed); nothing the learner's
        code draws can change it.
    hidden : bool, optional
        Score on the hidden cases (the visible one is then only shown). Default: when
        the notebook is being graded.

    Returns
    -------
    Score
        In ``[0, points]``; prints what it compared and what is wrong.
    """
    return _check_forward(
        "check_forward: batchnorm_forward(x, gamma, beta, eps) -> (out, cache)",
        batchnorm_forward,
        points,
        _cases(_visible_2d(rng), "FORWARD", hidden),
    )


def check_forward_edge_cases(batchnorm_forward: Callable, points: float = 1) -> Score:
    """Forward-pass edge cases: N=2, D=1, another eps, large means, float32 (hidden).

    Book: chapter 3, section ``bn-transform``. Parameters and result as :func:`check_forward`.
    """
    return _check_forward(
        "check_forward_edge_cases: batchnorm_forward on unusual inputs",
        batchnorm_forward,
        points,
        _edge("EDGE_2D"),
    )


def check_backward(
    batchnorm_forward: Callable,
    batchnorm_backward: Callable,
    points: float = 2,
    rng=None,
    hidden: bool | None = None,
) -> Score:
    """Check the (N, D) backward pass against :func:`bnref.numpy.batchnorm_backward`.

    Book: chapter 3, section ``bn-backward``. The learner's backward receives the cache of
    the learner's forward pass. Parameters and result as :func:`check_forward`, plus
    ``batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)``.
    """
    return _check_backward(
        "check_backward: batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)",
        batchnorm_forward,
        batchnorm_backward,
        points,
        _cases(_visible_2d(rng), "BACKWARD", hidden),
    )


def check_backward_edge_cases(
    batchnorm_forward: Callable, batchnorm_backward: Callable, points: float = 1
) -> Score:
    """Backward-pass edge cases: N=2, D=1, another eps, large means, float32 (hidden).

    Book: chapter 3, section ``bn-backward``. Parameters and result as :func:`check_backward`.
    """
    return _check_backward(
        "check_backward_edge_cases: batchnorm_backward on unusual inputs",
        batchnorm_forward,
        batchnorm_backward,
        points,
        _edge("EDGE_2D"),
    )


def check_spatial_forward(
    spatial_batchnorm_forward: Callable, points: float = 1, rng=None, hidden: bool | None = None
) -> Score:
    """Check the (N, C, H, W) forward pass against :func:`bnref.numpy.spatial_batchnorm_forward`.

    Book: chapter 3, section ``bn-conv``. Parameters and result as :func:`check_forward`.
    """
    return _check_forward(
        "check_spatial_forward: spatial_batchnorm_forward(x, gamma, beta, eps) -> (out, cache)",
        spatial_batchnorm_forward,
        points,
        _cases(_visible_4d(rng), "SPATIAL", hidden),
    )


def check_spatial_backward(
    spatial_batchnorm_forward: Callable,
    spatial_batchnorm_backward: Callable,
    points: float = 1,
    rng=None,
    hidden: bool | None = None,
) -> Score:
    """Check the (N, C, H, W) backward pass against bnref's spatial_batchnorm_backward.

    Book: chapter 3, section ``bn-conv``. Parameters and result as :func:`check_backward`.
    """
    return _check_backward(
        "check_spatial_backward: spatial_batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)",
        spatial_batchnorm_forward,
        spatial_batchnorm_backward,
        points,
        _cases(_visible_4d(rng), "SPATIAL", hidden),
    )


def check_spatial_edge_cases(
    spatial_batchnorm_forward: Callable, spatial_batchnorm_backward: Callable, points: float = 1
) -> Score:
    """Spatial edge cases, forward and backward: C=1, N=2, H=W=1, eps, large float32 means.

    Book: chapter 3, section ``bn-conv``. Half the points for the forward pass, half for the
    backward pass.
    """
    fwd = _check_forward(
        "check_spatial_edge_cases (forward): spatial_batchnorm_forward on unusual inputs",
        spatial_batchnorm_forward,
        points / 2,
        _edge("EDGE_4D"),
    )
    bwd = _check_backward(
        "check_spatial_edge_cases (backward): spatial_batchnorm_backward on unusual inputs",
        spatial_batchnorm_forward,
        spatial_batchnorm_backward,
        points / 2,
        _edge("EDGE_4D"),
    )
    total = fwd + bwd
    print(f"total: {float(total):g} / {points:g} points")
    return total


assert set(MESSAGES).isdisjoint(MISTAKES), "an assignment key shadows a shared message"
