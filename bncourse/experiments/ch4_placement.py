"""BN before or after the activation, with or without the learned scale and shift.

Ioffe & Szegedy (2015, Sec. 3.2) put BN between the linear layer and the nonlinearity,
``z = g(BN(Wu))``, and give BN a learned scale ``gamma`` and shift ``beta`` so that it can
represent the identity. Practitioners have long argued for the other order. The most cited
evidence is Dmytro Mishkin's caffenet-benchmark (github.com/ducha-aiki/caffenet-benchmark,
``batchnorm.md``, last changed 2016-09-04): on ImageNet at 128 px, CaffeNet scored higher
with BN *after* ReLU, and the learned scale and shift made little difference, while the
same author's GoogLeNet128 runs ranked the orders the other way round (tables below).

Our version: a 784-128x4-10 ReLU MLP (He initialisation), BN placed before or after every
ReLU, with or without ``gamma``/``beta`` (and, on request, the same net without BN); plain
SGD at lr 0.1, batch 128, 200 steps (about 6 epochs) on 4,000 MNIST digits, three seeds.
What we find, and what the chapter should say: all four BN variants reach about the same
test accuracy (0.92-0.94 on seeds 0-5); within a seed they lie 0.6-1.4 points apart, about
the spread of one variant across seeds, and which variant comes out on top changes from
seed to seed. At this scale there is no winner. The benchmark's 2.5-point CaffeNet gap is
one run per variant (no error bar), and its GoogLeNet128 rows rank the orders the other
way round: where to put BN depends on the network.

Book section: "Where to put BN" (chapter on BN in practice).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bncourse.experiments._common import fast_torch, mlp, mnist_tensors, new_axes, seeded, train

__all__ = [
    "VARIANTS",
    "CAFFENET_PLACEMENT",
    "GOOGLENET128_PLACEMENT",
    "PlacementResult",
    "run_placement",
    "plot_placement",
    "EXPERIMENTS",
]

#: name -> (BN placement, learned scale and shift)
VARIANTS: dict[str, tuple[str, bool]] = {
    "before": ("before", False),
    "before + scale&bias": ("before", True),
    "after": ("after", False),
    "after + scale&bias": ("after", True),
    "no BN": ("none", True),
}

#: ducha-aiki/caffenet-benchmark, batchnorm.md ("BN before or after ReLU"): CaffeNet,
#: ImageNet-2012 at 128 px, LSUV init, single runs. name -> (top-1 accuracy, log-loss).
#: "no BN" is from the same file's "BN and init, CaffeNet" table.
CAFFENET_PLACEMENT: dict[str, tuple[float, float]] = {
    "before": (0.474, 2.35),
    "before + scale&bias": (0.478, 2.33),
    "after": (0.499, 2.21),
    "after + scale&bias": (0.493, 2.24),
    "no BN": (0.471, 2.36),
}

#: Same source, "BN and init, GoogLeNet128" (LSUV rows): here "before" wins.
GOOGLENET128_PLACEMENT: dict[str, tuple[float, float]] = {
    "before + scale&bias": (0.603, 1.68),
    "after": (0.596, 1.70),
    "no BN": (0.619, 1.61),
}


@dataclass
class PlacementResult:
    """Test accuracy of every variant for every seed.

    Attributes
    ----------
    variants : list of str
        Names from :data:`VARIANTS`, in column order.
    seeds : list of int
    acc : ndarray, shape (len(seeds), len(variants))
        Final test accuracy.
    loss : ndarray, shape (len(seeds), len(variants))
        Final test cross-entropy.
    """

    variants: list[str]
    seeds: list[int]
    acc: np.ndarray
    loss: np.ndarray

    def spread_across_variants(self, bn_only: bool = True) -> np.ndarray:
        """Per seed, best minus worst accuracy among the (BN) variants; shape (seeds,)."""
        cols = [i for i, v in enumerate(self.variants) if not (bn_only and v == "no BN")]
        acc = self.acc[:, cols]
        return acc.max(axis=1) - acc.min(axis=1)

    def spread_across_seeds(self) -> np.ndarray:
        """Per variant, best minus worst accuracy over seeds; shape (variants,)."""
        return self.acc.max(axis=0) - self.acc.min(axis=0)

    def winners(self, bn_only: bool = True) -> list[str]:
        """Per seed, the name of the most accurate (BN) variant."""
        names = [v for v in self.variants if not (bn_only and v == "no BN")]
        cols = [self.variants.index(v) for v in names]
        return [names[int(i)] for i in self.acc[:, cols].argmax(axis=1)]


def run_placement(
    seed: int = 0,
    n_seeds: int = 3,
    variants: tuple[str, ...] | None = None,
    steps: int = 200,
    lr: float = 0.1,
    batch_size: int = 128,
    depth: int = 4,
    width: int = 128,
) -> PlacementResult:
    """Train every placement variant for seeds ``seed, ..., seed + n_seeds - 1``.

    Parameters
    ----------
    seed : int
        The first seed; each seed draws the initial weights and batches (shared by variants).
    n_seeds : int
        How many seeds.
    variants : tuple of str, optional
        Names from :data:`VARIANTS` (default: the four BN variants, without "no BN").
    steps, lr, batch_size : int, float, int
        Plain SGD settings.
    depth, width : int
        Hidden layers and units per layer.

    Returns
    -------
    PlacementResult

    Notes
    -----
    About 1.3 s per variant and seed on one core of the course machine (16 s at the
    defaults).
    """
    fast_torch()
    names = [v for v in VARIANTS if v != "no BN"] if variants is None else list(variants)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be at least 1, got {n_seeds}")
    data = mnist_tensors()
    seeds = list(range(seed, seed + n_seeds))
    acc = np.zeros((len(seeds), len(names)))
    loss = np.zeros_like(acc)
    for i, s in enumerate(seeds):
        for j, name in enumerate(names):
            bn, affine = VARIANTS[name]
            gen, _ = seeded(s)
            model = mlp(
                (784,) + (width,) * depth + (10,), "relu", bn=bn, affine=affine, generator=gen
            )
            hist = train(
                model,
                data,
                steps=steps,
                lr=lr,
                batch_size=batch_size,
                eval_every=steps,
                generator=gen,
            )
            acc[i, j], loss[i, j] = hist.test_acc[-1], hist.test_loss[-1]
    return PlacementResult(variants=names, seeds=seeds, acc=acc, loss=loss)


def plot_placement(result: PlacementResult, ax=None):
    """Our accuracies (one dot per seed) next to the caffenet-benchmark's, per variant.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = new_axes(ax, ncols=2, width=4.2)
    ours, theirs = axes
    x = np.arange(len(result.variants))
    for i, s in enumerate(result.seeds):
        ours.plot(x, result.acc[i], "o", alpha=0.7, label=f"seed {s}")
    ours.set_xticks(x, result.variants, rotation=30, ha="right")
    ours.set(ylabel="test accuracy", title="MLP on MNIST (ours)")
    ours.legend(fontsize="small")
    names = [v for v in result.variants if v in CAFFENET_PLACEMENT]
    theirs.bar(np.arange(len(names)), [CAFFENET_PLACEMENT[v][0] for v in names])
    theirs.set_xticks(np.arange(len(names)), names, rotation=30, ha="right")
    theirs.set(
        ylabel="top-1 accuracy",
        title="CaffeNet on ImageNet (caffenet-benchmark)",
        ylim=(0.45, 0.51),
    )
    return fig


EXPERIMENTS = {"BN placement x affine, 3 seeds": run_placement}
