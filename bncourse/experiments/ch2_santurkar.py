"""Santurkar, Tsipras, Ilyas & Madry (2018), Sec. 2: is BN's success about internal covariate shift?

The paper (arXiv 1805.11604, NeurIPS 2018; v1 subtitled "No, It Is Not About Internal
Covariate Shift") tests Ioffe & Szegedy's explanation in two ways, which this module
reproduces on the 4,000 / 1,000 MNIST digits of :func:`bnref.data.load_mnist` with a
784-128x6-10 ReLU MLP (He initialisation), with and without BN before each ReLU.
Chapter 6 (``ch6_santurkar``) has the paper's third part, the smoothness of the landscape.

1. **Noisy BN** (Sec. 2.1, Fig. 2). After every BN layer the paper adds noise of "non-zero
   mean and non-unit variance" whose distribution "changes at each time step" (the exact
   distributions are in its Appendix A, which our notes could not retrieve). Ours,
   :class:`NoisyBatchNorm1d`: at every training forward and for every unit j, a shift
   ``m_j ~ U(-n, n)`` and a scale ``s_j ~ U(1, 1 + n)`` are drawn and BN's output ``y``
   becomes ``y * s_j + m_j`` (so each unit's mean moves by up to ``n`` and its std is
   multiplied by up to ``1 + n``, anew at every step); off in evaluation. The paper
   perturbs every activation of every example with i.i.d. noise; we move whole units,
   which is the part that shifts the distribution the next layer sees. ``n = 1``
   (:data:`NOISE`), chosen before the reported runs as the round value at which the noisy
   net's distribution shift is several times the plain net's on the tuning seeds.

   *Distribution shift* (:meth:`NoisyBNResult.shift`): a fixed probe batch (500 test
   digits) is passed through the net in training mode after every step (BN on the
   probe's statistics, fresh noise from a separate generator, nothing in the training
   run disturbed), and for every unit of the third ReLU's input we take the 1-D
   Wasserstein distance between its distribution after step t and after step t - 1,
   divided by its std, averaged over units and steps. Because the probe digits are the
   same at every step, batch-to-batch sampling does not enter; its size is measured
   anyway and shown: the same distance between two *different* probe batches of 500 at
   the same weights (the "floor" a metric on changing batches would read with nothing
   changing), and the metric computed on a second probe batch (its sampling noise).

   Claims fixed before the run (``CLAIMS``): (a) the noisy net's shift is larger than the
   plain net's (paired ratio, 95 % CI above 1); (b) equivalence: the noisy net's final
   test accuracy is within +-0.01 of the BN net's (95 % CI of the paired difference inside
   the margin), each arm at its own tuned learning rate, 20 seeds; (c) the paper's "far
   better than no BN": the difference noisy - standard with its CI, reported as measured.

2. **ICS, Definition 2.1** (Sec. 2.2, Fig. 3). ``G`` is layer i's weight gradient and
   ``G'`` the same gradient, on the same batch, after the layers before i have taken their
   SGD step; ICS is ``||G - G'||`` (and ``cos(G, G')``). The paper finds BN nets with as
   much or more ICS (VGG, and a 25-layer deep linear net). :func:`run_ics` measures it for
   the fourth linear layer every 20 steps, both nets at the same lr. **At our scale the
   paper's direction does not reproduce**: BN *reduces* ICS by both measures (see the
   results JSON).

Book section: chapter 2, "Is it internal covariate shift?" (``book/02_covariate_shift.md``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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
)
from bncourse.experiments.ch2_ioffe_fig1 import _restore, _save, mean_ci, save_results

__all__ = [
    "NoisyBatchNorm1d",
    "NoisyBNResult",
    "run_noisy_bn",
    "tune_noisy_bn",
    "plot_noisy_bn",
    "ics",
    "gradient_shift",
    "ICSResult",
    "run_ics",
    "plot_ics",
    "run_all_noisy",
    "run_all_ics",
    "CLAIMS",
    "EXPERIMENTS",
]

#: The two nets of :func:`run_ics`: name -> BN placement.
NETS = {"standard": "none", "BN": "before"}
#: The three arms of the noisy-BN experiment.
ARMS = ("standard", "BN", "noisy BN")
#: Noise strength ``n`` of the reported runs.
NOISE = 0.5
#: Learning rates tried per arm (SGD, momentum 0.9).
LR_GRID = (0.02, 0.05, 0.1, 0.2)
#: Size of each of the two fixed probe batches (test digits).
PROBE = 256
#: Claims and margins, fixed before the reported runs.
CLAIMS = {
    "shift_ratio_ci_above": 1.0,
    "equivalence_margin": 0.01,
    "seeds_noisy": 20,
    "seeds_ics": 10,
}


def _widths(depth: int, width: int) -> tuple[int, ...]:
    return (784,) + (width,) * depth + (10,)


# --------------------------------------------------------------------------- noisy BN


class NoisyBatchNorm1d(nn.Module):
    """BN followed, in training mode, by a random per-unit scale and shift drawn every forward.

    The reference for the exercise ``bn02_covariate_shift``: ``y = BN(x)``, then in
    training mode ``y * scale + shift`` with ``shift_j ~ U(-noise, noise)`` and
    ``scale_j ~ U(1, 1 + noise)`` drawn from ``generator`` at every forward (torch's global
    generator is not touched). In eval mode it is the BN layer and draws nothing.

    Parameters
    ----------
    num_features : int
        C, the number of units.
    noise : float
        ``n`` above, >= 0; 0 gives plain BN.
    generator : torch.Generator, optional
        Draws the noise; ``None``: a private generator seeded with 0.
    """

    def __init__(
        self, num_features: int, noise: float = 1.0, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        if not noise >= 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.bn = batch_norm_1d(num_features)
        self.noise = float(noise)
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(x)  # (N, C)
        if not self.training:
            return y
        c, n, g = y.shape[1], self.noise, self.generator
        shift = (torch.rand(c, generator=g, dtype=y.dtype) * 2 - 1) * n  # (C,) U(-n, n)
        scale = 1 + torch.rand(c, generator=g, dtype=y.dtype) * n  # (C,) U(1, 1 + n)
        return y * scale + shift  # (N, C)


def _arm_model(arm: str, depth: int, width: int, gen, noise: float, noise_gen) -> nn.Sequential:
    """The arm's MLP; every arm draws the same initial weights from ``gen``."""
    model = mlp(_widths(depth, width), "relu", bn="none" if arm == "standard" else "before",
                generator=gen)  # fmt: skip
    if arm == "noisy BN":
        norms = {id(m) for m in bn_layers(model)}
        for i, m in enumerate(list(model)):
            if id(m) in norms:
                model[i] = NoisyBatchNorm1d(m.num_features, noise, noise_gen)
    return model


