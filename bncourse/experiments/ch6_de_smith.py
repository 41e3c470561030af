"""De & Smith (2020): BN makes a deep residual network start close to the identity.

The paper (arXiv 2002.10444, NeurIPS 2020) argues that in a residual network
``x_{l+1} = x_l + f_l(x_l)`` with BN on the residual branch, the branch's output has
variance of order 1 while the skip path ``x_l`` accumulates the variance of every block
before it: ``Var(x_{l+1}) = Var(x_l) + O(1)``, so the skip variance grows about linearly in
``l`` and block ``l``'s branch contributes only about ``1/l`` of its output -- BN
"downscales the residual branch relative to the skip connection, by a normalizing factor
on the order of the square root of the network depth". Without normalisation (and with He
initialisation) each block instead doubles the variance, ``Var(x_l) ~ 2^l``. Their
*SkipInit* multiplies each residual branch by a learnable scalar ``alpha`` initialised
at 0 (or below ``1/sqrt(depth)``), which makes every block the identity at
initialisation and lets them train deep unnormalised ResNets (up to 1,000 layers, their
Table 1).

Our version: a *residual MLP* (the same variance algebra as their pre-activation
ResNet-v2, with fully connected layers): a 784 -> 128 linear stem, ``depth`` blocks
``x + alpha * W relu(BN(x))`` (BN left out in the unnormalised variants, ``alpha`` only in
SkipInit), then ``relu(BN(x))`` (or ``relu(x)``) and a linear head; He initialisation
throughout. Two runs:

* :func:`run_signal_propagation` (the paper's signal-propagation plots): per-block
  variance of the skip path and of the residual branch at initialisation, on 256 training
  digits. With BN the skip variance grows linearly with slope close to the branch
  variance (about 0.68, not 1: the per-unit batch variance of ``W relu(z)`` for standard
  normal ``z`` is ``2 (1/2 - 1/(2 pi)) = 0.68``, because the mean of ``relu(z)`` is not a
  variance); without normalisation it doubles per block; with SkipInit it stays constant.
* :func:`run_skipinit` (the paper's Table 1 claim, at depth 50): momentum SGD trains the BN
  net and the SkipInit net to 93-94 % test accuracy in 100 steps, while the unnormalised
  net starts at a loss of 1e7-1e8 (its logits are that large) and its first step makes
  the weights NaN -- at every learning rate we tried, down to ``1e-5``.

Where we differ from the paper: we use a residual MLP, not a ResNet, at depth 50, not
1,000; we do not reproduce its batch-size and regularisation results (the small-batch
regularisation effect would be within seed noise on 4,000 digits).

Book section: "Why BN helps residual networks" (chapter on what BN really does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from bncourse.experiments._common import (
    batch_norm_1d,
    diverged,
    fast_torch,
    mnist_tensors,
    new_axes,
    seeded,
    train,
)

__all__ = [
    "VARIANTS",
    "ResidualMLP",
    "residual_mlp",
    "SignalPropagationResult",
    "run_signal_propagation",
    "plot_signal_propagation",
    "SkipInitResult",
    "run_skipinit",
    "plot_skipinit",
    "EXPERIMENTS",
]

#: name -> (normalisation, initial alpha). ``alpha=None``: no scalar on the branch;
#: ``"1/sqrt(depth)"``: SkipInit's upper bound for the initial alpha.
VARIANTS: dict[str, tuple[str, float | str | None]] = {
    "BN": ("bn", None),
    "no norm": ("none", None),
    "SkipInit": ("none", 0.0),
    "SkipInit 1/sqrt(d)": ("none", "1/sqrt(depth)"),
}


def _he_linear(n_in: int, n_out: int, generator: torch.Generator | None) -> nn.Linear:
    """A Linear layer with He-normal weights, std ``sqrt(2 / n_in)``, and zero bias."""
    layer = nn.Linear(n_in, n_out)
    with torch.no_grad():
        layer.weight.normal_(0.0, math.sqrt(2.0 / n_in), generator=generator)
        layer.bias.zero_()
    return layer


class _Block(nn.Module):
    """``x + alpha * W relu(BN(x))``; BN only if ``norm == "bn"``, alpha only if given."""

    def __init__(self, width: int, norm: str, alpha: float | None, generator) -> None:
        super().__init__()
        self.norm = batch_norm_1d(width) if norm == "bn" else nn.Identity()
        self.linear = _he_linear(width, width, generator)
        self.alpha = None if alpha is None else nn.Parameter(torch.tensor(float(alpha)))

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(torch.relu(self.norm(x)))  # (N, width)
        return out if self.alpha is None else self.alpha * out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


class ResidualMLP(nn.Module):
    """A pre-activation residual MLP: stem, ``depth`` residual blocks, ``relu(BN(.))``, head.

    Built by :func:`residual_mlp`. ``forward(x)`` maps (N, in_features) to (N, classes)
    logits; ``blocks[l].branch(x)`` is block ``l``'s residual branch.
    """

    def __init__(self, depth, width, norm, alpha, in_features, classes, generator) -> None:
        super().__init__()
        self.stem = _he_linear(in_features, width, generator)
        self.blocks = nn.ModuleList(_Block(width, norm, alpha, generator) for _ in range(depth))
        self.norm = batch_norm_1d(width) if norm == "bn" else nn.Identity()
        self.head = _he_linear(width, classes, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (N, width)
        for block in self.blocks:
            x = block(x)
        return self.head(torch.relu(self.norm(x)))  # (N, classes)


def residual_mlp(
    depth: int = 50,
    norm: str = "bn",
    alpha: float | str | None = None,
    *,
    width: int = 128,
    in_features: int = 784,
    classes: int = 10,
    generator: torch.Generator | None = None,
) -> ResidualMLP:
    """A residual MLP with blocks ``x + alpha * W relu(BN(x))`` (pre-activation, like ResNet-v2).

    Parameters
    ----------
    depth : int
        Number of residual blocks.
    norm : {"bn", "none"}
        ``"bn"``: ``bnref.torch.BatchNorm1d`` at the start of every branch and before the
        head. ``"none"``: no normalisation anywhere.
    alpha : float or "1/sqrt(depth)" or None
        SkipInit: a learnable scalar multiplying every branch, initialised to this value.
        ``None``: no scalar.
    width, in_features, classes : int
        Units per block, input features, logits.
    generator : torch.Generator, optional
        Draws the He-normal initial weights (std ``sqrt(2 / fan_in)``, zero biases).

    Returns
    -------
    ResidualMLP
    """
    if norm not in ("bn", "none"):
        raise ValueError(f"norm must be 'bn' or 'none', got {norm!r}")
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be positive, got {depth}, {width}")
    if alpha == "1/sqrt(depth)":
        alpha = 1.0 / math.sqrt(depth)
    elif alpha is not None and not isinstance(alpha, int | float):
        raise ValueError(f"alpha must be a number, '1/sqrt(depth)' or None, got {alpha!r}")
    return ResidualMLP(depth, width, norm, alpha, in_features, classes, generator)


def _check_variants(names) -> tuple[str, ...]:
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    return tuple(names)


# ------------------------------------------------------------------ signal propagation


@dataclass
class SignalPropagationResult:
    """Per-block statistics at initialisation, for every variant.

    Attributes
    ----------
    depth : int
    skip_var : dict of str to ndarray, shape (depth,)
        ``skip_var[name][l]``: the variance of the skip path ``x_l`` entering block ``l``
        (the batch variance of each unit, averaged over units).
    branch_var : dict of str to ndarray, shape (depth,)
        The same for block ``l``'s residual branch ``f_l(x_l)``.
    skip_mean_sq : dict of str to ndarray, shape (depth,)
        The squared batch mean of each unit of ``x_l``, averaged over units (the paper's
        "squared channel mean").
    """

    depth: int
    skip_var: dict[str, np.ndarray] = field(default_factory=dict)
    branch_var: dict[str, np.ndarray] = field(default_factory=dict)
    skip_mean_sq: dict[str, np.ndarray] = field(default_factory=dict)

    def linear_slope(self, name: str) -> float:
        """Least-squares slope of ``skip_var`` against the block index."""
        v = self.skip_var[name]
        return float(np.polyfit(np.arange(len(v)), v, 1)[0])

    def log2_slope(self, name: str, start: int = 0) -> float:
        """Least-squares slope of ``log2(skip_var)`` against the block index, from ``start``.

        1.0 means the variance doubles per block; about 0 means constant.
        """
        v = self.skip_var[name][start:]
        return float(np.polyfit(np.arange(start, start + len(v)), np.log2(v), 1)[0])

    def branch_to_skip(self, name: str) -> np.ndarray:
        """``branch_var / skip_var`` per block: how much each block changes its input."""
        return self.branch_var[name] / self.skip_var[name]


@torch.no_grad()
def _signal(model: ResidualMLP, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    skip_var, branch_var, mean_sq = [], [], []
    h = model.stem(x)  # (N, width)
    for block in model.blocks:
        f = block.branch(h)  # (N, width)
        skip_var.append(float(h.var(dim=0, unbiased=False).mean()))
        branch_var.append(float(f.var(dim=0, unbiased=False).mean()))
        mean_sq.append(float(h.mean(dim=0).square().mean()))
        h = h + f
    return np.array(skip_var), np.array(branch_var), np.array(mean_sq)


def run_signal_propagation(
    seed: int = 0,
    variants: tuple[str, ...] = tuple(VARIANTS),
    depth: int = 50,
    batch_size: int = 256,
    width: int = 128,
) -> SignalPropagationResult:
    """Measure skip-path and branch variance per block at initialisation.

    Reproduces the signal-propagation plots of De & Smith (2020): with BN the skip
    variance grows linearly (slope = the branch variance, about 0.68) and block ``l``'s
    branch carries about ``1 / l`` of the variance; with no normalisation the variance
    doubles per block (``2^l``, and branch/skip stays about 1); with SkipInit (``alpha =
    0``) it is constant, and with ``alpha = 1/sqrt(depth)`` it grows by a bounded factor.

    Parameters
    ----------
    seed : int
        Seeds the initial weights and the choice of digits.
    variants : tuple of str
        Names from :data:`VARIANTS`.
    depth : int
        Residual blocks.
    batch_size : int
        Training digits the statistics are taken over (BN normalises with this batch).
    width : int
        Units per block.

    Returns
    -------
    SignalPropagationResult

    Notes
    -----
    BN runs in training mode (batch statistics), as in the first training step; running
    statistics are not kept (the models are thrown away). Takes well under 1 s.
    """
    fast_torch()
    names = _check_variants(variants)
    data = mnist_tensors()
    _, rng = seeded(seed)
    idx = torch.from_numpy(rng.permutation(data.x_train.shape[0])[:batch_size])
    x = data.x_train[idx]  # (batch_size, 784)
    result = SignalPropagationResult(depth=depth)
    for name in names:
        norm, alpha = VARIANTS[name]
        gen, _ = seeded(seed)
        model = residual_mlp(depth, norm, alpha, width=width, generator=gen).train()
        s, b, m = _signal(model, x)
        result.skip_var[name], result.branch_var[name], result.skip_mean_sq[name] = s, b, m
    return result


def plot_signal_propagation(result: SignalPropagationResult, ax=None):
    """Skip-path and branch variance against block index, log scale (two panels).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = new_axes(ax, ncols=2, width=4.2)
    left, right = axes
    for name, v in result.skip_var.items():
        (line,) = left.semilogy(v, label=name)
        right.semilogy(result.branch_to_skip(name), color=line.get_color(), label=name)
    left.set(xlabel="residual block l", ylabel="Var(skip path $x_l$)", title="skip path")
    right.set(xlabel="residual block l", ylabel="Var(branch) / Var(skip)", title="branch vs skip")
    left.legend(fontsize="small")
    return fig


