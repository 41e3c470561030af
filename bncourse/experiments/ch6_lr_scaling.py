"""Ioffe & Szegedy (2015), Sec. 4.2: fewer steps, higher learning rates, sigmoids, init.

The paper (arXiv 1502.03167, Sec. 4.2.2, Fig. 2 and 3) trains Inception on ImageNet and
counts the steps each variant needs to reach 72.2 % validation accuracy (:data:`PAPER_TABLE`):
Inception 31.0M; BN-Baseline (same rate) 13.3M; BN-x5 (5x the rate) 2.1M; BN-x30 2.7M
("somewhat slower initially" than BN-x5, but 74.8 % in the end); BN-x5-Sigmoid trains
(69.8 %) while Inception with sigmoids "never achieves better than 1/1000 accuracy", and
Inception at 5x the rate diverges. BN also lets one "be less careful about initialization".

Our analogue, fixed before the full run (nothing below was changed after seeing it):

* Net: 784-128x6-10 MLP, He init, ReLU (or sigmoid), BN before the nonlinearity
  (``torch.nn.BatchNorm1d``: the same function as ``bnref.torch.BatchNorm1d``, about 3x
  faster in these tiny nets). Momentum SGD (0.9), batch 32, trained on the 3,000 training
  digits of :func:`.ch4_placement.split`; "steps to target" = the first step (checked
  every :data:`EVERY`) at which held-out accuracy reaches :data:`TARGET` = 90 %, capped
  at :data:`MAX_STEPS` (never reached = ``inf``).
* Learning rates: the grid :data:`GRID`. The base rate eta0 is the plain ReLU net's best
  on the grid (fewest median steps to 90 % on the validation digits over
  :data:`TUNING_SEEDS`), as the paper's base rate is Inception's. The BN-xK arms use
  K * eta0. Two arms get their own tuned rate: ``BN-tuned`` (the BN net's best rate on
  the grid) and ``plain-Sigmoid`` (the sigmoid net's best; never reaching the target, it
  is ranked by its best validation accuracy), so that "stuck" does not mean "badly tuned".
* Evaluation: :data:`EVAL_SEEDS` (20, paired: a seed fixes the weights and the batch
  order of every arm), test accuracy on the 1,000 test digits. Statistics: the median of
  per-seed step ratios with the distribution-free 95 % interval of
  :func:`.stats.median_ci`.
* The learning-rate curve: plain and BN nets at every rate of the grid on
  :data:`CURVE_SEEDS` (10): where BN-xK sits on it explains the ordering of the arms.
* Init sweep: every Linear layer's He weights multiplied by a gain in :data:`GAINS`,
  plain and BN at eta0, :data:`GAIN_STEPS` = 400 steps, test accuracy at the end, 10 seeds.

Claims and the rule that decides each (stated before the run):

1. fewer steps: median of steps(BN-Baseline) / steps(plain) has a 95 % CI below 0.85;
2. higher rates: plain-x30 never reaches 90 % (median steps ``inf``, CI lower end
   ``inf``) while BN-x30 does (CI upper end finite);
3. the paper's ordering: BN-x5 / BN-Baseline and BN-x30 / BN-Baseline step ratios:
   "reproduced" if the CI lies below 1, "not reproduced" if it lies above 1, else
   "inconclusive" (a one-seed probe gave BN-x30 slower: 210 vs 110 steps);
4. where the ordering comes from: on the curve, with a base rate one grid step below
   eta0's probe value (0.003), 30x that rate (0.1) needs fewer steps: median ratio
   steps(BN, 0.1) / steps(BN, 0.003) with CI below 1;
5. sigmoid: plain-Sigmoid's median best test accuracy has a CI below 0.3, while
   BN-x5-Sigmoid reaches 90 % (CI upper end finite);
6. init: the BN net's median final accuracy has a CI above 0.5 at every gain; the plain
   net's has a CI below 0.2 at the extreme gains 0.1 and 10.

``python -m bncourse.experiments.ch6_lr_scaling`` (``make experiments``) runs both parts
and writes :data:`RESULTS` and :data:`RESULTS_INIT` (seeds, versions, timings, every
run's numbers); the book (chapter 6.1) plots them.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bncourse.experiments._common import fast_torch, mlp, new_axes, run_metadata, seeded, train
from bncourse.experiments.ch4_placement import split
from bncourse.experiments.stats import median_ci

__all__ = [
    "ARMS",
    "GRID",
    "GAINS",
    "TARGET",
    "MAX_STEPS",
    "TUNING_SEEDS",
    "EVAL_SEEDS",
    "CURVE_SEEDS",
    "HELD_OUT_SEEDS",
    "PAPER_TABLE",
    "RESULTS",
    "RESULTS_INIT",
    "build",
    "run_one",
    "tune",
    "run_table",
    "run_init_gains",
    "steps_of",
    "ratio_ci",
    "ordering_verdict",
    "load_results",
    "plot_arms",
    "plot_lr_curve",
    "plot_init_gains",
    "EXPERIMENTS",
]

DEPTH, WIDTH, BATCH, MOMENTUM = 6, 128, 32, 0.9
TARGET, MAX_STEPS, EVERY = 0.9, 1500, 10
GRID: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
GAINS: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0)
GAIN_STEPS = 400
TUNING_SEEDS: tuple[int, ...] = (1000, 1001)
EVAL_SEEDS: tuple[int, ...] = tuple(range(20))
CURVE_SEEDS: tuple[int, ...] = tuple(range(10))
HELD_OUT_SEEDS: tuple[int, ...] = (500, 501)
RESULTS = Path(__file__).with_name("results") / "ch6_results_lr.json"
RESULTS_INIT = Path(__file__).with_name("results") / "ch6_results_init.json"

#: arm -> (activation, BN, how its rate is set: ("x", K) = K * eta0, ("tuned", who))
ARMS: dict[str, tuple[str, str, tuple[str, Any]]] = {
    "plain": ("relu", "none", ("x", 1.0)),
    "BN-Baseline": ("relu", "before", ("x", 1.0)),
    "BN-x5": ("relu", "before", ("x", 5.0)),
    "BN-x30": ("relu", "before", ("x", 30.0)),
    "BN-tuned": ("relu", "before", ("tuned", "BN")),
    "plain-x5": ("relu", "none", ("x", 5.0)),
    "plain-x30": ("relu", "none", ("x", 30.0)),
    "plain-Sigmoid": ("sigmoid", "none", ("tuned", "sigmoid")),
    "BN-x5-Sigmoid": ("sigmoid", "before", ("x", 5.0)),
}

#: The paper's Sec. 4.2.2: steps to reach 72.2 % (None: never) and maximum accuracy.
PAPER_TABLE: dict[str, tuple[float | None, float]] = {
    "Inception": (31.0e6, 0.722),
    "BN-Baseline": (13.3e6, 0.727),
    "BN-x5": (2.1e6, 0.730),
    "BN-x30": (2.7e6, 0.748),
    "BN-x5-Sigmoid": (None, 0.698),
}

#: which nets are tuned on the grid: name -> (activation, BN)
_TUNED = {"plain": ("relu", "none"), "BN": ("relu", "before"), "sigmoid": ("sigmoid", "none")}


def build(
    activation: str = "relu", bn: str = "none", gain: float = 1.0, generator=None
) -> nn.Sequential:
    """The 784-128x6-10 MLP of this section (He init times ``gain``), BN from torch.

    The weights are drawn by :func:`._common.mlp`; its BN layers are swapped for
    ``torch.nn.BatchNorm1d`` (same defaults, no random state, so the draws do not change).
    """
    if not gain > 0:
        raise ValueError(f"gain must be positive, got {gain!r}")
    model = mlp(
        (784,) + (WIDTH,) * DEPTH + (10,), activation, bn=bn, init="he", generator=generator
    )
    for i, layer in enumerate(model):
        if "BatchNorm" in type(layer).__name__:
            model[i] = nn.BatchNorm1d(layer.num_features)
        elif isinstance(layer, nn.Linear) and gain != 1.0:
            with torch.no_grad():
                layer.weight.mul_(gain)
    return model


def run_one(
    activation: str,
    bn: str,
    lr: float,
    seed: int,
    purpose: str = "evaluate",
    gain: float = 1.0,
    max_steps: int = MAX_STEPS,
    every: int = EVERY,
    stop: bool = True,
) -> dict[str, Any]:
    """Train one net; plain data: steps to :data:`TARGET` (``inf`` if never), accuracies.

    ``purpose="tune"`` measures on the validation digits, ``"evaluate"`` on the test
    digits (:func:`.ch4_placement.split`). ``stop``: stop at the target.
    """
    fast_torch()
    gen, _ = seeded(seed)
    model = build(activation, bn, gain, gen)
    t0 = time.process_time()
    hist = train(
        model, split(purpose), steps=max_steps, lr=lr, momentum=MOMENTUM, batch_size=BATCH,
        eval_every=every, generator=gen, stop_at_acc=TARGET if stop else None,
    )  # fmt: skip
    reached = hist.first_step_reaching(TARGET)
    return {
        "activation": activation,
        "bn": bn,
        "lr": lr,
        "seed": seed,
        "gain": gain,
        "purpose": purpose,
        "steps": math.inf if reached is None else reached,
        "max_acc": max(hist.test_acc),
        "final_acc": hist.test_acc[-1],
        "diverged": hist.diverged,
        "curve": [hist.steps, [round(a, 4) for a in hist.test_acc]],
        "cpu_s": round(time.process_time() - t0, 3),
    }


def tune(
    who: str, grid: tuple[float, ...] = GRID, seeds: tuple[int, ...] = TUNING_SEEDS, log=None
) -> tuple[float, list[dict[str, Any]]]:
    """The best rate of ``who`` (``"plain"``, ``"BN"`` or ``"sigmoid"``) on ``grid``.

    Fewest median validation steps to the target; ties, and nets that never reach it,
    go by the best median validation accuracy, then the smaller rate.
    Returns ``(rate, runs)``.
    """
    activation, bn = _TUNED[who]
    runs = []
    for lr in grid:
        for s in seeds:
            runs.append(run_one(activation, bn, lr, s, "tune"))
            if log:
                log(runs[-1])

    def score(lr: float) -> tuple[float, float, float]:
        mine = [r for r in runs if r["lr"] == lr]
        return (
            float(np.median([r["steps"] for r in mine])),
            -float(np.median([r["max_acc"] for r in mine])),
            lr,
        )

    return min(grid, key=score), runs


def _json_safe(obj):
    """``inf`` -> the string "inf" (JSON has no infinity); the reverse in :func:`load_results`."""
    if isinstance(obj, float) and math.isinf(obj):
        return "inf"
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def _json_load(obj):
    if obj == "inf":
        return math.inf
    if isinstance(obj, dict):
        return {k: _json_load(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_load(v) for v in obj]
    return obj


def run_table(
    eval_seeds: tuple[int, ...] = EVAL_SEEDS,
    curve_seeds: tuple[int, ...] = CURVE_SEEDS,
    grid: tuple[float, ...] = GRID,
    tuning_seeds: tuple[int, ...] = TUNING_SEEDS,
    log=None,
) -> dict[str, Any]:
    """Tune, then run every arm on ``eval_seeds`` and the rate curve on ``curve_seeds``.

    Returns the plain-data record :func:`main` writes to :data:`RESULTS` (``inf`` as
    ``"inf"``).
    """
    overlap = set(tuning_seeds) & (set(eval_seeds) | set(curve_seeds))
    if overlap:
        raise ValueError(f"tuning and evaluation seeds overlap: {sorted(overlap)}")
    t_wall, t_cpu = time.time(), time.process_time()
    tuned, tuning = {}, []
    for who in _TUNED:
        tuned[who], runs = tune(who, grid, tuning_seeds, log)
        tuning += runs
    eta0 = tuned["plain"]
    cache: dict[tuple, dict[str, Any]] = {}

    def once(activation, bn, lr, seed, max_steps):
        key = (activation, bn, lr, seed, max_steps)
        if key not in cache:
            cache[key] = run_one(activation, bn, lr, seed, max_steps=max_steps)
            if log:
                log(cache[key])
        return cache[key]

    rates, arms = {}, {}
    for arm, (activation, bn, (rule, value)) in ARMS.items():
        rates[arm] = value * eta0 if rule == "x" else tuned[value]
        arms[arm] = [once(activation, bn, rates[arm], s, MAX_STEPS) for s in eval_seeds]
    curve = {
        label: {str(lr): [once("relu", bn, lr, s, MAX_STEPS) for s in curve_seeds] for lr in grid}
        for label, bn in (("plain", "none"), ("BN", "before"))
    }
    return _json_safe(
        {
            "design": {
                "depth": DEPTH,
                "width": WIDTH,
                "batch_size": BATCH,
                "momentum": MOMENTUM,
                "target": TARGET,
                "max_steps": MAX_STEPS,
                "every": EVERY,
                "grid": list(grid),
                "tuning_seeds": list(tuning_seeds),
                "eval_seeds": list(eval_seeds),
                "curve_seeds": list(curve_seeds),
                "held_out_seeds": list(HELD_OUT_SEEDS),
            },
            "tuned": tuned,
            "eta0": eta0,
            "rates": rates,
            "tuning": tuning,
            "arms": arms,
            "curve": curve,
            **run_metadata(t_wall, t_cpu),
        }
    )


def run_init_gains(
    seeds: tuple[int, ...] = CURVE_SEEDS,
    gains: tuple[float, ...] = GAINS,
    lr: float | None = None,
    log=None,
) -> dict[str, Any]:
    """Plain and BN nets with every Linear layer's He weights times each gain.

    Both at ``lr`` (default: the committed eta0 of :data:`RESULTS`), :data:`GAIN_STEPS`
    steps without stopping; the record for :data:`RESULTS_INIT`.
    """
    if lr is None:
        lr = load_results()["eta0"]
    t_wall, t_cpu = time.time(), time.process_time()
    runs = {}
    for label, bn in (("plain", "none"), ("BN", "before")):
        runs[label] = {}
        for g in gains:
            runs[label][str(g)] = []
            for s in seeds:
                r = run_one(
                    "relu", bn, lr, s, gain=g, max_steps=GAIN_STEPS, every=GAIN_STEPS,
                    stop=False,
                )  # fmt: skip
                runs[label][str(g)].append(r)
                if log:
                    log(r)
    return _json_safe(
        {
            "design": {"gains": list(gains), "lr": lr, "steps": GAIN_STEPS, "seeds": list(seeds)},
            "runs": runs,
            **run_metadata(t_wall, t_cpu),
        }
    )


def load_results(path: Path | str = RESULTS) -> dict[str, Any]:
    """A committed record (:data:`RESULTS` or :data:`RESULTS_INIT`), ``"inf"`` back to inf."""
    return _json_load(json.loads(Path(path).read_text()))


def steps_of(runs: list[dict[str, Any]]) -> np.ndarray:
    """Steps to the target of each run, in order; shape (n_runs,), ``inf`` if never."""
    return np.array([r["steps"] for r in runs], dtype=np.float64)


def ratio_ci(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Median and 95 % CI of the paired per-seed ratio steps(a) / steps(b).

    Seeds must match pairwise. A seed where ``a`` never reaches the target counts as
    ``inf`` (and one where ``b`` never does as 0), so the order statistics stay valid.
    """
    if [r["seed"] for r in a] != [r["seed"] for r in b]:
        raise ValueError("ratio_ci needs runs on the same seeds in the same order")
    sa, sb = steps_of(a), steps_of(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(np.isinf(sb), np.where(np.isinf(sa), np.nan, 0.0), sa / sb)
    if np.isnan(ratio).any():
        raise ValueError("both arms never reach the target on some seed: no ratio")
    return median_ci(ratio)


def ordering_verdict(ci: tuple[float, float, float]) -> str:
    """The pre-registered rule for "fewer steps than BN-Baseline" (a ratio's median, CI).

    CI below 1: "reproduced"; above 1: "not reproduced"; else "inconclusive".
    """
    _, lo, hi = ci
    if hi < 1:
        return "reproduced"
    if lo > 1:
        return "not reproduced"
    return "inconclusive"


def plot_arms(results: dict[str, Any], arms: tuple[str, ...] | None = None, ax=None):
    """Median test accuracy against steps per arm (like the paper's Fig. 2), 20 seeds.

    The shaded band spans the 25th-75th percentile over seeds. Curves of runs that
    stopped at the target are held at their last value.
    """
    from bncourse import plotting

    names = arms or ("plain", "BN-Baseline", "BN-x5", "BN-x30", "plain-Sigmoid", "BN-x5-Sigmoid")
    fig, ax = new_axes(ax, width=6.2, height=3.6)
    grid = np.arange(0, MAX_STEPS + 1, EVERY)[1:]
    for i, name in enumerate(names):
        acc = np.array(
            [np.interp(grid, *r["curve"], right=r["curve"][1][-1]) for r in results["arms"][name]]
        )
        style = plotting.series(i)
        med = np.median(acc, axis=0)
        ax.plot(grid, med, color=style["color"], linestyle=style["linestyle"],
                label=f"{name} (lr {results['rates'][name]:.3g})")  # fmt: skip
        ax.fill_between(
            grid, *np.percentile(acc, [25, 75], axis=0), color=style["color"], alpha=0.2
        )
    ax.axhline(TARGET, color="grey", lw=0.8)
    ax.set(xscale="log", xlim=(EVERY, MAX_STEPS), ylim=(0, 1), xlabel="step (batch 32)",
           ylabel="test accuracy (median)")  # fmt: skip
    ax.legend(fontsize="small", loc="lower right")
    return plotting.finish(fig)


def plot_lr_curve(results: dict[str, Any], ax=None):
    """Median steps to 90 % (95 % CI) against the learning rate, plain and BN nets.

    The BN-xK rates are marked; runs that never reach the target are drawn at the top.
    """
    from bncourse import plotting

    fig, ax = new_axes(ax, width=5.6, height=3.4)
    top = MAX_STEPS * 1.6
    for i, label in enumerate(("plain", "BN")):
        lrs = [float(k) for k in results["curve"][label]]
        cis = [median_ci(np.minimum(steps_of(v), top)) for v in results["curve"][label].values()]
        med, lo, hi = (np.array(c) for c in zip(*cis, strict=True))
        style = plotting.series(i)
        ax.errorbar(lrs, med, yerr=[med - lo, hi - med], capsize=3, label=f"{label} net", **style)
    for k in ("BN-Baseline", "BN-x5", "BN-x30"):
        ax.axvline(results["rates"][k], color="0.7", lw=0.8, zorder=0)
        ax.annotate(k, (results["rates"][k], top), rotation=90, fontsize="small",
                    va="top", ha="right", color="0.4")  # fmt: skip
    ax.axhline(top, color="0.8", lw=0.8, linestyle=":")
    ax.set(xscale="log", yscale="log", xlabel="learning rate (momentum 0.9)",
           ylabel="steps to 90 % (median)")  # fmt: skip
    ax.legend(fontsize="small", loc="lower left")
    return plotting.finish(fig)


def plot_init_gains(results: dict[str, Any], ax=None):
    """Median final test accuracy (95 % CI) against the init gain, plain and BN nets."""
    from bncourse import plotting

    fig, ax = new_axes(ax, width=4.8, height=3.2)
    for i, label in enumerate(("plain", "BN")):
        gains = [float(g) for g in results["runs"][label]]
        cis = [median_ci([r["final_acc"] for r in v]) for v in results["runs"][label].values()]
        med, lo, hi = (np.array(c) for c in zip(*cis, strict=True))
        ax.errorbar(gains, med, yerr=[med - lo, hi - med], capsize=3, label=f"{label} net",
                    **plotting.series(i))  # fmt: skip
    ax.set(xscale="log", ylim=(0, 1), xlabel="init gain (x He std)",
           ylabel=f"test accuracy after {results['design']['steps']} steps")  # fmt: skip
    ax.legend(fontsize="small")
    return plotting.finish(fig)


def main(argv: list[str] | None = None) -> None:
    """Run both parts and write :data:`RESULTS` and :data:`RESULTS_INIT`.

    ``python -m bncourse.experiments.ch6_lr_scaling [table|init]`` runs one part only.
    """
    argv = sys.argv[1:] if argv is None else argv
    parts = argv or ["table", "init"]

    def log(r):
        print(
            f"{r['purpose']:8s} {r['activation']:7s} {r['bn']:6s} lr {r['lr']:<7.4g} gain "
            f"{r['gain']:<4g} seed {r['seed']:4d} steps {r['steps']} max {r['max_acc']:.3f} "
            f"({r['cpu_s']:.1f} s)",
            flush=True,
        )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if "table" in parts:
        results = run_table(log=log)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {RESULTS} ({results['timing']['cpu_s']} CPU s)", flush=True)
    if "init" in parts:
        results = run_init_gains(log=log)
        RESULTS_INIT.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {RESULTS_INIT} ({results['timing']['cpu_s']} CPU s)", flush=True)


EXPERIMENTS = {
    "I&S table 2 analogue, one seed per arm": lambda: {
        arm: run_one(a, bn, 0.01 * (v if rule == "x" else 1.0), 0)
        for arm, (a, bn, (rule, v)) in ARMS.items()
    }
}

if __name__ == "__main__":
    main()
