"""Why normalize inputs: gradient descent on raw, min-max scaled and standardized features.

The motivation BN starts from (Ioffe & Szegedy 2015, Sec. 2, citing LeCun et al. 1998,
"Efficient BackProp", and Wiesler & Ney 2011): a network trains faster when its inputs
are whitened -- zero mean, unit variance, decorrelated. For a linear model with squared
loss this is exact: the loss is a quadratic whose Hessian is ``X^T X / n``, gradient
descent is stable only for learning rates below ``2 / lambda_max``, and the number of steps
it needs grows with the condition number ``kappa = lambda_max / lambda_min``. Features on
very different scales (and with far-from-zero means) give a huge ``kappa``.

Our version uses NumPy only: linear regression with a bias on two synthetic features of
very different scale and offset (``x1`` about 2 +/- 1, ``x2`` about 300 +/- 100, say a
count and an area; correlated, as real features often are), in four versions -- raw,
min-max scaled to [0, 1], standardized, whitened -- and measures:

* the Hessian's condition number;
* the largest stable learning rate of full-batch gradient descent, found by a sweep,
  next to the theory's ``2 / lambda_max``;
* the steps to bring the loss within 1 % of the way from its start to its minimum, at the
  best learning rate of the sweep;
* the loss surface of the two-weight model without bias (:func:`run_contours`):
  elongated for raw features, still elongated after min-max scaling (which fixes the
  scales but not the offsets), nearly round after standardizing (what is left is the
  correlation), exactly round after whitening.

This is the textbook result, and it reproduces exactly. What the chapter must add: inputs
are only the first layer; BN applies standardization (not whitening: the paper's Sec. 3
explains why it skips decorrelation) to every layer's input, per minibatch and per unit.

Book section: "Normalizing inputs" (chapter on the motivation for BN).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bncourse.experiments._common import new_axes

__all__ = [
    "PREPROCESSINGS",
    "make_features",
    "preprocess",
    "StandardizeResult",
    "run_standardize",
    "plot_standardize",
    "ContourResult",
    "run_contours",
    "plot_contours",
    "EXPERIMENTS",
]

PREPROCESSINGS = ("raw", "minmax", "standardize", "whiten")


def make_features(seed: int = 0, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Two correlated features on very different scales and a target that depends on both.

    ``x1 = 2 + z1``, ``x2 = 300 + 100 (0.6 z1 + 0.8 z2)`` with ``z1, z2 ~ N(0, 1)`` (so
    their correlation is 0.6), and ``y = 1.5 x1 + 0.02 x2 - 4 + N(0, 0.5**2)``.

    Returns
    -------
    x : ndarray, shape (n, 2)
    y : ndarray, shape (n,)
    """
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 2))  # (n, 2)
    x = np.column_stack([2.0 + z[:, 0], 300.0 + 100.0 * (0.6 * z[:, 0] + 0.8 * z[:, 1])])
    y = 1.5 * x[:, 0] + 0.02 * x[:, 1] - 4.0 + rng.normal(0.0, 0.5, n)  # (n,)
    return x, y


def preprocess(x: np.ndarray, how: str) -> np.ndarray:
    """Apply one of :data:`PREPROCESSINGS` column by column; x has shape (n, d).

    ``"minmax"`` maps each column to [0, 1]; ``"standardize"`` to mean 0 and (biased)
    standard deviation 1, using the column's own statistics; ``"whiten"`` also removes
    the correlation (PCA whitening: the covariance becomes the identity).
    """
    if how == "raw":
        return x.copy()
    if how == "minmax":
        lo, hi = x.min(axis=0), x.max(axis=0)
        return (x - lo) / (hi - lo)
    if how == "standardize":
        return (x - x.mean(axis=0)) / x.std(axis=0)
    if how == "whiten":
        centered = x - x.mean(axis=0)  # (n, d)
        eig, vec = np.linalg.eigh(centered.T @ centered / len(x))  # biased covariance
        return centered @ vec / np.sqrt(eig)
    raise ValueError(f"how must be one of {PREPROCESSINGS}, got {how!r}")


