"""BN before or after the ReLU: a pre-registered comparison with 20 seeds per arm.

The question. Ioffe & Szegedy (2015, Sec. 3.2) put BN between the linear layer and the
nonlinearity, ``z = g(BN(Wu))``. Many practitioners put it after. The most cited evidence,
Dmytro Mishkin's caffenet-benchmark (github.com/ducha-aiki/caffenet-benchmark,
``batchnorm.md``, last changed 2016-09-04), found "after ReLU" 2.5 points better on
CaffeNet, while the same author's GoogLeNet128 runs ranked the orders the other way round;
every row there is a single run (tables :data:`CAFFENET_PLACEMENT`,
:data:`GOOGLENET128_PLACEMENT`).

An earlier version of this module compared the placements on a 4-layer MLP at one learning
rate: with 20 seeds the difference after - before was +0.05 points, CI [-0.22, +0.31], but
the same net *without* BN was about as good, so that task could not show anything about BN.

The design, fixed before the full run (nothing below was changed after seeing its results):

* Task where BN matters: a deep, narrow ReLU MLP, 784-100x10-10 (He init), on the 4,000
  shipped MNIST training digits split once into 3,000 for training and 1,000 for
  validation (:func:`split`); the 1,000 test digits are only used for the reported
  numbers. Plain SGD, batch 64, a short budget of 300 steps (6.4 epochs). On a trial seed
  the plain net reached 0.895 at its best learning rate and diverged at 0.3, BN before the
  ReLU 0.937 at lr 0.3.
* Arms (:data:`ARMS`): ``none``, ``before`` (Linear -> BN -> ReLU), ``after``
  (Linear -> ReLU -> BN), and two extras on top of ``before``: ``input BN`` (a BN layer on
  the 784 standardized pixels) and ``logit BN`` (a BN layer on the 10 logits). All BN
  layers have ``gamma`` and ``beta`` and are ``torch.nn.BatchNorm1d`` (the same function
  as ``bnref.torch.BatchNorm1d``, 3x faster in these tiny nets).
* Each arm's learning rate is tuned on the grid :data:`LR_GRID` by mean *validation*
  accuracy over the tuning seeds :data:`TUNING_SEEDS`, which are not evaluation seeds.
* Evaluation: seeds :data:`EVAL_SEEDS` (30 per arm) at the tuned rates; a seed fixes the
  initial weights and the batch order, which are the same in every arm (paired design).
  Reported: test accuracy; each comparison is the mean paired difference with a 95 %
  t-interval over the seeds (:func:`paired_difference`).
* Claims and decision rule (:func:`verdict`), margin :data:`MARGIN` = 0.5 points of test
  accuracy, fixed in advance:

  1. BN matters here: ``before - none`` and ``after - none`` have 95 % CIs above 0.
  2. Placement: ``after - before`` is *equivalent* (no practical difference) if its 95 % CI
     lies inside (-0.5, +0.5) points, *different* if the CI excludes 0, otherwise
     *inconclusive*. Either outcome is reported.
  3. ``input BN - before`` and ``logit BN - before``: the same three-way rule.

* Tests (``tests/test_experiments_ch4.py``) re-run :data:`HELD_OUT_SEEDS`, used neither
  for tuning nor in the committed run, and check they fall inside the committed
  distribution.

Power: two trial seeds gave paired differences after - before of about 1-2 points per
seed (1,000 test digits alone put a binomial noise of ~1 point on each), so 30 seeds per
arm rather than 20, for a CI half-width near 0.4 points.

Cost: about 1.5-4 CPU seconds per run of 300 steps with one thread; 6 rates x 2 tuning
seeds x 5 arms + 30 seeds x 5 arms = 210 runs: 586 CPU seconds measured (a loaded machine).

Result of the committed run (added after it, the design above unchanged): BN matters
(before - none +3.18 points [+1.64, +4.73], after - none +3.29 [+1.66, +4.93]); after -
before +0.11 [-0.39, +0.61]: inconclusive; input BN - before -0.71 [-1.23, -0.19]:
different; logit BN - before +0.28 [-0.18, +0.74]: inconclusive.
``python -m bncourse.experiments.ch4_placement`` (``make experiments``) runs it and writes
:data:`RESULTS` (seeds, versions, timings, every run's numbers).

Book section: chapter 4, "Our own measurement".
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bncourse.experiments._common import (
    MnistTensors,
    _init_linear,
    fast_torch,
    mnist_tensors,
    run_metadata,
    seeded,
    train,
)
from bncourse.experiments.stats import paired_diff_ci
from bncourse.experiments.stats import verdict as _verdict

__all__ = [
    "ARMS",
    "LR_GRID",
    "TUNING_SEEDS",
    "EVAL_SEEDS",
    "HELD_OUT_SEEDS",
    "MARGIN",
    "RESULTS",
    "CAFFENET_PLACEMENT",
    "GOOGLENET128_PLACEMENT",
    "split",
    "build",
    "run_one",
    "paired_difference",
    "verdict",
    "run_full",
    "load_results",
    "summarize",
    "plot_placement",
    "EXPERIMENTS",
]

#: arm -> (placement of the hidden layers' BN, BN on the input, BN on the logits)
ARMS: dict[str, tuple[str, bool, bool]] = {
    "none": ("none", False, False),
    "before": ("before", False, False),
    "after": ("after", False, False),
    "input BN": ("before", True, False),
    "logit BN": ("before", False, True),
}
DEPTH, WIDTH, STEPS, BATCH = 10, 100, 300, 64
LR_GRID: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
TUNING_SEEDS: tuple[int, ...] = (1000, 1001)
EVAL_SEEDS: tuple[int, ...] = tuple(range(30))
HELD_OUT_SEEDS: tuple[int, ...] = (500, 501)
#: the equivalence margin, in accuracy (0.005 = 0.5 points), fixed before the run
MARGIN = 0.005
SPLIT_SEED = 4  # the permutation that sends 1,000 training digits to validation
RESULTS = Path(__file__).with_name("results") / "ch4_placement.json"

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


def split(purpose: str) -> MnistTensors:
    """The data of one purpose, as ``(x_train, y_train, x_eval, y_eval)``.

    Parameters
    ----------
    purpose : {"tune", "evaluate"}
        Both train on the same 3,000 of the 4,000 training digits; ``"tune"`` evaluates on
        the other 1,000 (validation), ``"evaluate"`` on the 1,000 test digits.
    """
    if purpose not in ("tune", "evaluate"):
        raise ValueError(f"purpose must be 'tune' or 'evaluate', got {purpose!r}")
    data = mnist_tensors()
    perm = torch.randperm(4000, generator=torch.Generator().manual_seed(SPLIT_SEED))
    tr, va = perm[:3000], perm[3000:]
    if purpose == "tune":
        return MnistTensors(data.x_train[tr], data.y_train[tr], data.x_train[va], data.y_train[va])
    return MnistTensors(data.x_train[tr], data.y_train[tr], data.x_test, data.y_test)


def build(arm: str, generator: torch.Generator | None = None) -> nn.Sequential:
    """The model of ``arm`` (a key of :data:`ARMS`): a flat ``nn.Sequential``."""
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; choose from {list(ARMS)}")
    placement, bn_input, bn_logits = ARMS[arm]
    # He-initialized Linear layers drawn as in _common.mlp; BN layers are torch's own
    # BatchNorm1d: the same function as bnref's, 3x faster in these tiny nets
    widths = (784,) + (WIDTH,) * DEPTH + (10,)
    layers: list[nn.Module] = [nn.BatchNorm1d(784)] if bn_input else []
    for n_in, n_out in zip(widths[:-2], widths[1:-1], strict=True):
        linear = nn.Linear(n_in, n_out)
        _init_linear(linear, "he", generator)
        norm = nn.BatchNorm1d(n_out)
        if placement == "before":
            layers += [linear, norm, nn.ReLU()]
        elif placement == "after":
            layers += [linear, nn.ReLU(), norm]
        else:
            layers += [linear, nn.ReLU()]
    logits = nn.Linear(widths[-2], widths[-1])
    _init_linear(logits, "he", generator)
    layers.append(logits)
    if bn_logits:
        layers.append(nn.BatchNorm1d(10))
    return nn.Sequential(*layers)


def run_one(arm: str, lr: float, seed: int, purpose: str = "evaluate") -> dict[str, Any]:
    """Train one model; returns accuracy, loss, divergence and CPU seconds (plain data)."""
    fast_torch()
    gen, _ = seeded(seed)
    model = build(arm, gen)
    t0 = time.process_time()
    hist = train(
        model, split(purpose), steps=STEPS, lr=lr, batch_size=BATCH, eval_every=STEPS,
        generator=gen,
    )  # fmt: skip
    return {
        "arm": arm,
        "lr": lr,
        "seed": seed,
        "purpose": purpose,
        "acc": hist.test_acc[-1],
        "loss": hist.test_loss[-1],
        "diverged": hist.diverged,
        "cpu_s": round(time.process_time() - t0, 3),
    }


paired_difference = paired_diff_ci  # the name this chapter's book and tests use


def verdict(diff: dict[str, float], margin: float = MARGIN) -> str:
    """The pre-registered rule with this chapter's margin: see :func:`.stats.verdict`."""
    return _verdict(diff, margin)


