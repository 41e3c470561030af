"""Bjorck, Gomes, Selman & Weinberger (2018): BN works by allowing larger learning rates.

The paper (arXiv 1806.02375, NeurIPS 2018) argues that "BN primarily enables training with
larger learning rates, which is the cause for faster convergence and better
generalization". Its evidence, on ResNet-110 / CIFAR-10:

* Sec. 2, Fig. 1: at a small learning rate the nets with and without BN reach similar
  accuracy; at larger rates the BN net does better and the unnormalised net diverges.
* Sec. 3: the *relative loss* after one SGD step, ``L(w - eta g) / L(w)``, measured at
  initialisation; a step "diverges" when it exceeds 10^3. Without BN this happens for step
  sizes above about 10^-3; with BN it does not.
* Sec. 4, Table 1: at initialisation the unnormalised net's gradients are large,
  heavy-tailed and *aligned* across examples (``|sum_i g_i|`` close to ``sum_i |g_i|``):
  the gradient is dominated by a data-independent direction, so a large step moves every
  example's output the same (wrong) way.

Our version, on 4,000 MNIST digits:

* :func:`run_lr_sweep`: a 6 x 128 ReLU MLP (He init) with and without BN, momentum SGD for
  150 steps at learning rates 0.01 ... 3. The plain net trains (test accuracy >= 0.85) up
  to 0.03 or 0.1 depending on the seed and diverges from 0.3 on; the BN net trains up to 1
  (0.91-0.94; 10-30x larger) and fails, without diverging, only at 3. At lr 0.01 both
  reach 0.91-0.92.
* :func:`run_relative_loss`: the relative loss of one step from initialisation, for the
  plain MLP and for a 16-block pre-activation residual MLP (:func:`residual_mlp`), each
  with and without BN. Without BN the residual net's relative loss passes 10^3 at
  ``eta = 0.01`` already (2e4-5e7; 1e17 and more, or NaN, at ``eta = 0.1``); with BN it
  stays below 5.3 at every step size up to 10. The plain 6-layer MLP diverges only at
  ``eta = 10``: the explosion needs depth.
* :func:`run_init_gradients`: 64 per-example gradients of the middle block's weight in the
  16-block residual MLP at initialisation. Without BN the mean gradient is 1,500-3,500x
  larger, its entries are heavy-tailed (kurtosis 15-32 against 3.6-5 with BN; 3 is
  Gaussian), and the per-example gradients are 1.9-3x more aligned (alignment 0.41-0.62
  against 0.20-0.22).

Where we differ from the paper: MLPs on MNIST, not ResNet-110 on CIFAR-10; no
generalisation gain from BN's larger learning rates at this scale (the best BN accuracy is
about one point above the best plain one, within what changing the seed does); our
residual MLP without BN already starts at a large loss (several hundred, not ln 10) because its
output variance grows like ``2^depth`` (see :mod:`bncourse.experiments.ch6_de_smith`).

Book section: "BN allows larger learning rates" (chapter on what BN really does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from bncourse.experiments._common import diverged, fast_torch, mlp, mnist_tensors, new_axes, seeded
from bncourse.experiments._common import train as _train
from bncourse.experiments.ch6_de_smith import residual_mlp

__all__ = [
    "LrSweepResult",
    "run_lr_sweep",
    "plot_lr_sweep",
    "RelativeLossResult",
    "run_relative_loss",
    "plot_relative_loss",
    "InitGradientsResult",
    "run_init_gradients",
    "plot_init_gradients",
    "EXPERIMENTS",
]

#: The net names used by every result: the plain MLP and the residual MLP, with or without BN.
NETS = ("MLP", "BN MLP", "ResMLP", "BN ResMLP")


def _build(name: str, depth: int, generator: torch.Generator) -> nn.Module:
    """``"MLP"``/``"BN MLP"``: 6 x 128 ReLU (He init); ``"ResMLP"``/``"BN ResMLP"``:
    :func:`residual_mlp` with ``depth`` blocks."""
    if name not in NETS:
        raise ValueError(f"unknown net {name!r}; choose from {NETS}")
    bn = name.startswith("BN")
    if name.endswith("ResMLP"):
        return residual_mlp(depth, "bn" if bn else "none", generator=generator)
    return mlp(
        (784,) + (128,) * 6 + (10,), "relu", bn="before" if bn else "none", generator=generator
    )


def _batch(seed: int, n: int, data) -> tuple[torch.Tensor, torch.Tensor]:
    _, rng = seeded(seed)
    idx = torch.from_numpy(rng.permutation(data.x_train.shape[0])[:n])  # (n,)
    return data.x_train[idx], data.y_train[idx]


# ---------------------------------------------------------------------- learning rates


@dataclass
class LrSweepResult:
    """Test accuracy after training at each learning rate, with and without BN.

    Attributes
    ----------
    lrs : list of float
    test_acc : dict of str to list of float
        ``test_acc[name][k]``: test accuracy after training at ``lrs[k]`` (NaN if diverged).
    diverged : dict of str to list of bool
        The training loss became NaN/inf or exceeded 1e4 (training stopped there).
    steps : int
    """

    lrs: list[float]
    test_acc: dict[str, list[float]] = field(default_factory=dict)
    diverged: dict[str, list[bool]] = field(default_factory=dict)
    steps: int = 0

    def largest_good_lr(self, name: str, threshold: float = 0.85) -> float:
        """The largest learning rate whose test accuracy is at least ``threshold`` (NaN: none)."""
        good = [lr for lr, a in zip(self.lrs, self.test_acc[name], strict=True) if a >= threshold]
        return max(good) if good else math.nan


def run_lr_sweep(
    seed: int = 0,
    lrs: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0),
    nets: tuple[str, ...] = ("MLP", "BN MLP"),
    steps: int = 150,
    batch_size: int = 128,
    momentum: float = 0.9,
) -> LrSweepResult:
    """Train with and without BN at each learning rate (the paper's Fig. 1, Sec. 2).

    Parameters
    ----------
    seed : int
        Seeds initial weights and batches (the same at every learning rate).
    lrs : tuple of float
    nets : tuple of str
        From ``NETS``; default the 6 x 128 MLP with and without BN.
    steps, batch_size : int
    momentum : float

    Returns
    -------
    LrSweepResult

    Notes
    -----
    A run stops as soon as its loss is NaN/inf or above 1e4, so diverging runs are cheap:
    about 9 s for the default sweep on one core.
    """
    fast_torch()
    data = mnist_tensors()
    result = LrSweepResult(lrs=[float(lr) for lr in lrs], steps=steps)
    for name in nets:
        accs, divs = [], []
        for lr in lrs:
            gen, _ = seeded(seed)
            model = _build(name, 16, gen)
            hist = _train(
                model, data, steps=steps, lr=lr, momentum=momentum, batch_size=batch_size,
                eval_every=steps, generator=gen,
            )  # fmt: skip
            bad = hist.diverged or diverged(hist.loss)
            divs.append(bad)
            accs.append(math.nan if bad else hist.test_acc[-1])
        result.test_acc[name], result.diverged[name] = accs, divs
    return result


def plot_lr_sweep(result: LrSweepResult, ax=None):
    """Test accuracy against learning rate (log scale); diverged runs marked with x at 0.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = new_axes(ax, width=5.0)
    for name, accs in result.test_acc.items():
        (line,) = ax.semilogx(result.lrs, accs, marker="o", label=name)
        bad = [lr for lr, d in zip(result.lrs, result.diverged[name], strict=True) if d]
        if bad:
            ax.plot(bad, [0.0] * len(bad), "x", color=line.get_color(), ms=9)
    ax.set(
        xlabel="learning rate",
        ylabel="test accuracy",
        ylim=(-0.05, 1),
        title=f"after {result.steps} steps (x: diverged)",
    )
    ax.legend()
    return fig


# ------------------------------------------------------------------------ one step


@dataclass
class RelativeLossResult:
    """Relative loss ``L(w - eta g) / L(w)`` of one step from initialisation.

    Attributes
    ----------
    etas : list of float
        Step sizes.
    relative_loss : dict of str to list of float
        Per net (``NETS``), per step size. Above 1e3 the paper calls the step divergent.
    initial_loss : dict of str to float
        ``L(w)`` at initialisation.
    depth : int
        Blocks of the residual nets.
    """

    etas: list[float]
    relative_loss: dict[str, list[float]] = field(default_factory=dict)
    initial_loss: dict[str, float] = field(default_factory=dict)
    depth: int = 16

    def largest_safe_eta(self, name: str, limit: float = 1e3) -> float:
        """The largest step size whose relative loss is finite and at most ``limit``."""
        safe = [
            e
            for e, r in zip(self.etas, self.relative_loss[name], strict=True)
            if np.isfinite(r) and r <= limit
        ]
        return max(safe) if safe else math.nan


def _loss_after_steps(model: nn.Module, x, y, etas) -> tuple[float, list[float]]:
    """``L(w)`` and ``L(w - eta g)`` for each eta, on the same batch; restores ``w``."""
    params = list(model.parameters())
    loss = nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params)
    start = [p.detach().clone() for p in params]
    after = []
    with torch.no_grad():
        for eta in etas:
            for p, w, g in zip(params, start, grads, strict=True):
                p.copy_(w - eta * g)
            after.append(float(nn.functional.cross_entropy(model(x), y)))
        for p, w in zip(params, start, strict=True):
            p.copy_(w)
    return float(loss.detach()), after