def _quadratic(x: np.ndarray, y: np.ndarray, bias: bool):
    """Loss L(w) = mean((X w - y)**2) / 2 as (H, b, c): L = w.H.w / 2 - b.w + c."""
    design = np.column_stack([x, np.ones(len(x))]) if bias else x  # (n, d)
    n = len(y)
    return design.T @ design / n, design.T @ y / n, float(y @ y) / (2 * n)


@dataclass
class StandardizeResult:
    """Per preprocessing, what gradient descent experiences.

    Attributes
    ----------
    condition : dict of str to float
        ``lambda_max / lambda_min`` of the Hessian (with the bias).
    lr_theory : dict of str to float
        ``2 / lambda_max``: gradient descent is stable below it.
    lr_max_stable : dict of str to float
        Largest learning rate of the sweep whose loss did not grow.
    steps_to_target : dict of str to int or None
        Fewest steps, over the sweep, to close 99 % of the gap between the initial and
        the minimal loss (``None``: not within ``max_steps``).
    best_lr : dict of str to float or None
        The learning rate that achieved ``steps_to_target``.
    final_gap : dict of str to float
        ``(L - L*) / (L0 - L*)`` after ``max_steps`` at ``best_lr`` (or, when the target was
        not reached, at the largest stable learning rate).
    lrs : ndarray
        The swept learning rates.
    curves : dict of str to ndarray, shape (max_steps + 1,)
        Loss minus its minimum along the run at ``best_lr`` (or the largest stable lr).
    """

    condition: dict[str, float] = field(default_factory=dict)
    lr_theory: dict[str, float] = field(default_factory=dict)
    lr_max_stable: dict[str, float] = field(default_factory=dict)
    steps_to_target: dict[str, int | None] = field(default_factory=dict)
    best_lr: dict[str, float | None] = field(default_factory=dict)
    final_gap: dict[str, float] = field(default_factory=dict)
    lrs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    curves: dict[str, np.ndarray] = field(default_factory=dict)


def run_standardize(
    seed: int = 0, max_steps: int = 5000, tol: float = 0.01, n: int = 500
) -> StandardizeResult:
    """Full-batch gradient descent on linear regression, for each preprocessing.

    Parameters
    ----------
    seed : int
        Draws the data (:func:`make_features`).
    max_steps : int
        Steps per run.
    tol : float
        Target: ``L - L* <= tol * (L0 - L*)``.
    n : int
        Number of examples.

    Returns
    -------
    StandardizeResult

    Notes
    -----
    Learning rates are swept on a log grid (8 per decade) from 1e-8 to 10, all runs
    vectorized over the grid; weights start at 0. Because the loss is quadratic, gradient
    descent on it is exactly ``w <- w - lr (H w - b)``. About 0.5 s.
    """
    x, y = make_features(seed, n)
    lrs = np.logspace(-8, 1, 73)  # (L,)
    result = StandardizeResult(lrs=lrs)
    for how in PREPROCESSINGS:
        h, b, c = _quadratic(preprocess(x, how), y, bias=True)
        eig = np.linalg.eigvalsh(h)
        w_star = np.linalg.solve(h, b)
        l_star = c - 0.5 * b @ w_star
        w = np.zeros((len(b), len(lrs)))  # (d, L), one column per learning rate
        gaps = np.empty((max_steps + 1, len(lrs)))
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(max_steps + 1):
                gaps[t] = np.einsum("il,ij,jl->l", w, h, w) / 2 - b @ w + c - l_star
                w -= lrs * (h @ w - b[:, None])
        gaps = np.where(np.isfinite(gaps), gaps, np.inf)
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
            shown = int(np.flatnonzero(stable)[-1])
        result.curves[how] = gaps[:, shown]
        result.final_gap[how] = float(gaps[-1, shown] / gaps[0, shown])
    return result