def run_full(
    arms: tuple[str, ...] = tuple(ARMS),
    lr_grid: tuple[float, ...] = LR_GRID,
    tuning_seeds: tuple[int, ...] = TUNING_SEEDS,
    eval_seeds: tuple[int, ...] = EVAL_SEEDS,
    log=None,
) -> dict[str, Any]:
    """Tune every arm's learning rate, then evaluate it on ``eval_seeds``.

    Returns the plain-data record that :func:`main` writes to :data:`RESULTS`.
    """
    overlap = set(tuning_seeds) & set(eval_seeds)
    if overlap:
        raise ValueError(f"tuning and evaluation seeds overlap: {sorted(overlap)}")
    t_wall, t_cpu = time.time(), time.process_time()
    tuning, evaluation, chosen = [], [], {}
    for arm in arms:
        for lr in lr_grid:
            for s in tuning_seeds:
                tuning.append(run_one(arm, lr, s, "tune"))
                if log:
                    log(tuning[-1])
        scores = {
            lr: np.mean([r["acc"] for r in tuning if r["arm"] == arm and r["lr"] == lr])
            for lr in lr_grid
        }
        chosen[arm] = max(lr_grid, key=lambda lr: (scores[lr], -lr))
    for arm in arms:
        for s in eval_seeds:
            evaluation.append(run_one(arm, chosen[arm], s, "evaluate"))
            if log:
                log(evaluation[-1])
    return {
        "design": {
            "depth": DEPTH,
            "width": WIDTH,
            "steps": STEPS,
            "batch_size": BATCH,
            "lr_grid": list(lr_grid),
            "tuning_seeds": list(tuning_seeds),
            "eval_seeds": list(eval_seeds),
            "held_out_seeds": list(HELD_OUT_SEEDS),
            "margin": MARGIN,
            "split_seed": SPLIT_SEED,
            "arms": list(arms),
        },  # fmt: skip
        "chosen_lr": chosen,
        "tuning": tuning,
        "evaluation": evaluation,
        **run_metadata(t_wall, t_cpu),
    }


