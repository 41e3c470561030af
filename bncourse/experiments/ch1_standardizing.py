"""Chapter 1: why inputs are standardized, measured on real tabular data.

The motivation BN starts from (Ioffe & Szegedy 2015, Sec. 2, citing LeCun et al. 1998,
"Efficient BackProp"): a network trains faster when its inputs have zero mean and unit
variance. For a linear model with squared loss this is exact: the loss is a quadratic whose
Hessian is ``X^T X / N``, gradient descent is stable only for learning rates below
``2 / lambda_max``, and the number of steps it needs grows with the condition number
``kappa = lambda_max / lambda_min``.

The data is scikit-learn's breast cancer table (569 tumours, 30 features, shipped inside
the wheel; ``load_wine`` for a second table). Its "worst area" runs up to about 4,250 while
its "worst smoothness" stays below 0.23: the classic setting of one feature in the
thousands next to one below 1. A *seed* draws a stratified 70 / 30 train/test split (and,
for the networks, the initial weights); every statistic is fitted on the training split.

Experiments (each ``run_*`` takes a seed; tests assert medians over seeds):

* :func:`run_conditioning` -- ``kappa`` of ``X^T X / N`` (with a bias column) for raw,
  min-max scaled, standardized and whitened features, on both tables.
* :func:`run_gradient_descent` -- full-batch gradient descent on least squares with the
  two features above and a bias: the largest stable learning rate of a sweep next to
  ``2 / lambda_max``, and the steps to close 99 % of the loss gap at each preprocessing's
  best learning rate.
* :func:`run_contours` -- the loss surface of the two-weight model (no bias) and a
  gradient-descent path on it at the best learning rate for a fixed number of steps.
* :func:`run_init` -- a small tanh network at initialization: first-layer pre-activation
  scale, saturation, and the spread of gradient sizes between input features.
* :func:`run_training` -- the same network trained by full-batch gradient descent on raw,
  min-max scaled and standardized inputs, each with its learning rate tuned on a grid.
* :func:`run_leakage` -- a logistic regression evaluated with statistics fitted on the
  training split, on train + test (leakage), and on each test batch alone.
* :func:`run_drift` -- a deep tanh network on standardized inputs: its *hidden*
  pre-activations change scale as the weights train (the bridge to chapters 2 and 3).

Book section: chapter 1, "Standardizing inputs" (``book/01_standardizing.md``).
"""

from __future__ import annotations

import functools
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from bncourse import plotting
from bncourse.experiments.stats import mean_ci, median_ci

__all__ = [
    "PREPROCESSINGS",
    "PAIR",
    "Table",
    "load_table",
    "split",
    "preprocess",
    "ConditioningResult",
    "run_conditioning",
    "GradientDescentResult",
    "run_gradient_descent",
    "plot_gradient_descent",
    "ContourResult",
    "run_contours",
    "plot_contours",
    "InitResult",
    "run_init",
    "TrainingResult",
    "run_training",
    "LeakageResult",
    "run_leakage",
    "DriftResult",
    "run_drift",
    "plot_drift",
    "median_ci",
    "mean_ci",
    "SEEDS",
    "LEAK_SEEDS",
    "RESULTS",
    "run_all",
    "load_results",
    "EXPERIMENTS",
]

PREPROCESSINGS = ("raw", "minmax", "standardize", "whiten")
PAIR = ("worst area", "worst smoothness")
"""The two breast-cancer features of the 2-D experiments: one up to ~4,250, one below 0.23."""

SATURATED = 0.97
"""A tanh unit counts as saturated when ``|tanh(a)| > 0.97`` (its slope is below 0.06)."""


# ----------------------------------------------------------------------------------- data


class Table(NamedTuple):
    """A tabular data set: ``x`` (N, D) float64, ``y`` (N,) int, the feature names."""

    x: np.ndarray
    y: np.ndarray
    names: tuple[str, ...]


@functools.cache
def _load(name: str) -> Table:
    from sklearn import datasets

    loaders = {"breast_cancer": datasets.load_breast_cancer, "wine": datasets.load_wine}
    if name not in loaders:
        raise ValueError(f"dataset must be one of {sorted(loaders)}, got {name!r}")
    data = loaders[name]()
    return Table(
        data.data.astype(np.float64), data.target.astype(np.int64), tuple(data.feature_names)
    )


def load_table(name: str = "breast_cancer", features: tuple[str, ...] | None = None) -> Table:
    """One of scikit-learn's bundled tables (no download), optionally a subset of columns.

    Parameters
    ----------
    name : {"breast_cancer", "wine"}
        ``breast_cancer``: 569 x 30, y = 1 for benign. ``wine``: 178 x 13, three cultivars.
    features : tuple of str, optional
        Column names to keep, in this order (default: all).

    Returns
    -------
    Table
        Fresh arrays (safe to modify).
    """
    t = _load(name)
    if features is None:
        return Table(t.x.copy(), t.y.copy(), t.names)
    missing = [f for f in features if f not in t.names]
    if missing:
        raise ValueError(f"no feature {missing} in {name}; it has {list(t.names)}")
    cols = [t.names.index(f) for f in features]
    return Table(t.x[:, cols].copy(), t.y.copy(), tuple(features))


