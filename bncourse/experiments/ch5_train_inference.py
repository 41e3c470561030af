"""Training mode against evaluation mode: running statistics, small batches, batch size 1.

In training mode BN normalizes with the statistics of the current batch; in evaluation
mode it uses ``running_mean`` and ``running_var``, exponential averages collected during
training (Ioffe & Szegedy 2015, Sec. 3.1 and Alg. 2, which uses the plain average over
training batches; PyTorch's ``momentum=None``). Four small experiments show what follows:

* :func:`run_running_stats` -- how fast the running statistics converge to the
  population's for different momenta (PyTorch convention,
  ``running = (1 - momentum) * running + momentum * batch``), and how noisy they stay;
* :func:`run_mode_gap` -- for one trained net, how far training-mode outputs on test
  batches of size N are from evaluation-mode outputs: large for N = 2, small for N = 256;
* :func:`run_stale` -- running statistics that lag behind the weights (a very small
  momentum) make evaluation-mode accuracy much worse than training-mode accuracy, and
  re-estimating them after training (a cumulative average over training batches, as in
  the paper's Alg. 2) repairs it;
* :func:`run_batch_of_one` -- a batch of one example cannot be normalized in training
  mode when it leaves one value per channel (``(1, C)`` input raises "Expected more than
  1 value per channel when training"), while evaluation mode works, and a single image
  ``(1, C, H, W)`` with ``H * W > 1`` still trains.

These are properties of BN's definition, so they reproduce exactly at any scale; the
numbers (how big the gap is at N = 2, etc.) are those of our small MLP on MNIST.

The committed run (:func:`main`, ``make experiments``; :data:`RESULTS`) adds
:func:`run_recalibration`, :func:`run_finetune`, :func:`run_small_batch_norm` and
:func:`run_keras_comparison` (the Keras check is deterministic and runs in the tests and the
book, not here). Claims and decision rules, written before the committed run (thresholds
set from a pilot on the tuning seeds 1000 and 1001, which are not evaluation seeds; 95 %
intervals from :mod:`bncourse.experiments.stats`, seeds :data:`EVAL_SEEDS` = 0-9 unless
said):

1. Momentum (``running``): after 100 batches the error at momentum 0.01 is > 5x that at
   0.1 (median over seeds); the noise floor at 0.5 > 1.5x that at 0.1 and the cumulative
   average's < 0.5x (medians).
2. Forgetting ``model.eval()`` (``gap``): evaluation-mode minus training-mode test accuracy
   has a 95 % CI above 30 points at test batches of 2, its mean falls with every step of
   N = 2, 4, 8, 16, 32, and its CI at N = 32 lies below 4 points; class-sorted batches of
   32 cost more than 50 points (CI); evaluation mode gives every digit alone the same
   logits as in the full batch (< 1e-4, every seed).
3. Stale statistics (``stale``): momentum 0.001 trails training mode by >= 4 points on
   average over training (CI above 4), momentum 0.1 by less than 1 point (CI inside
   +-1); recalibration lifts momentum 0.001's final evaluation accuracy (CI above 0).
4. Recalibration (``recalibration``, seeds 0-19), after - before, paired: "never updated"
   CI above 0 and the recalibrated accuracy within 1 point of the trained model's (CI of
   after - base inside +-1 point: an equivalence, margin fixed here); "pruned" CI above 0;
   "washed out" CI above 20 points; "averaged": CI above -0.5 points (recalibration does
   not hurt; the pilot gave +2.6 and +0.3, so no larger claim).
5. Fine-tuning on batches of 2 (``finetune``; learning rate per arm tuned on
   :data:`FINETUNE_LR_GRID`): ``BN eval()`` minus ``BN train mode`` CI above 10 points,
   and ``BN eval()`` minus ``gamma, beta fixed only`` CI above 10 points
   (``requires_grad=False`` does not freeze BN).
6. Batch 2 (``norms``; learning rate per arm tuned on :data:`NORM_LR_GRID`): GroupNorm
   minus BN and LayerNorm minus BN, CIs above 10 points.

Book section: "Training versus inference" (``train-vs-inference``).
"""

from __future__ import annotations

import copy
import functools
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bncourse.experiments._common import (
    MnistTensors,
    batch_norm_1d,
    bn_layers,
    evaluate,
    fast_torch,
    mlp,
    mnist_tensors,
    new_axes,
    seeded,
    train,
    versions,
)
from bncourse.experiments.stats import mean_ci, paired_diff_ci

__all__ = [
    "RunningStatsResult",
    "run_running_stats",
    "plot_running_stats",
    "ModeGapResult",
    "run_mode_gap",
    "plot_mode_gap",
    "StaleResult",
    "run_stale",
    "plot_stale",
    "BatchOfOneResult",
    "run_batch_of_one",
    "recalibrate",
    "KerasComparison",
    "run_keras_comparison",
    "translate",
    "wash_out",
    "prune",
    "average_weights",
    "run_recalibration",
    "FINETUNE_ARMS",
    "run_finetune",
    "NORM_ARMS",
    "run_small_batch_norm",
    "EVAL_SEEDS",
    "RECAL_SEEDS",
    "TUNING_SEEDS",
    "HELD_OUT_SEEDS",
    "FINETUNE_LR_GRID",
    "NORM_LR_GRID",
    "RESULTS",
    "SECTIONS",
    "run_section",
    "load_results",
    "paired",
    "recal_effect",
    "gap_ci",
    "stale_result",
    "plot_gap_summary",
    "plot_recalibration",
    "plot_arms",
    "main",
    "EXPERIMENTS",
]


# ------------------------------------------------------------------ running statistics