def run_relative_loss(
    seed: int = 0,
    etas: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0),
    nets: tuple[str, ...] = NETS,
    depth: int = 16,
    batch_size: int = 128,
) -> RelativeLossResult:
    """Relative loss after one gradient step from initialisation (the paper's Sec. 3).

    Parameters
    ----------
    seed : int
        Seeds initial weights and the batch.
    etas : tuple of float
        Step sizes.
    nets : tuple of str
        From ``NETS``.
    depth : int
        Blocks of the residual nets.
    batch_size : int
        The batch the gradient and both losses are computed on.

    Returns
    -------
    RelativeLossResult

    Notes
    -----
    BN uses batch statistics throughout (training mode), as in a training step. Under 1 s.
    """
    fast_torch()
    data = mnist_tensors()
    x, y = _batch(seed, batch_size, data)
    result = RelativeLossResult(etas=[float(e) for e in etas], depth=depth)
    for name in nets:
        gen, _ = seeded(seed)
        model = _build(name, depth, gen).train()
        loss, after = _loss_after_steps(model, x, y, etas)
        result.initial_loss[name] = loss
        result.relative_loss[name] = [a / loss for a in after]
    return result


def plot_relative_loss(result: RelativeLossResult, ax=None):
    """Relative loss against step size, log-log, with the paper's divergence line at 1e3.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = new_axes(ax, width=5.0)
    for name, rel in result.relative_loss.items():
        style = "-" if name.startswith("BN") else "--"
        ax.loglog(
            result.etas, np.where(np.isfinite(rel), rel, np.nan), style, marker="o", label=name
        )
    ax.axhline(1e3, color="grey", lw=0.8)
    ax.set(xlabel="step size eta", ylabel="L(w - eta g) / L(w)", title="one step from init")
    ax.legend(fontsize="small")
    return fig


# --------------------------------------------------------------- gradients at init


@dataclass
class InitGradientsResult:
    """Per-example gradients of one weight matrix at initialisation, with and without BN.

    Attributes
    ----------
    mean_grad_norm : dict of str to float
        Frobenius norm of the minibatch gradient (the mean of the per-example gradients).
    alignment : dict of str to float
        ``sum_entries |sum_i g_i| / sum_entries sum_i |g_i|``: 1 if every example's
        gradient has the same sign in every entry, about ``1/sqrt(n)`` if signs are random.
    kurtosis : dict of str to float
        Kurtosis of the minibatch gradient's entries (3 for a Gaussian; larger = heavier tails).
    entries : dict of str to ndarray, shape (width * width,)
        The minibatch gradient's entries divided by their standard deviation (for histograms).
    n : int
        Number of examples.
    block : int
        The residual block whose weight was measured.
    """

    mean_grad_norm: dict[str, float] = field(default_factory=dict)
    alignment: dict[str, float] = field(default_factory=dict)
    kurtosis: dict[str, float] = field(default_factory=dict)
    entries: dict[str, np.ndarray] = field(default_factory=dict)
    n: int = 64
    block: int = 8


def _per_example_grads(model: nn.Module, weight: torch.Tensor, x, y) -> torch.Tensor:
    """Gradient of each example's loss term w.r.t. ``weight``, with the whole batch forward.

    With BN the examples interact through the batch statistics; we keep the batch together
    (as in training) and differentiate one example's term at a time. Returns (n, weight.numel()).
    """
    losses = nn.functional.cross_entropy(model(x), y, reduction="none")  # (n,)
    rows = [
        torch.autograd.grad(losses[i], weight, retain_graph=True)[0].reshape(-1)
        for i in range(len(losses))
    ]
    return torch.stack(rows).double()  # (n, numel)


def run_init_gradients(
    seed: int = 0,
    nets: tuple[str, ...] = ("ResMLP", "BN ResMLP"),
    depth: int = 16,
    n: int = 64,
) -> InitGradientsResult:
    """Size, tails and alignment of gradients at initialisation (the paper's Sec. 4).

    Parameters
    ----------
    seed : int
        Seeds initial weights and the examples.
    nets : tuple of str
        From ``NETS`` (the residual ones: we measure the middle block's weight).
    depth : int
        Residual blocks.
    n : int
        Examples (one batch).

    Returns
    -------
    InitGradientsResult

    Notes
    -----
    One backward pass per example: under 1 s for both nets.
    """
    fast_torch()
    data = mnist_tensors()
    x, y = _batch(seed, n, data)
    result = InitGradientsResult(n=n, block=depth // 2)
    for name in nets:
        if not name.endswith("ResMLP"):
            raise ValueError(f"run_init_gradients measures residual nets, got {name!r}")
        gen, _ = seeded(seed)
        model = _build(name, depth, gen).train()
        weight = model.blocks[depth // 2].linear.weight
        g = _per_example_grads(model, weight, x, y)  # (n, numel)
        mean = g.mean(dim=0)  # (numel,): the minibatch gradient
        z = (mean - mean.mean()) / mean.std()
        result.mean_grad_norm[name] = float(mean.norm())
        result.alignment[name] = float(g.sum(dim=0).abs().sum() / g.abs().sum())
        result.kurtosis[name] = float(z.pow(4).mean())
        result.entries[name] = z.numpy().astype(np.float32)
    return result


def plot_init_gradients(result: InitGradientsResult, ax=None):
    """Histograms of the standardised gradient entries (log counts), one per net.

    Heavy tails show as counts far out from 0; a Gaussian would fall off like a parabola.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = new_axes(ax, width=5.0)
    bins = np.linspace(-12, 12, 61)
    for name, z in result.entries.items():
        kurt, size = result.kurtosis[name], result.mean_grad_norm[name]
        label = f"{name}: kurtosis {kurt:.1f}, |mean g| {size:.3g}"
        ax.hist(np.clip(z, bins[0], bins[-1]), bins=bins, histtype="step", log=True, label=label)
    ax.set(
        xlabel="gradient entry / its std",
        ylabel="count",
        title=f"block {result.block} weight gradient at init",
    )
    ax.legend(fontsize="small")
    return fig


EXPERIMENTS = {
    "Bjorck lr sweep": run_lr_sweep,
    "Bjorck relative loss": run_relative_loss,
    "Bjorck gradients at init": run_init_gradients,
}