def split(x: np.ndarray, y: np.ndarray, seed: int, test_fraction: float = 0.3):
    """A stratified random train/test split drawn by ``seed``.

    Returns
    -------
    x_train, y_train, x_test, y_test : ndarray
        Each class contributes ``round(test_fraction * count)`` rows to the test split.
    """
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        test[rng.choice(rows, int(round(test_fraction * len(rows))), replace=False)] = True
    return x[~test], y[~test], x[test], y[test]


def preprocess(x: np.ndarray, how: str, fit: np.ndarray | None = None) -> np.ndarray:
    """Apply one of :data:`PREPROCESSINGS` column by column, with statistics from ``fit``.

    Parameters
    ----------
    x : ndarray, shape (N, D)
        The rows to transform.
    how : {"raw", "minmax", "standardize", "whiten"}
        ``minmax`` maps the fitted min to 0 and max to 1; ``standardize`` subtracts the
        fitted mean and divides by the fitted (biased, ddof=0) standard deviation;
        ``whiten`` also removes the correlations (PCA whitening: covariance = identity).
    fit : ndarray, shape (M, D), optional
        The rows the statistics come from (default: ``x`` itself). Pass the training split
        to transform a test split.

    Returns
    -------
    ndarray, shape (N, D)
        A new array.
    """
    ref = x if fit is None else fit
    if how == "raw":
        return x.copy()
    if how == "minmax":
        lo, hi = ref.min(axis=0), ref.max(axis=0)
        return (x - lo) / (hi - lo)
    if how == "standardize":
        return (x - ref.mean(axis=0)) / ref.std(axis=0)  # ddof=0, as BN's batch statistics
    if how == "whiten":
        mean = ref.mean(axis=0)
        eig, vec = np.linalg.eigh(np.cov(ref.T, bias=True))
        return (x - mean) @ vec / np.sqrt(eig)
    raise ValueError(f"how must be one of {PREPROCESSINGS}, got {how!r}")


def _design(x: np.ndarray, bias: bool) -> np.ndarray:
    return np.column_stack([x, np.ones(len(x))]) if bias else x


def _quadratic(x: np.ndarray, y: np.ndarray, bias: bool):
    """Loss L(w) = mean((X w - y)**2) / 2 as (H, b, c): L = w.H.w / 2 - b.w + c, H = X^T X / N."""
    design = _design(x, bias)  # (N, d)
    n = len(y)
    return design.T @ design / n, design.T @ y / n, float(y @ y) / (2 * n)


def _kappa(h: np.ndarray) -> float:
    eig = np.linalg.eigvalsh(h)
    return float(eig[-1] / eig[0])


# ------------------------------------------------------------------------- conditioning


@dataclass
class ConditioningResult:
    """``kappa`` of ``X^T X / N`` (bias column included), fitted on one training split.

    Attributes
    ----------
    kappa : dict of (dataset, subset, how) to float
        ``subset`` is ``"all"`` (every feature) or ``"pair"`` (:data:`PAIR`, breast
        cancer only); ``how`` one of :data:`PREPROCESSINGS`.
    lambda_max : dict of the same keys to float
    """

    kappa: dict[tuple[str, str, str], float] = field(default_factory=dict)
    lambda_max: dict[tuple[str, str, str], float] = field(default_factory=dict)


def run_conditioning(seed: int = 0) -> ConditioningResult:
    """Condition numbers of the least-squares Hessian for each preprocessing. Milliseconds."""
    out = ConditioningResult()
    for dataset, subset, features in [
        ("breast_cancer", "all", None),
        ("breast_cancer", "pair", PAIR),
        ("wine", "all", None),
    ]:
        t = load_table(dataset, features)
        x_train, y_train, _, _ = split(t.x, t.y, seed)
        for how in PREPROCESSINGS:
            h, _, _ = _quadratic(preprocess(x_train, how), y_train.astype(float), bias=True)
            eig = np.linalg.eigvalsh(h)
            out.kappa[dataset, subset, how] = float(eig[-1] / eig[0])
            out.lambda_max[dataset, subset, how] = float(eig[-1])
    return out


# --------------------------------------------------------------------- gradient descent