@dataclass
class RunningStatsResult:
    """Error of the running statistics against the population's, step by step.

    Attributes
    ----------
    momenta : list of float or None
        ``None`` is the cumulative average.
    mean_error : ndarray, shape (len(momenta), steps)
        Mean over channels of ``|running_mean - mu| / sigma`` after each batch.
    var_error : ndarray, shape (len(momenta), steps)
        Mean over channels of ``|running_var / sigma**2 - 1|``.
    mean_of_batch_means : ndarray, shape (C,)
        The plain average of every batch's mean (what ``momentum=None`` must equal).
    final_running_mean : ndarray, shape (len(momenta), C)
    mu, sigma : ndarray, shape (C,)
        The population's per-channel mean and standard deviation.
    batch_size : int
    """

    momenta: list[float | None]
    mean_error: np.ndarray
    var_error: np.ndarray
    mean_of_batch_means: np.ndarray
    final_running_mean: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    batch_size: int

    def floor(self, last: int = 50) -> np.ndarray:
        """Mean error over the last ``last`` steps, per momentum: the noise floor reached."""
        return self.mean_error[:, -last:].mean(axis=1)


def run_running_stats(
    seed: int = 0,
    momenta: tuple[float | None, ...] = (0.01, 0.1, 0.5, None),
    steps: int = 300,
    batch_size: int = 32,
    channels: int = 64,
) -> RunningStatsResult:
    """Feed batches from a fixed Gaussian population to BN layers with different momenta.

    Parameters
    ----------
    seed : int
        Draws the population (means in [-3, 3], stds in [0.5, 2]) and the batches.
    momenta : tuple of float or None
        BN momentum per layer (PyTorch convention; ``None`` for the cumulative average).
    steps : int
        Training-mode batches fed to every layer (the same batches for each).
    batch_size, channels : int
        N and C.

    Returns
    -------
    RunningStatsResult

    Notes
    -----
    Expected behaviour: the initial error (running statistics start at mean 0, variance 1)
    decays like ``(1 - momentum) ** t``; what remains is noise of standard deviation about
    ``sigma / sqrt(N) * sqrt(momentum / (2 - momentum))`` for the mean, so a large momentum
    converges fast but stays noisy, and the cumulative average keeps shrinking its noise
    like ``1 / sqrt(t N)``. Takes well under a second.
    """
    fast_torch()
    gen, rng = seeded(seed)
    mu = rng.uniform(-3, 3, channels)  # (C,)
    sigma = rng.uniform(0.5, 2, channels)  # (C,)
    layers = [batch_norm_1d(channels, momentum=m, affine=False) for m in momenta]
    mean_error = np.zeros((len(momenta), steps))
    var_error = np.zeros_like(mean_error)
    batch_means = []
    with torch.no_grad():
        for t in range(steps):
            z = torch.randn(batch_size, channels, generator=gen, dtype=torch.float64)
            x = (z * torch.from_numpy(sigma) + torch.from_numpy(mu)).float()  # (N, C)
            batch_means.append(x.double().mean(dim=0).numpy())
            for i, layer in enumerate(layers):
                layer.train()(x)
                rm = layer.running_mean.double().numpy()
                rv = layer.running_var.double().numpy()
                mean_error[i, t] = np.mean(np.abs(rm - mu) / sigma)
                var_error[i, t] = np.mean(np.abs(rv / sigma**2 - 1))
    return RunningStatsResult(
        momenta=list(momenta),
        mean_error=mean_error,
        var_error=var_error,
        mean_of_batch_means=np.mean(batch_means, axis=0),
        final_running_mean=np.stack([layer.running_mean.double().numpy() for layer in layers]),
        mu=mu,
        sigma=sigma,
        batch_size=batch_size,
    )


def plot_running_stats(result: RunningStatsResult, ax=None):
    """Error of the running mean against the step, one line per momentum (log scale).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = new_axes(ax, width=5.0)
    steps = np.arange(1, result.mean_error.shape[1] + 1)
    for m, err in zip(result.momenta, result.mean_error, strict=True):
        ax.plot(steps, err, label="cumulative (None)" if m is None else f"momentum {m:g}")
    ax.set(xlabel="training batches seen", ylabel="|running_mean - mu| / sigma", yscale="log")
    ax.legend(fontsize="small")
    return fig


# ------------------------------------------------------------------ train vs eval gap


@torch.no_grad()
def _train_mode_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits with batch statistics, leaving ``model``'s running statistics untouched."""
    twin = copy.deepcopy(model).train()
    return twin(x)


@dataclass
class ModeGapResult:
    """Training-mode outputs on test batches of size N against evaluation-mode outputs.

    Attributes
    ----------
    batch_sizes : list of int
    eval_acc : float
        Test accuracy in evaluation mode (running statistics; independent of N).
    train_acc : list of float
        Test accuracy in training mode, the test set cut into batches of N.
    rel_diff : list of float
        ``||logits_train - logits_eval|| / ||logits_eval||`` over the test set, per N.
    sorted_acc : float
        Training-mode test accuracy when the test set is sorted by class and cut into
        batches of 32 (most batches hold one digit).
    eval_single_diff : float
        Largest |logit difference| in evaluation mode between each test digit alone (a
        batch of one) and the same digit in the full test batch: 0 up to rounding.
    """

    batch_sizes: list[int]
    eval_acc: float
    train_acc: list[float]
    rel_diff: list[float]
    sorted_acc: float = float("nan")
    eval_single_diff: float = float("nan")


