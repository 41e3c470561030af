"""Shared machinery of the experiments: speed settings, seeds, data, MLPs, a training loop.

Every experiment module builds on these few helpers, so that "an MLP with BN before the
sigmoid, trained with momentum SGD on MNIST" means the same thing in every chapter.

* :func:`fast_torch` -- the two speed settings for tiny nets on a CPU.
* :func:`seeded` -- one seed gives a torch and a NumPy generator (and seeds torch globally).
* :func:`mnist_tensors` -- the fixed 4,000 / 1,000 MNIST split as tensors.
* :func:`batch_norm_1d`, :func:`mlp` -- fully connected nets with BN before or after the
  activation, built from ``bnref.torch.BatchNorm1d``.
* :func:`train` -- minibatch SGD (with momentum) that records test metrics every few steps
  into a :class:`History`.
* :func:`accuracy`, :func:`evaluate`, :func:`diverged`, :func:`layer_inputs`,
  :func:`bn_layers` -- measuring.
* :func:`new_axes` -- the plotting convention (``plot_*(result, ax=None)`` draws on ``ax``
  or on a new figure and returns the figure).

Results are dataclasses of plain data (lists, NumPy arrays, floats), never tensors, so a
chapter can print, plot or compare them without torch.
"""

from __future__ import annotations

import functools
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from bnref.data import load_mnist

__all__ = [
    "versions",
    "run_metadata",
    "fast_torch",
    "seeded",
    "MnistTensors",
    "mnist_tensors",
    "batch_norm_1d",
    "mlp",
    "History",
    "train",
    "accuracy",
    "evaluate",
    "diverged",
    "layer_inputs",
    "bn_layers",
    "new_axes",
]


# --------------------------------------------------------------------------- speed, seeds


def versions() -> dict[str, str]:
    """What a committed result records about the software and machine that made it."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "machine": platform.machine(),
    }


def run_metadata(t_wall: float, t_cpu: float) -> dict[str, Any]:
    """``timing`` (wall and CPU seconds since ``time.time()`` / ``time.process_time()``
    values ``t_wall``, ``t_cpu``) and :func:`versions`, for a committed result."""
    return {
        "timing": {
            "wall_s": round(time.time() - t_wall, 1),
            "cpu_s": round(time.process_time() - t_cpu, 1),
        },
        "versions": versions(),
    }


def fast_torch() -> None:
    """Apply the two settings that make tiny CPU nets fast.

    ``torch.set_num_threads(1)``: on nets of a few hundred units, threading costs more than
    it saves (about 4x slower with 2 threads on the course machine).
    ``torch.set_flush_denormal(True)``: a saturated sigmoid net produces denormal floats,
    which are 2-8x slower to compute with; flushing them to zero changes nothing visible.

    Every ``run_*`` function calls this first. It changes process-wide torch settings.
    """
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)


def seeded(seed: int) -> tuple[torch.Generator, np.random.Generator]:
    """Seed torch's global generator and return fresh torch and NumPy generators.

    Parameters
    ----------
    seed : int
        A non-negative integer.

    Returns
    -------
    gen : torch.Generator
        A CPU generator seeded with ``seed``: pass it to :func:`mlp` and :func:`train`.
    rng : numpy.random.Generator
        ``numpy.random.default_rng(seed)``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    torch.manual_seed(int(seed))
    gen = torch.Generator().manual_seed(int(seed))
    return gen, np.random.default_rng(int(seed))


# --------------------------------------------------------------------------------- data