@dataclass
class GradientDescentResult:
    """Per preprocessing, what full-batch gradient descent experiences (with a bias).

    Attributes
    ----------
    condition : dict of str to float
        ``lambda_max / lambda_min`` of the Hessian.
    lr_theory : dict of str to float
        ``2 / lambda_max``: gradient descent on the quadratic is stable below it.
    lr_max_stable : dict of str to float
        Largest learning rate of the sweep whose loss gap did not grow.
    steps_to_target : dict of str to int or None
        Fewest steps, over the sweep, to close 99 % of the gap between the initial and the
        minimal loss (``None``: not within ``max_steps``).
    best_lr : dict of str to float or None
        The learning rate that achieved ``steps_to_target``.
    final_gap : dict of str to float
        ``(L - L*) / (L0 - L*)`` after ``max_steps`` at ``best_lr`` (or, when the target was
        not reached, at the learning rate with the smallest final gap).
    lrs : ndarray
        The swept learning rates.
    curves : dict of str to ndarray, shape (max_steps + 1,)
        ``L - L*`` along the run shown (as for ``final_gap``).
    """

    condition: dict[str, float] = field(default_factory=dict)
    lr_theory: dict[str, float] = field(default_factory=dict)
    lr_max_stable: dict[str, float] = field(default_factory=dict)
    steps_to_target: dict[str, int | None] = field(default_factory=dict)
    best_lr: dict[str, float | None] = field(default_factory=dict)
    final_gap: dict[str, float] = field(default_factory=dict)
    lrs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    curves: dict[str, np.ndarray] = field(default_factory=dict)


def _gd_sweep(h, b, c, lrs, steps):
    """Loss gaps (steps + 1, L) of gradient descent from w = 0, one column per lr.

    Exact, in the eigenbasis of ``h``: gradient descent ``w <- w - lr (H w - b)`` moves
    the error ``w - w*`` along eigenvector ``i`` by the factor ``1 - lr * lambda_i`` per
    step, so after ``t`` steps the gap is ``sum_i lambda_i (1 - lr lambda_i)^(2t) e_i^2 / 2``
    (``_gd_iterate`` does the steps one by one; a test checks that the two agree).
    """
    eig, vec = np.linalg.eigh(h)
    e0 = vec.T @ (0.0 - np.linalg.solve(h, b))  # (d,): the error at w = 0, eigenbasis
    t = np.arange(steps + 1)[:, None, None]  # (T, 1, 1)
    factor = 1.0 - np.asarray(lrs)[None, :, None] * eig  # (1, L, d)
    with np.errstate(over="ignore", invalid="ignore"):
        gaps = np.sum(eig * e0**2 * factor ** (2 * t), axis=2) / 2  # (T, L)
    return np.where(np.isfinite(gaps), gaps, np.inf)


def _gd_iterate(h, b, c, lrs, steps):
    """The same gaps as :func:`_gd_sweep`, by taking the steps (slow; for the tests)."""
    w_star = np.linalg.solve(h, b)
    l_star = c - 0.5 * b @ w_star
    w = np.zeros((len(b), len(lrs)))  # (d, L)
    gaps = np.empty((steps + 1, len(lrs)))
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps + 1):
            gaps[t] = np.einsum("il,ij,jl->l", w, h, w) / 2 - b @ w + c - l_star
            w -= lrs * (h @ w - b[:, None])
    return np.where(np.isfinite(gaps), gaps, np.inf)


def run_gradient_descent(
    seed: int = 0, max_steps: int = 3000, tol: float = 0.01, features: tuple[str, ...] = PAIR
) -> GradientDescentResult:
    """Full-batch gradient descent on least squares (target: the 0/1 label), per preprocessing.

    Learning rates are swept on a log grid (8 per decade, 1e-9 to 10) and every run starts
    from w = 0. The loss is quadratic, so gradient descent is exactly
    ``w <- w - lr (H w - b)``, vectorized over the grid. About 0.3 s.
    """
    t = load_table("breast_cancer", features)
    x, y, _, _ = split(t.x, t.y, seed)
    lrs = np.logspace(-9, 1, 81)  # (L,)
    result = GradientDescentResult(lrs=lrs)
    for how in PREPROCESSINGS:
        h, b, c = _quadratic(preprocess(x, how), y.astype(float), bias=True)
        eig = np.linalg.eigvalsh(h)
        gaps = _gd_sweep(h, b, c, lrs, max_steps)
        stable = gaps[-1] <= gaps[0]
        reached = gaps <= tol * gaps[0]  # (T, L)
        first = np.where(reached.any(axis=0), reached.argmax(axis=0), max_steps + 1)
        best = int(np.argmin(first))
        result.condition[how] = float(eig[-1] / eig[0])
        result.lr_theory[how] = float(2 / eig[-1])
        result.lr_max_stable[how] = float(lrs[stable].max())
        if first[best] <= max_steps:
            result.steps_to_target[how], result.best_lr[how] = int(first[best]), float(lrs[best])
            shown = best
        else:
            result.steps_to_target[how], result.best_lr[how] = None, None
            shown = int(np.argmin(gaps[-1]))
        result.curves[how] = gaps[:, shown]
        result.final_gap[how] = float(gaps[-1, shown] / gaps[0, shown])
    return result


def _tex(value: float) -> str:
    """A number for a figure label: 1.7, 78, or 2.2 x 10^9 in TeX."""
    if value < 1000:
        return f"{value:.2g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}\\times 10^{{{int(exponent)}}}"


