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

Weight decay as a learning-rate schedule (:func:`run_weight_decay`). For a row ``w`` of a
weight matrix followed by BN, the gradient is orthogonal to ``w`` and scales like
``1 / ||w||``, so the direction of ``w`` moves by about ``lr / ||w||^2`` per unit of
gradient: the effective learning rate. Plain SGD without weight decay can only grow
``||w||`` (``||w - lr g||^2 = ||w||^2 + lr^2 ||g||^2``), so the effective rate falls; weight
decay shrinks ``||w||`` and so raises it, towards the equilibrium where the angle a row
turns per step is ``sqrt(2 lr lambda)``. Design fixed before the run: a 784-128x4-10 BN
net, plain SGD at lr :data:`WD_LR` = 1.0, batch 32, :data:`WD_STEPS` = 2,000 steps,
``lambda`` = 0 or :data:`WD_LAMBDA` = 1e-3 on the hidden Linear weights only,
:data:`WD_SEEDS` (10). Claims and rules (medians with 95 % CIs over seeds, the middle
(3rd) hidden layer):

* W1, no decay: the mean squared row norm at the end / at the start has a CI above 1.2,
  and the largest ``|cos(w_j, g_j)|`` seen has a median below 1e-3;
* W2: the effective rate at the end, with decay / without, has a CI above 2;
* W3: with decay, the mean angle per step over the last 500 steps, divided by
  ``sqrt(2 lr lambda)``, has a CI inside [0.5, 1.5]; without decay, a median below 0.25.