def _sorted(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each unit's values sorted, shape (units, N), and each unit's std, shape (units,)."""
    return z.T.contiguous().sort(dim=1).values, z.std(dim=0)


def _w1_over_std(a, b) -> float:
    """Mean over units of the 1-D Wasserstein distance between a's and b's values of each
    unit, divided by a's std; ``a`` and ``b`` come from :func:`_sorted` (equal batch sizes)."""
    w1 = (a[0] - b[0]).abs().mean(dim=1)  # (units,)
    return float((w1 / a[1].clamp_min(1e-6)).mean())


@dataclass
class NoisyBNResult:
    """Training records of the standard, BN and noisy-BN nets (one seed).

    Attributes
    ----------
    lr : dict of str to float
        Each arm's learning rate.
    test_acc : dict of str to float
        Final test accuracy (eval mode: noise off; 0 if training diverged).
    train_acc : dict of str to ndarray, shape (steps,)
        Accuracy on each training minibatch, as trained (noise on).
    loss : dict of str to ndarray, shape (steps,)
        Training minibatch loss (noise on).
    probe_steps : list of int
        The steps probed: the layer input is taken just before and just after each.
    shift : dict of str to ndarray, shape (len(probe_steps),)
        The distribution shift of the recorded layer input over that one step, probe A.
    shift_b : dict of str to ndarray, shape (steps,)
        The same on probe batch B (the metric's sampling noise is the A-B difference).
    floor : dict of str to ndarray, shape (steps,)
        The same distance between probe batches A and B at the same weights and with the same
        noise draw (after the step): what comparing two different batches reads when
        nothing changed.
    percentiles : dict of str to ndarray, shape (len(probe_steps), 3, units_shown)
        15/50/85th percentiles on probe A of the first few units, after each probed step.
    layer : int
        Which ReLU's input was recorded (1-based).
    """

    lr: dict[str, float]
    probe_steps: list[int] = field(default_factory=list)
    test_acc: dict[str, float] = field(default_factory=dict)
    train_acc: dict[str, np.ndarray] = field(default_factory=dict)
    loss: dict[str, np.ndarray] = field(default_factory=dict)
    shift: dict[str, np.ndarray] = field(default_factory=dict)
    shift_b: dict[str, np.ndarray] = field(default_factory=dict)
    floor: dict[str, np.ndarray] = field(default_factory=dict)
    percentiles: dict[str, np.ndarray] = field(default_factory=dict)
    layer: int = 3

    def mean_shift(self, name: str, probe: str = "A") -> float:
        """The shift averaged over all steps (probe batch ``"A"`` or ``"B"``)."""
        return float(np.mean((self.shift if probe == "A" else self.shift_b)[name]))

    def final_train_acc(self, name: str, last: int = 50) -> float:
        """Mean training-minibatch accuracy over the last ``last`` steps (noise on)."""
        return float(np.mean(self.train_acc[name][-last:]))

    def mean_floor(self, name: str) -> float:
        """The A-vs-B distance averaged over steps (what changing batches alone would read)."""
        return float(np.mean(self.floor[name]))


def _probe_fn(model: nn.Module, relu: nn.Module, probe_gen: torch.Generator):
    """``probe(x) -> layer input`` in training mode, leaving model and training noise as found."""
    noisy = [m for m in model.modules() if isinstance(m, NoisyBatchNorm1d)]

    def probe(x: torch.Tensor) -> torch.Tensor:
        captured = []
        handle = relu.register_forward_pre_hook(lambda _m, inp: captured.append(inp[0]))
        state = _save(model)
        saved_gens = [m.generator for m in noisy]
        for m in noisy:
            m.generator = probe_gen
        try:
            model.train()
            with torch.no_grad():
                model(x)
        finally:
            handle.remove()
            for m, g in zip(noisy, saved_gens, strict=True):
                m.generator = g
            _restore(model, state)
        return captured[0]  # (N, units)

    return probe


def _same_noise(probe, pa, pb, gen: torch.Generator, keep_a: bool = False):
    """Probe A and B with the *same* noise draw (A vs B then differs only by the digits)."""
    state = gen.get_state()
    za = probe(pa)
    gen.set_state(state)
    pair = _sorted(za), _sorted(probe(pb))
    return (pair, za) if keep_a else pair


def _train_arm(arm, seed, lr, data, *, depth, width, steps, batch_size, noise, layer, shown,
               every):  # fmt: skip
    """SGD with momentum 0.9; probes A and B around every ``every``-th step. Returns records."""
    gen, _ = seeded(seed)
    model = _arm_model(arm, depth, width, gen, noise, torch.Generator().manual_seed(seed + 7919))
    relu = [m for m in model if isinstance(m, nn.ReLU)][layer - 1]
    probe_gen = torch.Generator().manual_seed(seed + 104729)
    probe = _probe_fn(model, relu, probe_gen)
    pa, pb = data.x_test[:PROBE], data.x_test[PROBE : 2 * PROBE]
    levels = torch.tensor([0.15, 0.5, 0.85])
    rec = {"shift": [], "shift_b": [], "floor": [], "train_acc": [], "loss": [], "pct": []}
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    x_train, y_train = data.x_train, data.y_train
    order, pos = torch.randperm(x_train.shape[0], generator=gen), 0
    model.train()
    for step in range(steps):
        probing = step % every == 0
        if probing:  # the layer input just before this step
            before = _same_noise(probe, pa, pb, probe_gen)
        if pos + batch_size > x_train.shape[0]:
            order, pos = torch.randperm(x_train.shape[0], generator=gen), 0
        idx = order[pos : pos + batch_size]  # (N,)
        pos += batch_size
        logits = model(x_train[idx])  # (N, 10), noise on: what training sees
        loss = nn.functional.cross_entropy(logits, y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        rec["loss"].append(float(loss.detach()))
        rec["train_acc"].append(float((logits.argmax(1) == y_train[idx]).float().mean()))
        if not np.isfinite(rec["loss"][-1]):
            break
        if probing:  # ... and just after it
            (sa, sb), za = _same_noise(probe, pa, pb, probe_gen, keep_a=True)
            rec["shift"].append(_w1_over_std(before[0], sa))
            rec["shift_b"].append(_w1_over_std(before[1], sb))
            rec["floor"].append(_w1_over_std(sa, sb))
            rec["pct"].append(torch.quantile(za[:, :shown], levels, dim=0).numpy())
    _, rec["test_acc"] = evaluate(model, data.x_test, data.y_test)
    return rec


def run_noisy_bn(
    seed: int = 0,
    lr: dict[str, float] | None = None,
    depth: int = 4,
    width: int = 128,
    steps: int = 200,
    batch_size: int = 128,
    noise: float = NOISE,
    layer: int = 3,
    shown: int = 4,
    every: int = 5,
    arms: Sequence[str] = ARMS,
    data: MnistTensors | None = None,
) -> NoisyBNResult:
    """Train the standard, BN and noisy-BN MLPs and measure their layer-input shift.

    Parameters
    ----------
    seed : int
        Seeds weights, batches and noise (every arm gets the same weights and batches).
    lr : dict of str to float, optional
        Each arm's SGD learning rate (momentum 0.9); default 0.05 for every arm.
    depth, width, steps, batch_size : int
    noise : float
        ``n`` of :class:`NoisyBatchNorm1d`.
    layer : int
        Record the input of this ReLU (1-based).
    shown : int
        Keep the percentiles of this many units (for the plot).
    arms : sequence of str
        A subset of :data:`ARMS`.
    data : MnistTensors, optional
        Default: the standardized 4,000 / 1,000 split.

    Returns
    -------
    NoisyBNResult

    Notes
    -----
    About 3 s per arm on one idle core.
    """
    fast_torch()
    if not 1 <= layer <= depth:
        raise ValueError(f"layer must be between 1 and depth={depth}, got {layer}")
    unknown = set(arms) - set(ARMS)
    if unknown:
        raise ValueError(f"unknown arms {sorted(unknown)}; choose from {list(ARMS)}")
    lr = {arm: 0.05 for arm in arms} if lr is None else dict(lr)
    data = mnist_tensors() if data is None else data
    result = NoisyBNResult(lr={a: float(lr[a]) for a in arms}, layer=layer,
                           probe_steps=list(range(1, steps + 1, every)))  # fmt: skip
    for arm in arms:
        rec = _train_arm(
            arm, seed, lr[arm], data, depth=depth, width=width, steps=steps,
            batch_size=batch_size, noise=noise, layer=layer, shown=shown, every=every,
        )  # fmt: skip
        diverged = len(rec["loss"]) < steps
        result.test_acc[arm] = 0.0 if diverged else rec["test_acc"]
        result.train_acc[arm] = np.array(rec["train_acc"])
        result.loss[arm] = np.array(rec["loss"])
        result.shift[arm] = np.array(rec["shift"])
        result.shift_b[arm] = np.array(rec["shift_b"])
        result.floor[arm] = np.array(rec["floor"])
        result.percentiles[arm] = np.stack(rec["pct"])
    return result


def tune_noisy_bn(
    lrs: Sequence[float] = LR_GRID, seeds: Sequence[int] = (1000,), **kwargs
) -> dict[str, dict[float, float]]:
    """Final training accuracy (:meth:`NoisyBNResult.final_train_acc`) per arm and rate.

    The outcome the claims use, on tuning seeds disjoint from the reported ones and on the
    first 3,000 training digits only (the probes use the other 1,000; never the test set).
    """
    d = mnist_tensors()
    val = MnistTensors(d.x_train[:3000], d.y_train[:3000], d.x_train[3000:], d.y_train[3000:])
    out: dict[str, dict[float, float]] = {arm: {} for arm in ARMS}
    for lr in lrs:
        runs = [run_noisy_bn(s, {a: lr for a in ARMS}, data=val, **kwargs) for s in seeds]
        for arm in ARMS:
            out[arm][float(lr)] = float(np.mean([r.final_train_acc(arm) for r in runs]))
    return out


def plot_noisy_bn(result: NoisyBNResult, ax=None, unit: int = 0):
    """(a) training accuracy; (b) one unit's 15/50/85th percentiles every step; (c) shift.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = new_axes(ax, ncols=3, width=3.6)
    a, b, c = axes
    for arm in result.test_acc:
        acc = np.convolve(result.train_acc[arm], np.ones(20) / 20, mode="valid")
        a.plot(np.arange(20, len(acc) + 20), acc, label=f"{arm}: {result.final_train_acc(arm):.3f}")
        p = result.percentiles[arm][:, :, unit]  # (probes, 3)
        t = result.probe_steps[: p.shape[0]]
        (line,) = b.plot(t, p[:, 1], lw=0.8, label=arm)
        b.fill_between(t, p[:, 0], p[:, 2], color=line.get_color(), alpha=0.2)
        c.plot(result.probe_steps[: len(result.shift[arm])], result.shift[arm], lw=0.8,
               color=line.get_color(), label=arm)  # fmt: skip
    a.set(xlabel="step", ylabel="training accuracy (20-step mean)", ylim=(0, 1),
          title="(a) training")  # fmt: skip
    b.set(xlabel="step", ylabel=f"ReLU {result.layer} input, unit {unit}",
          title="(b) 15/50/85th percentiles")  # fmt: skip
    c.set(xlabel="step", ylabel="W1 / std over one step", title="(c) distribution shift",
          yscale="log")  # fmt: skip
    a.legend(fontsize="small")
    c.legend(fontsize="small")
    return fig


# --------------------------------------------------------------------------------- ICS


def ics(grad_before: Sequence[torch.Tensor], grad_after: Sequence[torch.Tensor]):
    """Santurkar et al.'s Definition 2.1 measures of two gradients: ``(l2, cosine)``.

    Each list of tensors is flattened and concatenated into one vector, ``G`` and ``G'``;
    ``l2 = ||G - G'||`` and ``cosine = <G, G'> / (||G|| ||G'||)``, as Python floats (computed
    in float64). The reference for the exercise ``bn02_covariate_shift``.

    Raises
    ------
    ValueError
        If the two lists hold different numbers of entries, or either gradient is all zeros
        (the cosine is undefined).
    """
    g = torch.cat([t.detach().reshape(-1).double() for t in grad_before])
    h = torch.cat([t.detach().reshape(-1).double() for t in grad_after])
    if g.shape != h.shape:
        raise ValueError(f"the gradients have {g.numel()} and {h.numel()} entries")
    ng, nh = float(g.norm()), float(h.norm())
    if ng == 0 or nh == 0:
        raise ValueError("a gradient is all zeros: the cosine is undefined")
    return float((g - h).norm()), float(g @ h) / (ng * nh)


def gradient_shift(
    model: nn.Sequential,
    loss_fn: Callable,
    x: torch.Tensor,
    y: torch.Tensor,
    layer: nn.Module,
    lr: float,
):
    """Definition 2.1 for ``layer``: ``ics`` of its weight gradient before and after the
    modules before it take one plain SGD step ``p -= lr * dL/dp``; returns ``(l2, cosine)``.

    The loss is ``loss_fn(model(x), y)`` in the model's current mode. ``layer`` and the
    modules after it are not stepped. The model is left as it was (parameters, buffers,
    ``.grad``, ``requires_grad``, mode). The reference for the exercise.
    """
    mods = list(model)
    idx = next((i for i, m in enumerate(mods) if m is layer), None)
    if idx is None:
        raise ValueError("layer is not one of model's modules")
    earlier = [p for m in mods[:idx] for p in m.parameters()]
    state = _save(model)
    try:
        params = [layer.weight, *earlier]
        grads = torch.autograd.grad(loss_fn(model(x), y), params, allow_unused=True)
        g_before = grads[0]
        with torch.no_grad():
            for p, g in zip(earlier, grads[1:], strict=True):
                if g is not None:
                    p.sub_(lr * g)
        (g_after,) = torch.autograd.grad(loss_fn(model(x), y), [layer.weight])
        return ics([g_before], [g_after])
    finally:
        _restore(model, state)


@dataclass
class ICSResult:
    """Definition 2.1 measured during training of the standard and the BN net (one seed).

    Attributes
    ----------
    steps : list of int
    l2, cosine : dict of str to ndarray, shape (len(steps),)
    test_acc : dict of str to list of float
    layer : int
        The Linear layer measured (0-based).
    lr : float
    """

    steps: list[int]
    l2: dict[str, np.ndarray] = field(default_factory=dict)
    cosine: dict[str, np.ndarray] = field(default_factory=dict)
    test_acc: dict[str, list[float]] = field(default_factory=dict)
    layer: int = 3
    lr: float = 0.05


# ---------------------------------------------------------- probing during training


@dataclass
class _ProbeBatches:
    """Draws the probes' batches from their own generator (not the training batches')."""

    x: torch.Tensor
    y: torch.Tensor
    rng: np.random.Generator
    n: int

    def draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.from_numpy(self.rng.choice(self.x.shape[0], self.n, replace=False))
        return self.x[idx], self.y[idx]


def _probed_training(
    seed: int,
    probe: Callable[[nn.Sequential, torch.Tensor, torch.Tensor], dict],
    *,
    depth: int,
    width: int,
    lr: float,
    steps: int,
    every: int,
    batch_size: int,
) -> dict[str, tuple[list[int], list[float], dict[str, list]]]:
    """Train each of :data:`NETS` with plain SGD, calling ``probe(model, x, y)`` every
    ``every`` steps (and at step 0) on a fresh batch, in training mode; undo whatever the
    probe changed.

    Returns ``{name: (steps, test_acc, extra)}`` with ``extra[key]`` the probe's values.
    """
    data = mnist_tensors()
    out = {}
    for name, bn in NETS.items():
        gen, _ = seeded(seed)
        batches = _ProbeBatches(
            data.x_train, data.y_train, np.random.default_rng(seed + 1), batch_size
        )
        model = mlp(_widths(depth, width), "relu", bn=bn, generator=gen)

        def record(model, _step, batches=batches):
            state = _save(model)
            model.train()
            try:
                return probe(model, *batches.draw())
            finally:
                _restore(model, state)

        hist = train(
            model, data, steps=steps, lr=lr, momentum=0.0, batch_size=batch_size,
            eval_every=every, eval_at_start=True, generator=gen, record=record,
        )  # fmt: skip
        out[name] = (hist.steps, hist.test_acc, hist.extra)
    return out


def run_ics(
    seed: int = 0,
    layer: int = 3,
    lr: float = 0.05,
    steps: int = 200,
    every: int = 20,
    depth: int = 6,
    width: int = 128,
    batch_size: int = 128,
) -> ICSResult:
    """Measure internal covariate shift (Definition 2.1) with and without BN.

    Both nets are trained with plain SGD at ``lr``; every ``every`` steps (and at step 0)
    :func:`gradient_shift` is applied to a fresh batch with the same ``lr``.

    Parameters
    ----------
    seed : int
    layer : int
        Linear layer whose weight gradient is compared (0-based; 3 = the fourth).
        ``layer=0`` has no earlier layers, so ``G' = G`` exactly.
    lr : float
        Training learning rate and the earlier layers' step in the definition.
    steps, every, depth, width, batch_size : int

    Returns
    -------
    ICSResult

    Notes
    -----
    The paper's direction (BN nets have as much or more ICS) did not reproduce here. About
    3 s for both nets.
    """
    fast_torch()
    loss_fn = nn.functional.cross_entropy

    def probe(model, x, y):
        linear = [m for m in model if isinstance(m, nn.Linear)][layer]
        l2, cos = gradient_shift(model, loss_fn, x, y, linear, lr)
        return {"l2": l2, "cos": cos}

    runs = _probed_training(
        seed, probe, depth=depth, width=width, lr=lr, steps=steps, every=every,
        batch_size=batch_size,
    )  # fmt: skip
    result = ICSResult(steps=runs["standard"][0], layer=layer, lr=lr)
    for name, (_, acc, extra) in runs.items():
        result.test_acc[name] = acc
        result.l2[name] = np.array(extra["l2"])
        result.cosine[name] = np.array(extra["cos"])
    return result


def plot_ics(result: ICSResult, ax=None):
    """(a) ``||G - G'||`` and (b) ``cos(G, G')`` over training, like the paper's Fig. 3.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = new_axes(ax, ncols=2, width=4.2)
    a, b = axes
    for name in result.l2:
        a.plot(result.steps, result.l2[name], marker="o", label=name)
        b.plot(result.steps, result.cosine[name], marker="o", label=name)
    a.set(xlabel="step", ylabel="||G - G'||", title=f"(a) l2 difference, layer {result.layer + 1}")
    b.set(xlabel="step", ylabel="cos(G, G')", title="(b) cosine (1 = no shift)", ylim=(-1.05, 1.05))
    a.legend()
    return fig


