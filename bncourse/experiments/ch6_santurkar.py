"""Santurkar, Tsipras, Ilyas & Madry (2018), Sec. 3: does BN make the loss landscape smoother?

The paper (arXiv 1805.11604, NeurIPS 2018; v1 subtitled "No, It Is Not About Internal
Covariate Shift") first tests the internal-covariate-shift story (its Sec. 2, reproduced
in :mod:`bncourse.experiments.ch2_santurkar` for chapter 2), then offers its own
explanation: BN makes the landscape smoother. Its Fig. 4 (VGG on CIFAR-10) probes the
landscape at points along training. At weights ``w`` with minibatch gradient ``g`` it
steps along ``-g`` with a grid of step sizes ``eta`` and records

(a) **loss landscape**: the range of ``L(w - eta g)`` over the grid (``eta = 0``
    included);
(b) **gradient predictiveness**: ``d(eta) = ||grad L(w - eta g) - g||``, shown as a band;
    we summarise it by its largest value over the grid;
(c) **effective beta-smoothness**: ``max_eta d(eta) / ||eta g||``, the largest change of
    the gradient per unit distance moved.

The paper finds all three clearly smaller with BN. Here: 4,000 MNIST digits
(:func:`bncourse.experiments._common.mnist_tensors`), two architectures, each with and
without BN (``bnref.torch.BatchNorm1d`` / ``BatchNorm2d`` before every ReLU), plain SGD,
batch 128, He initialisation (so that the plain nets train too):

* ``mlp``: 784-128x6-10 ReLU MLP, 200 steps;
* ``cnn``: two 3x3/5x5 stride-2 convolutions (8 and 16 channels) and a linear read-out,
  200 steps.

Probes every 25 steps (and at step 0) on a fresh batch of 128 from their own generator,
in training mode (BN normalises with the probe batch's statistics), with step sizes
:data:`ETAS` = 0.025-0.4 (fixed, the same for every training learning rate); the model
(weights, ``.grad``, BN running statistics, mode) is restored after every probe, so the
probes do not change training. One number per run and measure: the median over the 9
probes. One number per seed: the ratio standard / BN of those medians (> 1: smoother
with BN).

Design, fixed before the evaluation runs (seeds 0-9; a pilot on seed 100 and the
tuning used seeds 100-101 only):

* **Fixed learning rates** (:data:`PROBE_LRS`): both nets trained at the same lr, as in
  the paper's figure: 0.02, 0.05, 0.2 and 0.5.
* **Tuned learning rates**: each net at its own best lr from :data:`LR_GRID`, chosen by
  validation accuracy (last 1,000 training digits held out) after 200 steps, mean over
  the two tuning seeds.

Claims, stated before the evaluation run (:data:`CLAIMS`). Verdict rule: the 95 % CI of
the median over 10 seeds of the per-seed ratio standard / BN
(:func:`bncourse.experiments.stats.median_ci`) lies above 1 -> "smoother with BN"; below
1 -> "rougher with BN"; contains 1 -> "no clear difference". A setting where the
standard net diverges on most seeds is reported as "standard diverges".

1. loss range (a) and gradient change (b): smoother with BN at every fixed lr at which
   the standard net trains, and at the tuned lrs, MLP and CNN (the paper's claim; the
   pilot gave ratios from ~40x at lr 0.02 down to ~2x at lr 0.2-0.5);
2. effective beta-smoothness (c), small learning rates: smoother with BN at lr 0.02 and
   0.05 on both nets (the paper's claim);
3. effective beta-smoothness, large learning rates: *not* smoother with BN at lr 0.2 on
   the MLP and lr 0.5 on the CNN (pilot ratios 0.94 and 0.87; an earlier run on seeds
   0-5 measured 0.87-0.9 for the MLP at lr 0.2): here we expect the paper's claim to
   fail. CNN at lr 0.2, and both nets at their tuned lrs: the paper's prediction
   (smoother with BN);
4. the standard MLP diverges at lr 0.5 (BN trains), so its landscape is not compared
   there.

Measured (written after the run; seeds 0-9, median ratio [95 % CI]): (a) and (b)
smoother with BN at lr 0.02, 0.05 and 0.2 on both nets and at the MLP's tuned lrs (plain
0.1, BN 0.5); (c) smoother with BN at 0.02 and 0.05 (MLP 3.51, 2.07; CNN 4.61, 3.21) and
for the CNN at 0.2, but not for the MLP at 0.2 (1.04 [0.951, 1.14]); the plain MLP
diverged at 0.5 on 9 of 10 seeds; the CNN at 0.5 (both nets' tuned lr) shows no clear
difference in any measure, because the plain CNN collapsed on seeds 4 and 5 (a flat,
untrained landscape) -- a case the rule did not foresee, so the CNN's tuned-lr
prediction failed.

Results: ``results/ch6_smoothness_mlp.json`` and ``results/ch6_smoothness_cnn.json``
(``python -m bncourse.experiments.ch6_santurkar [mlp|cnn]``, part of ``make experiments``).

Book section: 6.2 "A smoother loss landscape" (``book/06_2_smoothness.md``).
"""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bncourse.experiments._common import (
    MnistTensors,
    fast_torch,
    mlp,
    mnist_tensors,
    new_axes,
    seeded,
    train,
)
from bncourse.experiments.ch2_ioffe_fig1 import _restore, _save
from bncourse.experiments.stats import median_ci