Regularisation (:func:`run_gap_full`): the train/test accuracy gap after
:data:`GAP_EPOCHS` = 4 epochs on 3,000 digits, the 784-128x6-10 ReLU net with and
without BN, momentum SGD, batch sizes :data:`GAP_BATCH_SIZES` = (16, 64, 256), each
(net, batch size)'s rate tuned on :data:`GAP_GRID` by validation accuracy on
:data:`GAP_TUNING_SEEDS` (one seed: the machine was shared by many jobs); 20 evaluation
seeds, paired. Pre-registered comparisons
(:func:`gap_comparisons`, margin :data:`GAP_MARGIN` = 1 point, fixed before the run):
gap(BN) - gap(plain) at each batch size, and the same difference at batch 16 minus at
batch 256 (does BN's noise regularise more at small batches?); each "equivalent" if the
95 % CI lies inside (-1, +1) points, "different" if it excludes 0, else "inconclusive".
Expected beforehand: small effects at this scale (a trial seed: gaps of 4-8 points for both
nets).

``python -m bncourse.experiments.ch6_benefits`` (``make experiments``) writes
:data:`RESULTS_SCALE` and :data:`RESULTS_GAP`. Book section: chapter 6.1.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bncourse.experiments._common import (
    batch_norm_1d,
    evaluate,
    fast_torch,
    mlp,
    mnist_tensors,
    new_axes,
    run_metadata,
    seeded,
    train,
)
from bncourse.experiments.ch4_placement import split
from bncourse.experiments.ch6_lr_scaling import build
from bncourse.experiments.stats import paired_diff_ci, verdict

__all__ = [
    "ScaleResult",
    "run_scale_invariance",
    "plot_scale_invariance",
    "NoiseResult",
    "run_noise",
    "plot_noise",
    "WeightDecayResult",
    "run_weight_decay",
    "run_gap",
    "run_gap_full",
    "gaps",
    "gap_comparisons",
    "run_scale_full",
    "load_results",
    "plot_weight_decay",
    "plot_gap",
    "RESULTS_SCALE",
    "RESULTS_GAP",
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


@dataclass
class WeightDecayResult:
    """Per recorded step, for the hidden Linear layers (each followed by BN).

    Attributes
    ----------
    steps : list of int
        Steps at which the numbers were taken (before that step's update).
    row_norm2 : ndarray, shape (len(steps), layers)
        Mean squared row norm of each layer's weight, ``||W||_F^2 / rows``.
    eff_lr : ndarray, shape (len(steps), layers)
        ``lr / row_norm2``: the step size the direction of a row sees.
    angle : ndarray, shape (len(steps), layers)
        Mean angle (radians) a row turns in that step's update.
    max_cos : float
        Largest ``|cos(w_j, dL/dw_j)|`` over rows, layers and recorded steps (0 exactly,
        up to ``eps`` and float32 rounding: the gradient is orthogonal to each row).
    test_acc : float
        Test accuracy after the last step.
    """

    steps: list[int]
    row_norm2: np.ndarray
    eff_lr: np.ndarray
    angle: np.ndarray
    max_cos: float
    test_acc: float


def run_weight_decay(
    seed: int = 0,
    weight_decay: float = 0.0,
    lr: float = 0.1,
    steps: int = 2000,
    every: int = 10,
    depth: int = 4,
    width: int = 128,
    batch_size: int = 32,
) -> WeightDecayResult:
    """Train a BN MLP with plain SGD and watch the weights' norms and effective rate.

    Weight decay (``torch.optim.SGD``'s, added to the gradient) applies to the hidden
    Linear weights only, the ones BN makes scale-invariant; the BN parameters and the
    output layer get none. The loop is written out (not :func:`._common.train`) because it
    needs each step's gradient and the weights before and after the update.

    Parameters
    ----------
    seed : int
    weight_decay, lr : float
    steps, every : int
        Train ``steps`` steps, record every ``every``-th.
    depth, width, batch_size : int

    Returns
    -------
    WeightDecayResult

    Notes
    -----
    About 1.5 ms per step on one core (2000 steps: 3 s).
    """
    fast_torch()
    if weight_decay < 0 or lr <= 0:
        raise ValueError(f"need weight_decay >= 0 and lr > 0, got {weight_decay}, {lr}")
    gen, _ = seeded(seed)
    model = mlp((784,) + (width,) * depth + (10,), "relu", bn="before", init="he", generator=gen)
    for i, layer in enumerate(model):  # torch's BN: same function, faster in tiny nets
        if "BatchNorm" in type(layer).__name__:
            model[i] = nn.BatchNorm1d(layer.num_features)
    hidden = [m.weight for m in model if isinstance(m, nn.Linear)][:-1]  # each before a BN
    others = [p for p in model.parameters() if all(p is not w for w in hidden)]
    opt = torch.optim.SGD(
        [{"params": hidden, "weight_decay": weight_decay}, {"params": others}], lr=lr
    )
    data = mnist_tensors()
    n = data.x_train.shape[0]
    order, pos = torch.randperm(n, generator=gen), 0
    rec_steps, norms, angles, max_cos = [], [], [], 0.0
    model.train()
    for step in range(1, steps + 1):
        if pos + batch_size > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos : pos + batch_size]  # (N,)
        pos += batch_size
        loss = nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        take = step % every == 0 or step == 1
        if take:
            before = [w.detach().double().clone() for w in hidden]  # (rows, fan_in) each
            for w, g in zip(before, (w.grad.double() for w in hidden), strict=True):
                cos = (w * g).sum(1).abs() / (w.norm(dim=1) * g.norm(dim=1) + 1e-300)
                max_cos = max(max_cos, float(cos.max()))
        opt.step()
        if take:
            after = [w.detach().double() for w in hidden]
            rec_steps.append(step)
            norms.append([float((w**2).sum(1).mean()) for w in before])
            angles.append(
                [
                    float(
                        torch.arccos(
                            torch.clamp((w0 * w1).sum(1) / (w0.norm(dim=1) * w1.norm(dim=1)), -1, 1)
                        ).mean()
                    )  # fmt: skip
                    for w0, w1 in zip(before, after, strict=True)
                ]
            )
    _, acc = evaluate(model, data.x_test, data.y_test)
    row_norm2 = np.asarray(norms)
    return WeightDecayResult(rec_steps, row_norm2, lr / row_norm2, np.asarray(angles), max_cos, acc)


#: the regularisation experiment's design (fixed before its full run)
GAP_BATCH_SIZES: tuple[int, ...] = (16, 64, 256)
GAP_GRID: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1)
GAP_EPOCHS = 4
GAP_TUNING_SEEDS: tuple[int, ...] = (1000,)
GAP_EVAL_SEEDS: tuple[int, ...] = tuple(range(20))
GAP_HELD_OUT_SEEDS: tuple[int, ...] = (500, 501)
#: equivalence margin for a difference of train/test gaps, in accuracy (1 point)
GAP_MARGIN = 0.01
WD_SEEDS: tuple[int, ...] = tuple(range(10))
WD_LR, WD_LAMBDA, WD_STEPS = 1.0, 1e-3, 2000
RESULTS_SCALE = Path(__file__).with_name("results") / "ch6_results_scale.json"
RESULTS_GAP = Path(__file__).with_name("results") / "ch6_results_gap.json"


