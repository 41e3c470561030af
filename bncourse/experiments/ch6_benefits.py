"""Two mechanical benefits of BN: scale invariance, and the noise of batch statistics.

Scale invariance (Ioffe & Szegedy 2015, Sec. 3.3): for a layer ``BN(W u)`` and any
``a > 0``, ``BN((a W) u) = BN(W u)`` and ``dL/d(a W) = (1 / a) dL/dW``. Larger weights get
smaller gradients, which the paper credits for stabilising training at high learning
rates. A corollary used by later work: the gradient is orthogonal to ``W``
(``<W, dL/dW> = 0`` row by row), so plain gradient steps can only grow ``||W||``.

Regularising noise (Sec. 3.4): in training mode an example's output depends on the other
examples of its batch, through the batch mean and variance. :func:`run_noise` measures,
for fixed examples, the spread of their BN output across random batches of size N; the
batch mean's fluctuation is ``sigma / sqrt(N)``, so the spread falls roughly like
``1 / sqrt(N)`` (a little faster at very small N, where the batch variance is also noisy).

Both are exact properties of the transform, so they reproduce at any scale; the paper's
further claim that this noise can replace Dropout is not tested here.

Book section: "Why BN helps" (chapter on the benefits of BN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from bncourse.experiments._common import (
    batch_norm_1d,
    fast_torch,
    mnist_tensors,
    new_axes,
    seeded,
)

__all__ = [
    "ScaleResult",
    "run_scale_invariance",
    "plot_scale_invariance",
    "NoiseResult",
    "run_noise",
    "plot_noise",
    "EXPERIMENTS",
]


@dataclass
class ScaleResult:
    """How BN's output and weight gradient respond to scaling the weights before it.

    Attributes
    ----------
    scales : list of float
        The factors ``a`` applied to ``W``.
    out_maxdiff : list of float
        ``max |out(a W) - out(W)|`` over the batch (0 up to rounding and ``eps``).
    grad_ratio : list of float
        ``||dL/d(a W)|| / ||dL/dW||`` (expected ``1 / a``).
    grad_cosine : list of float
        Cosine between ``dL/d(a W)`` and ``dL/dW`` (expected 1: same direction).
    orthogonality : float
        ``max_rows |<W_j, dL/dW_j>| / (||W_j|| ||dL/dW_j||)`` at ``a = 1`` (expected 0).
    """

    scales: list[float]
    out_maxdiff: list[float]
    grad_ratio: list[float]
    grad_cosine: list[float]
    orthogonality: float


def run_scale_invariance(
    seed: int = 0,
    scales: tuple[float, ...] = (0.1, 0.5, 2.0, 10.0, 100.0),
    width: int = 64,
    batch_size: int = 128,
) -> ScaleResult:
    """Scale the weights of ``Linear(784, width) -> BN -> ReLU -> Linear(width, 10)``.

    The net runs in float64 on a batch of MNIST digits, in training mode, with
    cross-entropy loss; only the first layer's weights are scaled. Its bias is left out
    (BN's mean subtraction would cancel it anyway, and a bias that is not scaled with
    ``W`` would break the exact invariance).

    Parameters
    ----------
    seed : int
        Draws the weights and the batch.
    scales : tuple of float
        Factors ``a > 0``.
    width, batch_size : int

    Returns
    -------
    ScaleResult

    Notes
    -----
    ``eps`` makes the invariance approximate for tiny ``a``: the normalization divides by
    ``sqrt(a**2 var + eps)``, so for ``a**2 var`` near ``eps`` outputs shrink. Milliseconds.
    """
    fast_torch()
    if min(scales) <= 0:
        raise ValueError(f"scales must be positive, got {scales}")
    gen, rng = seeded(seed)
    data = mnist_tensors()
    idx = torch.from_numpy(rng.choice(data.x_train.shape[0], batch_size, replace=False))
    x, y = data.x_train[idx].double(), data.y_train[idx]  # (N, 784), (N,)
    w0 = torch.randn(width, 784, generator=gen, dtype=torch.float64) * np.sqrt(2 / 784)
    bn = batch_norm_1d(width, dtype=torch.float64).train()
    head = nn.Linear(width, 10, dtype=torch.float64)
    with torch.no_grad():
        head.weight.normal_(0.0, np.sqrt(1 / width), generator=gen)
        head.bias.zero_()

    def forward(a: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        w = (a * w0).requires_grad_(True)  # (width, 784), a leaf
        out = bn(x @ w.T)  # (N, width)
        loss = nn.functional.cross_entropy(head(torch.relu(out)), y)
        (grad,) = torch.autograd.grad(loss, w)
        return out.detach(), grad, w.detach()

    out1, g1, w1 = forward(1.0)
    maxdiff, ratio, cosine = [], [], []
    for a in scales:
        out_a, g_a, _ = forward(a)
        maxdiff.append(float((out_a - out1).abs().max()))
        ratio.append(float(g_a.norm() / g1.norm()))
        cosine.append(float((g_a * g1).sum() / (g_a.norm() * g1.norm())))
    rows = (w1 * g1).sum(dim=1).abs() / (w1.norm(dim=1) * g1.norm(dim=1))  # (width,)
    return ScaleResult(list(scales), maxdiff, ratio, cosine, float(rows.max()))


def plot_scale_invariance(result: ScaleResult, ax=None):
    """Gradient norm ratio against the weight scale, with the ``1 / a`` line.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = new_axes(ax, width=4.5)
    a = np.asarray(result.scales)
    ax.loglog(a, result.grad_ratio, "o", label="measured ||dL/d(aW)|| / ||dL/dW||")
    ax.loglog(a, 1 / a, "--", label="1 / a")
    ax.set(xlabel="weight scale a", ylabel="gradient norm ratio")
    ax.legend(fontsize="small")
    return fig


