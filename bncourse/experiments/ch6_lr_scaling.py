"""Ioffe & Szegedy (2015), Sec. 4.2: BN lets you raise the learning rate.

The paper (arXiv 1502.03167, Sec. 4.2.2, Fig. 2 and Fig. 3) trains Inception on ImageNet
and counts the steps each variant needs to reach 72.2 % validation accuracy:
Inception 31.0M; BN-Baseline 13.3M; BN-x5 (5x the learning rate) 2.1M, "14 times fewer";
BN-x30 2.7M ("somewhat slower initially", but a higher final accuracy); BN-x5-Sigmoid
never reaches 72.2 % but trains (69.8 %), while Inception with sigmoids "never achieves
better than 1/1000 accuracy" and Inception at 5x the rate diverges.

Our version: a 784-128x6-10 MLP (He initialisation, ReLU unless stated), momentum SGD
(0.9), batch 32, base learning rate 0.01, on 4,000 MNIST digits; we count the steps until
test accuracy first reaches 90 % (checked every 10 steps). Variants, as in the paper:
``plain`` (no BN), ``BN-Baseline``, ``BN-x5``, ``BN-x30``, ``BN-x5-Sigmoid``,
``plain-Sigmoid`` (no BN, sigmoids, at the BN-x5-Sigmoid rate) and ``plain-x30`` (no BN at
30x the rate). Where we differ from the paper:

* BN-Baseline needs 1.2-2.4x fewer steps than the plain net here (median 1.6x over seeds
  0-7), not 14x: the paper's 14x (BN-x5) comes from BN together with the other changes
  of its Sec. 4.2.1 (no dropout, faster decay, less L2, ...) at ImageNet scale;
* BN-x5 and BN-x30 are not faster than BN-Baseline here: on a problem this easy the base
  rate is already large enough, so the higher rates only show that BN *tolerates* them
  (the plain net at 30x diverges), not that they pay off;
* the plain sigmoid net is stuck at chance (about 11 %), like the paper's "1/1000".

Book section: "Higher learning rates" (chapter on the original paper).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bncourse.experiments._common import (
    diverged,
    fast_torch,
    mlp,
    mnist_tensors,
    new_axes,
    seeded,
    train,
)

__all__ = ["VARIANTS", "LrScalingResult", "run_lr_scaling", "plot_lr_scaling", "EXPERIMENTS"]

#: name -> (activation, BN placement, learning-rate multiplier of the base rate)
VARIANTS: dict[str, tuple[str, str, float]] = {
    "plain": ("relu", "none", 1.0),
    "BN-Baseline": ("relu", "before", 1.0),
    "BN-x5": ("relu", "before", 5.0),
    "BN-x30": ("relu", "before", 30.0),
    "BN-x5-Sigmoid": ("sigmoid", "before", 5.0),
    "plain-Sigmoid": ("sigmoid", "none", 5.0),
    "plain-x30": ("relu", "none", 30.0),
}

#: The paper's Sec. 4.2.2 numbers: steps to reach 72.2 % and the maximum accuracy.
PAPER_TABLE: dict[str, tuple[float | None, float]] = {
    "Inception": (31.0e6, 0.722),
    "BN-Baseline": (13.3e6, 0.727),
    "BN-x5": (2.1e6, 0.730),
    "BN-x30": (2.7e6, 0.748),
    "BN-x5-Sigmoid": (None, 0.698),
}


@dataclass
class LrScalingResult:
    """Per variant: the learning curve and the steps to the target accuracy.

    Attributes
    ----------
    target : float
        The test accuracy to reach.
    steps_to_target : dict of str to int or None
        First checked step at which the variant's test accuracy reached ``target``
        (``None``: not within ``max_steps``).
    max_acc : dict of str to float
        Best test accuracy seen.
    lr : dict of str to float
    diverged : dict of str to bool
        Training loss became NaN/inf or exceeded 1e4.
    curves : dict of str to (list of int, list of float)
        Checked steps and test accuracy.
    """

    target: float
    steps_to_target: dict[str, int | None] = field(default_factory=dict)
    max_acc: dict[str, float] = field(default_factory=dict)
    lr: dict[str, float] = field(default_factory=dict)
    diverged: dict[str, bool] = field(default_factory=dict)
    curves: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)

    def speedup(self, name: str, reference: str = "plain") -> float:
        """``steps_to_target[reference] / steps_to_target[name]`` (inf/nan when missing)."""
        a, b = self.steps_to_target[reference], self.steps_to_target[name]
        if b is None:
            return float("nan") if a is None else 0.0
        return float("inf") if a is None else a / b


def run_lr_scaling(
    seed: int = 0,
    variants: tuple[str, ...] | None = None,
    base_lr: float = 0.01,
    target: float = 0.9,
    max_steps: int = 1000,
    every: int = 10,
    depth: int = 6,
    width: int = 128,
) -> LrScalingResult:
    """Count the steps each variant needs to reach ``target`` test accuracy.

    Parameters
    ----------
    seed : int
        Seeds initial weights and batches; every variant gets the same seed.
    variants : tuple of str, optional
        Names from :data:`VARIANTS` (default: all).
    base_lr : float
        The "Baseline" learning rate; the x5/x30 variants multiply it.
    target : float
        Test accuracy that counts as reached (the paper: 72.2 % on ImageNet).
    max_steps : int
        Give up after this many steps of batch 32.
    every : int
        Check test accuracy every this many steps.
    depth, width : int
        Hidden layers and units per layer.

    Returns
    -------
    LrScalingResult

    Notes
    -----
    A variant stops as soon as it reaches the target, so the cost is dominated by the ones
    that never do (the plain sigmoid net): about 10 s for all variants on one core.
    """
    fast_torch()
    names = tuple(VARIANTS) if variants is None else variants
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    data = mnist_tensors()
    result = LrScalingResult(target=target)
    for name in names:
        activation, bn, mult = VARIANTS[name]
        gen, _ = seeded(seed)
        model = mlp((784,) + (width,) * depth + (10,), activation, bn=bn, init="he", generator=gen)
        lr = base_lr * mult
        hist = train(
            model,
            data,
            steps=max_steps,
            lr=lr,
            momentum=0.9,
            batch_size=32,
            eval_every=every,
            generator=gen,
            stop_at_acc=target,
        )
        result.steps_to_target[name] = hist.first_step_reaching(target)
        result.max_acc[name] = max(hist.test_acc)
        result.lr[name] = lr
        result.diverged[name] = hist.diverged or diverged(hist.loss)
        result.curves[name] = (hist.steps, hist.test_acc)
    return result


def plot_lr_scaling(result: LrScalingResult, ax=None):
    """Test accuracy against steps for every variant, like the paper's Fig. 2.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = new_axes(ax, width=6.0, height=3.8)
    for name, (steps, acc) in result.curves.items():
        style = "--" if name.startswith("plain") else "-"
        reached = result.steps_to_target[name]
        label = f"{name} (lr {result.lr[name]:g}): " + (
            f"{reached} steps" if reached is not None else "never"
        )
        ax.plot(steps, acc, style, label=label)
    ax.axhline(result.target, color="grey", lw=0.8)
    ax.set(xlabel="step (batch 32)", ylabel="test accuracy", ylim=(0, 1))
    ax.legend(fontsize="small")
    return fig


EXPERIMENTS = {"I&S lr scaling (BN-x5, BN-x30, sigmoid)": run_lr_scaling}