__all__ = [
    "NETS",
    "ARCHS",
    "ETAS",
    "LR_GRID",
    "PROBE_LRS",
    "MEASURES",
    "CLAIMS",
    "small_cnn",
    "make_net",
    "probe_along_gradient",
    "LandscapeResult",
    "run_landscape",
    "tune_lr",
    "run_full",
    "load_results",
    "summarize",
    "plot_landscape",
    "plot_ratios",
    "EXPERIMENTS",
]

#: The two nets compared: name -> BN placement ("before" each ReLU, or none).
NETS = {"standard": "none", "BN": "before"}
#: The architectures (see the module docstring).
ARCHS = ("mlp", "cnn")
#: Step sizes along -g at every probe (the same for every training learning rate).
ETAS = (0.025, 0.05, 0.1, 0.2, 0.4)
#: Learning-rate grid for tuning each net.
LR_GRID = (0.02, 0.05, 0.1, 0.2, 0.5)
#: Fixed training learning rates at which both nets are probed.
PROBE_LRS = (0.02, 0.05, 0.2, 0.5)
#: Summary measures of a run (median over probes).
MEASURES = ("loss_range", "grad_change", "beta_eff")
STEPS, EVERY, BATCH = 200, 25, 128
SEEDS = tuple(range(10))
TUNE_SEEDS = (100, 101)
RESULTS = Path(__file__).parent / "results"

CLAIMS = {
    "rule": "95% CI (median_ci over seeds) of the median ratio standard/BN: above 1 -> "
    "'smoother with BN', below 1 -> 'rougher with BN', contains 1 -> 'no clear difference'",
    "loss_range": "smoother with BN at every fixed lr at which the standard net trains and at "
    "the tuned lrs, MLP and CNN",
    "grad_change": "smoother with BN at every fixed lr at which the standard net trains and at "
    "the tuned lrs, MLP and CNN",
    "beta_eff_small_lr": "smoother with BN at lr 0.02 and 0.05, MLP and CNN",
    "beta_eff_large_lr": "NOT smoother with BN (no clear difference or rougher) at lr 0.2 on "
    "the MLP and lr 0.5 on the CNN; smoother with BN on the CNN at lr 0.2 and, on both nets, "
    "at the tuned lrs",
    "divergence": "the standard MLP diverges at lr 0.5 on most seeds; the BN MLP does not",
    "seeds": list(SEEDS),
}


# ------------------------------------------------------------------------------ the nets


