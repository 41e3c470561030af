"""Chapter 3 (BN mechanics): the measurements behind the chapter's claims, over many seeds.

NumPy only (``bnref.numpy``); every function takes seeds and returns plain numbers, so the
chapter shows one seed and the ledger (``book/claims/ch3.yml``) reports all of them.

* :func:`run_identity` -- gamma = sqrt(var + eps), beta = mu gives the identity on the batch
  whose statistics they were taken from, and only there (:func:`identity_on_other_batches`).
* :func:`run_constant_channel` -- with eps a constant channel comes out as beta; without, NaN.
* :func:`run_eps_scale` -- BN's output is invariant to the scale of its input only while
  the input's variance is large against eps (output std sqrt(a^2 s^2 / (a^2 s^2 + eps))).
* :func:`run_bias` -- a bias before BN changes no output and receives zero gradient.
* :func:`run_backward` -- the compact backward pass against centred differences.
* :func:`run_depth` -- a 10-layer tanh MLP at initialization, with and without BN, over
  weight gains: BN makes the layers' distributions nearly independent of the gain while
  eps is small against the pre-BN variance (measured: gains >= 0.25), and not below.
* :func:`run_folding` -- a folded linear + BN equals evaluation-mode BN, not training mode.
* :func:`plot_depth` -- the histograms of tanh outputs by layer (house style).

Book section: chapter 3, ``bn-mechanics``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import bnref.numpy as bn
from bnref.data import load_mnist

__all__ = [
    "SEEDS",
    "GAINS",
    "PLAIN_GAINS",
    "EPS",
    "run_identity",
    "run_constant_channel",
    "run_eps_scale",
    "run_bias",
    "rel_error",
    "rel_error_elementwise",
    "run_backward",
    "tanh_net",
    "DepthResult",
    "run_depth",
    "run_folding",
    "plot_depth",
]

#: The seeds every claim of the chapter is measured on.
SEEDS = tuple(range(10))
#: Weight gains of the depth experiment: tiny (eps dominates) to large (saturating tanh).
GAINS = (0.001, 0.01, 0.25, 0.5, 1.0, 5 / 3, 3.0)
#: The gains the plain (no BN) nets are run at: small, good for tanh, large.
PLAIN_GAINS = (0.25, 0.5, 1.0, 5 / 3, 3.0)
EPS = 1e-5


def _digits(n: int, seed: int) -> np.ndarray:
    """``n`` training digits drawn with ``seed``, float64 in [0, 1]: (n, 784)."""
    x, _ = load_mnist("train")
    idx = np.random.default_rng(seed).choice(len(x), size=n, replace=False)
    return x[idx].astype(np.float64)


def _layer(x: np.ndarray, c: int, rng: np.random.Generator) -> np.ndarray:
    """Pre-activations of a random linear layer with a bias: (N, c)."""
    w = rng.normal(0.0, 1.0 / np.sqrt(x.shape[1]), size=(x.shape[1], c))
    return x @ w + rng.normal(0.0, 1.0, size=c)


def _seeds(seeds: Sequence[int]) -> list[int]:
    seeds = list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of non-negative ints, got {seeds!r}")
    return seeds


def run_identity(seeds: Sequence[int] = SEEDS, n: int = 256) -> dict[str, np.ndarray]:
    """BN with gamma = sqrt(var + eps), beta = mu: identity on its own batch, not on others.

    Returns ``{"own": max |BN(x) - x| on the batch the statistics came from, "other": the
    same on a second batch, relative to that batch's std, "population": max |BN(x) - x| in
    evaluation mode with the population (all 4,000 digits') statistics}``, one per seed.
    """
    own, other, population = [], [], []
    x_all, _ = load_mnist("train")
    for seed in _seeds(seeds):
        rng = np.random.default_rng(seed)
        w = rng.normal(0.0, 1.0 / np.sqrt(784), size=(784, 8))
        h_all = x_all.astype(np.float64) @ w  # (4000, 8)
        a, b = np.split(h_all[rng.choice(len(h_all), 2 * n, replace=False)], 2)
        g, beta = np.sqrt(a.var(0) + EPS), a.mean(0)
        own.append(np.abs(bn.batchnorm_forward(a, g, beta, eps=EPS)[0] - a).max())
        out_b = bn.batchnorm_forward(b, g, beta, eps=EPS)[0]
        other.append((np.abs(out_b - b) / b.std(0)).max())
        mu_p, var_p = h_all.mean(0), h_all.var(0)
        out_p = bn.batch_norm(b, mu_p, var_p, np.sqrt(var_p + EPS), mu_p, training=False, eps=EPS)
        population.append(np.abs(out_p - b).max())
    return {"own": np.array(own), "other": np.array(other), "population": np.array(population)}


def run_constant_channel(seeds: Sequence[int] = SEEDS, n: int = 256) -> dict[str, np.ndarray]:
    """Raw pixels as channels: constant ones give NaN without eps and exactly beta with it.

    Returns ``{"n_constant", "nan_without_eps", "nan_with_eps", "max_dev_from_beta"}`` per
    seed (``beta`` random per channel).
    """
    out = {k: [] for k in ("n_constant", "nan_without_eps", "nan_with_eps", "max_dev_from_beta")}
    for seed in _seeds(seeds):
        x = _digits(n, seed)
        rng = np.random.default_rng(seed)
        gamma, beta = rng.uniform(0.5, 2.0, 784), rng.normal(0.0, 1.0, 784)
        constant = x.var(0) == 0
        with np.errstate(divide="ignore", invalid="ignore"):  # bnref refuses eps = 0
            no_eps = (x - x.mean(0)) / x.std(0) * gamma + beta
        with_eps = bn.batchnorm_forward(x, gamma, beta, eps=EPS)[0]
        out["n_constant"].append(constant.sum())
        out["nan_without_eps"].append(np.isnan(no_eps).any(0).sum())
        out["nan_with_eps"].append(np.isnan(with_eps).any(0).sum())
        out["max_dev_from_beta"].append(np.abs(with_eps[:, constant] - beta[constant]).max())
    return {k: np.array(v) for k, v in out.items()}


def run_eps_scale(
    seeds: Sequence[int] = SEEDS, scales: Sequence[float] = tuple(np.logspace(-4, 1, 11))
) -> dict[str, np.ndarray]:
    """Scale a layer's weights by ``a``: BN's output std is sqrt(a^2 s^2 / (a^2 s^2 + eps)).

    Returns ``scales``, ``out_std`` (seeds, scales): the mean over 8 channels of the output
    std, ``predicted`` (seeds, scales) from the formula, and ``change`` (seeds, scales): max
    |BN(a x W) - BN(x W)| relative to the output at scale 1 -- zero if BN were scale invariant.
    """
    scales = np.asarray(scales, dtype=np.float64)
    out_std, predicted, change = [], [], []
    for seed in _seeds(seeds):
        rng = np.random.default_rng(seed)
        x = _digits(256, seed)
        w = rng.normal(0.0, 1.0 / np.sqrt(784), size=(784, 8))
        ref = bn.batchnorm_forward(x @ w, np.ones(8), np.zeros(8), eps=EPS)[0]
        s2 = (x @ w).var(0)  # (8,)
        row_std, row_pred, row_change = [], [], []
        for a in scales:
            y = bn.batchnorm_forward(x @ (a * w), np.ones(8), np.zeros(8), eps=EPS)[0]
            row_std.append(y.std(0).mean())
            row_pred.append(np.sqrt(a**2 * s2 / (a**2 * s2 + EPS)).mean())
            row_change.append(np.abs(y - ref).max() / np.abs(ref).max())
        out_std.append(row_std)
        predicted.append(row_pred)
        change.append(row_change)
    return {
        "scales": scales,
        "out_std": np.array(out_std),
        "predicted": np.array(predicted),
        "change": np.array(change),
    }


def run_bias(seeds: Sequence[int] = SEEDS) -> dict[str, np.ndarray]:
    """max |BN(xW + b) - BN(xW)| and max |dL/db| (random upstream gradient), per seed."""
    diff, grad = [], []
    for seed in _seeds(seeds):
        rng = np.random.default_rng(seed)
        x = _digits(256, seed)
        w = rng.normal(0.0, 1.0 / np.sqrt(784), size=(784, 4))
        b = rng.normal(0.0, 3.0, size=4)
        gamma, beta = rng.uniform(0.5, 2.0, 4), rng.normal(0.0, 1.0, 4)
        with_b, cache = bn.batchnorm_forward(x @ w + b, gamma, beta)
        without = bn.batchnorm_forward(x @ w, gamma, beta)[0]
        dh = bn.batchnorm_backward(rng.standard_normal(with_b.shape), cache)[0]
        diff.append(np.abs(with_b - without).max())
        grad.append(np.abs(dh.sum(0)).max())
    return {"output_change": np.array(diff), "bias_gradient": np.array(grad)}


def _numerical_gradient(f, a: np.ndarray, h: float = 1e-5) -> np.ndarray:
    grad = np.zeros_like(a)
    for k in np.ndindex(a.shape):
        old = a[k]
        a[k] = old + h
        up = f()
        a[k] = old - h
        down = f()
        a[k] = old
        grad[k] = (up - down) / (2 * h)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Normwise relative error: max |a - b| / (max |a| + max |b|).

    Centred differences with step h have an absolute error of about
    ``eps_machine * |L| / h`` (rounding) plus a term of order ``h**2`` (truncation), both
    small against the *largest* gradient entry. An elementwise ratio divides that same
    absolute error by entries near zero (dx sums to zero over the batch, so some are).
    """
    scale = np.abs(a).max() + np.abs(b).max()
    return float(np.abs(a - b).max() / scale) if scale > 0 else 0.0


def rel_error_elementwise(a: np.ndarray, b: np.ndarray) -> float:
    """max_i |a_i - b_i| / max(1e-8, |a_i| + |b_i|), CS231n's check: large for tiny entries."""
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def run_backward(seeds: Sequence[int] = SEEDS, shape: tuple[int, int] = (8, 5)) -> dict:
    """Compact backward pass vs centred differences (h = 1e-5, float64), per seed.

    Returns ``rel_dx``, ``rel_dgamma``, ``rel_dbeta`` (normwise relative error,
    :func:`rel_error`), ``rel_dx_elementwise`` (:func:`rel_error_elementwise`),
    ``rel_graph`` (compact vs staged backward), ``dx_sum`` (max |sum over the batch of dx|)
    and ``dx_const`` (max |dx| for an all-ones upstream gradient).
    """
    keys = ("rel_dx", "rel_dx_elementwise", "rel_dgamma", "rel_dbeta", "rel_graph")
    keys += ("dx_sum", "dx_const")
    out = {k: [] for k in keys}
    for seed in _seeds(seeds):
        rng = np.random.default_rng(seed)
        x = 5 * rng.standard_normal(shape) + 12
        g, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
        dout = rng.standard_normal(shape)

        def loss(x=x, g=g, b=b, dout=dout):
            return np.sum(dout * bn.batchnorm_forward(x, g, b)[0])

        _, cache = bn.batchnorm_forward(x, g, b)
        dx, dg, db = bn.batchnorm_backward(dout, cache)
        num_dx = _numerical_gradient(loss, x)
        out["rel_dx"].append(rel_error(dx, num_dx))
        out["rel_dx_elementwise"].append(rel_error_elementwise(dx, num_dx))
        out["rel_dgamma"].append(rel_error(dg, _numerical_gradient(loss, g)))
        out["rel_dbeta"].append(rel_error(db, _numerical_gradient(loss, b)))
        out["rel_graph"].append(rel_error(dx, bn.batchnorm_backward_graph(dout, cache)[0]))
        out["dx_sum"].append(np.abs(dx.sum(0)).max())
        out["dx_const"].append(np.abs(bn.batchnorm_backward(np.ones(shape), cache)[0]).max())
    return {k: np.array(v) for k, v in out.items()}


def tanh_net(
    x: np.ndarray, gain: float, use_bn: bool, depth: int = 10, width: int = 256, seed: int = 0
) -> list[np.ndarray]:
    """tanh outputs of every layer of a fresh MLP (float32): a list of ``depth`` (N, width).

    Weights are Gaussian with std ``gain / sqrt(fan_in)``; with ``use_bn`` each layer's
    pre-activations go through training-mode BN (batch statistics, gamma 1, beta 0, eps 1e-5).
    """
    weights = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float32)
    acts = []
    for _ in range(depth):
        w = weights.standard_normal((x.shape[1], width), dtype=np.float32)
        a = x @ (w * np.float32(gain / np.sqrt(x.shape[1])))  # (N, width)
        if use_bn:
            a = bn.batch_norm(a, None, None, training=True, eps=EPS)
        x = np.tanh(a)
        acts.append(x)
    return acts


@dataclass
class DepthResult:
    """Per (use_bn, gain): arrays over seeds of per-layer tanh-output stds and saturation.

    ``std[use_bn, gain]``: (seeds, depth). ``saturated[use_bn, gain]``: (seeds,), fraction of
    layer-``depth`` outputs with |tanh| > 0.97. ``gap[gain]``: (seeds,), max |a - b| over all
    layers between the BN net at ``gain`` and the BN net at gain 1 (same weights).
    """

    gains: tuple[float, ...]
    seeds: list[int]
    std: dict
    saturated: dict
    gap: dict


def run_depth(
    seeds: Sequence[int] = SEEDS,
    gains: Sequence[float] = GAINS,
    n: int = 500,
    plain_gains: Sequence[float] = PLAIN_GAINS,
):
    """The depth experiment of chapter 3 over seeds (each seed: other digits, other weights).

    BN nets at every gain of ``gains`` (1.0 must be among them: the reference), plain nets
    at ``plain_gains``; ``n`` digits per seed.
    """
    if 1.0 not in gains:
        raise ValueError(f"gains must include 1.0 (the reference), got {gains!r}")
    seeds = _seeds(seeds)
    x_train, _ = load_mnist("train")
    mu, sd = x_train.mean(), x_train.std()
    std, saturated, gap = {}, {}, {g: [] for g in gains}
    for seed in seeds:
        x = (_digits(n, seed) - mu) / sd
        ref = tanh_net(x, 1.0, True, seed=seed)
        for use_bn, these in ((False, plain_gains), (True, gains)):
            for g in these:
                acts = ref if (use_bn and g == 1.0) else tanh_net(x, g, use_bn, seed=seed)
                std.setdefault((use_bn, g), []).append([a.std() for a in acts])
                saturated.setdefault((use_bn, g), []).append(np.mean(np.abs(acts[-1]) > 0.97))
                if use_bn:
                    gap[g].append(
                        max(float(np.abs(p - q).max()) for p, q in zip(acts, ref, strict=True))
                    )
    as_arrays = lambda d: {k: np.array(v) for k, v in d.items()}  # noqa: E731
    return DepthResult(tuple(gains), seeds, as_arrays(std), as_arrays(saturated), as_arrays(gap))


def run_folding(seeds: Sequence[int] = SEEDS) -> dict[str, np.ndarray]:
    """Folded linear + BN vs eval-mode BN and vs training-mode BN (max abs difference)."""
    x_train, _ = load_mnist("train")
    x_test, _ = load_mnist("test")
    out = {"vs_eval": [], "vs_train": []}
    for seed in _seeds(seeds):
        rng = np.random.default_rng(seed)
        w = rng.normal(0, 1 / np.sqrt(784), size=(32, 784))
        b = rng.normal(0, 0.1, size=32)
        gamma, beta = rng.uniform(0.5, 2, 32), rng.normal(0, 1, 32)
        rm, rv = np.zeros(32), np.ones(32)
        order = rng.permutation(len(x_train))[:2560]
        for batch in np.split(x_train[order].astype(np.float64), 20):
            bn.batch_norm(batch @ w.T + b, rm, rv, gamma, beta, training=True, momentum=0.1)
        wf, bf = bn.fold_batch_norm(w, b, rm, rv, gamma, beta)
        xt = x_test[rng.permutation(len(x_test))[:200]].astype(np.float64)
        folded = xt @ wf.T + bf
        ev = bn.batch_norm(xt @ w.T + b, rm, rv, gamma, beta, training=False)
        tr = bn.batch_norm(xt @ w.T + b, None, None, gamma, beta, training=True)
        out["vs_eval"].append(np.abs(folded - ev).max())
        out["vs_train"].append(np.abs(folded - tr).max())
    return {k: np.array(v) for k, v in out.items()}


def plot_depth(acts: list[np.ndarray], title: str, ax=None, legend: str | None = None):
    """Histograms (log density) of each layer's tanh outputs, coloured by depth.

    ``legend``: where to put the legend of layers 1, 5 and the last (a matplotlib ``loc``
    such as ``"lower center"``), or None for none.
    """
    from bncourse import plotting

    fig, ax = plotting.figure(ax)
    colors = __import__("matplotlib").colormaps["viridis"](np.linspace(0, 0.9, len(acts)))
    for layer, (a, color) in enumerate(zip(acts, colors, strict=True), start=1):
        counts, edges = np.histogram(a, bins=np.linspace(-1, 1, 61), density=True)
        label = f"layer {layer}" if layer in (1, 5, len(acts)) else None
        ax.stairs(counts, edges, color=color, lw=1.2, ls="-", label=label)
    ax.set(title=title, xlabel="tanh output", yscale="log", ylim=(1e-2, 1e2))
    ax.minorticks_off()
    if legend:
        ax.legend(loc=legend)
    return fig