def plot_gradient_descent(result: GradientDescentResult, ax=None, hows=PREPROCESSINGS[:3]):
    """Loss gap against the step for each preprocessing, at its best learning rate."""
    fig, ax = plotting.figure(ax)
    for i, how in enumerate(hows):
        steps = result.steps_to_target[how]
        label = f"{how}: $\\kappa = {_tex(result.condition[how])}$, " + (
            f"{steps} steps" if steps is not None else "not in time"
        )
        style = {k: v for k, v in plotting.series(i).items() if k != "marker"}
        ax.plot(np.maximum(result.curves[how], 1e-12), label=label, **style)
    ax.set(xlabel="gradient descent step", ylabel="loss minus its minimum")
    ax.set(xscale="symlog", yscale="log", ylim=(1e-6, None))
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.22))
    return plotting.finish(fig)


# ------------------------------------------------------------------------------ contours


@dataclass
class ContourResult:
    """The loss of the two-weight model (no bias) around its minimum, and a GD path.

    Attributes
    ----------
    w1, w2 : dict of str to ndarray, shape (grid,)
        Grid coordinates per preprocessing.
    loss : dict of str to ndarray, shape (grid, grid)
        ``loss[how][i, j]`` at ``(w1[j], w2[i])``, minus the minimum.
    w_star : dict of str to ndarray, shape (2,)
    condition : dict of str to float
        Condition number of the 2 x 2 Hessian (the contours' axis ratio is its square root).
    path : dict of str to ndarray, shape (steps + 1, 2)
        Gradient descent from ``start`` at ``lr[how]``.
    lr : dict of str to float
        The learning rate of the grid with the smallest loss after ``steps`` steps.
    gap : dict of str to float
        ``(L - L*) / (L0 - L*)`` at the end of the path.
    """

    w1: dict[str, np.ndarray] = field(default_factory=dict)
    w2: dict[str, np.ndarray] = field(default_factory=dict)
    loss: dict[str, np.ndarray] = field(default_factory=dict)
    w_star: dict[str, np.ndarray] = field(default_factory=dict)
    condition: dict[str, float] = field(default_factory=dict)
    path: dict[str, np.ndarray] = field(default_factory=dict)
    lr: dict[str, float] = field(default_factory=dict)
    gap: dict[str, float] = field(default_factory=dict)


def run_contours(seed: int = 0, grid: int = 81, steps: int = 20) -> ContourResult:
    """Loss surfaces of ``y - mean(y) ~ w1 x1 + w2 x2`` for raw, min-max and standardized.

    The target is centred so that the two-weight model needs no bias. Each path starts
    where the loss gap is 1 along the flattest direction of the surface (the long axis of
    the ellipse), so every panel starts equally far from the minimum in loss. The grid
    spans the level set ``L - L* = 1.3**2`` along both eigen-directions.
    """
    t = load_table("breast_cancer", PAIR)
    x, y, _, _ = split(t.x, t.y, seed)
    y = y - y.mean()
    lrs = np.logspace(-9, 1, 81)
    out = ContourResult()
    for how in PREPROCESSINGS[:3]:
        z = preprocess(x, how)
        h, b, c = _quadratic(z, y, bias=False)
        eig, vec = np.linalg.eigh(h)
        w_star = np.linalg.solve(h, b)
        reach = np.abs(vec) @ np.sqrt(2.0 / eig) * 1.3  # (2,), half-widths of the box
        w1 = np.linspace(w_star[0] - reach[0], w_star[0] + reach[0], grid)
        w2 = np.linspace(w_star[1] - reach[1], w_star[1] + reach[1], grid)
        d1, d2 = np.meshgrid(w1 - w_star[0], w2 - w_star[1])  # (grid, grid)
        out.loss[how] = 0.5 * (h[0, 0] * d1**2 + 2 * h[0, 1] * d1 * d2 + h[1, 1] * d2**2)
        # start: gap 1 along the flat direction, tilted 30 degrees towards the steep one
        direction = np.cos(np.pi / 6) * vec[:, 0] * np.sqrt(2 / eig[0])
        direction += np.sin(np.pi / 6) * vec[:, 1] * np.sqrt(2 / eig[1])
        start = w_star + 0.9 * direction
        paths = _paths(h, b, start, lrs, steps)  # (steps + 1, 2, L)
        diff = paths[-1] - w_star[:, None]
        with np.errstate(over="ignore", invalid="ignore"):
            final = np.einsum("il,ij,jl->l", diff, h, diff)
        final = np.where(np.isfinite(final), final, np.inf)
        best = int(np.argmin(final))
        d0 = start - w_star
        out.path[how], out.lr[how] = paths[:, :, best], float(lrs[best])
        out.gap[how] = float(final[best] / (d0 @ h @ d0))
        out.w1[how], out.w2[how], out.w_star[how] = w1, w2, w_star
        out.condition[how] = float(eig[-1] / eig[0])
    return out


