"""Santurkar, Tsipras, Ilyas & Madry (2018), Sec. 3: BN makes the loss landscape smoother.

The paper (arXiv 1805.11604, NeurIPS 2018; v1 subtitled "No, It Is Not About Internal
Covariate Shift") first tests the internal-covariate-shift story (its Sec. 2: noisy BN and
ICS by Definition 2.1; reproduced in :mod:`bncourse.experiments.ch2_santurkar` for chapter
2), then offers its own explanation, reproduced here on 4,000 MNIST digits with a
784-128x6-10 ReLU MLP (He initialisation), with and without BN (before each ReLU):

**Smoothness** (Sec. 3.1, Fig. 4). Along the gradient direction, BN makes (a) the loss
vary less, (b) the gradient change less ("gradient predictiveness") and (c) the
gradient's change per unit distance smaller ("effective beta-smoothness").
:func:`run_landscape` probes every 20 steps with step sizes 0.025-0.4: all three are
smaller with BN (median ratios, seeds 0-5: 17-36x, 14-26x and 1.7-2.3x).

Differences from the paper: an MLP on MNIST, not VGG on CIFAR-10; the size of the
smoothness ratios depends on the learning rate and the step-size grid: trained at lr 0.2,
the first two ratios shrink to 3.5-10x and the effective beta-smoothness is no better
with BN (ratio 0.87-0.9). The probes run through chapter 2's probing loop
(:func:`bncourse.experiments.ch2_santurkar._probed_training`), which restores the model
after each probe.

Book section: "Why does it work?" (chapter 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from bncourse.experiments._common import fast_torch, new_axes
from bncourse.experiments.ch2_santurkar import NETS, _probed_training

__all__ = [
    "NETS",
    "LandscapeResult",
    "run_landscape",
    "plot_landscape",
    "EXPERIMENTS",
]

# ----------------------------------------------------------------- probing utilities


def _loss_and_grads(model: nn.Module, params, x, y) -> tuple[float, tuple[torch.Tensor, ...]]:
    loss = nn.functional.cross_entropy(model(x), y)
    return float(loss.detach()), torch.autograd.grad(loss, params)


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


# --------------------------------------------------------------------------- landscape


@dataclass
class LandscapeResult:
    """Loss and gradient along the gradient direction, probed during training.

    For a probe at weights ``w`` with gradient ``g`` and each step size ``eta``:
    ``L(w - eta g)`` and ``d(eta) = ||grad L(w - eta g) - g||``.

    Attributes
    ----------
    steps : list of int
    etas : list of float
    loss_min, loss_max : dict of str to ndarray, shape (len(steps),)
        Smallest and largest ``L(w - eta g)`` over ``eta`` in ``{0} + etas`` (Fig. 4a band).
    grad_change_min, grad_change_max : dict of str to ndarray, shape (len(steps),)
        Smallest and largest ``d(eta)`` (Fig. 4b, "gradient predictiveness").
    beta_eff : dict of str to ndarray, shape (len(steps),)
        ``max_eta d(eta) / ||eta g||`` (Fig. 4c, "effective beta-smoothness").
    test_acc : dict of str to list of float
        Test accuracy at those steps (the probes do not change training).
    """

    steps: list[int]
    etas: list[float]
    loss_min: dict[str, np.ndarray] = field(default_factory=dict)
    loss_max: dict[str, np.ndarray] = field(default_factory=dict)
    grad_change_min: dict[str, np.ndarray] = field(default_factory=dict)
    grad_change_max: dict[str, np.ndarray] = field(default_factory=dict)
    beta_eff: dict[str, np.ndarray] = field(default_factory=dict)
    test_acc: dict[str, list[float]] = field(default_factory=dict)

    def loss_range(self, name: str) -> np.ndarray:
        """``loss_max - loss_min`` per probe."""
        return self.loss_max[name] - self.loss_min[name]

    def ratio(self, measure: str) -> float:
        """Median over probes of the standard net's ``measure`` over the BN net's.

        ``measure`` is ``"loss_range"``, ``"grad_change"`` (the max) or ``"beta_eff"``.
        """
        get = {
            "loss_range": self.loss_range,
            "grad_change": lambda n: self.grad_change_max[n],
            "beta_eff": lambda n: self.beta_eff[n],
        }
        if measure not in get:
            raise ValueError(f"measure must be one of {list(get)}, got {measure!r}")
        return float(np.median(get[measure]("standard")) / np.median(get[measure]("BN")))


def run_landscape(
    seed: int = 0,
    lr: float = 0.05,
    etas: tuple[float, ...] = (0.025, 0.05, 0.1, 0.2, 0.4),
    steps: int = 200,
    every: int = 20,
    depth: int = 6,
    width: int = 128,
    batch_size: int = 128,
) -> LandscapeResult:
    """Probe the loss landscape along the gradient with and without BN (Fig. 4).

    Parameters
    ----------
    seed : int
    lr : float
        Plain-SGD learning rate of the training runs.
    etas : tuple of float
        Step sizes along ``-g`` at each probe.
    steps, every, depth, width, batch_size : int

    Returns
    -------
    LandscapeResult

    Notes
    -----
    Each probe uses a fresh batch for ``g`` and all ``L(w - eta g)``; BN uses that batch's
    statistics, and running statistics are restored afterwards. About 4 s for both nets.
    """
    fast_torch()

    def probe(model, x, y):
        params = list(model.parameters())
        start = [p.detach().clone() for p in params]
        loss0, g = _loss_and_grads(model, params, x, y)
        g_flat = _flat(g)
        losses, changes, betas = [loss0], [], []
        for eta in etas:
            with torch.no_grad():
                for p, w, gp in zip(params, start, g, strict=True):
                    p.copy_(w - eta * gp)
            loss, g_eta = _loss_and_grads(model, params, x, y)
            change = float((_flat(g_eta) - g_flat).norm())
            losses.append(loss)
            changes.append(change)
            betas.append(change / (eta * float(g_flat.norm())))
        return {
            "loss_min": min(losses),
            "loss_max": max(losses),
            "change_min": min(changes),
            "change_max": max(changes),
            "beta": max(betas),
        }

    runs = _probed_training(
        seed, probe, depth=depth, width=width, lr=lr, steps=steps, every=every,
        batch_size=batch_size,
    )  # fmt: skip
    result = LandscapeResult(steps=runs["standard"][0], etas=[float(e) for e in etas])
    for name, (_, acc, extra) in runs.items():
        result.test_acc[name] = acc
        result.loss_min[name] = np.array(extra["loss_min"])
        result.loss_max[name] = np.array(extra["loss_max"])
        result.grad_change_min[name] = np.array(extra["change_min"])
        result.grad_change_max[name] = np.array(extra["change_max"])
        result.beta_eff[name] = np.array(extra["beta"])
    return result


def plot_landscape(result: LandscapeResult, ax=None):
    """Fig. 4: (a) loss range, (b) gradient change (min-max bands), (c) effective beta.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = new_axes(ax, ncols=3, width=3.6)
    a, b, c = axes
    for name in result.loss_min:
        (line,) = a.plot(result.steps, result.loss_max[name], lw=0.8, label=name)
        color = line.get_color()
        a.fill_between(
            result.steps, result.loss_min[name], result.loss_max[name], color=color, alpha=0.3
        )
        b.fill_between(
            result.steps,
            result.grad_change_min[name],
            result.grad_change_max[name],
            color=color,
            alpha=0.3,
            label=name,
        )
        c.plot(result.steps, result.beta_eff[name], marker="o", color=color, label=name)
    a.set(xlabel="step", ylabel="loss along -g", title="(a) loss landscape", yscale="log")
    b.set(
        xlabel="step",
        ylabel="||grad(w - eta g) - g||",
        title="(b) gradient predictiveness",
        yscale="log",
    )
    c.set(xlabel="step", ylabel="max change / distance", title="(c) effective beta-smoothness")
    a.legend()
    return fig


EXPERIMENTS = {"Santurkar loss landscape": run_landscape}