class MnistTensors(NamedTuple):
    """The fixed MNIST split as float32 / int64 tensors: x (n, 784), y (n,)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


@functools.lru_cache(maxsize=1)
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x_train, y_train = load_mnist("train")  # (4000, 784), (4000,)
    x_test, y_test = load_mnist("test")  # (1000, 784), (1000,)
    return x_train, y_train, x_test, y_test


def mnist_tensors(standardize: bool = True) -> MnistTensors:
    """The 4,000 / 1,000 MNIST digits of :func:`bnref.data.load_mnist` as tensors.

    Parameters
    ----------
    standardize : bool
        ``True``: subtract the training set's mean pixel value and divide by its standard
        deviation (one scalar each, about 0.13 and 0.31, as is usual for MNIST; per-pixel
        statistics would divide by ~0 at the always-black border). ``False``: pixels in [0, 1].

    Returns
    -------
    MnistTensors
        ``x_train`` (4000, 784) float32, ``y_train`` (4000,) int64, ``x_test`` (1000, 784),
        ``y_test`` (1000,). Fresh tensors on every call (safe to modify).
    """
    x_train, y_train, x_test, y_test = _mnist_arrays()
    if standardize:
        mu, std = float(x_train.mean()), float(x_train.std())
        x_train, x_test = (x_train - mu) / std, (x_test - mu) / std
    return MnistTensors(
        torch.tensor(x_train, dtype=torch.float32),
        torch.tensor(y_train, dtype=torch.int64),
        torch.tensor(x_test, dtype=torch.float32),
        torch.tensor(y_test, dtype=torch.int64),
    )


# ------------------------------------------------------------------------------- models


def batch_norm_1d(num_features: int, **kwargs: Any) -> nn.Module:
    """The BN layer every experiment uses: ``bnref.torch.BatchNorm1d(num_features, **kwargs)``.

    Same constructor as ``torch.nn.BatchNorm1d`` (``eps``, ``momentum``, ``affine``,
    ``track_running_stats``).
    """
    from bnref.torch import BatchNorm1d

    return BatchNorm1d(num_features, **kwargs)


_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
}


def _init_linear(layer: nn.Linear, init: str | float, gen: torch.Generator | None) -> None:
    fan_in = layer.in_features
    with torch.no_grad():
        if init == "he":  # Kaiming normal for ReLU: std sqrt(2 / fan_in), zero bias
            layer.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=gen)
            if layer.bias is not None:
                layer.bias.zero_()
        elif init == "default":  # what nn.Linear does: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            bound = 1.0 / math.sqrt(fan_in)
            layer.weight.uniform_(-bound, bound, generator=gen)
            if layer.bias is not None:
                layer.bias.uniform_(-bound, bound, generator=gen)
        else:  # a float: "small random Gaussian" N(0, init^2), zero bias
            layer.weight.normal_(0.0, float(init), generator=gen)
            if layer.bias is not None:
                layer.bias.zero_()


def mlp(
    widths: Sequence[int],
    activation: str = "relu",
    bn: str = "none",
    affine: bool = True,
    init: str | float = "he",
    *,
    bias: bool = True,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
    generator: torch.Generator | None = None,
) -> nn.Sequential:
    """A fully connected net, optionally with BN in every hidden layer.

    Parameters
    ----------
    widths : sequence of int
        Layer widths from input to output, e.g. ``(784, 100, 100, 100, 10)`` gives three
        hidden layers of 100 units and 10 logits. At least two entries.
    activation : {"relu", "sigmoid", "tanh", "identity"}
        The hidden layers' nonlinearity. The output layer has none (logits).
    bn : {"none", "before", "after"}
        ``"before"``: Linear -> BN -> activation (Ioffe & Szegedy's placement).
        ``"after"``: Linear -> activation -> BN. The output layer never gets BN.
    affine : bool
        Whether BN has the learned scale ``gamma`` and shift ``beta``.
    init : {"he", "default"} or float
        ``"he"``: weights N(0, 2 / fan_in), zero biases. ``"default"``: PyTorch's
        nn.Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.
        A float ``s``: weights N(0, s^2), zero biases.
    bias : bool
        Whether the Linear layers have a bias (redundant right before BN, harmless).
    momentum, eps : float
        Passed to every BN layer (``momentum=None``: cumulative average).
    generator : torch.Generator, optional
        Draws the initial weights (from :func:`seeded`); ``None`` uses torch's global one.

    Returns
    -------
    torch.nn.Sequential
        Flat: for each hidden layer ``Linear, [BN], activation, [BN]``, then ``Linear``.
    """
    widths = [int(w) for w in widths]
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"widths needs at least two positive entries, got {widths}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    if bn not in ("none", "before", "after"):
        raise ValueError(f"bn must be 'none', 'before' or 'after', got {bn!r}")
    if not (init in ("he", "default") or (isinstance(init, float | int) and init > 0)):
        raise ValueError(f"init must be 'he', 'default' or a positive std, got {init!r}")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        linear = nn.Linear(n_in, n_out, bias=bias)
        _init_linear(linear, init, generator)
        layers.append(linear)
        if i == len(widths) - 2:
            break  # output layer: logits
        norm = batch_norm_1d(n_out, eps=eps, momentum=momentum, affine=affine)
        if bn == "before":
            layers.append(norm)
        layers.append(_ACTIVATIONS[activation]())
        if bn == "after":
            layers.append(norm)
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------------- measuring


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Cross-entropy loss and accuracy of ``model`` in eval mode; returns ``(loss, acc)``.

    The model's training flag is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        logits = model(x)  # (n, classes)
        loss = float(nn.functional.cross_entropy(logits, y))
        acc = float((logits.argmax(dim=1) == y).float().mean())
    finally:
        model.train(was_training)
    return loss, acc


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` that ``model`` (in eval mode) classifies as ``y``."""
    return evaluate(model, x, y)[1]


def diverged(loss: float | Sequence[float] | np.ndarray, threshold: float = 1e4) -> bool:
    """True if any loss is NaN or infinite or above ``threshold`` (a run that blew up)."""
    values = np.asarray(loss, dtype=np.float64)
    return bool(np.any(~np.isfinite(values)) or np.any(values > threshold))


@torch.no_grad()
def layer_inputs(
    model: nn.Module, x: torch.Tensor, kind: type[nn.Module] = nn.Sigmoid, *, train: bool = False
) -> list[torch.Tensor]:
    """The inputs that every submodule of type ``kind`` receives when ``model`` sees ``x``.

    For ``kind=nn.Sigmoid`` these are the pre-activations: Ioffe & Szegedy's Fig. 1(b, c)
    plots percentiles of the last one. Runs in eval mode unless ``train=True`` (which
    also updates BN running statistics). Returns one detached tensor per module, in order.
    """
    captured: list[torch.Tensor] = []
    hooks = [
        m.register_forward_hook(lambda _m, inp, _out: captured.append(inp[0].detach()))
        for m in model.modules()
        if isinstance(m, kind)
    ]
    was_training = model.training
    model.train(train)
    try:
        model(x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return captured


def bn_layers(model: nn.Module) -> list[nn.Module]:
    """Every batch-norm module of ``model`` (bnref's or torch's), in order."""
    return [
        m
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) or "BatchNorm" in type(m).__name__
    ]


# ----------------------------------------------------------------------------- training


@dataclass
class History:
    """What :func:`train` recorded.

    Attributes
    ----------
    steps : list of int
        The steps at which test metrics were taken (0 = before training, if asked for).
    test_acc, test_loss : list of float
        Test accuracy and cross-entropy (eval mode) at those steps.
    loss : list of float
        The training minibatch loss of every step taken (train mode), in order.
    extra : dict of str to list
        Whatever the ``record`` callback returned at each recorded step, one list per key.
    diverged : bool
        The training loss became NaN/inf or exceeded the threshold; training stopped there.
    stopped_at : int
        The number of steps actually taken.
    """

    steps: list[int] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    extra: dict[str, list] = field(default_factory=dict)
    diverged: bool = False
    stopped_at: int = 0

    def first_step_reaching(self, acc: float) -> int | None:
        """The first recorded step whose test accuracy is at least ``acc`` (None if never)."""
        return next((s for s, a in zip(self.steps, self.test_acc, strict=True) if a >= acc), None)


def train(
    model: nn.Module,
    data: MnistTensors,
    *,
    steps: int,
    lr: float,
    momentum: float = 0.0,
    batch_size: int = 60,
    weight_decay: float = 0.0,
    eval_every: int = 100,
    eval_at_start: bool = False,
    generator: torch.Generator | None = None,
    record: Callable[[nn.Module, int], dict[str, Any]] | None = None,
    stop_at_acc: float | None = None,
    diverge_threshold: float = 1e4,
) -> History:
    """Minibatch SGD (optionally with momentum) on cross-entropy, recording test metrics.

    Batches are drawn without replacement from a fresh permutation every epoch (from
    ``generator``), so the same generator state gives the same run.

    Parameters
    ----------
    model : nn.Module
        Maps (N, features) to (N, classes) logits. Put in train mode for the steps.
    data : MnistTensors
        Training and test tensors (any tuple with those four fields).
    steps : int
        Number of SGD steps.
    lr, momentum, weight_decay : float
        ``torch.optim.SGD`` settings.
    batch_size : int
        N per step.
    eval_every : int
        Take test metrics (and call ``record``) every this many steps, and after the last.
    eval_at_start : bool
        Also take them at step 0, before any update.
    generator : torch.Generator, optional
        Draws the batches.
    record : callable, optional
        ``record(model, step) -> dict``; each value is appended to ``History.extra[key]``.
    stop_at_acc : float, optional
        Stop after the first evaluation whose test accuracy reaches this.
    diverge_threshold : float
        A training loss above this (or NaN/inf) stops training with ``diverged=True``.

    Returns
    -------
    History
    """
    if steps < 0 or batch_size < 1 or eval_every < 1:
        raise ValueError(
            f"need steps >= 0, batch_size >= 1, eval_every >= 1; got {steps}, {batch_size}, "
            f"{eval_every}"
        )
    x_train, y_train, x_test, y_test = data
    n = x_train.shape[0]
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    hist = History()

    def take(step: int) -> None:
        loss, acc = evaluate(model, x_test, y_test)
        hist.steps.append(step)
        hist.test_loss.append(loss)
        hist.test_acc.append(acc)
        if record is not None:
            for key, value in record(model, step).items():
                hist.extra.setdefault(key, []).append(value)

    if eval_at_start:
        take(0)
    model.train()
    order = torch.randperm(n, generator=generator)
    pos = 0
    for step in range(1, steps + 1):
        if pos + batch_size > n:
            order, pos = torch.randperm(n, generator=generator), 0
        idx = order[pos : pos + batch_size]  # (N,)
        pos += batch_size
        loss = nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = loss.item()
        hist.loss.append(value)
        hist.stopped_at = step
        if diverged(value, diverge_threshold):
            hist.diverged = True
            take(step)
            break
        if step % eval_every == 0 or step == steps:
            take(step)
            if stop_at_acc is not None and hist.test_acc[-1] >= stop_at_acc:
                break
    return hist


# ----------------------------------------------------------------------------- plotting


def new_axes(ax: Any = None, ncols: int = 1, width: float = 4.5, height: float = 3.2):
    """The plotting convention: draw on ``ax`` if given, else on a new house-style figure.

    Returns ``(fig, axes)``: ``axes`` is ``ax`` itself when given (a single Axes or a
    sequence of them), else one Axes (``ncols=1``) or an array of ``ncols`` Axes.
    ``width`` is per column; the whole figure is capped at the book's column width
    (:data:`bncourse.plotting.MAX_WIDTH_IN`), so its text stays legible on the page.
    Imports matplotlib only when called.
    """
    from bncourse import plotting

    total = min(width * ncols, plotting.MAX_WIDTH_IN)
    return plotting.figure(ax, ncols=ncols, width=total, height=height)