# -------------------------------------------------------------------------- training


@dataclass
class SkipInitResult:
    """Training runs of the deep residual MLP, one per variant.

    Attributes
    ----------
    depth : int
    lr : float
    test_acc : dict of str to float
        Test accuracy after training (0.1 is chance; a NaN net scores about that).
    diverged : dict of str to bool
        The training loss became NaN/inf.
    loss : dict of str to list of float
        Training minibatch loss of every step taken (the last may be NaN).
    curves : dict of str to (list of int, list of float)
        Steps and test accuracy recorded during training.
    """

    depth: int
    lr: float
    test_acc: dict[str, float] = field(default_factory=dict)
    diverged: dict[str, bool] = field(default_factory=dict)
    loss: dict[str, list[float]] = field(default_factory=dict)
    curves: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)


def run_skipinit(
    seed: int = 0,
    variants: tuple[str, ...] = ("BN", "no norm", "SkipInit"),
    depth: int = 50,
    lr: float = 0.05,
    steps: int = 100,
    batch_size: int = 128,
    momentum: float = 0.9,
) -> SkipInitResult:
    """Train the deep residual MLP with BN, without normalisation, and with SkipInit.

    Reproduces the paper's claim that SkipInit trains deep residual networks without
    normalisation that cannot be trained otherwise: at depth 50 the BN and SkipInit nets
    reach 93-94 % test accuracy in 100 steps, the unnormalised net goes to NaN at its
    first step.

    Parameters
    ----------
    seed : int
        Seeds initial weights and batches (the same for every variant).
    variants : tuple of str
        Names from :data:`VARIANTS`.
    depth : int
        Residual blocks.
    lr, momentum : float
        SGD settings (every variant gets the same).
    steps, batch_size : int

    Returns
    -------
    SkipInitResult

    Notes
    -----
    Training stops only on NaN/inf (not on a large but finite loss: the unnormalised net
    starts at a loss of about 1e7). About 4-8 s per trained net on one core (BN is the
    slower).
    """
    fast_torch()
    names = _check_variants(variants)
    data = mnist_tensors()
    result = SkipInitResult(depth=depth, lr=lr)
    for name in names:
        norm, alpha = VARIANTS[name]
        gen, _ = seeded(seed)
        model = residual_mlp(depth, norm, alpha, generator=gen)
        hist = train(
            model, data, steps=steps, lr=lr, momentum=momentum, batch_size=batch_size,
            eval_every=25, generator=gen, diverge_threshold=math.inf,
        )  # fmt: skip
        result.test_acc[name] = hist.test_acc[-1]
        result.diverged[name] = hist.diverged or diverged(hist.loss, math.inf)
        result.loss[name] = hist.loss
        result.curves[name] = (hist.steps, hist.test_acc)
    return result


def plot_skipinit(result: SkipInitResult, ax=None):
    """Training loss per step (log scale) for every variant; NaN steps are marked.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = new_axes(ax, width=5.0)
    for name, loss in result.loss.items():
        label = f"{name}: " + (
            "diverged (NaN)" if result.diverged[name] else f"test acc {result.test_acc[name]:.3f}"
        )
        finite = np.where(np.isfinite(loss), loss, np.nan)
        steps = np.arange(1, len(loss) + 1)
        ax.semilogy(steps, finite, marker="o" if len(loss) < 5 else None, label=label)
    ax.set(
        xlabel="step",
        ylabel="training loss",
        title=f"{result.depth}-block residual MLP, lr {result.lr:g}",
    )
    ax.legend(fontsize="small")
    return fig


EXPERIMENTS = {
    "De & Smith signal propagation": run_signal_propagation,
    "De & Smith SkipInit training": run_skipinit,
}