def _paths(h, b, start, lrs, steps):
    w = np.repeat(start[:, None], len(lrs), axis=1)  # (2, L)
    out = np.empty((steps + 1, *w.shape))
    with np.errstate(over="ignore", invalid="ignore"):
        for s in range(steps + 1):
            out[s] = w
            w = w - lrs * (h @ w - b[:, None])
    return out


def plot_contours(result: ContourResult, ax=None):
    """Contours of the loss and the gradient-descent path, one panel per preprocessing."""
    fig, axes = plotting.figure(ax, ncols=len(result.loss), height=2.6)
    for axis, how in zip(np.ravel(axes), result.loss, strict=True):
        axis.contour(
            result.w1[how],
            result.w2[how],
            result.loss[how],
            levels=[0.02, 0.1, 0.3, 0.6, 1.0],
            colors="0.6",
            linewidths=0.8,
        )
        p = result.path[how]
        axis.plot(p[:, 0], p[:, 1], "o-", ms=2.5, lw=1, color=plotting.COLORS[1])
        axis.plot(*result.w_star[how], "k+", ms=10)
        axis.set(xlabel="$w_1$", title=f"{how}: $\\kappa = {_tex(result.condition[how])}$")
        axis.set_aspect("equal", adjustable="datalim")  # true shape: w1 and w2 to one scale
        axis.set_xticks([]), axis.set_yticks([])
    np.ravel(axes)[0].set_ylabel("$w_2$")
    return plotting.finish(fig)


# ------------------------------------------------------------------------- networks


HIDDEN = 32


def _tensors(seed: int, how: str, dataset: str = "breast_cancer"):
    """Train/test tensors of the seed's split, preprocessed with training statistics."""
    import torch

    t = load_table(dataset)
    x_tr, y_tr, x_te, y_te = split(t.x, t.y, seed)
    z_tr, z_te = preprocess(x_tr, how), preprocess(x_te, how, fit=x_tr)
    as_x = functools.partial(torch.tensor, dtype=torch.float32)
    as_y = functools.partial(torch.tensor, dtype=torch.int64)
    return as_x(z_tr), as_y(y_tr), as_x(z_te), as_y(y_te)


def _net(seed: int, widths, init="default"):
    """A tanh MLP ``Linear, Tanh, ..., Linear`` with weights drawn from ``seed``.

    ``init="default"`` is PyTorch's ``nn.Linear`` initialization, U(-1/sqrt(fan_in),
    1/sqrt(fan_in)) for weights and biases (the same as ``_common.mlp``, without BN).
    """
    from torch import nn

    from bncourse.experiments._common import _init_linear, seeded

    gen, _ = seeded(seed)
    layers: list = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        linear = nn.Linear(n_in, n_out)
        _init_linear(linear, init, gen)
        layers += [linear, nn.Tanh()]
    return nn.Sequential(*layers[:-1])


@dataclass
class InitResult:
    """A (30, 32, 32, 2) tanh network at PyTorch's default initialization.

    Attributes
    ----------
    preact_std : dict of str to ndarray, shape (2,)
        Standard deviation of each hidden layer's pre-activations over the training split.
    saturated : dict of str to ndarray, shape (2,)
        Fraction of hidden units' outputs with ``|tanh| > 0.97``.
    grad_norm : dict of str to ndarray, shape (30,)
        Norm of the cross-entropy gradient with respect to the first-layer weights leaving
        each input feature (column ``W1[:, j]``).
    grad_spread : dict of str to float
        ``max / min`` of ``grad_norm`` over the 30 features.
    feature_names : tuple of str
    """

    preact_std: dict[str, np.ndarray] = field(default_factory=dict)
    saturated: dict[str, np.ndarray] = field(default_factory=dict)
    grad_norm: dict[str, np.ndarray] = field(default_factory=dict)
    grad_spread: dict[str, float] = field(default_factory=dict)
    feature_names: tuple[str, ...] = ()


def run_init(seed: int = 0) -> InitResult:
    """Pre-activations and first-layer gradients at initialization, raw vs standardized."""
    import torch

    from bncourse.experiments._common import fast_torch, layer_inputs

    fast_torch()
    out = InitResult(feature_names=load_table().names)
    for how in ("raw", "standardize"):
        x, y, _, _ = _tensors(seed, how)
        net = _net(seed, (30, HIDDEN, HIDDEN, 2))
        pre = layer_inputs(net, x, torch.nn.Tanh)
        out.preact_std[how] = np.array([float(p.std()) for p in pre])
        out.saturated[how] = np.array(
            [float((p.tanh().abs() > SATURATED).float().mean()) for p in pre]
        )
        net.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        g = net[0].weight.grad.norm(dim=0).double().numpy()  # (30,): one per input feature
        out.grad_norm[how] = g
        out.grad_spread[how] = float(g.max() / g.min())
    return out