def run_gap(
    bn: str, batch_size: int, lr: float, seed: int, purpose: str = "evaluate",
    epochs: int = GAP_EPOCHS,
) -> dict:  # fmt: skip
    """Train the 784-128x6-10 ReLU net of :mod:`.ch6_lr_scaling` and measure its gap.

    ``bn`` is ``"none"`` or ``"before"``. Momentum SGD (0.9) for ``epochs`` passes over
    the 3,000 training digits of :func:`.ch4_placement.split` (``purpose`` chooses
    validation or test digits for the held-out accuracy). Returns plain data: train and
    held-out accuracy and loss (eval mode), ``gap = train_acc - test_acc``.
    """
    fast_torch()
    gen, _ = seeded(seed)
    model = build("relu", bn, 1.0, gen)
    data = split(purpose)
    steps = epochs * data.x_train.shape[0] // batch_size
    t0 = time.process_time()
    hist = train(
        model, data, steps=steps, lr=lr, momentum=0.9, batch_size=batch_size,
        eval_every=steps, generator=gen,
    )  # fmt: skip
    train_loss, train_acc = evaluate(model, data.x_train, data.y_train)
    return {
        "bn": bn,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "purpose": purpose,
        "train_acc": train_acc,
        "test_acc": hist.test_acc[-1],
        "gap": train_acc - hist.test_acc[-1],
        "train_loss": train_loss,
        "test_loss": hist.test_loss[-1],
        "diverged": hist.diverged,
        "cpu_s": round(time.process_time() - t0, 3),
    }


def run_gap_full(
    batch_sizes: tuple[int, ...] = GAP_BATCH_SIZES,
    grid: tuple[float, ...] = GAP_GRID,
    tuning_seeds: tuple[int, ...] = GAP_TUNING_SEEDS,
    eval_seeds: tuple[int, ...] = GAP_EVAL_SEEDS,
    log=None,
) -> dict:
    """Tune each (net, batch size)'s rate on ``grid`` by validation accuracy, then run
    ``eval_seeds``. Returns the record :func:`main` writes to :data:`RESULTS_GAP`."""
    if set(tuning_seeds) & set(eval_seeds):
        raise ValueError("tuning and evaluation seeds overlap")
    t_wall, t_cpu = time.time(), time.process_time()
    tuning, evaluation, chosen = [], [], {}
    for bn in ("none", "before"):
        for b in batch_sizes:
            for lr in grid:
                for s in tuning_seeds:
                    tuning.append(run_gap(bn, b, lr, s, "tune"))
                    if log:
                        log(tuning[-1])
            score = {
                lr: np.mean([r["test_acc"] for r in tuning
                             if (r["bn"], r["batch_size"], r["lr"]) == (bn, b, lr)])
                for lr in grid
            }  # fmt: skip
            chosen[f"{bn}/{b}"] = max(grid, key=lambda lr: (score[lr], -lr))
            for s in eval_seeds:
                evaluation.append(run_gap(bn, b, chosen[f"{bn}/{b}"], s))
                if log:
                    log(evaluation[-1])
    return {
        "design": {
            "batch_sizes": list(batch_sizes),
            "grid": list(grid),
            "epochs": GAP_EPOCHS,
            "tuning_seeds": list(tuning_seeds),
            "eval_seeds": list(eval_seeds),
            "held_out_seeds": list(GAP_HELD_OUT_SEEDS),
            "margin": GAP_MARGIN,
        },
        "chosen_lr": chosen,
        "tuning": tuning,
        "evaluation": evaluation,
        **run_metadata(t_wall, t_cpu),
    }


def gaps(results: dict, bn: str, batch_size: int, key: str = "gap") -> np.ndarray:
    """``key`` of each evaluation seed for one (net, batch size), in seed order."""
    by_seed = {
        r["seed"]: r[key]
        for r in results["evaluation"]
        if r["bn"] == bn and r["batch_size"] == batch_size
    }
    return np.array([by_seed[s] for s in results["design"]["eval_seeds"]])


