"""Ioffe & Szegedy (2015), Fig. 1: a sigmoid MLP on MNIST with and without BN, reproduced fairly.

The paper (arXiv 1502.03167, Sec. 4.1, Fig. 1) trains a 784-100-100-100-10 sigmoid net on
MNIST for 50,000 steps of 60 examples, its weights "initialized to small random Gaussian
values", and shows (a) that the BN net reaches higher test accuracy sooner and (b, c) that
the 15th, 50th and 85th percentiles of the input of a typical sigmoid of the last hidden
layer stay put with BN but drift without it.

Our version, on the 4,000 / 1,000 MNIST digits of :func:`bnref.data.load_mnist` (pixels in
[0, 1]): the same architecture, weights N(0, 0.1^2) and zero biases (the std 0.1 is our
reading of "small random Gaussian"; the paper gives no number), plain SGD with batches of
60, 2,000 steps (not 50,000). BN sits before each sigmoid. The paper gives no learning
rate, so each arm gets its own, tuned on a grid (:data:`LR_GRID`) by the final accuracy on
a validation split (the last 1,000 training digits, trained on the first 3,000) with seeds
that are not used for the reported runs. The reported runs then train on all 4,000 digits
and are evaluated on the 1,000 test digits.

The percentiles are taken in training mode (BN uses the statistics of the batch it is
given) over the 1,000 test digits, every :data:`EVERY` steps, for every unit of the last
hidden layer, with :func:`layer_input_percentiles` (which leaves the model as it found
it). The claim is "BN's distributions are more stable and it trains faster", measured as:

* the test accuracy at step 200 and at the end (BN higher at 200; measured, see
  ``results/ch2_ioffe_fig1.json``);
* the drift of each unit's input distribution from step 0 to the end, in units of its
  initial 15-85 width: the median's move ``|p50(T) - p50(0)| / width(0)`` and the width's
  change ``|log(width(T) / width(0))|``, averaged over the 100 units.

Book section: chapter 2, "What Ioffe & Szegedy showed" (``book/02_covariate_shift.md``).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
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
from bncourse.experiments.stats import mean_ci

__all__ = [
    "PERCENTILES",
    "LR_GRID",
    "layer_input_percentiles",
    "Fig1Run",
    "Fig1Result",
    "run_fig1",
    "tune_lr",
    "run_all",
    "plot_fig1",
    "mean_ci",
    "save_results",
    "load_results",
    "EXPERIMENTS",
]

PERCENTILES = (15, 50, 85)
#: The learning rates tried for each arm (plain SGD).
LR_GRID = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
#: Record every this many steps.
EVERY = 50
#: Weight std of the "small random Gaussian" init.
INIT_STD = 0.1
#: The two arms: name -> BN placement.
ARMS = {"plain": "none", "BN": "before"}


#: Where ``make experiments`` writes the full runs (committed; the book plots them).
RESULTS = Path(__file__).parent / "results"


# ------------------------------------------------------------ results and statistics


def save_results(name: str, payload: dict) -> Path:
    """Write ``payload`` to ``results/<name>.json`` with versions and the date."""
    RESULTS.mkdir(exist_ok=True)
    payload = dict(payload)
    payload["versions"] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    payload["written"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def load_results(name: str) -> dict:
    """The committed ``results/<name>.json`` (run ``make experiments`` to refresh it)."""
    return json.loads((RESULTS / f"{name}.json").read_text())


# ----------------------------------------------------------------- the measurement


def _restore(model: nn.Module, state: dict) -> None:
    """Put back mode, parameter and buffer values, ``.grad`` and ``requires_grad``."""
    with torch.no_grad():
        for t, saved in zip(model.parameters(), state["params"], strict=True):
            t.copy_(saved)
        for t, saved in zip(model.buffers(), state["buffers"], strict=True):
            t.copy_(saved)
    for p, grad, flag in zip(model.parameters(), state["grads"], state["flags"], strict=True):
        p.grad = grad
        p.requires_grad_(flag)
    for m, mode in zip(model.modules(), state["modes"], strict=True):
        m.training = mode


def _save(model: nn.Module) -> dict:
    """Everything :func:`_restore` puts back (values copied; ``.grad`` kept by reference)."""
    return {
        "params": [p.detach().clone() for p in model.parameters()],
        "buffers": [b.detach().clone() for b in model.buffers()],
        "grads": [p.grad for p in model.parameters()],
        "flags": [p.requires_grad for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
    }


def layer_input_percentiles(
    model: nn.Module, layer: nn.Module, x: torch.Tensor, q: Sequence[float] = PERCENTILES
) -> torch.Tensor:
    """Percentiles over the batch of the input that ``layer`` receives when ``model`` sees ``x``.

    The reference for the exercise ``bn02_covariate_shift``. One forward of ``x`` without
    gradient, in the model's current mode, with a forward pre-hook on ``layer``; the model
    is left exactly as it was (mode, parameter values, buffers such as BN's running
    statistics, ``.grad``, ``requires_grad``), and the hook is removed, also when the
    forward raises.

    Parameters
    ----------
    model : nn.Module
    layer : nn.Module
        A submodule of ``model`` whose first input has shape (N, units).
    x : Tensor
        The model's input.
    q : sequence of float
        Percentiles in percent (0-100), linear interpolation (``torch.quantile``'s default).

    Returns
    -------
    Tensor, shape (len(q), units)
        In the dtype of the layer's input.
    """
    captured: list[torch.Tensor] = []

    def hook(_module, inputs):
        captured.append(inputs[0].detach().clone())

    state = _save(model)
    handle = layer.register_forward_pre_hook(hook)
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
        _restore(model, state)
    if not captured:
        raise ValueError("layer was not called during the forward of x")
    z = captured[0]  # (N, units)
    levels = torch.tensor([float(v) for v in q], dtype=torch.float64) / 100.0  # (Q,)
    return torch.quantile(z.double(), levels, dim=0).to(z.dtype)  # (Q, units)


# --------------------------------------------------------------------- training


@dataclass
class Fig1Run:
    """One network's record.

    Attributes
    ----------
    steps : list of int
        The recorded steps (0 = at initialisation).
    test_acc : list of float
        Test accuracy (eval mode) at those steps.
    percentiles : ndarray, shape (len(steps), 3, units)
        15th, 50th and 85th percentiles over the 1,000 test digits of every last-hidden-layer
        unit's sigmoid input (training mode).
    lr : float
    seconds : float
        Wall time of the run.
    """

    steps: list[int]
    test_acc: list[float]
    percentiles: np.ndarray
    lr: float
    seconds: float = 0.0

    def width(self) -> np.ndarray:
        """p85 - p15 per record and unit, shape (T, units)."""
        return self.percentiles[:, 2, :] - self.percentiles[:, 0, :]

    def width_drift(self) -> np.ndarray:
        """Per unit, ``|log(width at the end / width at step 0)|``."""
        w = self.width()
        return np.abs(np.log(w[-1] / w[0]))

    def median_drift(self) -> np.ndarray:
        """Per unit, ``|p50 at the end - p50 at step 0| / width at step 0``."""
        p50 = self.percentiles[:, 1, :]
        return np.abs(p50[-1] - p50[0]) / self.width()[0]

    def acc_at(self, step: int) -> float:
        """Test accuracy at a recorded step."""
        return self.test_acc[self.steps.index(step)]


@dataclass
class Fig1Result:
    """The pair of runs: same seed, same initial weights and batches, each at its own lr."""

    plain: Fig1Run
    bn: Fig1Run
    seed: int


def _sigmoids(model: nn.Module) -> list[nn.Module]:
    return [m for m in model if isinstance(m, nn.Sigmoid)]


def _one(
    bn: str, seed: int, lr: float, steps: int, every: int, width: int, data: MnistTensors
) -> Fig1Run:
    start = time.perf_counter()
    gen, _ = seeded(seed)
    widths = (784, width, width, width, 10)
    model = mlp(widths, "sigmoid", bn=bn, init=INIT_STD, generator=gen)
    last = _sigmoids(model)[-1]
    probe = data.x_test

    def record(net: nn.Module, _step: int) -> dict[str, np.ndarray]:
        mode = net.training
        net.train()  # BN on the probe's own batch statistics; restored below
        try:
            q = layer_input_percentiles(net, last, probe)  # (3, width)
        finally:
            net.train(mode)
        return {"percentiles": q.numpy()}

    hist = train(
        model, data, steps=steps, lr=lr, batch_size=60, eval_every=every, eval_at_start=True,
        generator=gen, record=record,
    )  # fmt: skip
    return Fig1Run(
        steps=hist.steps,
        test_acc=hist.test_acc,
        percentiles=np.stack(hist.extra["percentiles"]),  # (T, 3, width)
        lr=float(lr),
        seconds=time.perf_counter() - start,
    )


def run_fig1(
    seed: int = 0,
    lr_plain: float = 1.0,
    lr_bn: float = 2.0,
    steps: int = 2000,
    every: int = EVERY,
    width: int = 100,
) -> Fig1Result:
    """Train the sigmoid MLP without and with BN, each at its learning rate, and record Fig. 1.

    Parameters
    ----------
    seed : int
        Seeds the initial weights and the batches (both nets get the same).
    lr_plain, lr_bn : float
        Each arm's plain-SGD learning rate (the tuned values are in the results JSON).
    steps : int
        SGD steps of 60 examples (the paper: 50,000).
    every : int
        Record every this many steps (and at step 0).
    width : int
        Units per hidden layer (the paper: 100).

    Returns
    -------
    Fig1Result

    Notes
    -----
    About 6 s per network on one core of the course machine at the defaults.
    """
    fast_torch()
    data = mnist_tensors(standardize=False)
    return Fig1Result(
        plain=_one("none", seed, lr_plain, steps, every, width, data),
        bn=_one("before", seed, lr_bn, steps, every, width, data),
        seed=seed,
    )


def _validation_split() -> MnistTensors:
    """Train on the first 3,000 training digits, validate on the last 1,000."""
    d = mnist_tensors(standardize=False)
    return MnistTensors(d.x_train[:3000], d.y_train[:3000], d.x_train[3000:], d.y_train[3000:])


def tune_lr(
    arm: str,
    lrs: Sequence[float] = LR_GRID,
    seeds: Sequence[int] = (1000, 1001),
    steps: int = 2000,
    width: int = 100,
) -> dict[float, float]:
    """Mean final validation accuracy of ``arm`` ("plain" or "BN") at each learning rate.

    Tuning seeds are disjoint from the reported ones; the validation digits are training
    digits, never the test set.
    """
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {list(ARMS)}, got {arm!r}")
    fast_torch()
    data = _validation_split()
    out = {}
    for lr in lrs:
        accs = []
        for seed in seeds:
            gen, _ = seeded(seed)
            model = mlp((784, width, width, width, 10), "sigmoid", bn=ARMS[arm], init=INIT_STD,
                        generator=gen)  # fmt: skip
            hist = train(model, data, steps=steps, lr=lr, batch_size=60, eval_every=steps,
                         generator=gen)  # fmt: skip
            accs.append(0.0 if hist.diverged else hist.test_acc[-1])
        out[float(lr)] = float(np.mean(accs))
    return out


def run_all(seeds: Sequence[int] = tuple(range(10)), steps: int = 2000) -> dict:
    """The full experiment behind the chapter: tune each arm, then run every seed.

    Returns a JSON-ready dict: the grid and its validation accuracies, the chosen rates,
    per seed the accuracies and drift summaries, and the full percentile record of the
    first seed (for the figure).
    """
    start = time.perf_counter()
    tuning = {arm: tune_lr(arm, steps=steps) for arm in ARMS}
    best = {arm: max(acc, key=acc.get) for arm, acc in tuning.items()}
    runs = []
    shown = None
    for seed in seeds:
        r = run_fig1(seed, lr_plain=best["plain"], lr_bn=best["BN"], steps=steps)
        row = {"seed": int(seed)}
        for arm, run in (("plain", r.plain), ("BN", r.bn)):
            row[arm] = {
                "test_acc": [round(a, 4) for a in run.test_acc],
                "median_drift": float(run.median_drift().mean()),
                "width_drift": float(run.width_drift().mean()),
                "seconds": round(run.seconds, 2),
            }
        runs.append(row)
        if shown is None:
            shown = {
                arm: np.round(run.percentiles, 4).tolist()
                for arm, run in (("plain", r.plain), ("BN", r.bn))
            }
            steps_recorded = r.plain.steps
    return {
        "experiment": "ch2_ioffe_fig1",
        "grid": list(LR_GRID),
        "tuning_val_acc": {arm: {str(k): v for k, v in acc.items()} for arm, acc in tuning.items()},
        "lr": best,
        "steps": steps_recorded,
        "runs": runs,
        "percentiles_seed": int(seeds[0]),
        "percentiles": shown,
        "seconds": round(time.perf_counter() - start, 1),
    }


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
    a.plot(result.plain.steps, result.plain.test_acc, label=f"without BN (lr {result.plain.lr:g})")
    a.plot(result.bn.steps, result.bn.test_acc, label=f"with BN (lr {result.bn.lr:g})")
    a.set(xlabel="step", ylabel="test accuracy", title="(a) test accuracy", ylim=(0, 1))
    a.legend()
    for axis, run, title in ((b, result.plain, "(b) without BN"), (c, result.bn, "(c) with BN")):
        p = run.percentiles[:, :, unit]  # (T, 3)
        axis.fill_between(run.steps, p[:, 0], p[:, 2], alpha=0.3, label="15th-85th pct")
        axis.plot(run.steps, p[:, 1], label="median")
        axis.set(xlabel="step", ylabel=f"input of sigmoid unit {unit}", title=title)
        axis.legend(fontsize="small")
    return fig


EXPERIMENTS = {"I&S Fig. 1 (sigmoid MLP, BN vs none, tuned lr)": run_fig1}

if __name__ == "__main__":  # make experiments
    seeds = tuple(range(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
    print(save_results("ch2_ioffe_fig1", run_all(seeds)))