def run_mode_gap(
    seed: int = 0,
    batch_sizes: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 256),
    steps: int = 300,
    width: int = 128,
) -> ModeGapResult:
    """Train a BN MLP, then compare its training-mode and evaluation-mode test outputs.

    Parameters
    ----------
    seed : int
        Seeds the net, its training batches and the cut of the test set into batches.
    batch_sizes : tuple of int
        Test batch sizes N for the training-mode forward passes (each at least 2).
    steps : int
        Training steps (momentum SGD, lr 0.05, batch 64) of a 784-128-128-10 ReLU net
        with BN before each ReLU.
    width : int
        Hidden units per layer.

    Returns
    -------
    ModeGapResult

    Notes
    -----
    About 2 s.
    """
    fast_torch()
    if min(batch_sizes) < 2:
        raise ValueError(f"training mode needs batches of at least 2, got {batch_sizes}")
    gen, _ = seeded(seed)
    data = mnist_tensors()
    model = mlp((784, width, width, 10), "relu", bn="before", generator=gen)
    train(
        model,
        data,
        steps=steps,
        lr=0.05,
        momentum=0.9,
        batch_size=64,
        eval_every=steps,
        generator=gen,
    )
    x, y = data.x_test, data.y_test
    with torch.no_grad():
        eval_logits = model.eval()(x)  # (n, 10)
    eval_acc = float((eval_logits.argmax(1) == y).float().mean())
    n = x.shape[0]
    train_acc, rel_diff = [], []
    for size in batch_sizes:
        order = torch.randperm(n, generator=gen)[: n - n % size]  # drop the partial batch
        twin = copy.deepcopy(model).train()  # its running statistics may change; model's not
        with torch.no_grad():
            logits = torch.cat([twin(x[idx]) for idx in order.split(size)])  # (n', 10)
        ref = eval_logits[order]
        train_acc.append(float((logits.argmax(1) == y[order]).float().mean()))
        rel_diff.append(float(torch.linalg.norm(logits - ref) / torch.linalg.norm(ref)))
    by_class = torch.sort(y, stable=True).indices  # (n,): all 0s, then all 1s, ...
    twin = copy.deepcopy(model).train()
    with torch.no_grad():
        logits = torch.cat([twin(x[idx]) for idx in by_class[: n - n % 32].split(32)])
        single = torch.cat([model(x[i : i + 1]) for i in range(n)])  # eval mode, N = 1
    sorted_acc = float((logits.argmax(1) == y[by_class[: n - n % 32]]).float().mean())
    single_diff = float((single - eval_logits).abs().max())
    return ModeGapResult(list(batch_sizes), eval_acc, train_acc, rel_diff, sorted_acc, single_diff)