def plot_standardize(result: StandardizeResult, ax=None):
    """Loss gap against the step for each preprocessing, at its best learning rate.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = new_axes(ax, width=5.0)
    for how, curve in result.curves.items():
        steps = result.steps_to_target[how]
        label = f"{how}: kappa {result.condition[how]:.3g}, " + (
            f"{steps} steps" if steps is not None else "not reached"
        )
        ax.semilogy(np.maximum(curve, 1e-12), label=label)
    ax.set(xlabel="gradient descent step", ylabel="loss - min loss")
    ax.legend(fontsize="small")
    return fig


@dataclass
class ContourResult:
    """The loss of the two-weight model (no bias) on a grid around its minimum.

    Attributes
    ----------
    w1, w2 : dict of str to ndarray, shape (grid,)
        Grid coordinates per preprocessing.
    loss : dict of str to ndarray, shape (grid, grid)
        ``loss[how][i, j]`` at ``(w1[j], w2[i])``, minus the minimum.
    w_star : dict of str to ndarray, shape (2,)
    condition : dict of str to float
        Condition number of the 2 x 2 Hessian (the contours' axis ratio is its sqrt).
    """

    w1: dict[str, np.ndarray] = field(default_factory=dict)
    w2: dict[str, np.ndarray] = field(default_factory=dict)
    loss: dict[str, np.ndarray] = field(default_factory=dict)
    w_star: dict[str, np.ndarray] = field(default_factory=dict)
    condition: dict[str, float] = field(default_factory=dict)


def run_contours(seed: int = 0, grid: int = 81, n: int = 500) -> ContourResult:
    """Loss surfaces of ``y ~ w1 x1 + w2 x2`` (no bias) for each preprocessing.

    The grid spans the level set ``L - L* = 1`` along both eigen-directions of the
    Hessian, so it always contains the whole ellipse, however elongated.

    Returns
    -------
    ContourResult
    """
    x, y = make_features(seed, n)
    out = ContourResult()
    for how in PREPROCESSINGS:
        h, b, c = _quadratic(preprocess(x, how), y, bias=False)
        eig, vec = np.linalg.eigh(h)
        w_star = np.linalg.solve(h, b)
        reach = np.abs(vec) @ np.sqrt(2.0 / eig) * 1.3  # (2,), half-widths of the box
        w1 = np.linspace(w_star[0] - reach[0], w_star[0] + reach[0], grid)
        w2 = np.linspace(w_star[1] - reach[1], w_star[1] + reach[1], grid)
        d1, d2 = np.meshgrid(w1 - w_star[0], w2 - w_star[1])  # (grid, grid)
        out.loss[how] = 0.5 * (h[0, 0] * d1**2 + 2 * h[0, 1] * d1 * d2 + h[1, 1] * d2**2)
        out.w1[how], out.w2[how], out.w_star[how] = w1, w2, w_star
        out.condition[how] = float(eig[-1] / eig[0])
    return out


def plot_contours(result: ContourResult, ax=None):
    """Contours of the loss for each preprocessing, on equal axes.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = new_axes(ax, ncols=len(result.loss), width=3.4, height=3.4)
    for axis, how in zip(np.ravel(axes), result.loss, strict=True):
        axis.contour(result.w1[how], result.w2[how], result.loss[how], levels=[0.05, 0.2, 0.5, 1])
        axis.plot(*result.w_star[how], "k+")
        axis.set(xlabel="w1", ylabel="w2", title=f"{how} (kappa {result.condition[how]:.3g})")
        axis.set_aspect("equal", adjustable="datalim")
    return fig


EXPERIMENTS = {
    "standardize: GD steps, stable lr, kappa": run_standardize,
    "standardize: loss contours": run_contours,
}