@dataclass
class NoiseResult:
    """Spread of fixed examples' BN outputs across random batches, per batch size.

    Attributes
    ----------
    batch_sizes : list of int
    spread : ndarray, shape (len(batch_sizes),)
        Standard deviation of an example's normalized value across batches, averaged over
        the fixed examples and the channels.
    slope : float
        Least-squares slope of ``log(spread)`` against ``log(N)`` (about -0.5).
    """

    batch_sizes: list[int]
    spread: np.ndarray
    slope: float


def run_noise(
    seed: int = 0,
    batch_sizes: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256),
    draws: int = 200,
    examples: int = 8,
    channels: int = 32,
) -> NoiseResult:
    """Normalize a few fixed examples inside many random batches and measure the spread.

    Features are ``channels`` random projections of MNIST digits (fixed, He-scaled). For
    each batch size N and each of ``draws`` draws, a fixed example joins N - 1 random
    other training digits and the batch goes through BN in training mode.

    Parameters
    ----------
    seed : int
    batch_sizes : tuple of int
        Each at least 2.
    draws : int
        Random batches per (example, N).
    examples, channels : int

    Returns
    -------
    NoiseResult

    Notes
    -----
    About 0.5 s.
    """
    fast_torch()
    if min(batch_sizes) < 2:
        raise ValueError(f"batch sizes must be at least 2, got {batch_sizes}")
    gen, _ = seeded(seed)
    data = mnist_tensors()
    proj = torch.randn(784, channels, generator=gen) * np.sqrt(2 / 784)  # (784, C)
    feats = data.x_train @ proj  # (4000, C)
    n = feats.shape[0]
    fixed = torch.randperm(n, generator=gen)[:examples]
    spread = []
    with torch.no_grad():
        for size in batch_sizes:
            others = torch.randint(0, n - 1, (examples, draws, size - 1), generator=gen)
            others += (others >= fixed[:, None, None]).long()  # never the example itself
            batches = torch.cat(
                [
                    feats[fixed][:, None, None, :].expand(examples, draws, 1, channels),
                    feats[others],
                ],
                dim=2,
            )  # (examples, draws, N, C), the fixed example first
            # Every (example, draw, channel) column is its own BN channel: one call
            # normalizes all the batches at once, each with its own statistics.
            cols = batches.permute(2, 0, 1, 3).reshape(size, -1)  # (N, examples*draws*C)
            bn = batch_norm_1d(cols.shape[1], affine=False).train()
            out = bn(cols)[0].reshape(examples, draws, channels)  # the fixed examples' outputs
            spread.append(float(out.std(dim=1).mean()))
    spread_arr = np.asarray(spread)
    slope = float(np.polyfit(np.log(batch_sizes), np.log(spread_arr), 1)[0])
    return NoiseResult(list(batch_sizes), spread_arr, slope)


def plot_noise(result: NoiseResult, ax=None):
    """Spread of an example's BN output against the batch size, with a ``1/sqrt(N)`` guide.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = new_axes(ax, width=4.5)
    n = np.asarray(result.batch_sizes, dtype=float)
    ax.loglog(n, result.spread, "o-", label=f"measured (slope {result.slope:.2f})")
    ax.loglog(n, result.spread[-1] * np.sqrt(n[-1] / n), "--", label="1 / sqrt(N)")
    ax.set(xlabel="batch size N", ylabel="std of an example's BN output")
    ax.legend(fontsize="small")
    return fig


EXPERIMENTS = {
    "scale invariance": run_scale_invariance,
    "batch-statistics noise vs N": run_noise,
}