def plot_mode_gap(result: ModeGapResult, ax=None):
    """Training-mode test accuracy and output difference against the batch size N.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = new_axes(ax, ncols=2, width=4.0)
    a, b = axes
    a.plot(result.batch_sizes, result.train_acc, "o-", label="training mode (batch stats)")
    a.axhline(result.eval_acc, color="C1", label="evaluation mode (running stats)")
    a.set(xscale="log", xlabel="test batch size N", ylabel="test accuracy")
    a.legend(fontsize="small")
    b.plot(result.batch_sizes, result.rel_diff, "o-")
    b.set(
        xscale="log",
        yscale="log",
        xlabel="test batch size N",
        ylabel="relative difference of logits",
    )
    return fig


# ------------------------------------------------------------------ stale statistics


@torch.no_grad()
def recalibrate(
    model: nn.Module, x: torch.Tensor, batch_size: int = 200, batches: int = 20
) -> nn.Module:
    """Re-estimate every BN layer's running statistics from ``x``, leaving the weights alone.

    Resets the statistics, switches to the cumulative average (``momentum=None``, the
    plain average of Ioffe & Szegedy's Alg. 2), runs ``batches`` training-mode forward
    passes over consecutive slices of ``x``, then restores each layer's momentum.
    Returns ``model`` (in evaluation mode).
    """
    layers = bn_layers(model)
    saved = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
    model.train()
    for i in range(batches):
        start = (i * batch_size) % max(1, x.shape[0] - batch_size + 1)
        model(x[start : start + batch_size])
    for layer, m in zip(layers, saved, strict=True):
        layer.momentum = m
    return model.eval()


@dataclass
class StaleResult:
    """Evaluation-mode against training-mode test accuracy during training, per BN momentum.

    Attributes
    ----------
    momenta : list of float
    steps : list of int
    eval_acc, train_acc : ndarray, shape (len(momenta), len(steps))
        Test accuracy with running statistics, and with the test set's own batch statistics
        (one batch of 1,000).
    recalibrated_acc : list of float
        Evaluation-mode test accuracy at the end, after :func:`recalibrate` on training data.
    """

    momenta: list[float]
    steps: list[int]
    eval_acc: np.ndarray
    train_acc: np.ndarray
    recalibrated_acc: list[float]


def run_stale(
    seed: int = 0,
    momenta: tuple[float, ...] = (0.1, 0.001),
    steps: int = 300,
    every: int = 50,
    depth: int = 4,
) -> StaleResult:
    """Train the same BN MLP with different BN momenta and compare the two modes.

    Parameters
    ----------
    seed : int
    momenta : tuple of float
        A very small momentum leaves running statistics far behind the weights.
    steps, every : int
        Training steps (momentum SGD, lr 0.05, batch 64) and the evaluation interval.
    depth : int
        Hidden layers of 128 units, BN before each ReLU. Every layer whose statistics lag
        adds its error, so deeper nets show a larger gap.

    Returns
    -------
    StaleResult

    Notes
    -----
    The BN momentum never changes training itself (training mode ignores the running
    statistics), so both nets have the same weights and the same training-mode accuracy
    at every step; only evaluation mode differs. About 2 s per momentum.
    """
    fast_torch()
    data = mnist_tensors()
    eval_acc, train_acc, recal = [], [], []
    record_steps: list[int] = []
    for m in momenta:
        gen, _ = seeded(seed)
        widths = (784,) + (128,) * depth + (10,)
        model = mlp(widths, "relu", bn="before", momentum=m, generator=gen)

        def record(net: nn.Module, step: int) -> dict[str, float]:
            logits = _train_mode_logits(net, data.x_test)  # (1000, 10)
            return {"train_acc": float((logits.argmax(1) == data.y_test).float().mean())}

        hist = train(
            model,
            data,
            steps=steps,
            lr=0.05,
            momentum=0.9,
            batch_size=64,
            eval_every=every,
            generator=gen,
            record=record,
        )
        record_steps = hist.steps
        eval_acc.append(hist.test_acc)
        train_acc.append(hist.extra["train_acc"])
        recalibrate(model, data.x_train)
        recal.append(evaluate(model, data.x_test, data.y_test)[1])
    return StaleResult(list(momenta), record_steps, np.array(eval_acc), np.array(train_acc), recal)


def plot_stale(result: StaleResult, ax=None):
    """Evaluation-mode (solid) and training-mode (dashed) accuracy over training.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = new_axes(ax, width=5.0)
    for i, m in enumerate(result.momenta):
        (line,) = ax.plot(result.steps, result.eval_acc[i], label=f"eval mode, momentum {m:g}")
        ax.plot(
            result.steps,
            result.train_acc[i],
            "--",
            color=line.get_color(),
            label=f"train mode, momentum {m:g}",
        )
        ax.plot(result.steps[-1], result.recalibrated_acc[i], "*", ms=12, color=line.get_color())
    ax.set(
        xlabel="step",
        ylabel="test accuracy",
        ylim=(0, 1),
        title="stars: eval mode after re-estimating the statistics",
    )
    ax.legend(fontsize="small")
    return fig


# ------------------------------------------------------------------ batch of one


@dataclass
class BatchOfOneResult:
    """What BN does with a batch of one example.

    Attributes
    ----------
    outcomes : dict of str to str
        Case name -> ``"ok"`` or the error message raised.
    spatial_out_mean, spatial_out_var : float
        For one image (1, C, H, W) in training mode: the largest per-channel |mean| and
        the smallest per-channel (biased) variance of the output (about 0 and 1: the
        statistics are taken over H * W values).
    """

    outcomes: dict[str, str]
    spatial_out_mean: float
    spatial_out_var: float


def run_batch_of_one(seed: int = 0, channels: int = 4) -> BatchOfOneResult:
    """Try BN on a single example in training and evaluation mode.

    Cases: ``"1d train (1, C)"``, ``"1d eval (1, C)"``, ``"1d train (1, C, L)"``,
    ``"2d train (1, C, H, W)"``, ``"2d train (1, C, 1, 1)"``, ``"1d train (2, C)"``.

    Returns
    -------
    BatchOfOneResult
    """
    from bnref.torch import BatchNorm2d

    fast_torch()
    gen, _ = seeded(seed)
    c = channels
    cases = {
        "1d train (1, C)": (batch_norm_1d(c), True, (1, c)),
        "1d eval (1, C)": (batch_norm_1d(c), False, (1, c)),
        "1d train (1, C, L)": (batch_norm_1d(c), True, (1, c, 5)),
        "2d train (1, C, H, W)": (BatchNorm2d(c), True, (1, c, 3, 3)),
        "2d train (1, C, 1, 1)": (BatchNorm2d(c), True, (1, c, 1, 1)),
        "1d train (2, C)": (batch_norm_1d(c), True, (2, c)),
    }
    outcomes: dict[str, str] = {}
    spatial = None
    for name, (layer, training, shape) in cases.items():
        x = torch.randn(shape, generator=gen)
        try:
            with torch.no_grad():
                out = layer.train(training)(x)
        except ValueError as err:
            outcomes[name] = str(err)
            continue
        outcomes[name] = "ok"
        if name == "2d train (1, C, H, W)":
            spatial = out
    per_channel = spatial.transpose(0, 1).reshape(c, -1)  # (C, N*H*W)
    return BatchOfOneResult(
        outcomes=outcomes,
        spatial_out_mean=float(per_channel.mean(dim=1).abs().max()),
        spatial_out_var=float(per_channel.var(dim=1, unbiased=False).min()),
    )


# ------------------------------------------------------------------ Keras against torch


@dataclass
class KerasComparison:
    """A real ``keras.layers.BatchNormalization`` and ``torch.nn.BatchNorm1d`` fed the same
    batches, next to bnref's two update conventions, step by step.

    Attributes
    ----------
    momentum_torch, momentum_keras : float
        The torch momentum and its conversion (``bnref.numpy.convert_momentum``).
    keras_mean_err, keras_var_err : ndarray, shape (steps,)
        Largest |Keras - bnref (``convention="keras"``)| of the moving mean / variance.
    torch_mean_err, torch_var_err : ndarray, shape (steps,)
        Largest |torch - bnref (``convention="torch"``)| of the running mean / variance.
    var_ratio : ndarray, shape (steps, C)
        Keras's moving variance over torch's running variance after each step.
    biased_if_unbiased_err : float
        Largest |Keras - bnref| over the run had bnref's Keras update been fed the
        *unbiased* variance instead (what a converter that forgets the variance gets).
    frozen_by_trainable : bool
        A Keras BN with ``trainable=False`` called with ``training=True`` leaves its moving
        statistics alone and normalizes with them (Keras's freeze does both at once).
    batch_size : int
    """

    momentum_torch: float
    momentum_keras: float
    keras_mean_err: np.ndarray
    keras_var_err: np.ndarray
    torch_mean_err: np.ndarray
    torch_var_err: np.ndarray
    var_ratio: np.ndarray
    biased_if_unbiased_err: float
    frozen_by_trainable: bool
    batch_size: int


def _numpy(t) -> np.ndarray:
    """A Keras (torch backend) tensor or variable value as a NumPy array, without the
    deprecated ``__array__`` path of ``keras.ops.convert_to_numpy``."""
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def run_keras_comparison(
    seed: int = 0, steps: int = 60, batch_size: int = 16, momentum: float = 0.1
) -> KerasComparison:
    """Feed ``steps`` batches (N = ``batch_size``, 3 channels, float64) to a Keras 3 BN layer
    (``KERAS_BACKEND=torch``; imported here, about 10 CPU seconds the first time) and to a
    ``torch.nn.BatchNorm1d``, and replay the same batches through
    :func:`bnref.numpy.update_running_stats` in each convention.

    Parameters
    ----------
    seed : int
        Draws the batches (channel means 1, -2, 3; stds 1, 2, 0.5).
    steps, batch_size : int
    momentum : float
        Torch's momentum; Keras gets ``convert_momentum(momentum, "torch", "keras")``.

    Returns
    -------
    KerasComparison
    """
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    if os.environ["KERAS_BACKEND"] != "torch":
        raise RuntimeError(f"KERAS_BACKEND must be 'torch', got {os.environ['KERAS_BACKEND']!r}")
    import keras

    import bnref.numpy as bn

    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 (torch's unbiased variance), got {batch_size}")
    fast_torch()
    rng = np.random.default_rng(seed)
    m_keras = bn.convert_momentum(momentum, "torch", "keras")
    k_layer = keras.layers.BatchNormalization(momentum=m_keras, epsilon=1e-5, dtype="float64")
    k_layer.build((None, 3))
    t_layer = nn.BatchNorm1d(3, momentum=momentum, dtype=torch.float64)
    rm_k, rv_k = np.zeros(3), np.ones(3)  # bnref, Keras convention
    rm_t, rv_t = np.zeros(3), np.ones(3)  # bnref, torch convention
    rm_u, rv_u = np.zeros(3), np.ones(3)  # Keras convention fed the unbiased variance
    errs = np.zeros((4, steps))
    ratio = np.zeros((steps, 3))
    wrong = 0.0
    n = batch_size
    for t in range(steps):
        x = rng.normal(loc=[1.0, -2.0, 3.0], scale=[1.0, 2.0, 0.5], size=(n, 3))  # (N, C)
        k_layer(x, training=True)
        with torch.no_grad():
            t_layer.train()(torch.from_numpy(x))
        mean, var = x.mean(0), x.var(0)  # biased batch variance
        bn.update_running_stats(rm_k, rv_k, mean, var, n, m_keras, convention="keras")
        bn.update_running_stats(rm_t, rv_t, mean, var, n, momentum, convention="torch")
        bn.update_running_stats(rm_u, rv_u, mean, var * n / (n - 1), n, m_keras,
                                convention="keras")  # fmt: skip
        k_mean = _numpy(k_layer.moving_mean.value)
        k_var = _numpy(k_layer.moving_variance.value)
        errs[:, t] = [
            np.abs(k_mean - rm_k).max(),
            np.abs(k_var - rv_k).max(),
            np.abs(t_layer.running_mean.numpy() - rm_t).max(),
            np.abs(t_layer.running_var.numpy() - rv_t).max(),
        ]
        ratio[t] = k_var / t_layer.running_var.numpy()
        wrong = max(wrong, float(np.abs(k_var - rv_u).max()))
    k_layer.trainable = False
    before = _numpy(k_layer.moving_variance.value).copy()
    x = rng.normal(size=(n, 3)) * 5
    out = _numpy(k_layer(x, training=True))
    as_inference = _numpy(k_layer(x, training=False))
    frozen = bool(
        np.array_equal(before, _numpy(k_layer.moving_variance.value))
        and np.allclose(out, as_inference)
    )
    return KerasComparison(momentum, m_keras, *errs, ratio, wrong, frozen, n)


# ------------------------------------------------------------------ the full run: shared parts


def _trained_base(seed: int, data: MnistTensors | None = None) -> nn.Sequential:
    """The chapter's net: 784-128-128-10, BN before each ReLU, 300 steps of momentum SGD
    (lr 0.05, momentum 0.9, batch 64) on the 4,000 training digits (as :func:`run_mode_gap`)."""
    fast_torch()
    gen, _ = seeded(seed)
    data = mnist_tensors() if data is None else data
    model = mlp((784, 128, 128, 10), "relu", bn="before", generator=gen)
    train(
        model, data, steps=300, lr=0.05, momentum=0.9, batch_size=64, eval_every=300,
        generator=gen,
    )  # fmt: skip
    return model.eval()


def translate(x: torch.Tensor, pixels: int = 3) -> torch.Tensor:
    """Digits (n, 784) moved ``pixels`` to the right and down (wrapping the background)."""
    return torch.roll(x.reshape(-1, 28, 28), (pixels, pixels), dims=(1, 2)).reshape(-1, 784)


def wash_out(x: torch.Tensor, contrast: float = 0.5, brightness: float = 0.3) -> torch.Tensor:
    """A washed-out scan: raw pixels ``p -> contrast * p + brightness`` (then standardized
    with the *training* set's constants, as the deployed model would)."""
    raw = mnist_tensors(standardize=False).x_train
    mu, std = float(raw.mean()), float(raw.std())
    return ((contrast * (x * std + mu) + brightness) - mu) / std


@torch.no_grad()
def _acc(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model.eval()(x).argmax(1) == y).float().mean())


def prune(model: nn.Module, fraction: float = 0.7) -> nn.Module:
    """Zero the ``fraction`` smallest-magnitude weights of every hidden ``nn.Linear``, layer by
    layer (not the output layer); returns ``model`` (changed in place)."""
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction!r}")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)][:-1]
    with torch.no_grad():
        for layer in linears:
            w = layer.weight
            k = int(fraction * w.numel())
            if k:
                cut = w.abs().flatten().kthvalue(k).values
                w.mul_((w.abs() > cut).to(w.dtype))
    return model