def gap_comparisons(results: dict) -> list[dict]:
    """The pre-registered comparisons, each a paired mean with its 95 % CI and verdict.

    Per batch size: gap(BN) - gap(plain); and the interaction, [gap(BN) - gap(plain)] at
    the smallest batch minus the same at the largest. Margin :data:`GAP_MARGIN`.
    """
    sizes = results["design"]["batch_sizes"]
    margin = results["design"]["margin"]
    rows = []
    for b in sizes:
        d = paired_diff_ci(gaps(results, "before", b), gaps(results, "none", b))
        rows.append({"comparison": f"BN - plain, batch {b}", **d, "verdict": verdict(d, margin)})
    small = gaps(results, "before", sizes[0]) - gaps(results, "none", sizes[0])
    large = gaps(results, "before", sizes[-1]) - gaps(results, "none", sizes[-1])
    d = paired_diff_ci(small, large)
    rows.append(
        {
            "comparison": f"(BN - plain) at batch {sizes[0]} minus at {sizes[-1]}",
            **d,
            "verdict": verdict(d, margin),
        }
    )
    return rows


def run_scale_full(seeds: tuple[int, ...] = WD_SEEDS, log=None) -> dict:
    """Scale invariance, batch noise and the weight-decay runs on ``seeds``.

    Returns the record :func:`main` writes to :data:`RESULTS_SCALE`.
    """
    t_wall, t_cpu = time.time(), time.process_time()
    scale = [asdict(run_scale_invariance(s)) for s in seeds]
    noise = [
        {"batch_sizes": r.batch_sizes, "spread": r.spread.tolist(), "slope": r.slope}
        for r in (run_noise(s) for s in seeds)
    ]
    wd = {}
    for lam in (0.0, WD_LAMBDA):
        wd[str(lam)] = []
        for s in seeds:
            r = run_weight_decay(s, lam, WD_LR, WD_STEPS)
            wd[str(lam)].append(
                {
                    "seed": s,
                    "steps": r.steps,
                    "row_norm2": r.row_norm2.round(6).tolist(),
                    "angle": r.angle.round(6).tolist(),
                    "max_cos": r.max_cos,
                    "test_acc": r.test_acc,
                }
            )
            if log:
                log(f"wd {lam} seed {s} acc {r.test_acc:.3f} max_cos {r.max_cos:.1e}")
    return {
        "design": {
            "seeds": list(seeds),
            "lr": WD_LR,
            "weight_decay": WD_LAMBDA,
            "steps": WD_STEPS,
        },  # fmt: skip
        "scale": scale,
        "noise": noise,
        "weight_decay": wd,
        **run_metadata(t_wall, t_cpu),
    }


def load_results(path: Path | str = RESULTS_SCALE) -> dict:
    """A committed record: :data:`RESULTS_SCALE` or :data:`RESULTS_GAP`."""
    return json.loads(Path(path).read_text())


def plot_weight_decay(results: dict, layer: int = 2, axes=None):
    """Row norm, effective rate and angle per step, with and without weight decay.

    Median over seeds (lines) and the 25th-75th percentile band, for hidden layer
    ``layer`` (0-based); the angle panel marks ``sqrt(2 lr lambda)``.
    """
    from bncourse import plotting

    fig, axes = new_axes(axes, ncols=3, width=2.15, height=2.9)
    design = results["design"]
    for i, (lam, runs) in enumerate(results["weight_decay"].items()):
        steps = np.asarray(runs[0]["steps"])
        n2 = np.array([np.asarray(r["row_norm2"])[:, layer] for r in runs])  # (seeds, steps)
        ang = np.array([np.asarray(r["angle"])[:, layer] for r in runs])
        style = plotting.series(i)
        label = "no decay" if float(lam) == 0 else f"decay {float(lam):g}"
        for ax, y in zip(axes, (np.sqrt(n2), design["lr"] / n2, ang), strict=True):
            ax.plot(steps, np.median(y, 0), color=style["color"],
                    linestyle=style["linestyle"], label=label)  # fmt: skip
            ax.fill_between(steps, *np.percentile(y, [25, 75], 0), color=style["color"], alpha=0.2)
    axes[2].axhline(np.sqrt(2 * design["lr"] * design["weight_decay"]), color="0.4", lw=0.8,
                    linestyle=":", label="sqrt(2 lr λ)")  # fmt: skip
    axes[0].set(ylabel="RMS row norm ||w||", xlabel="step")
    axes[1].set(ylabel="lr / ||w||²", xlabel="step", yscale="log")
    axes[2].set(ylabel="angle per step (rad)", xlabel="step", yscale="log")
    axes[0].legend(fontsize="small", loc="best")
    axes[2].legend(handles=axes[2].lines[-1:], fontsize="small", loc="upper right")
    return plotting.finish(fig)