TRAIN_LRS = tuple(float(v) for v in np.logspace(-6, 2, 17))
"""The learning-rate grid of :func:`run_training`: 1e-6 to 100, two per decade."""


@dataclass
class TrainingResult:
    """Full-batch gradient descent on a (30, 32, 2) tanh net, per preprocessing.

    Attributes
    ----------
    lrs : tuple of float
        The grid.
    train_loss : dict of str to ndarray, shape (len(lrs),)
        Final training cross-entropy per learning rate (``inf`` if it diverged).
    val_loss : dict of str to ndarray, shape (len(lrs),)
        Final validation cross-entropy per learning rate.
    best_lr : dict of str to float
        The learning rate with the lowest validation loss (chosen without the test split).
    test_acc : dict of str to float
        Test accuracy at ``best_lr``.
    best_loss : dict of str to float
        Final training loss at ``best_lr``.
    curve : dict of str to ndarray
        Training loss after every step at ``best_lr``.
    """

    lrs: tuple[float, ...] = TRAIN_LRS
    train_loss: dict[str, np.ndarray] = field(default_factory=dict)
    val_loss: dict[str, np.ndarray] = field(default_factory=dict)
    best_lr: dict[str, float] = field(default_factory=dict)
    test_acc: dict[str, float] = field(default_factory=dict)
    best_loss: dict[str, float] = field(default_factory=dict)
    curve: dict[str, np.ndarray] = field(default_factory=dict)


def _batched_gd(net, data, lrs, steps, x_val, y_val):
    """Full-batch GD on one copy of the one-hidden-layer ``net`` per learning rate, at once.

    Returns the training loss after every step, shape (steps + 1, L) (``inf`` once a copy
    diverged), and at the end the validation loss and the test accuracy of every copy,
    shape (L,) each.
    """
    import torch

    x, y, x_test, y_test = data
    lr = torch.tensor(lrs, dtype=torch.float32)  # (L,)
    copies = len(lrs)
    params = [
        p.detach().clone().unsqueeze(0).repeat(copies, *([1] * p.dim())).requires_grad_(True)
        for p in (net[0].weight, net[0].bias, net[2].weight, net[2].bias)
    ]  # (L, H, D), (L, H), (L, 2, H), (L, 2)

    def logits(inputs, w1, b1, w2, b2):
        hidden = torch.tanh(torch.einsum("nd,lhd->lnh", inputs, w1) + b1[:, None])  # (L, N, H)
        return torch.einsum("lnh,lkh->lnk", hidden, w2) + b2[:, None]  # (L, N, 2)

    def loss_of(inputs, labels):
        out = logits(inputs, *params)
        each = torch.nn.functional.cross_entropy(
            out.reshape(-1, 2), labels.repeat(copies), reduction="none"
        )
        return each.reshape(copies, -1).mean(dim=1)  # (L,)

    losses = np.empty((steps + 1, copies))
    for step in range(steps + 1):
        loss = loss_of(x, y)
        losses[step] = loss.detach().numpy()
        if step == steps:
            break
        grads = torch.autograd.grad(loss.sum(), params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p -= lr.view(-1, *([1] * (p.dim() - 1))) * g
    bad = ~np.isfinite(losses) | (losses > 1e4)
    losses[np.maximum.accumulate(bad, axis=0)] = np.inf
    with torch.no_grad():
        val = loss_of(x_val, y_val).numpy().astype(np.float64)
        acc = (logits(x_test, *params).argmax(dim=2) == y_test).float().mean(dim=1)
    val[~np.isfinite(losses[-1]) | ~np.isfinite(val)] = np.inf
    return losses, val, acc.numpy().astype(np.float64)


def run_training(
    seed: int = 0, steps: int = 200, lrs: tuple[float, ...] = TRAIN_LRS, hows=PREPROCESSINGS[:3]
) -> TrainingResult:
    """Train the same initial net on raw, min-max and standardized inputs; tune lr per arm.

    A quarter of the seed's training split is held out for validation; the net trains by
    full-batch gradient descent (no momentum) for ``steps`` steps on the rest, at every
    learning rate of the grid (all at once, one copy of the net per rate). The best rate is
    the one with the lowest validation cross-entropy: the test split plays no part in the
    choice. Statistics are fitted on the rows the net trains on. About 2-5 s.
    """
    import torch

    from bncourse.experiments._common import fast_torch

    fast_torch()
    out = TrainingResult(lrs=tuple(lrs))
    t = load_table()
    x_tr, y_tr, x_te, y_te = split(t.x, t.y, seed)
    x_fit, y_fit, x_val, y_val = split(x_tr, y_tr, seed + 10_000, test_fraction=0.25)
    as_x = functools.partial(torch.tensor, dtype=torch.float32)
    as_y = functools.partial(torch.tensor, dtype=torch.int64)
    for how in hows:
        data = (
            as_x(preprocess(x_fit, how)),
            as_y(y_fit),
            as_x(preprocess(x_te, how, fit=x_fit)),
            as_y(y_te),
        )
        net = _net(seed, (30, HIDDEN, 2))
        val_x = as_x(preprocess(x_val, how, fit=x_fit))
        losses, val, acc = _batched_gd(net, data, lrs, steps, val_x, as_y(y_val))
        best = int(np.argmin(val))
        out.train_loss[how] = losses[-1]
        out.val_loss[how] = val
        out.best_lr[how] = float(lrs[best])
        out.best_loss[how] = float(losses[-1, best])
        out.test_acc[how] = float(acc[best])
        out.curve[how] = losses[:, best]
    return out


# ------------------------------------------------------------------------------ leakage


LEAK_TRAIN_SIZES = (20, 398)
"""Training-set sizes of :func:`run_leakage`: a small one, and the whole 70 % split."""
BATCH_SIZES = (1, 2, 4, 16, 171)


@dataclass
class LeakageResult:
    """Test accuracy of a logistic regression under different ways of fitting the statistics.

    Attributes
    ----------
    honest : dict of int to float
        Per training size: statistics from the training rows only.
    leaky : dict of int to float
        Statistics from the training rows and the whole test split together.
    own_batch : dict of int to float
        Per test batch size (full training set): each test batch standardized with its own
        mean and std; a constant feature in a batch maps to 0.
    """

    honest: dict[int, float] = field(default_factory=dict)
    leaky: dict[int, float] = field(default_factory=dict)
    own_batch: dict[int, float] = field(default_factory=dict)


def _standardize_with(x, mean, std):
    safe = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
    return np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), (x - mean) / safe, 0.0)