def average_weights(a: nn.Module, b: nn.Module) -> nn.Module:
    """A copy of ``a`` with every parameter *and buffer* the mean of ``a``'s and ``b``'s, as a
    naive checkpoint average does (running statistics averaged too)."""
    out = copy.deepcopy(a)
    sb = b.state_dict()
    with torch.no_grad():
        for name, t in out.state_dict().items():
            if t.is_floating_point():
                t.copy_((t + sb[name]) / 2)
    return out


# ------------------------------------------------------------------ recalibration


def run_recalibration(seed: int = 0) -> dict[str, Any]:
    """Evaluation-mode test accuracy before and after :func:`recalibrate`, four ways the
    running statistics can stop describing the network or the data.

    Scenarios, each starting from :func:`_trained_base` (``seed``):

    * ``"never updated"``: running statistics reset to mean 0, variance 1 (a model whose
      buffers were never filled);
    * ``"pruned"``: 70 % of each hidden layer's weights zeroed (:func:`prune`);
    * ``"averaged"``: two continuations of the base (200 more steps each at a high learning
      rate, 0.5, as in the constant-rate phase of stochastic weight averaging; different
      batch orders), every parameter and buffer averaged (:func:`average_weights`);
    * ``"washed out"``: deployment data with half the contrast and a brighter background
      (:func:`wash_out`), recalibrated on washed-out *training* digits (no labels used).

    Recalibration runs on training digits (20 batches of 200) and never touches a weight.

    Returns
    -------
    dict
        ``base_acc`` and, per scenario, ``{"before": acc, "after": acc}``; ``"averaged"``
        also has ``"branches"`` (the two continuations' accuracies).
    """
    fast_torch()
    data = mnist_tensors()
    base = copy.deepcopy(_cached_base(seed))
    x, y = data.x_test, data.y_test
    out: dict[str, Any] = {"seed": seed, "base_acc": _acc(base, x, y)}

    def before_after(model, x_recal, x_eval):
        before = _acc(model, x_eval, y)
        recalibrate(model, x_recal)
        return {"before": before, "after": _acc(model, x_eval, y)}

    never = copy.deepcopy(base)
    for layer in bn_layers(never):
        layer.reset_running_stats()
    out["never updated"] = before_after(never, data.x_train, x)
    out["pruned"] = before_after(prune(copy.deepcopy(base)), data.x_train, x)
    branches = []
    for k in (1, 2):
        twin = copy.deepcopy(base)
        gen = torch.Generator().manual_seed(100_000 * k + seed)
        train(twin, data, steps=200, lr=0.5, momentum=0.9, batch_size=64, eval_every=200,
              generator=gen)  # fmt: skip
        branches.append(twin.eval())
    averaged = average_weights(*branches)
    out["averaged"] = before_after(averaged, data.x_train, x)
    out["averaged"]["branches"] = [_acc(b, x, y) for b in branches]
    out["washed out"] = before_after(copy.deepcopy(base), wash_out(data.x_train), wash_out(x))
    return out