def plot_gap(results: dict, axes=None):
    """Left: train/test gap against batch size (median, 95 % CI), plain and BN.
    Right: the pre-registered paired differences with the equivalence margin."""
    from matplotlib.ticker import NullLocator

    from bncourse import plotting
    from bncourse.experiments.stats import median_ci

    fig, (left, right) = new_axes(axes, ncols=2, width=3.25, height=3.0)
    sizes = results["design"]["batch_sizes"]
    for i, (bn, label) in enumerate((("none", "plain"), ("before", "BN"))):
        cis = np.array([median_ci(100 * gaps(results, bn, b)) for b in sizes])  # (sizes, 3)
        left.errorbar(sizes, cis[:, 0], yerr=[cis[:, 0] - cis[:, 1], cis[:, 2] - cis[:, 0]],
                      capsize=3, label=label, **plotting.series(i))  # fmt: skip
    left.set(xscale="log", xlabel="batch size", ylabel="train − test accuracy (points)")
    left.set_xticks(sizes, [str(b) for b in sizes])
    left.xaxis.set_minor_locator(NullLocator())
    left.legend(fontsize="small")
    rows = gap_comparisons(results)
    margin = 100 * results["design"]["margin"]
    right.axvspan(-margin, margin, color="0.9", label=f"±{margin:g} points")
    right.axvline(0, color="k", lw=0.8)
    for j, row in enumerate(rows):
        err = [[100 * (row["mean"] - row["lo"])], [100 * (row["hi"] - row["mean"])]]
        right.errorbar(100 * row["mean"], j, xerr=err, capsize=3, fmt="o", color="k")
    labels = [r["comparison"].replace("BN - plain, batch ", "b ") for r in rows]
    labels[-1] = f"b {sizes[0]} − b {sizes[-1]}"
    right.set_yticks(range(len(rows)), labels)
    right.invert_yaxis()
    right.set(xlabel="gap(BN) − gap(plain), points")
    right.legend(fontsize="small", loc="lower right")
    return plotting.finish(fig)


def main(argv: list[str] | None = None) -> None:
    """Write :data:`RESULTS_SCALE` and :data:`RESULTS_GAP` (``make experiments``).

    ``python -m bncourse.experiments.ch6_benefits [scale|gap]`` runs one part only.
    """
    argv = sys.argv[1:] if argv is None else argv
    parts = argv or ["scale", "gap"]

    def log(r):
        if isinstance(r, dict):
            r = (
                f"{r['purpose']:8s} bn {r['bn']:6s} batch {r['batch_size']:3d} lr {r['lr']:<6g} "
                f"seed {r['seed']:4d} train {r['train_acc']:.3f} test {r['test_acc']:.3f} "
                f"({r['cpu_s']:.1f} s)"
            )
        print(r, flush=True)

    RESULTS_SCALE.parent.mkdir(parents=True, exist_ok=True)
    if "scale" in parts:
        results = run_scale_full(log=log)
        RESULTS_SCALE.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {RESULTS_SCALE} ({results['timing']['cpu_s']} CPU s)", flush=True)
    if "gap" in parts:
        results = run_gap_full(log=log)
        RESULTS_GAP.write_text(json.dumps(results, indent=1) + "\n")
        for row in gap_comparisons(results):
            print(f"{row['comparison']}: {100 * row['mean']:+.2f} points "
                  f"[{100 * row['lo']:+.2f}, {100 * row['hi']:+.2f}] {row['verdict']}")  # fmt: skip
        print(f"wrote {RESULTS_GAP} ({results['timing']['cpu_s']} CPU s)", flush=True)


EXPERIMENTS = {
    "scale invariance": run_scale_invariance,
    "batch-statistics noise vs N": run_noise,
    "weight decay and the effective learning rate": run_weight_decay,
}

if __name__ == "__main__":
    main()