def run_leakage(
    seed: int = 0, train_sizes=LEAK_TRAIN_SIZES, batch_sizes=BATCH_SIZES
) -> LeakageResult:
    """Logistic regression (scikit-learn, C = 1) on breast cancer, three ways to standardize.

    For each training size the training rows are a stratified subsample of the seed's
    training split, the test split is the seed's 30 %. About 0.1 s.
    """
    from sklearn.linear_model import LogisticRegression

    t = load_table()
    x_tr, y_tr, x_te, y_te = split(t.x, t.y, seed)
    rng = np.random.default_rng([seed, 1])
    out = LeakageResult()
    for size in train_sizes:
        if size < len(y_tr):
            keep = np.concatenate(
                [rng.choice(np.flatnonzero(y_tr == c), size // 2, replace=False) for c in (0, 1)]
            )
        else:
            keep = np.arange(len(y_tr))
        xs, ys = x_tr[keep], y_tr[keep]
        for fit_rows, target in [(xs, out.honest), (np.vstack([xs, x_te]), out.leaky)]:
            mean, std = fit_rows.mean(axis=0), fit_rows.std(axis=0)
            model = LogisticRegression(C=1.0, max_iter=2000)
            model.fit(_standardize_with(xs, mean, std), ys)
            target[size] = float(model.score(_standardize_with(x_te, mean, std), y_te))
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
    model = LogisticRegression(C=1.0, max_iter=2000).fit(_standardize_with(x_tr, mean, std), y_tr)
    order = rng.permutation(len(y_te))
    for k in batch_sizes:
        correct = 0
        for start in range(0, len(order), k):
            rows = order[start : start + k]
            batch = x_te[rows]
            z = _standardize_with(batch, batch.mean(axis=0), batch.std(axis=0))
            correct += int((model.predict(z) == y_te[rows]).sum())
        out.own_batch[k] = correct / len(y_te)
    return out


# -------------------------------------------------------------------------------- drift


@dataclass
class DriftResult:
    """Scale of each hidden layer's pre-activations while a deep tanh net trains.

    Attributes
    ----------
    steps : ndarray, shape (T,)
    std : ndarray, shape (T, depth)
        Standard deviation (over training rows and units) of each hidden layer's
        pre-activations, measured in eval mode at each recorded step.
    mean : ndarray, shape (T, depth)
        Their mean over training rows and units.
    input_std : float
        Standard deviation of the (standardized) input: 1 throughout.
    lr : float
    """

    steps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    std: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    mean: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    input_std: float = 1.0
    lr: float = 0.0


def run_drift(
    seed: int = 0,
    depth: int = 6,
    width: int = 32,
    steps: int = 300,
    lr: float = 0.3,
    every: int = 10,
) -> DriftResult:
    """Minibatch SGD (batch 32) on standardized breast cancer with a ``depth``-layer tanh net.

    Records, every ``every`` steps, the scale of every hidden layer's pre-activations on the
    whole training split. About 1 s.
    """
    import torch

    from bncourse.experiments._common import fast_torch, layer_inputs, seeded, train

    fast_torch()
    data = _tensors(seed, "standardize")
    net = _net(seed, (30, *([width] * depth), 2))
    gen, _ = seeded(seed)

    def record(model, step):
        pre = layer_inputs(model, data[0], torch.nn.Tanh)
        return {"std": [float(p.std()) for p in pre], "mean": [float(p.mean()) for p in pre]}

    hist = train(
        net,
        data,
        steps=steps,
        lr=lr,
        batch_size=32,
        eval_every=every,
        eval_at_start=True,
        generator=gen,
        record=record,
    )
    return DriftResult(
        steps=np.array(hist.steps),
        std=np.array(hist.extra["std"]),
        mean=np.array(hist.extra["mean"]),
        input_std=float(data[0].std()),
        lr=lr,
    )


def plot_drift(result: DriftResult, ax=None):
    """Each hidden layer's pre-activation std against the training step (colour: depth)."""
    import matplotlib.pyplot as plt

    fig, ax = plotting.figure(ax)
    depth = result.std.shape[1]
    colors = plt.cm.viridis(np.linspace(0, 0.9, depth))
    for layer in range(depth):
        ax.plot(result.steps, result.std[:, layer], color=colors[layer], label=f"layer {layer + 1}")
    ax.axhline(result.input_std, color="k", ls=":", lw=1, label="input")
    ax.set(xlabel="SGD step", ylabel="std of the pre-activations", yscale="log")
    ax.legend(fontsize="small", ncol=2)
    return plotting.finish(fig)


# ---------------------------------------------------------------------- the full run

SEEDS = tuple(range(10))
"""Seeds of every claim (``>= 10``)."""
LEAK_SEEDS = tuple(range(20))
"""Seeds of the leakage claim, an equivalence ("no difference") claim: ``>= 20``."""
RESULTS = Path(__file__).with_name("results") / "ch1_standardizing.json"
"""The committed results of :func:`run_all` (``make experiments`` rewrites them)."""

CLAIMS = {
    "conditioning": "raw kappa (pair) > 1e8, min-max 10-1000, standardized < 3 (medians)",
    "gradient_descent": "largest stable lr within one grid step below 2/lambda_max; "
    "raw not within 3000 steps, min-max >= 20 steps, standardized <= 3 (medians)",
    "init": "raw: > 90% of first-layer tanh units saturated and a max/min gradient spread "
    "> 1e4 over features; standardized: < 5% and < 1e2 (medians)",
    "training": "standardized test accuracy exceeds raw by > 3 points: the 95% CI of the "
    "median paired difference lies above 0.03; raw's tuned lr is below standardized's",
    "leakage": "equivalence, margin 2 points fixed in advance: the 95% CI of the mean of "
    "(leaky - honest) test accuracy lies inside [-0.02, 0.02] at 20 and 398 training rows",
    "own_batch": "test batches standardized with their own statistics: batch of 1 at most "
    "the majority-class rate + 1 point, accuracy rising with batch size (medians)",
    "drift": "a 6-layer tanh net on standardized inputs: the median over seeds of the "
    "largest change of a hidden layer's pre-activation std over 300 steps is >= 2x",
}
"""The claims, written before the full run; ``tests/test_experiments_ch1.py`` asserts them."""


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def run_all(seeds=SEEDS, leak_seeds=LEAK_SEEDS) -> dict[str, Any]:
    """Every network experiment over its seeds, as plain JSON-ready data. About 2 minutes.

    The NumPy experiments (conditioning, gradient descent, contours) take milliseconds to a
    second per seed; the tests and the chapter re-run them instead of storing them.
    """
    out: dict[str, Any] = {"claims": CLAIMS, "seeds": list(seeds), "leak_seeds": list(leak_seeds)}
    timings: dict[str, float] = {}
    for name, fn, keep, these in [
        ("init", run_init, ("preact_std", "saturated", "grad_spread", "grad_norm"), seeds),
        ("training", run_training, ("best_lr", "test_acc", "best_loss", "curve"), seeds),
        ("leakage", run_leakage, ("honest", "leaky", "own_batch"), leak_seeds),
        ("drift", run_drift, ("steps", "std", "mean", "input_std"), seeds),
    ]:
        start = time.perf_counter()
        out[name] = [{"seed": s, **{k: getattr(fn(s), k) for k in keep}} for s in these]
        timings[name] = time.perf_counter() - start
    import sklearn
    import torch

    out["timings_s"] = timings
    out["versions"] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
    }
    out["written"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return _jsonable(out)


def load_results(path: Path | str = RESULTS) -> dict[str, Any]:
    """The committed results of :func:`run_all` (``None`` stands for a non-finite number)."""
    return json.loads(Path(path).read_text())


EXPERIMENTS = {
    "standardize: kappa of X^T X / N": run_conditioning,
    "standardize: GD steps, stable lr": run_gradient_descent,
    "standardize: loss contours and paths": run_contours,
    "standardize: net at init": run_init,
    "standardize: net trained, lr tuned per arm": run_training,
    "standardize: leakage and own-batch statistics": run_leakage,
    "standardize: hidden scale drifts": run_drift,
}

if __name__ == "__main__":  # make experiments
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(run_all(), indent=1) + "\n")
    print(RESULTS, file=sys.stderr)