# ------------------------------------------------------------------ fine-tuning on tiny batches

#: fine-tuning arms: (BN layers in eval mode, gamma and beta frozen)
FINETUNE_ARMS: dict[str, tuple[bool, bool]] = {
    "BN train mode": (False, False),
    "BN eval()": (True, False),
    "BN eval() + gamma, beta fixed": (True, True),
    "gamma, beta fixed only": (False, True),
}


def run_finetune(seed: int, arm: str, lr: float, purpose: str = "evaluate") -> float:
    """Fine-tune the base net on translated digits with batches of 2; eval-mode accuracy.

    The base (:func:`_trained_base`, ``seed``) has learned untranslated digits; the new
    domain moves them 3 pixels right and down (:func:`translate`). Fine-tuning: 200 steps of
    momentum SGD (0.9) at batch 2 on the first 400 translated training digits, in the
    batch order of ``seed``; ``arm`` (:data:`FINETUNE_ARMS`) says whether the BN layers are
    put in evaluation mode and whether gamma and beta are frozen.

    Parameters
    ----------
    purpose : {"tune", "evaluate"}
        ``"tune"``: accuracy on translated training digits 3000-3999 (validation);
        ``"evaluate"``: on the 1,000 translated test digits.
    """
    if arm not in FINETUNE_ARMS:
        raise ValueError(f"unknown arm {arm!r}; choose from {list(FINETUNE_ARMS)}")
    if purpose not in ("tune", "evaluate"):
        raise ValueError(f"purpose must be 'tune' or 'evaluate', got {purpose!r}")
    fast_torch()
    data = mnist_tensors()
    model = copy.deepcopy(_cached_base(seed))
    bn_eval, fixed = FINETUNE_ARMS[arm]
    layers = bn_layers(model)
    if fixed:
        for layer in layers:
            layer.weight.requires_grad_(False)
            layer.bias.requires_grad_(False)
    x, y = translate(data.x_train[:400]), data.y_train[:400]
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr,
                          momentum=0.9)  # fmt: skip
    gen = torch.Generator().manual_seed(200_000 + seed)
    order = torch.randperm(400, generator=gen)
    model.train()
    for layer in layers:
        layer.train(not bn_eval)
    for idx in order.split(2):
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if purpose == "tune":
        return _acc(model, translate(data.x_train[3000:]), data.y_train[3000:])
    return _acc(model, translate(data.x_test), data.y_test)


@functools.lru_cache(maxsize=16)  # a run visits every seed twice (tuning, evaluation)
def _cached_base(seed: int) -> nn.Sequential:
    return _trained_base(seed)


# ------------------------------------------------------- BN, GroupNorm, LayerNorm at batch 2

#: the normalization layers compared at batch 2 (after each hidden Linear, before the ReLU)
NORM_ARMS: tuple[str, ...] = ("BN", "GroupNorm", "LayerNorm", "none")


def _norm_net(arm: str, gen: torch.Generator) -> nn.Sequential:
    from bncourse.experiments._common import _init_linear

    make = {
        "BN": lambda c: nn.BatchNorm1d(c),
        "GroupNorm": lambda c: nn.GroupNorm(8, c),
        "LayerNorm": lambda c: nn.LayerNorm(c),
        "none": lambda c: nn.Identity(),
    }[arm]
    layers: list[nn.Module] = []
    for n_in, n_out in ((784, 128), (128, 128)):
        linear = nn.Linear(n_in, n_out)
        _init_linear(linear, "he", gen)
        layers += [linear, make(n_out), nn.ReLU()]
    last = nn.Linear(128, 10)
    _init_linear(last, "he", gen)
    return nn.Sequential(*layers, last)


def run_small_batch_norm(seed: int, arm: str, lr: float, purpose: str = "evaluate") -> float:
    """Train 784-128-128-10 with ``arm``'s normalization at batch 2; eval-mode test accuracy.

    1,500 steps of momentum SGD (0.9) at batch 2 (one epoch of the 3,000 training digits of
    :func:`bncourse.experiments.ch4_placement.split`); ``purpose="tune"`` reports the 1,000
    validation digits, ``"evaluate"`` the 1,000 test digits.
    """
    from bncourse.experiments.ch4_placement import split

    if arm not in NORM_ARMS:
        raise ValueError(f"unknown arm {arm!r}; choose from {list(NORM_ARMS)}")
    fast_torch()
    gen, _ = seeded(seed)
    model = _norm_net(arm, gen)
    data = split(purpose)
    hist = train(model, data, steps=1500, lr=lr, momentum=0.9, batch_size=2, eval_every=1500,
                 generator=gen)  # fmt: skip
    return float("nan") if hist.diverged else hist.test_acc[-1]