def small_cnn(bn: str = "none", generator: torch.Generator | None = None) -> nn.Sequential:
    """A two-convolution net for flattened 28x28 digits (input (N, 784), logits (N, 10)).

    ``Conv 5x5/2 (8 ch) -> [BN] -> ReLU -> Conv 3x3/2 (16 ch) -> [BN] -> ReLU -> Linear``,
    He-normal weights, zero biases. ``bn="before"`` inserts ``bnref.torch.BatchNorm2d``.
    """
    if bn not in ("none", "before"):
        raise ValueError(f"bn must be 'none' or 'before', got {bn!r}")
    from bnref.torch import BatchNorm2d

    layers: list[nn.Module] = [nn.Unflatten(1, (1, 28, 28))]  # (N, 1, 28, 28)
    for c_in, c_out, k in ((1, 8, 5), (8, 16, 3)):
        layers.append(nn.Conv2d(c_in, c_out, k, stride=2, padding=k // 2))  # halves H, W
        if bn == "before":
            layers.append(BatchNorm2d(c_out))
        layers.append(nn.ReLU())
    layers += [nn.Flatten(), nn.Linear(16 * 7 * 7, 10)]  # (N, 784) -> (N, 10)
    with torch.no_grad():
        for m in layers:
            if isinstance(m, nn.Conv2d | nn.Linear):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
                m.bias.zero_()
    return nn.Sequential(*layers)


def make_net(arch: str, net: str, generator: torch.Generator | None = None) -> nn.Sequential:
    """The ``net`` ("standard" or "BN") version of ``arch`` ("mlp" or "cnn")."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    if net not in NETS:
        raise ValueError(f"net must be one of {list(NETS)}, got {net!r}")
    if arch == "mlp":
        return mlp((784,) + (128,) * 6 + (10,), "relu", bn=NETS[net], generator=generator)
    return small_cnn(NETS[net], generator)


# ---------------------------------------------------------------------------- the probe


def _grads(model, loss_fn, x, y) -> tuple[float, list[torch.Tensor]]:
    params = [p for p in model.parameters() if p.requires_grad]
    loss = loss_fn(model(x), y)
    return float(loss.detach()), list(torch.autograd.grad(loss, params))


def probe_along_gradient(
    model: nn.Module,
    loss_fn: Callable,
    x: torch.Tensor,
    y: torch.Tensor,
    step_sizes: Sequence[float] = ETAS,
) -> dict[str, np.ndarray | float]:
    """Loss and gradient at ``w - eta g`` for each step size (one Fig. 4 probe).

    Parameters
    ----------
    model : nn.Module
        Probed in its current mode (training mode: BN uses the batch's statistics).
    loss_fn : callable
        ``loss_fn(model(x), y) -> scalar tensor``.
    x, y : Tensor
        The probe batch; ``g`` is the gradient of the loss on it at the current weights.
    step_sizes : sequence of float
        Positive step sizes ``eta``.

    Returns
    -------
    dict
        ``loss``: ndarray (1 + len(step_sizes),), ``L(w)`` then ``L(w - eta g)``;
        ``grad_change``: ndarray (len(step_sizes),), ``||grad L(w - eta g) - g||`` over all
        parameters; ``distance``: ndarray, ``eta ||g||``; ``loss_range``, ``max_change``
        and ``beta_eff`` (``max(grad_change / distance)``): floats.

    Notes
    -----
    Parameters, ``.grad``, buffers (BN running statistics) and modes are restored.
    """
    etas = [float(e) for e in step_sizes]
    if not etas or min(etas) <= 0:
        raise ValueError(f"step_sizes must be positive, got {list(step_sizes)}")
    state = _save(model)
    try:
        params = [p for p in model.parameters() if p.requires_grad]
        start = [p.detach().clone() for p in params]
        loss0, g = _grads(model, loss_fn, x, y)
        g_flat = torch.cat([t.reshape(-1) for t in g])
        g_norm = float(g_flat.norm())
        losses, changes = [loss0], []
        for eta in etas:
            with torch.no_grad():
                for p, w, gp in zip(params, start, g, strict=True):
                    p.copy_(w - eta * gp)
            loss, g_eta = _grads(model, loss_fn, x, y)
            losses.append(loss)
            changes.append(float((torch.cat([t.reshape(-1) for t in g_eta]) - g_flat).norm()))
    finally:
        _restore(model, state)
    losses, changes = np.array(losses), np.array(changes)
    distance = np.array(etas) * g_norm
    return {
        "loss": losses,
        "grad_change": changes,
        "distance": distance,
        "loss_range": float(losses.max() - losses.min()),
        "max_change": float(changes.max()),
        "beta_eff": float((changes / distance).max()) if g_norm > 0 else float("nan"),
    }


# --------------------------------------------------------------------- probed training


@dataclass
class LandscapeResult:
    """Loss and gradient along the gradient direction, probed during training.

    Attributes
    ----------
    arch : str
    lr : dict of str to float
        Training learning rate of each net.
    steps : list of int
        Probe steps (0 = at initialisation).
    etas : list of float
    loss_min, loss_max : dict of str to ndarray, shape (len(steps),)
        Smallest and largest ``L(w - eta g)`` over ``eta`` in ``{0} + etas`` (Fig. 4a band).
    grad_change_min, grad_change_max : dict of str to ndarray, shape (len(steps),)
        Smallest and largest ``d(eta)`` (Fig. 4b band).
    beta_eff : dict of str to ndarray, shape (len(steps),)
        ``max_eta d(eta) / ||eta g||`` (Fig. 4c).
    test_acc : dict of str to list of float
        Test accuracy at the probe steps (the probes do not change training).
    diverged : dict of str to bool
    """

    arch: str
    lr: dict[str, float]
    steps: dict[str, list[int]] = field(default_factory=dict)
    etas: list[float] = field(default_factory=list)
    loss_min: dict[str, np.ndarray] = field(default_factory=dict)
    loss_max: dict[str, np.ndarray] = field(default_factory=dict)
    grad_change_min: dict[str, np.ndarray] = field(default_factory=dict)
    grad_change_max: dict[str, np.ndarray] = field(default_factory=dict)
    beta_eff: dict[str, np.ndarray] = field(default_factory=dict)
    test_acc: dict[str, list[float]] = field(default_factory=dict)
    diverged: dict[str, bool] = field(default_factory=dict)

    def series(self, name: str, measure: str) -> np.ndarray:
        """Per-probe values of ``measure`` (one of :data:`MEASURES`) for net ``name``."""
        get = {
            "loss_range": lambda n: self.loss_max[n] - self.loss_min[n],
            "grad_change": lambda n: self.grad_change_max[n],
            "beta_eff": lambda n: self.beta_eff[n],
        }
        if measure not in get:
            raise ValueError(f"measure must be one of {list(get)}, got {measure!r}")
        return np.asarray(get[measure](name), dtype=np.float64)

    def summary(self, name: str, measure: str) -> float:
        """Median over probes of ``measure`` for net ``name``."""
        return float(np.median(self.series(name, measure)))

    def ratio(self, measure: str) -> float:
        """Standard net's median over the BN net's (> 1: smoother with BN)."""
        return self.summary("standard", measure) / self.summary("BN", measure)


def run_landscape(
    seed: int = 0,
    lr: float | dict[str, float] = 0.05,
    arch: str = "mlp",
    etas: Sequence[float] = ETAS,
    steps: int = STEPS,
    every: int = EVERY,
    batch_size: int = BATCH,
) -> LandscapeResult:
    """Train both nets of ``arch`` with plain SGD and probe the landscape (Fig. 4).

    Parameters
    ----------
    seed : int
        Initial weights and batches (both nets start from the same generator state).
    lr : float or dict of str to float
        Training learning rate, one for both nets or ``{"standard": .., "BN": ..}``.
    arch : {"mlp", "cnn"}
    etas : sequence of float
        Step sizes along ``-g`` at each probe.
    steps, every, batch_size : int
        Training steps; probe every ``every`` steps (and at step 0); batch size (the
        probe batches have the same size).

    Returns
    -------
    LandscapeResult

    Notes
    -----
    Probe batches come from their own generator (``seed + 1``), so the training batches
    are those of an unprobed run. About 5 s (MLP) / 8 s (CNN) for both nets at 200 steps.
    """
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    lrs = {n: float(lr) for n in NETS} if not isinstance(lr, dict) else dict(lr)
    if set(lrs) != set(NETS) or min(lrs.values()) <= 0:
        raise ValueError(f"lr must be positive, for each of {list(NETS)}; got {lr!r}")
    if steps < 0 or every < 1 or batch_size < 2:
        raise ValueError(
            f"need steps >= 0, every >= 1, batch_size >= 2; got {steps}, {every}, {batch_size}"
        )
    fast_torch()
    data = mnist_tensors()
    loss_fn = nn.functional.cross_entropy
    result = LandscapeResult(arch=arch, lr=lrs, etas=[float(e) for e in etas])
    for name in NETS:
        gen, _ = seeded(seed)
        model = make_net(arch, name, gen)
        probe_rng = np.random.default_rng(seed + 1)

        def record(model, _step, rng=probe_rng):
            idx = torch.from_numpy(rng.choice(data.x_train.shape[0], batch_size, replace=False))
            was = model.training
            model.train()
            try:
                p = probe_along_gradient(model, loss_fn, data.x_train[idx], data.y_train[idx], etas)
            finally:
                model.train(was)
            return {
                "loss_min": float(p["loss"].min()),
                "loss_max": float(p["loss"].max()),
                "change_min": float(p["grad_change"].min()),
                "change_max": p["max_change"],
                "beta": p["beta_eff"],
            }

        hist = train(
            model, data, steps=steps, lr=lrs[name], momentum=0.0, batch_size=batch_size,
            eval_every=every, eval_at_start=True, generator=gen, record=record,
        )  # fmt: skip
        result.steps[name] = hist.steps
        result.test_acc[name] = hist.test_acc
        result.diverged[name] = hist.diverged
        result.loss_min[name] = np.array(hist.extra.get("loss_min", []))
        result.loss_max[name] = np.array(hist.extra.get("loss_max", []))
        result.grad_change_min[name] = np.array(hist.extra.get("change_min", []))
        result.grad_change_max[name] = np.array(hist.extra.get("change_max", []))
        result.beta_eff[name] = np.array(hist.extra.get("beta", []))
    return result


def tune_lr(
    arch: str, seeds: Sequence[int] = TUNE_SEEDS, grid: Sequence[float] = LR_GRID,
    steps: int = STEPS,
) -> dict[str, dict[float, float]]:  # fmt: skip
    """Validation accuracy (mean over ``seeds``) of each net of ``arch`` at each lr.

    Trains on the first 3,000 training digits and evaluates on the last 1,000 (the test
    digits are not used). A diverged run scores 0. Returns ``{net: {lr: accuracy}}``.
    """
    fast_torch()
    full = mnist_tensors()
    data = MnistTensors(full.x_train[:3000], full.y_train[:3000], full.x_train[3000:],
                        full.y_train[3000:])  # fmt: skip
    out: dict[str, dict[float, float]] = {}
    for name in NETS:
        out[name] = {}
        for lr in grid:
            accs = []
            for seed in seeds:
                gen, _ = seeded(seed)
                hist = train(make_net(arch, name, gen), data, steps=steps, lr=lr,
                             batch_size=BATCH, eval_every=steps, generator=gen)  # fmt: skip
                accs.append(0.0 if hist.diverged else hist.test_acc[-1])
            out[name][float(lr)] = float(np.mean(accs))
    return out


# ----------------------------------------------------------------------------- full runs

_KEYS = ("loss_min", "loss_max", "grad_change_min", "grad_change_max", "beta_eff")


def _seed_row(seed: int, r: LandscapeResult) -> dict:
    return {
        "seed": seed,
        "steps": r.steps,
        "diverged": r.diverged,
        "test_acc": {n: round(r.test_acc[n][-1], 4) for n in NETS},
        "probes": {n: {k: np.round(getattr(r, k)[n], 6).tolist() for k in _KEYS} for n in NETS},
    }


def run_full(arch: str, seeds: Sequence[int] = SEEDS, log: Callable = print) -> dict:
    """The full runs behind section 6.2 for ``arch`` (``make experiments``): a JSON-ready dict.

    Tunes each net's lr on :data:`LR_GRID` (seeds :data:`TUNE_SEEDS`), then probes both
    nets on ``seeds`` at every lr of :data:`PROBE_LRS` and at the tuned lrs (a tuned pair
    equal to a fixed lr reuses that run).
    """
    wall, cpu = time.perf_counter(), time.process_time()
    tuning = tune_lr(arch)
    chosen = {n: max(acc, key=acc.get) for n, acc in tuning.items()}
    log(f"{arch}: tuned in {time.process_time() - cpu:.0f} CPU s: {chosen} from {tuning}")
    settings = {f"lr {lr:g}": {n: float(lr) for n in NETS} for lr in PROBE_LRS}
    settings["tuned"] = dict(chosen)
    runs: dict[str, dict] = {}
    for key, lrs in settings.items():
        same = next((k for k, v in runs.items() if v["lr"] == lrs), None)
        if same is not None:
            runs[key] = {"lr": lrs, "per_seed": runs[same]["per_seed"], "same_as": same}
            continue
        rows = []
        for seed in seeds:
            t = time.process_time()
            r = run_landscape(seed, lrs, arch)
            rows.append(_seed_row(seed, r))
            log(f"{arch} {key} seed {seed}: ratios "
                + ", ".join(f"{m} {r.ratio(m):.3g}" for m in MEASURES)
                + f" ({time.process_time() - t:.1f} CPU s)")  # fmt: skip
        runs[key] = {"lr": lrs, "per_seed": rows}
    return {
        "experiment": f"ch6_smoothness_{arch}",
        "arch": arch,
        "claims": CLAIMS,
        "design": {
            "nets": NETS,
            "etas": list(ETAS),
            "lr_grid": list(LR_GRID),
            "probe_lrs": list(PROBE_LRS),
            "steps": STEPS,
            "every": EVERY,
            "batch": BATCH,
            "seeds": list(seeds),
            "tune_seeds": list(TUNE_SEEDS),
            "summary": "median over probes per run; ratio standard/BN per seed; "
            "median over seeds with median_ci",
        },  # fmt: skip
        "tuning": {n: {str(k): round(v, 4) for k, v in acc.items()} for n, acc in tuning.items()},
        "chosen_lr": chosen,
        "runs": runs,
        "timing": {
            "cpu_s": round(time.process_time() - cpu, 1),
            "wall_s": round(time.perf_counter() - wall, 1),
        },
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def load_results(arch: str) -> dict:
    """The committed ``results/ch6_smoothness_<arch>.json``."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    return json.loads((RESULTS / f"ch6_smoothness_{arch}.json").read_text())


def result_of(results: dict, setting: str, seed: int) -> LandscapeResult:
    """One seed's :class:`LandscapeResult` back from the results dict (for plotting)."""
    run = results["runs"][setting]
    row = next((r for r in run["per_seed"] if r["seed"] == seed), None)
    if row is None:
        raise ValueError(f"no seed {seed} in setting {setting!r}")
    r = LandscapeResult(arch=results["arch"], lr=run["lr"], steps=row["steps"],
                        etas=results["design"]["etas"], diverged=row["diverged"])  # fmt: skip
    for k in _KEYS:
        setattr(r, k, {n: np.array(row["probes"][n][k]) for n in NETS})
    return r


def seed_ratios(results: dict, setting: str, measure: str) -> np.ndarray:
    """Per-seed ratio standard/BN of ``measure`` (NaN where either net diverged)."""
    out = []
    for row in results["runs"][setting]["per_seed"]:
        if any(row["diverged"].values()):
            out.append(np.nan)
            continue
        r = result_of(results, setting, row["seed"])
        out.append(r.ratio(measure))
    return np.array(out)


def _verdict(lo: float, hi: float) -> str:
    if lo > 1:
        return "smoother with BN"
    if hi < 1:
        return "rougher with BN"
    return "no clear difference"


def summarize(results: dict) -> list[dict]:
    """One row per setting and measure: median ratio with its 95 % CI and the verdict.

    Also ``net_median``: each net's median over seeds of its per-run value, and
    ``test_acc``: each net's median final test accuracy.

    A setting in which the standard net diverged on most seeds gets the verdict
    "standard diverges" (its landscape is not measured past the blow-up).
    """
    rows = []
    for setting, run in results["runs"].items():
        per_seed = run["per_seed"]
        n_div = {n: sum(r["diverged"][n] for r in per_seed) for n in NETS}
        acc = {n: float(np.median([r["test_acc"][n] for r in per_seed])) for n in NETS}
        runs = [result_of(results, setting, r["seed"]) for r in per_seed]
        for measure in MEASURES:
            ratios = seed_ratios(results, setting, measure)
            valid = ratios[np.isfinite(ratios)]
            per_net = {  # median over the seeds on which that net did not diverge
                n: float(np.median([r.summary(n, measure) for r in runs if not r.diverged[n]]))
                if n_div[n] < len(runs)
                else float("nan")
                for n in NETS
            }
            row = {
                "arch": results["arch"], "setting": setting, "lr": run["lr"],
                "measure": measure, "n": int(valid.size), "diverged": n_div, "test_acc": acc,
                "net_median": per_net,
            }  # fmt: skip
            if valid.size >= max(2, len(per_seed) // 2):
                med, lo, hi = median_ci(valid)
                row.update(median=med, lo=lo, hi=hi, verdict=_verdict(lo, hi))
            else:
                row.update(median=np.nan, lo=np.nan, hi=np.nan, verdict="standard diverges")
            rows.append(row)
    return rows


# ------------------------------------------------------------------------------ plotting


def plot_landscape(result: LandscapeResult, ax=None):
    """Fig. 4: (a) loss range, (b) gradient change (min-max bands), (c) effective beta.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from bncourse import plotting

    fig, axes = new_axes(ax, ncols=3, width=2.2, height=2.8)
    a, b, c = axes
    for i, name in enumerate(NETS):
        steps = result.steps[name][: len(result.beta_eff[name])]
        style = plotting.series(i)
        a.fill_between(steps, result.loss_min[name], result.loss_max[name],
                       color=style["color"], alpha=0.35, label=name)  # fmt: skip
        b.fill_between(steps, result.grad_change_min[name], result.grad_change_max[name],
                       color=style["color"], alpha=0.35, label=name)  # fmt: skip
        c.plot(steps, result.beta_eff[name], **style, label=name)
    a.set(xlabel="step", ylabel="loss along -g", title="(a) loss", yscale="log")
    b.set(xlabel="step", ylabel="gradient change", title="(b) grad. change", yscale="log")
    c.set(xlabel="step", ylabel="max change / distance", title="(c) beta_eff")
    a.legend(frameon=False, fontsize="small")
    return plotting.finish(fig)


def plot_ratios(results: Sequence[dict], ax=None):
    """Median ratio standard/BN (95 % CI) of each measure against the training lr.

    ``results``: one results dict per architecture. Points above 1: smoother with BN.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from bncourse import plotting

    titles = {"loss_range": "(a) loss range", "grad_change": "(b) gradient change",
              "beta_eff": "(c) beta_eff"}  # fmt: skip
    fig, axes = new_axes(ax, ncols=3, width=2.2, height=2.8)
    for j, res in enumerate(results):
        rows = [r for r in summarize(res) if r["setting"] != "tuned"]
        style = plotting.series(j)
        for k, measure in enumerate(MEASURES):
            sel = [r for r in rows if r["measure"] == measure and np.isfinite(r["median"])]
            x = np.array([r["lr"]["BN"] for r in sel]) * (1.08 if j else 1 / 1.08)
            med = np.array([r["median"] for r in sel])
            err = [med - np.array([r["lo"] for r in sel]), np.array([r["hi"] for r in sel]) - med]
            axes[k].errorbar(x, med, yerr=err, capsize=3, label=res["arch"].upper(), **style)
    from matplotlib.ticker import FixedLocator, FormatStrFormatter, LogLocator, NullFormatter

    for k, measure in enumerate(MEASURES):
        ax = axes[k]
        ax.axhline(1, color="k", lw=0.8)
        ax.set(xscale="log", yscale="log", xlabel="training lr", title=titles[measure])
        ax.xaxis.set_major_locator(FixedLocator(PROBE_LRS))
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.tick_params(axis="x", labelrotation=45)
    axes[0].set_ylabel("standard / BN")
    axes[0].legend(frameon=False, fontsize="small")
    return plotting.finish(fig)


EXPERIMENTS = {"Santurkar loss landscape (Fig. 4), MLP at lr 0.05": run_landscape}


def main(argv: list[str] | None = None) -> None:
    """``python -m bncourse.experiments.ch6_santurkar [mlp|cnn ...]``: write the results."""
    argv = sys.argv[1:] if argv is None else argv
    for arch in argv or ARCHS:
        results = run_full(arch, log=lambda s: print(s, flush=True))
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"ch6_smoothness_{arch}.json"
        path.write_text(json.dumps(results, indent=1) + "\n")
        for row in summarize(results):
            print(f"{arch} {row['setting']:8s} {row['measure']:11s} ratio {row['median']:.3g} "
                  f"[{row['lo']:.3g}, {row['hi']:.3g}] {row['verdict']}")  # fmt: skip
        print(f"wrote {path} ({results['timing']['cpu_s']} CPU s)")


if __name__ == "__main__":
    main()