# ------------------------------------------------------------------------ full runs


def _ci(values) -> list[float]:
    return [round(v, 5) for v in mean_ci(values)]


def _noisy_payload(tuning, best, per_seed, shown, seconds) -> dict:
    acc = {a: [s["train_acc"][a] for s in per_seed] for a in ARMS}
    test = {a: [s["test_acc"][a] for s in per_seed] for a in ARMS}
    shift = {a: [s["shift"][a] for s in per_seed] for a in ARMS}
    summary = {}
    if len(per_seed) >= 2:
        summary = {
            "train_acc_ci": {a: _ci(acc[a]) for a in ARMS},
            "test_acc_ci": {a: _ci(test[a]) for a in ARMS},
            "test_noisy_minus_bn_ci": _ci(np.subtract(test["noisy BN"], test["BN"])),
            "noisy_minus_bn_ci": _ci(np.subtract(acc["noisy BN"], acc["BN"])),
            "noisy_minus_standard_ci": _ci(np.subtract(acc["noisy BN"], acc["standard"])),
            "bn_minus_standard_ci": _ci(np.subtract(acc["BN"], acc["standard"])),
            "shift_ci": {a: _ci(shift[a]) for a in ARMS},
            "shift_ratio_noisy_standard_ci": _ci(np.divide(shift["noisy BN"], shift["standard"])),
            "floor_ci": {a: _ci([s["floor"][a] for s in per_seed]) for a in ARMS},
            "probe_ab_abs_diff_ci": {
                a: _ci([abs(s["shift"][a] - s["shift_b"][a]) for s in per_seed]) for a in ARMS
            },
        }
    return {
        "experiment": "ch2_santurkar_noisy",
        "claims": CLAIMS,
        "seconds": round(seconds, 1),
        "lr_grid": list(LR_GRID),
        "tuning_val_acc": {a: {str(k): v for k, v in t.items()} for a, t in tuning.items()},
        "lr": best,
        "noise": NOISE,
        "per_seed": per_seed,
        "summary": summary,
        "seed0": shown,
    }