# ------------------------------------------------------------------ the committed run

#: evaluation seeds of every claim (20 where a claim bounds a difference from both sides)
EVAL_SEEDS: tuple[int, ...] = tuple(range(10))
RECAL_SEEDS: tuple[int, ...] = tuple(range(20))
#: seeds that choose each training arm's learning rate (never evaluation seeds)
TUNING_SEEDS: tuple[int, ...] = (1000, 1001)
#: seeds the tests re-run; used neither for tuning nor in the committed run
HELD_OUT_SEEDS: tuple[int, ...] = (500, 501)
FINETUNE_LR_GRID: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03)
NORM_LR_GRID: tuple[float, ...] = (0.0001, 0.0003, 0.001, 0.003, 0.01)
RESULTS = Path(__file__).with_name("results") / "ch5_train_inference.json"
SECTIONS: tuple[str, ...] = ("running", "gap", "stale", "recalibration", "finetune", "norms")


def _tune(run, arms, grid, log) -> tuple[dict, list]:
    """Each arm's learning rate: the best mean *validation* accuracy over TUNING_SEEDS."""
    rows, chosen = [], {}
    for arm in arms:
        for lr in grid:
            for s in TUNING_SEEDS:
                acc = run(s, arm, lr, "tune")
                rows.append({"arm": arm, "lr": lr, "seed": s, "acc": acc})
                log(f"tune {arm} lr {lr:g} seed {s}: {acc:.3f}")
        score = {
            lr: np.nanmean([r["acc"] for r in rows if r["arm"] == arm and r["lr"] == lr])
            for lr in grid
        }
        chosen[arm] = max(grid, key=lambda lr: (np.nan_to_num(score[lr], nan=-1.0), -lr))
    return chosen, rows


def run_section(name: str, seeds: tuple[int, ...] | None = None, log=print) -> dict[str, Any]:
    """One section of the committed run (a key of :data:`SECTIONS`) as plain data."""
    if name not in SECTIONS:
        raise ValueError(f"unknown section {name!r}; choose from {list(SECTIONS)}")
    t_cpu = time.process_time()
    out: dict[str, Any] = {}
    if name == "running":
        seeds = seeds or EVAL_SEEDS
        rows = []
        for s in seeds:
            r = run_running_stats(s)
            rows.append({"seed": s, "momenta": [str(m) for m in r.momenta],
                         "error_at_100": r.mean_error[:, 99].tolist(),
                         "floor": r.floor().tolist()})  # fmt: skip
        out["rows"] = rows
    elif name == "gap":
        seeds = seeds or EVAL_SEEDS
        out["rows"] = [{"seed": s, **asdict(run_mode_gap(s))} for s in seeds]
    elif name == "stale":
        seeds = seeds or EVAL_SEEDS
        rows = []
        for s in seeds:
            r = run_stale(s)
            rows.append({"seed": s, "momenta": r.momenta, "steps": r.steps,
                         "eval_acc": r.eval_acc.tolist(), "train_acc": r.train_acc.tolist(),
                         "recalibrated_acc": r.recalibrated_acc})  # fmt: skip
        out["rows"] = rows
    elif name == "recalibration":
        seeds = seeds or RECAL_SEEDS
        out["rows"] = [run_recalibration(s) for s in seeds]
    else:
        seeds = seeds or EVAL_SEEDS
        run, arms, grid = {
            "finetune": (run_finetune, tuple(FINETUNE_ARMS), FINETUNE_LR_GRID),
            "norms": (run_small_batch_norm, NORM_ARMS, NORM_LR_GRID),
        }[name]
        chosen, tuning = _tune(run, arms, grid, log)
        rows = []
        for arm in arms:
            for s in seeds:
                rows.append({"arm": arm, "lr": chosen[arm], "seed": s,
                             "acc": run(s, arm, chosen[arm], "evaluate")})  # fmt: skip
                log(f"evaluate {arm} lr {chosen[arm]:g} seed {s}: {rows[-1]['acc']:.3f}")
        out.update(chosen_lr=chosen, tuning=tuning, rows=rows, lr_grid=list(grid))
        if name == "finetune":
            data = mnist_tensors()
            out["before_finetune"] = [
                {"seed": s, "acc": _acc(_cached_base(s), translate(data.x_test), data.y_test)}
                for s in seeds
            ]
    out["seeds"] = list(seeds)
    out["cpu_s"] = round(time.process_time() - t_cpu, 1)
    return out


def load_results(path: Path | str = RESULTS) -> dict[str, Any]:
    """The committed record of the full run (see :func:`main`)."""
    return json.loads(Path(path).read_text())


def paired(results: dict[str, Any], section: str, a: str, b: str) -> dict:
    """Mean paired difference ``a - b`` of a training comparison's accuracy over seeds, with
    its 95 % CI (:func:`.stats.paired_diff_ci`)."""
    rows = results[section]["rows"]
    acc = {(r["arm"], r["seed"]): r["acc"] for r in rows}
    seeds = results[section]["seeds"]
    return paired_diff_ci([acc[a, s] for s in seeds], [acc[b, s] for s in seeds])


def recal_effect(results: dict[str, Any], scenario: str) -> dict:
    """After - before recalibration, evaluation-mode accuracy, mean and 95 % CI over seeds."""
    rows = results["recalibration"]["rows"]
    return paired_diff_ci([r[scenario]["after"] for r in rows],
                          [r[scenario]["before"] for r in rows])  # fmt: skip


def gap_ci(results: dict[str, Any]) -> dict[str, tuple[float, float, float]]:
    """Evaluation-mode minus training-mode accuracy per test batch (and for class-sorted
    batches of 32): mean and 95 % CI over seeds, keyed ``"2"``, ``"4"``, ..., ``"sorted 32"``."""
    rows = results["gap"]["rows"]
    out = {}
    for j, n in enumerate(rows[0]["batch_sizes"]):
        out[str(n)] = mean_ci([r["eval_acc"] - r["train_acc"][j] for r in rows])
    out["sorted 32"] = mean_ci([r["eval_acc"] - r["sorted_acc"] for r in rows])
    return out


