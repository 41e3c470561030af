"""Ioffe & Szegedy (2015), Fig. 1: a sigmoid MLP on MNIST with and without BN.

The paper (arXiv 1502.03167, Sec. 4.1, Fig. 1) trains a 784-100-100-100-10 sigmoid net on
MNIST for 50,000 steps of 60 examples and shows (a) that the BN net reaches higher test
accuracy sooner and (b, c) that the input of a typical sigmoid in the last hidden layer
keeps a stable distribution with BN (its 15th, 50th and 85th percentiles hardly move)
but drifts in both mean and spread without BN.

Our version, on 4,000 real MNIST digits: the same architecture with PyTorch's default
initialisation, plain SGD at lr 0.5, batch 60, 1,500 steps (not 50,000), inputs in [0, 1],
BN placed before each sigmoid. The paper gives neither its learning rate nor the std of its
"small random Gaussian" weights; both are our choices and the size of the effect depends
on them. Where we differ from the paper:

* our plain net sits at chance (about 10 %) for the first several hundred steps before it
  starts learning, a much starker gap than the paper's curves (which show both nets
  learning from the start);
* "drift" is measured on every unit of the last hidden layer (the spread of its
  pre-activation on the test set, at the end of training against after 100 steps), not read
  off one hand-picked unit. Without BN the spread starts tiny (about 0.01: the signal has
  all but vanished through three default-initialised sigmoid layers) and grows about
  250-fold by step 1,500, while the median slides from about -1 to -2.3 and back; with BN
  the spread stays between 2.7 and 3.5 and the median near 0 (seeds 0 and 1).

Book section: "What Ioffe & Szegedy showed" (chapter on the original paper).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from bncourse.experiments._common import (
    fast_torch,
    layer_inputs,
    mlp,
    mnist_tensors,
    new_axes,
    seeded,
    train,
)

__all__ = ["Fig1Run", "Fig1Result", "run_fig1", "plot_fig1", "EXPERIMENTS"]

PERCENTILES = (15, 50, 85)


@dataclass
class Fig1Run:
    """One network's record.

    Attributes
    ----------
    steps : list of int
        The steps at which it was measured.
    test_acc : list of float
        Test accuracy at those steps.
    percentiles : ndarray, shape (len(steps), 3, units)
        The 15th, 50th and 85th percentiles, over the 1,000 test digits, of every
        last-hidden-layer unit's sigmoid input.
    loss : list of float
        Training minibatch loss of every step.
    """

    steps: list[int]
    test_acc: list[float]
    percentiles: np.ndarray
    loss: list[float]

    def width_drift(self) -> np.ndarray:
        """Per unit, ``|log(width at end / width at first record)|``, width = p85 - p15."""
        width = self.percentiles[:, 2, :] - self.percentiles[:, 0, :]  # (T, units)
        return np.abs(np.log(width[-1] / width[0]))

    def acc_at(self, step: int) -> float:
        """Test accuracy at a recorded step."""
        return self.test_acc[self.steps.index(step)]


@dataclass
class Fig1Result:
    """The pair of runs, same seed, same initial weights apart from BN."""

    plain: Fig1Run
    bn: Fig1Run
    seed: int
    lr: float


def _one(bn: str, seed: int, steps: int, lr: float, every: int, width: int) -> Fig1Run:
    gen, _ = seeded(seed)
    data = mnist_tensors(standardize=False)
    model = mlp((784, width, width, width, 10), "sigmoid", bn=bn, init="default", generator=gen)

    def record(net: nn.Module, step: int) -> dict[str, np.ndarray]:
        z = layer_inputs(net, data.x_test, nn.Sigmoid)[-1]  # (1000, width)
        q = torch.quantile(z, torch.tensor(PERCENTILES, dtype=z.dtype) / 100.0, dim=0)
        return {"percentiles": q.numpy()}  # (3, width)

    hist = train(
        model,
        data,
        steps=steps,
        lr=lr,
        batch_size=60,
        eval_every=every,
        generator=gen,
        record=record,
    )
    return Fig1Run(
        steps=hist.steps,
        test_acc=hist.test_acc,
        percentiles=np.stack(hist.extra["percentiles"]),  # (T, 3, width)
        loss=hist.loss,
    )


def run_fig1(
    seed: int = 0, steps: int = 1500, lr: float = 0.5, every: int = 100, width: int = 100
) -> Fig1Result:
    """Train the sigmoid MLP with and without BN and record Fig. 1's quantities.

    Parameters
    ----------
    seed : int
        Seeds the initial weights and the batches (both nets get the same).
    steps : int
        SGD steps of 60 examples (the paper: 50,000).
    lr : float
        Plain SGD learning rate for both nets (the paper does not give its own).
    every : int
        Measure every this many steps.
    width : int
        Units per hidden layer (the paper: 100).

    Returns
    -------
    Fig1Result
        ``plain`` and ``bn`` runs; each has test accuracy and percentiles over training.

    Notes
    -----
    About 5 s per network on one CPU core of the course machine at the defaults.
    """
    fast_torch()
    return Fig1Result(
        plain=_one("none", seed, steps, lr, every, width),
        bn=_one("before", seed, steps, lr, every, width),
        seed=seed,
        lr=lr,
    )


def plot_fig1(result: Fig1Result, ax=None, unit: int | None = None):
    """Draw Fig. 1: (a) test accuracy, (b) no-BN and (c) BN percentile bands of one unit.

    Parameters
    ----------
    result : Fig1Result
    ax : sequence of three matplotlib Axes, optional
    unit : int, optional
        Which last-hidden-layer unit to show; default: the unit whose no-BN width drift is
        the median one (a "typical" unit, as the paper says).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = new_axes(ax, ncols=3, width=3.6)
    if unit is None:
        drift = result.plain.width_drift()
        unit = int(np.argsort(drift)[len(drift) // 2])
    a, b, c = axes
    a.plot(result.plain.steps, result.plain.test_acc, label="without BN")
    a.plot(result.bn.steps, result.bn.test_acc, label="with BN")
    a.set(xlabel="step", ylabel="test accuracy", title="(a) test accuracy", ylim=(0, 1))
    a.legend()
    for axis, run, title in ((b, result.plain, "(b) without BN"), (c, result.bn, "(c) with BN")):
        p = run.percentiles[:, :, unit]  # (T, 3)
        axis.fill_between(run.steps, p[:, 0], p[:, 2], alpha=0.3, label="15th-85th pct")
        axis.plot(run.steps, p[:, 1], label="median")
        axis.set(xlabel="step", ylabel=f"input of sigmoid unit {unit}", title=title)
        axis.legend(fontsize="small")
    return fig


EXPERIMENTS = {"I&S Fig. 1 (sigmoid MLP, BN vs none)": run_fig1}