def run_all_noisy(seeds: int = 20, save: str | None = None, tuning: dict | None = None) -> dict:
    """The full noisy-BN runs behind the chapter (``make experiments``): JSON-ready dict.

    With ``save``, the results so far are written to ``results/<save>.json`` after every
    seed (a long run that is stopped keeps what it did). ``tuning`` (arm -> {lr: accuracy})
    reuses an earlier tuning run instead of repeating it.
    """
    start = time.perf_counter()
    tuning = tune_noisy_bn() if tuning is None else tuning
    best = {arm: max(acc, key=acc.get) for arm, acc in tuning.items()}
    print(f"tuned in {time.perf_counter() - start:.0f} s: {best}", flush=True)
    per_seed = []
    shown = None
    for seed in range(seeds):
        r = run_noisy_bn(seed, best)
        print(f"noisy BN seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
        per_seed.append({
            "seed": seed,
            "train_acc": {a: r.final_train_acc(a) for a in ARMS},
            "test_acc": {a: round(v, 4) for a, v in r.test_acc.items()},
            "shift": {a: r.mean_shift(a) for a in ARMS},
            "shift_b": {a: r.mean_shift(a, "B") for a in ARMS},
            "floor": {a: r.mean_floor(a) for a in ARMS},
        })  # fmt: skip
        if shown is None:
            shown = {
                "train_acc": {a: np.round(v, 4).tolist() for a, v in r.train_acc.items()},
                "percentiles": {
                    a: np.round(p[:, :, 0], 4).tolist() for a, p in r.percentiles.items()
                },
                "probe_steps": r.probe_steps,
                "shift": {a: np.round(v, 5).tolist() for a, v in r.shift.items()},
                "floor": {a: np.round(v, 5).tolist() for a, v in r.floor.items()},
            }  # fmt: skip
        if save:
            payload = _noisy_payload(tuning, best, per_seed, shown, time.perf_counter() - start)
            save_results(save, payload)
    return _noisy_payload(tuning, best, per_seed, shown, time.perf_counter() - start)


def run_all_ics(seeds: int = 10) -> dict:
    """The full ICS runs behind the chapter (``make experiments``): JSON-ready dict."""
    start = time.perf_counter()
    ics_rows = []
    for seed in range(seeds):
        r = run_ics(seed)
        ics_rows.append({
            "seed": seed,
            "median_cosine": {n: float(np.median(r.cosine[n])) for n in NETS},
            "median_l2": {n: float(np.median(r.l2[n])) for n in NETS},
            "cosine": {n: np.round(r.cosine[n], 4).tolist() for n in NETS},
            "l2": {n: np.round(r.l2[n], 5).tolist() for n in NETS},
            "final_acc": {n: r.test_acc[n][-1] for n in NETS},
        })  # fmt: skip
    cos = {n: [row["median_cosine"][n] for row in ics_rows] for n in NETS}
    l2 = {n: [row["median_l2"][n] for row in ics_rows] for n in NETS}
    return {
        "experiment": "ch2_santurkar_ics",
        "claims": CLAIMS,
        "seconds": round(time.perf_counter() - start, 1),
        "steps": r.steps,
        "lr": r.lr,
        "layer": r.layer,
        "per_seed": ics_rows,
        "summary": {
            "median_cosine_ci": {n: _ci(cos[n]) for n in NETS},
            "cosine_bn_minus_standard_ci": _ci(np.subtract(cos["BN"], cos["standard"])),
            "l2_ratio_standard_over_bn_ci": _ci(np.divide(l2["standard"], l2["BN"])),
        },
    }


EXPERIMENTS = {
    "Santurkar noisy BN (Sec. 2.1)": run_noisy_bn,
    "Santurkar ICS (Def. 2.1)": run_ics,
}

if __name__ == "__main__":  # make experiments; or: python -m ... {noisy,ics} [seeds]
    parts = sys.argv[1:2] or ["noisy", "ics"]
    for part in parts:
        n = int(sys.argv[2]) if len(sys.argv) > 2 else CLAIMS[f"seeds_{part}"]
        name = f"ch2_santurkar_{part}"
        result = run_all_noisy(n, save=name) if part == "noisy" else run_all_ics(n)
        print(save_results(name, result))