# ------------------------------------------------------------------ plots of the committed run


def stale_result(results: dict[str, Any], seed: int = 0) -> StaleResult:
    """The committed :func:`run_stale` of ``seed`` as a :class:`StaleResult` (for
    :func:`plot_stale`)."""
    row = next(r for r in results["stale"]["rows"] if r["seed"] == seed)
    return StaleResult(row["momenta"], row["steps"], np.array(row["eval_acc"]),
                       np.array(row["train_acc"]), row["recalibrated_acc"])  # fmt: skip


def plot_gap_summary(results: dict[str, Any], ax=None):
    """Evaluation-mode minus training-mode test accuracy against the test batch size, mean
    and 95 % CI over the committed seeds, with class-sorted batches of 32 as a separate point.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = new_axes(ax, width=5.0)
    ci = gap_ci(results)
    sizes = results["gap"]["rows"][0]["batch_sizes"]
    mean = np.array([ci[str(n)][0] for n in sizes]) * 100
    lo = np.array([ci[str(n)][1] for n in sizes]) * 100
    hi = np.array([ci[str(n)][2] for n in sizes]) * 100
    ax.errorbar(sizes, mean, yerr=[mean - lo, hi - mean], fmt="o-", capsize=3,
                label="random test batches")  # fmt: skip
    m, lo_s, hi_s = (100 * v for v in ci["sorted 32"])
    ax.errorbar([32], [m], yerr=[[m - lo_s], [hi_s - m]], fmt="s", color="C3", capsize=3,
                label="class-sorted batches of 32")  # fmt: skip
    ax.axhline(0, color="k", lw=0.8)
    n = len(results["gap"]["rows"])
    ylabel = "eval minus train-mode\naccuracy (points)"
    ax.set(xscale="log", xlabel="test batch size N", ylabel=ylabel, title=f"{n} seeds, 95 % CI")
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.legend(fontsize="small", loc="center right")
    return fig


def plot_recalibration(results: dict[str, Any], ax=None):
    """Evaluation-mode test accuracy before and after recalibration, per scenario (mean and
    95 % CI over the committed seeds), next to the trained model's.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = new_axes(ax, width=5.5)
    rows = results["recalibration"]["rows"]
    scenarios = ["never updated", "pruned", "averaged", "washed out"]
    for k, (when, marker) in enumerate((("before", "o"), ("after", "s"))):
        for j, sc in enumerate(scenarios):
            m, lo, hi = (100 * v for v in mean_ci([r[sc][when] for r in rows]))
            ax.errorbar(j + 0.15 * (2 * k - 1), m, yerr=[[m - lo], [hi - m]], fmt=marker,
                        color=f"C{k}", capsize=3,
                        label=f"{when} recalibration" if j == 0 else None)  # fmt: skip
    base = 100 * mean_ci([r["base_acc"] for r in rows])[0]
    ax.axhline(base, color="0.5", ls=":", label="trained model")
    ax.set_xticks(range(len(scenarios)), scenarios)
    ax.set(ylabel="test accuracy (%)", title=f"{len(rows)} seeds, 95 % CI")
    ax.legend(fontsize="small", loc="lower left")
    return fig


def plot_arms(results: dict[str, Any], section: str, ax=None, title: str = ""):
    """Test accuracy per arm of a training comparison (``"finetune"`` or ``"norms"``): one
    dot per seed and the mean, each arm at its tuned learning rate.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = new_axes(ax, width=5.5)
    rows = results[section]["rows"]
    arms = list(dict.fromkeys(r["arm"] for r in rows))
    for i, arm in enumerate(arms):
        acc = 100 * np.array([r["acc"] for r in rows if r["arm"] == arm])
        jitter = np.linspace(-0.15, 0.15, acc.size)
        ax.plot(i + jitter, acc, "o", ms=3, alpha=0.6, color=f"C{i}")
        ax.plot([i - 0.25, i + 0.25], [np.nanmean(acc)] * 2, "k-", lw=1.5)
    lr = results[section]["chosen_lr"]
    labels = [
        a.replace("gamma, beta", "γ, β").replace(" + ", " +\n") + f"\nlr {lr[a]:g}" for a in arms
    ]
    ax.set_xticks(range(len(arms)), labels)
    ax.set(ylabel="test accuracy (%)", title=title)
    return fig


def main(argv: list[str] | None = None) -> None:
    """Run the sections named in ``argv`` (all by default) and merge them into :data:`RESULTS`.

    ``python -m bncourse.experiments.ch5_train_inference [section ...]`` (``make
    experiments`` runs all). Each finished section is written at once.
    """
    argv = sys.argv[1:] if argv is None else argv
    names = argv or list(SECTIONS)
    results = load_results() if RESULTS.exists() else {}
    results["versions"] = versions()
    results["design"] = {
        "eval_seeds": list(EVAL_SEEDS),
        "recal_seeds": list(RECAL_SEEDS),
        "tuning_seeds": list(TUNING_SEEDS),
        "held_out_seeds": list(HELD_OUT_SEEDS),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for name in names:
        print(f"== {name}", flush=True)
        results[name] = run_section(name, log=lambda msg: print(msg, flush=True))
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {name} ({results[name]['cpu_s']} CPU s)", flush=True)


EXPERIMENTS = {
    "running statistics vs momentum": run_running_stats,
    "train/eval gap vs batch size": run_mode_gap,
    "stale running statistics": run_stale,
    "batch of one": run_batch_of_one,
    "recalibration, four scenarios": run_recalibration,
    "fine-tuning at batch 2, one arm": lambda: run_finetune(0, "BN eval()", 0.003),
    "GroupNorm at batch 2, one run": lambda: run_small_batch_norm(0, "GroupNorm", 0.001),
    "Keras vs torch running statistics": run_keras_comparison,
}


if __name__ == "__main__":
    main()
