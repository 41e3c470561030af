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

Book section: "Training versus inference" (``train-vs-inference``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from bncourse.experiments._common import (
    batch_norm_1d,
    bn_layers,
    evaluate,
    fast_torch,
    mlp,
    mnist_tensors,
    new_axes,
    seeded,
    train,
)

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
    """

    batch_sizes: list[int]
    eval_acc: float
    train_acc: list[float]
    rel_diff: list[float]


def run_mode_gap(
    seed: int = 0,
    batch_sizes: tuple[int, ...] = (2, 4, 8, 16, 64, 256),
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
    return ModeGapResult(list(batch_sizes), eval_acc, train_acc, rel_diff)


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


EXPERIMENTS = {
    "running statistics vs momentum": run_running_stats,
    "train/eval gap vs batch size": run_mode_gap,
    "stale running statistics": run_stale,
    "batch of one": run_batch_of_one,
}