def load_results(path: Path | str = RESULTS) -> dict[str, Any]:
    """The committed record of the full run (see :func:`run_full`)."""
    return json.loads(Path(path).read_text())


def accuracies(results: dict[str, Any], arm: str) -> np.ndarray:
    """Test accuracy of ``arm`` for each evaluation seed, in seed order; shape (n_seeds,)."""
    by_seed = {r["seed"]: r["acc"] for r in results["evaluation"] if r["arm"] == arm}
    return np.array([by_seed[s] for s in results["design"]["eval_seeds"]])


#: the pre-registered comparisons: (label, arm a, arm b) for the difference a - b
COMPARISONS = (
    ("before - none", "before", "none"),
    ("after - none", "after", "none"),
    ("after - before", "after", "before"),
    ("input BN - before", "input BN", "before"),
    ("logit BN - before", "logit BN", "before"),
)


def summarize(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per comparison of :data:`COMPARISONS`: difference, 95 % CI and verdict."""
    margin = results["design"]["margin"]
    rows = []
    for label, a, b in COMPARISONS:
        if a in results["design"]["arms"] and b in results["design"]["arms"]:
            d = paired_difference(accuracies(results, a), accuracies(results, b))
            rows.append({"comparison": label, **d, "verdict": verdict(d, margin)})
    return rows


# --------------------------------------------------------- the mechanisms, cheap to run


def bias_before_bn(seed: int = 0) -> dict[str, float]:
    """A conv layer's bias right before BN: zero gradient, and no effect on the output.

    A 3x3 conv (1 -> 8 channels, random non-zero bias) followed by ``BatchNorm2d`` in training
    mode, on 32 MNIST digits, against the same conv without bias; in float64, so that
    "zero" means zero up to rounding (~1e-12), not float32's ~1e-3 for a sum of 25,088 terms.

    Returns
    -------
    dict
        ``max_grad_bias``: largest |gradient| of the bias for a random upstream gradient;
        ``max_out_diff``: largest |output difference| with and without the bias;
        ``params_with``, ``params_without``: trainable parameter counts of the two blocks.
    """
    fast_torch()
    gen, _ = seeded(seed)
    x = mnist_tensors().x_train[:32].reshape(32, 1, 28, 28).double()  # (N, 1, H, W)
    conv = nn.Conv2d(1, 8, 3, padding=1)
    with torch.no_grad():
        conv.bias.normal_(0.0, 1.0, generator=gen)
    plain = nn.Conv2d(1, 8, 3, padding=1, bias=False)
    with torch.no_grad():
        plain.weight.copy_(conv.weight)
    with_bias = nn.Sequential(conv, nn.BatchNorm2d(8)).double()
    without = nn.Sequential(plain, nn.BatchNorm2d(8)).double()
    out = with_bias(x)  # (32, 8, 28, 28)
    out.backward(torch.randn(out.shape, generator=gen, dtype=torch.float64))
    diff = (out - without(x)).detach().abs().max()
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return {
        "max_grad_bias": float(conv.bias.grad.abs().max()),
        "max_out_diff": float(diff),
        "params_with": count(with_bias),
        "params_without": count(without),
    }


def relu_active_fractions(seed: int = 0, steps: int = 200, lr: float = 0.3) -> dict[str, Any]:
    """Train a small Linear -> BN -> ReLU net; compare each unit's pass rate with Phi(beta/|gamma|).

    The net is 784-64x3-10 (BN before every ReLU), plain SGD, batch 64, on the 3,000
    training digits of :func:`split`. Then, in evaluation mode on the 1,000 test digits, for
    every hidden unit: the predicted fraction ``Phi(beta / |gamma|)`` (exact if the normalized
    pre-activation were standard normal) and the measured fraction of digits that the ReLU
    passes (output > 0). About half a CPU second.

    Returns
    -------
    dict
        ``predicted``, ``measured``: arrays of shape (192,) (3 layers x 64 units);
        ``gamma``, ``beta``: the trained BN parameters, same shape; ``test_acc``.
    """
    from scipy.stats import norm

    fast_torch()
    gen, _ = seeded(seed)
    widths = (784, 64, 64, 64, 10)
    layers: list[nn.Module] = []
    for n_in, n_out in zip(widths[:-2], widths[1:-1], strict=True):
        linear = nn.Linear(n_in, n_out, bias=False)
        _init_linear(linear, "he", gen)
        layers += [linear, nn.BatchNorm1d(n_out), nn.ReLU()]
    last = nn.Linear(widths[-2], widths[-1])
    _init_linear(last, "he", gen)
    model = nn.Sequential(*layers, last)
    data = split("evaluate")
    hist = train(model, data, steps=steps, lr=lr, batch_size=64, eval_every=steps, generator=gen)
    model.eval()
    measured, h = [], data.x_test
    with torch.no_grad():
        for m in model:
            h = m(h)
            if isinstance(m, nn.ReLU):
                measured.append((h > 0).double().mean(dim=0))  # (64,)
    norms = [m for m in model if isinstance(m, nn.BatchNorm1d)]
    gamma = torch.cat([m.weight.detach() for m in norms]).double().numpy()
    beta = torch.cat([m.bias.detach() for m in norms]).double().numpy()
    return {
        "predicted": norm.cdf(beta / np.abs(gamma)),
        "measured": torch.cat(measured).numpy(),
        "gamma": gamma,
        "beta": beta,
        "test_acc": hist.test_acc[-1],
    }


def dropout_variance_shift(p: float = 0.5, where: str = "before BN", seed: int = 0) -> np.ndarray:
    """Variance of each BN layer's input at inference over its ``running_var`` (Li et al. 2019).

    An untrained net on MNIST, ``Linear(784, 128) -> BN -> ReLU -> [D] -> Linear(128, 128) ->
    BN -> ReLU -> [D'] -> Linear(128, 10)``, with dropout of rate ``p``:

    * ``where="before BN"``: dropout at ``[D]``, so the second BN is fed dropped-out inputs
      during training;
    * ``where="after last BN"``: dropout at ``[D']`` only, after the last BN (the remedy).

    The running statistics are collected in training mode over the 3,000 training digits
    (batches of 100, ``momentum=None``: an exact average); then the variance of every BN
    layer's input is measured in evaluation mode (dropout off) on the same digits.

    Returns
    -------
    ndarray, shape (2, 128)
        ``var_inference / running_var`` per BN layer and channel. 1 means no shift.
    """
    if where not in ("before BN", "after last BN"):
        raise ValueError(f"where must be 'before BN' or 'after last BN', got {where!r}")
    if not 0 <= p < 1:
        raise ValueError(f"dropout rate p must be in [0, 1), got {p!r}")
    fast_torch()
    gen, _ = seeded(seed)
    lin = [nn.Linear(a, b) for a, b in ((784, 128), (128, 128), (128, 10))]
    for layer in lin:
        _init_linear(layer, "he", gen)
    norms = [nn.BatchNorm1d(128, momentum=None) for _ in range(2)]
    drop = nn.Dropout(p)
    mid = [drop] if where == "before BN" else []
    end = [drop] if where == "after last BN" else []
    model = nn.Sequential(
        lin[0], norms[0], nn.ReLU(), *mid, lin[1], norms[1], nn.ReLU(), *end, lin[2]
    )
    x = split("evaluate").x_train  # (3000, 784)
    seen: dict[int, torch.Tensor] = {}
    hooks = [
        m.register_forward_hook(lambda m, inp, out, i=i: seen.__setitem__(i, inp[0]))
        for i, m in enumerate(norms)
    ]
    with torch.no_grad():
        model.train()
        for batch in x.split(100):
            model(batch)
        model.eval()
        model(x)
    for h in hooks:
        h.remove()
    ratio = [seen[i].var(dim=0) / norms[i].running_var for i in range(2)]
    return torch.stack(ratio).numpy()


def keras_conventions(seed: int = 0, n: int = 16) -> dict[str, Any]:
    """Keras's ``BatchNormalization`` next to PyTorch's, on MNIST (Keras 3, torch backend).

    * the moving variance after one batch (Keras ``momentum=0``, PyTorch ``momentum=1``):
      Keras stores the biased batch variance, PyTorch the unbiased one, so their ratio is
      ``n / (n - 1)``;
    * ``axis`` on a channels-last conv tensor (64 digits through a 3x3 conv with 8 filters):
      the shape of ``gamma`` and the largest |channel mean| after BN, for ``axis=-1``
      (per channel) and ``axis=1`` (per image row).

    Returns plain data: ``var_ratio`` (4,), ``gamma_shape`` and ``max_channel_mean`` per
    axis (dicts keyed by -1 and 1).
    """
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    fast_torch()
    keras.utils.set_random_seed(seed)
    x = split("evaluate").x_train.numpy()  # (3000, 784), standardized
    xb = x[seed * n : (seed + 1) * n, 405:409]  # (n, 4): four pixels at the centre
    k_bn = keras.layers.BatchNormalization(momentum=0.0)
    k_bn(xb, training=True)
    t_bn = nn.BatchNorm1d(4, momentum=1.0)
    t_bn(torch.tensor(xb))
    ratio = t_bn.running_var.numpy() / keras.ops.convert_to_numpy(k_bn.moving_variance)
    digits = x[:64].reshape(64, 28, 28, 1)  # (N, H, W, 1): channels-last
    conv = keras.layers.Conv2D(8, 3, padding="same")
    fmap = keras.ops.convert_to_numpy(conv(digits))  # (64, 28, 28, 8)
    shapes, means = {}, {}
    for axis in (-1, 1):
        bn = keras.layers.BatchNormalization(axis=axis)
        out = keras.ops.convert_to_numpy(bn(fmap, training=True))
        shapes[axis] = tuple(bn.gamma.shape)
        means[axis] = float(np.abs(out.mean(axis=(0, 1, 2))).max())
    return {"var_ratio": ratio, "gamma_shape": shapes, "max_channel_mean": means}


def plot_placement(results: dict[str, Any], ax=None):
    """Top: test accuracy per arm (one dot per seed, mean). Bottom: the paired differences
    with their 95 % CIs and the +-margin band.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from bncourse import plotting

    fig, axes = plotting.figure(ax, nrows=2, width=6.5, height=5.8)
    left, right = axes
    arms = results["design"]["arms"]
    for i, arm in enumerate(arms):
        acc = 100 * accuracies(results, arm)
        jitter = np.linspace(-0.18, 0.18, acc.size)
        left.plot(i + jitter, acc, "o", ms=3, alpha=0.6, color=f"C{i}")
        left.plot([i - 0.3, i + 0.3], [acc.mean()] * 2, "k-", lw=1.5)
    left.set_xticks(range(len(arms)), [f"{a}\nlr {results['chosen_lr'][a]:g}" for a in arms])
    n_seeds = len(results["design"]["eval_seeds"])
    left.set(ylabel="test accuracy (%)", title=f"{n_seeds} seeds per arm")
    rows = summarize(results)
    margin = 100 * results["design"]["margin"]
    right.axvspan(-margin, margin, color="0.9", label=f"±{margin:g} points")
    right.axvline(0, color="k", lw=0.8)
    for j, row in enumerate(rows):
        right.errorbar(
            100 * row["mean"], j, xerr=[[100 * (row["mean"] - row["lo"])],
                                        [100 * (row["hi"] - row["mean"])]],
            fmt="o", color="k", capsize=3,
        )  # fmt: skip
    right.set_yticks(range(len(rows)), [r["comparison"] for r in rows])
    right.invert_yaxis()
    right.set(xlabel="difference in test accuracy (points)", title="paired, 95 % CI")
    right.legend(frameon=False, fontsize="small", loc="lower right")
    return plotting.finish(fig)


def main(argv: list[str] | None = None) -> None:
    """Run the full experiment and write :data:`RESULTS` (``make experiments``)."""
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else RESULTS
    out.parent.mkdir(parents=True, exist_ok=True)

    def log(r):
        print(
            f"{r['purpose']:8s} {r['arm']:9s} lr {r['lr']:<5g} seed {r['seed']:4d} "
            f"acc {r['acc']:.3f} {'diverged' if r['diverged'] else ''} ({r['cpu_s']:.1f} s)",
            flush=True,
        )

    results = run_full(log=log)
    out.write_text(json.dumps(results, indent=1) + "\n")
    for row in summarize(results):
        print(
            f"{row['comparison']:18s} {100 * row['mean']:+.2f} points, 95 % CI "
            f"[{100 * row['lo']:+.2f}, {100 * row['hi']:+.2f}]: {row['verdict']}"
        )
    print(f"wrote {out} ({results['timing']['cpu_s']} CPU s)")


EXPERIMENTS = {
    "BN placement, one evaluation run per arm": lambda: [run_one(a, 0.1, 0) for a in ARMS]
}

if __name__ == "__main__":
    main()
