"""Batch Normalization in NumPy: the reference the course checks everything against.

Two layers of API live here.

* :func:`batch_norm` has exactly the semantics of ``torch.nn.functional.batch_norm``
  on NumPy arrays (2-D to 5-D input, training and evaluation mode, running
  statistics updated in place), plus channels-last input and optional checks.
* The teaching pair used by the exercises, in the CS231n functional style
  ``forward(x, ...) -> (out, cache)`` and ``backward(dout, cache) -> (dx, ...)``:
  :func:`batchnorm_forward`, :func:`batchnorm_backward`,
  :func:`batchnorm_backward_graph`, :func:`spatial_batchnorm_forward` and
  :func:`spatial_batchnorm_backward`.

Also: :func:`fold_batch_norm` (fold an inference-mode BN into the preceding
linear or conv weights) and :func:`convert_momentum` (move between momentum
conventions explicitly).

Conventions
-----------
Stated once here; the book's notation page (section ``notation-conventions``) repeats them.

* Statistics are taken over every axis except the channel axis: axis 1, or the
  last axis when ``channel_axis=-1`` is passed explicitly (Keras' ``axis=-1``).
* The batch is normalized with the *biased* variance (divide by ``n``, the number
  of values per channel); ``running_var`` is updated with the *unbiased*
  variance (divide by ``n - 1``), as PyTorch does.
* ``eps`` is added inside the square root: ``x_hat = (x - mu) / sqrt(var + eps)``.
* ``momentum`` follows PyTorch and weights the NEW value:
  ``running = (1 - momentum) * running + momentum * batch``, ``momentum = 0.1``.
  Keras (0.99) and CS231n (0.9) weight the OLD value; use :func:`convert_momentum`.
* Training mode is always an explicit argument.

This module imports NumPy only; it never imports torch.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

__all__ = [
    "BatchNormCache",
    "SpatialBatchNormCache",
    "batch_norm",
    "batchnorm_backward",
    "batchnorm_backward_graph",
    "batchnorm_forward",
    "convert_momentum",
    "fold_batch_norm",
    "spatial_batchnorm_backward",
    "spatial_batchnorm_forward",
    "update_running_stats",
]

# Work on blocks of about this many bytes so that a block and its scratch copy stay in
# the L2 cache: each block is read from memory once per pass, the rest happens in cache.
_BLOCK_BYTES = 1 << 19
# Rows (the M values of one sample and channel) at least this long are summed with a
# BLAS dot; shorter ones are summed down the batch, _SUB_ROWS rows at a time.
_DOT_MIN = 128
_SUB_ROWS = 64
# Per-channel operands are spelled out along rows up to this many bytes (see _Spread).
_SPREAD_MAX = 1 << 14
_SUPPORTED = (np.float16, np.float32, np.float64)


# --------------------------------------------------------------------------------------
# checks shared by the public functions
# --------------------------------------------------------------------------------------
def _float_array(a, name: str) -> np.ndarray:
    """``a`` as an ndarray of float16/32/64, or a TypeError naming the dtype."""
    a = np.asarray(a)
    if a.dtype.type not in _SUPPORTED:
        raise TypeError(
            f"{name} must be a floating-point array (float16, float32 or float64), "
            f"got dtype {a.dtype}"
        )
    return a


def _per_channel(
    a, name: str, C: int, *, in_place: bool = False, last_dim: int | None = None
) -> np.ndarray | None:
    """Check a per-channel array (weight, bias, running statistics) of shape (C,).

    ``last_dim``: the input's last dimension when its channels are on axis 1; a
    length that matches it gets a hint about channels-last input.
    """
    if a is None:
        return None
    if in_place and not isinstance(a, np.ndarray):
        raise TypeError(
            f"{name} must be a NumPy array because it is updated in place, got {type(a).__name__}"
        )
    a = _float_array(a, name)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D with one entry per channel, got shape {a.shape}")
    if a.shape[0] != C:
        hint = "; for channels-last input pass channel_axis=-1" if a.shape[0] == last_dim else ""
        raise ValueError(f"{name} has {a.shape[0]} entries but the input has {C} channels{hint}")
    return a


def _real(value, name: str) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def _momentum_eps(momentum, eps, none_hint: str) -> tuple[float, float]:
    """Validate ``momentum`` (PyTorch convention) and ``eps``; shared with bnref.torch."""
    if momentum is None:
        raise TypeError(f"momentum must be a float; momentum=None (cumulative average) {none_hint}")
    momentum, eps = _real(momentum, "momentum"), _real(eps, "eps")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(
            f"momentum must be in [0, 1] (PyTorch convention: the weight of the new value), "
            f"got {momentum}; for Keras/CS231n values use convert_momentum(m, 'keras', 'torch')"
        )
    if not eps >= 0.0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    return momentum, eps


def _check_finite(a: np.ndarray | None, name: str) -> None:
    if a is not None and not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")


# --------------------------------------------------------------------------------------
# batch_norm: torch.nn.functional.batch_norm on arrays
# --------------------------------------------------------------------------------------
def _blocks(A: int, C: int, M: int, itemsize: int):
    """Split (A, C, M) into blocks of about ``_BLOCK_BYTES``: channel groups, then rows.

    Yields ``(channels, [(row_start, row_stop), ...])`` with ``channels`` a slice. Row
    blocks hold a multiple of ``_SUB_ROWS`` rows where they can (see :func:`_sum_rows`).
    """
    group = max(1, min(C, _BLOCK_BYTES // (M * itemsize)))  # channels per block
    rows = max(1, _BLOCK_BYTES // (group * M * itemsize))  # rows per block
    if rows > _SUB_ROWS:
        rows -= rows % _SUB_ROWS
    for c0 in range(0, C, group):
        yield slice(c0, min(c0 + group, C)), [(a0, min(a0 + rows, A)) for a0 in range(0, A, rows)]


class _Spread:
    """Per-channel values laid out as operands for the blocks (k, c, M) of x.

    NumPy's ufuncs run at memory speed when both operands have the same shape, but
    several times slower when one is broadcast along a short inner axis (each short
    row becomes a separate inner loop). So the values are spelled out along M, and
    for short rows also repeated over ``t`` rows of the block: operands (t, c, M) of
    at most ``_SPREAD_MAX`` bytes, applied to the block viewed as (k/t, t, c, M).
    Rows longer than that broadcast values of shape (c, 1).
    """

    def __init__(self, values: list[np.ndarray], M: int):
        c, itemsize = values[0].shape[0], values[0].itemsize
        self.t = 1
        if M * itemsize > _SPREAD_MAX:
            self.ops = [v[:, None] for v in values]  # (c, 1) each
            return
        while self.t < _SUB_ROWS and 2 * self.t * c * M * itemsize <= _SPREAD_MAX:
            self.t *= 2
        self.ops = [np.repeat(v[:, None], M, axis=1) for v in values]  # (c, M) each
        if self.t > 1:
            self.tiled = [np.tile(op, (self.t, 1, 1)) for op in self.ops]  # (t, c, M) each

    def view(self, b: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """The block ``b`` (k, c, M) and the operands, in matching shapes."""
        k = b.shape[0]
        if self.t > 1 and k % self.t == 0 and b.flags.c_contiguous:
            return b.reshape(k // self.t, self.t, *b.shape[1:]), self.tiled  # (k/t, t, c, M)
        return b, self.ops


def _row_sq(d: np.ndarray) -> np.ndarray:
    """Sum of ``d**2`` along each row (the last axis), (k, c, M) -> (k, c), no temporary."""
    if hasattr(np, "vecdot"):  # NumPy >= 2.0: a BLAS dot per row
        return np.vecdot(d, d)
    return np.einsum("kcm,kcm->kc", d, d)


def _sum_rows(b: np.ndarray, *, square: bool = False) -> np.ndarray:
    """Sum of ``b`` (or of ``b**2``) over the first axis of b (k, c, M), in float64.

    Each partial sum covers at most ``_SUB_ROWS`` rows in b's precision (a batched
    BLAS matrix-vector product, or einsum for the squares); the partial sums are then
    added in float64.
    """
    k, shape = b.shape[0], b.shape[1:]
    n = b[0].size  # c*M
    q = k - k % _SUB_ROWS
    rest = b[q:].reshape(k - q, n)  # (k - q, c*M), fewer than _SUB_ROWS rows
    if square:
        total = np.einsum("kn,kn->n", rest, rest).astype(np.float64)  # (c*M,)
    else:
        total = np.add.reduce(rest, axis=0).astype(np.float64)  # (c*M,)
    if q:
        sub = b[:q].reshape(q // _SUB_ROWS, _SUB_ROWS, n)  # (q/64, 64, c*M)
        if square:
            partial = np.einsum("ikn,ikn->in", sub, sub)  # (q/64, c*M)
        else:
            partial = np.matmul(np.ones(_SUB_ROWS, b.dtype), sub)  # (q/64, c*M)
        total += partial.sum(axis=0, dtype=np.float64)
    return total.reshape(shape)  # (c, M)


def _moments(x3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and sum of squared deviations of ``x3`` (A, C, M), in float64.

    Blocked shifted two-pass: each block is read from memory once and centred on a
    shift, ``d = x - shift``; the sums of d and of d**2, taken while the block is in
    cache, give the block mean ``shift + sum(d) / n`` and the block's sum of squared
    deviations ``sum(d**2) - sum(d)**2 / n`` (corrected two-pass, Chan, Golub and
    LeVeque 1983). That subtraction loses no accuracy while the shift is within one
    standard deviation of the block mean; when it is not, the block is centred again
    on its own mean, which becomes the shift for the next blocks. Blocks are combined
    exactly with the law of total variance. Nothing computes ``E[x**2] - E[x]**2``, so
    a large mean costs no accuracy. Sums run in x's precision over short stretches (a
    BLAS product along long rows, or ``_SUB_ROWS`` rows at a time) and in float64 beyond.
    """
    A, C, M = x3.shape
    dtype = x3.dtype
    ones = np.ones(M, dtype)

    def centred_sums(xb, d, spread):
        """Sums of d = xb - shift and of d**2 over all but the channel axis, float64 (c,)."""
        np.copyto(d, xb)
        dv, (shift_op,) = spread.view(d)
        np.subtract(dv, shift_op, out=dv)
        if M >= _DOT_MIN:  # long rows: BLAS along each row, float64 down the batch
            d_sum = np.matmul(d, ones).sum(axis=0, dtype=np.float64)  # (c,)
            return d_sum, _row_sq(d).sum(axis=0, dtype=np.float64)
        return _sum_rows(d).sum(axis=1), _sum_rows(d, square=True).sum(axis=1)

    plan = list(_blocks(A, C, M, dtype.itemsize))
    row_blocks = plan[0][1]
    counts = np.array([(a1 - a0) * M for a0, a1 in row_blocks], dtype=np.float64)
    means = np.empty((len(row_blocks), C))  # block means, float64
    m2 = np.empty((len(row_blocks), C))  # block sums of squared deviations, float64
    a0, a1 = row_blocks[0]
    scratch = np.empty((a1 - a0, plan[0][0].stop - plan[0][0].start, M), dtype)
    for channels, blocks in plan:
        shift = np.zeros(channels.stop - channels.start, dtype)  # (c,)
        spread = _Spread([shift], M)
        for j, (a0, a1) in enumerate(blocks):
            xb = x3[a0:a1, channels]  # (k, c, M)
            d = scratch[: a1 - a0, : xb.shape[1]]  # (k, c, M)
            d_sum, d_sq = centred_sums(xb, d, spread)
            if np.any(2 * d_sum**2 > counts[j] * d_sq):  # shift more than one std away
                shift = (shift + d_sum / counts[j]).astype(dtype)  # this block's mean
                spread = _Spread([shift], M)
                d_sum, d_sq = centred_sums(xb, d, spread)
            means[j, channels] = shift + d_sum / counts[j]
            m2[j, channels] = d_sq - d_sum**2 / counts[j]  # sum of (x - block mean)**2
    n = counts.sum()
    mean = counts @ means / n  # (C,)
    return mean, m2.sum(axis=0) + counts @ (means - mean) ** 2


def _normalize(x3, out3, mu, scale, shift, out_scale) -> None:
    """``out3 = (x3 - mu) * scale + shift`` per channel, block by block, in place.

    Two steps, ``(x - m) * scale`` with ``m = mu - shift / scale``, when rounding m to
    x's precision moves no output by more than half a unit in the last place of
    ``out_scale`` (C,), the channel's typical output magnitude ``|gamma| + |beta|``.
    Otherwise (a mean large against the std, as in ``1e4 + randn``) three steps:
    mu is split into its value in x's precision, subtracted first (exactly, when x
    is near mu), and the rounding remainder, folded into the shift in float64.
    """
    A, C, M = x3.shape
    dtype = x3.dtype
    scale_w = scale.astype(dtype)  # (C,)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = mu - shift / scale  # (C,): out = (x - m) * scale
        m_w = m.astype(dtype)
        error = np.abs(m - m_w) * np.abs(scale)  # what rounding m does to the output
        rest = np.where(np.isfinite(mu), mu - mu.astype(dtype), 0.0)  # inf - inf: none
    two_steps = bool(np.all(error <= 0.5 * np.finfo(dtype).eps * out_scale))
    if two_steps:
        values = (m_w, scale_w)
    else:
        values = (mu.astype(dtype), scale_w, (shift - rest * scale).astype(dtype))
    for channels, blocks in _blocks(A, C, M, dtype.itemsize):
        spread = _Spread([v[channels] for v in values], M)
        for a0, a1 in blocks:
            xb, ob = x3[a0:a1, channels], out3[a0:a1, channels]  # (k, c, M)
            np.copyto(ob, xb)
            ov, ops = spread.view(ob)
            np.subtract(ov, ops[0], out=ov)
            np.multiply(ov, ops[1], out=ov)
            if not two_steps:
                np.add(ov, ops[2], out=ov)


def batch_norm(
    x,
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training=False,
    momentum=0.1,
    eps=1e-5,
    *,
    channel_axis=1,
    validate=False,
):
    """Batch Normalization with the semantics of ``torch.nn.functional.batch_norm``.

    Book: chapter 3 (``book/03_mechanics.md``), section ``bn-transform``; training
    versus inference: chapter 5, section ``train-vs-inference``.

    In training mode the batch is normalized with its own mean and biased variance,
    and ``running_mean`` / ``running_var`` (if given) are updated in place with the
    batch mean and the *unbiased* batch variance. In evaluation mode the running
    statistics normalize the batch and nothing is updated.

    Parameters
    ----------
    x : ndarray, shape (N, C), (N, C, L), (N, C, H, W) or (N, C, D, H, W)
        Input, float16, float32 or float64. With ``channel_axis=-1`` the channels
        are the last axis instead: (N, L, C), (N, H, W, C), ...
    running_mean, running_var : ndarray of shape (C,), or None
        Running statistics, updated in place in training mode (keep their dtype).
        Both or neither may be None; None requires ``training=True``.
    weight, bias : ndarray of shape (C,), optional
        gamma and beta. None means gamma = 1 and beta = 0.
    training : bool
        Normalize with batch statistics (True) or running statistics (False).
    momentum : float in [0, 1]
        PyTorch convention: ``running = (1 - momentum) * running + momentum * batch``.
        ``None`` (PyTorch modules' cumulative average) is not part of the functional
        API; pass ``1 / num_batches_tracked`` to get the same average.
    eps : float >= 0
        Added to the variance inside the square root; must be > 0 in training mode
        (as torch requires), where a constant channel would otherwise divide 0 by 0.
    channel_axis : {1, -1}
        Which axis holds the channels (keyword only). -1 (or ``x.ndim - 1``) is
        channels-last.
    validate : bool
        Also check that x, weight, bias and the running statistics hold no NaN or
        inf and that ``running_var`` is non-negative (costs one extra pass over x).

    Returns
    -------
    out : ndarray, same shape and dtype as x
        Float16 input is computed in float32 and returned as float16.

    Raises
    ------
    TypeError
        Non-floating input or parameters, running statistics that are not arrays,
        a momentum that is not a number (including None).
    ValueError
        Wrong rank, channel counts that do not match, a single value per channel
        in training mode, missing running statistics in evaluation mode, bad
        ``channel_axis``/``momentum``/``eps``, and (with ``validate``) NaN/inf.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(3.0, 2.0, size=(64, 4))  # (N, C)
    >>> running_mean, running_var = np.zeros(4), np.ones(4)
    >>> out = batch_norm(x, running_mean, running_var, training=True)
    >>> out.mean(axis=0).round(6) + 0.0, out.std(axis=0).round(4)
    (array([0., 0., 0., 0.]), array([1., 1., 1., 1.]))
    >>> bool(np.allclose(running_mean, 0.1 * x.mean(axis=0)))  # updated in place
    True
    """
    x = _float_array(x, "x")
    if not 2 <= x.ndim <= 5:
        raise ValueError(f"expected 2-D to 5-D input (N, C, ...), got shape {x.shape}")
    if channel_axis not in (1, -1, x.ndim - 1) or isinstance(channel_axis, bool):
        raise ValueError(
            f"channel_axis must be 1 (channels first) or -1 (channels last), got {channel_axis!r}"
        )
    last = channel_axis != 1
    C = x.shape[-1] if last else x.shape[1]
    if not isinstance(training, bool | np.bool_):
        raise TypeError(f"training must be a bool, got {type(training).__name__}")
    momentum, eps = _momentum_eps(
        momentum,
        eps,
        none_hint="is not part of the functional API: pass momentum=1/num_batches_tracked instead",
    )
    if training and eps == 0.0:
        raise ValueError("eps must be positive in training mode (as in torch), got 0.0")
    last_dim = None if last or x.ndim == 2 else x.shape[-1]
    weight = _per_channel(weight, "weight", C, last_dim=last_dim)
    bias = _per_channel(bias, "bias", C, last_dim=last_dim)
    running_mean = _per_channel(running_mean, "running_mean", C, in_place=True, last_dim=last_dim)
    running_var = _per_channel(running_var, "running_var", C, in_place=True, last_dim=last_dim)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must both be None or both be arrays")
    if running_mean is None and not training:
        raise ValueError("running_mean and running_var are needed in evaluation mode")
    if training and running_mean is not None:
        for name, r in (("running_mean", running_mean), ("running_var", running_var)):
            if not r.flags.writeable:
                raise ValueError(f"{name} is read-only, but training mode updates it in place")
    n = x.size // C if C else 0  # values per channel
    if training and n == 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input of shape {x.shape}"
        )
    if validate:
        for name, a in (("x", x), ("weight", weight), ("bias", bias)):
            _check_finite(a, name)
        for name, a in (("running_mean", running_mean), ("running_var", running_var)):
            _check_finite(a, f"{name} (the running statistics)")
        if running_var is not None and (running_var < 0).any():
            raise ValueError("running_var has negative entries")
    if x.size == 0:
        return x.copy()  # as torch: nothing to normalize, running statistics untouched

    work = np.float32 if x.dtype == np.float16 else x.dtype
    xw = np.ascontiguousarray(x, dtype=work)
    x3 = xw.reshape(-1, C, 1) if last else xw.reshape(x.shape[0], C, -1)  # (A, C, M)
    if training:
        mu, m2 = _moments(x3)  # (C,), (C,) float64
        var = m2 / n  # biased: the batch is normalized by its own n values
        if running_mean is not None:
            # unbiased (n - 1) for the running estimate, PyTorch's momentum convention
            update_running_stats(running_mean, running_var, mu, var, n, momentum)
    else:
        mu = running_mean.astype(np.float64)
        var = running_var.astype(np.float64)
    scale = 1.0 / np.sqrt(var + eps)  # (C,)
    if weight is not None:
        scale = scale * weight
    shift = np.zeros(C) if bias is None else bias.astype(np.float64)
    out = np.empty(x.shape, work)
    out3 = out.reshape(x3.shape)  # (A, C, M)
    out_scale = (1.0 if weight is None else np.abs(weight)) + np.abs(shift)  # |gamma| + |beta|
    _normalize(x3, out3, mu, scale, shift, out_scale)
    return out.astype(x.dtype, copy=False)


# --------------------------------------------------------------------------------------
# the teaching pair: (N, D) input, training mode, CS231n-style functional API
# --------------------------------------------------------------------------------------
class BatchNormCache(NamedTuple):
    """What :func:`batchnorm_forward` keeps for the backward pass.

    Attributes
    ----------
    x_hat : ndarray, shape (N, D)
        Normalized input ``(x - mu) * inv_std``.
    x_mu : ndarray, shape (N, D)
        Centred input ``x - mu`` (a node of the computational graph).
    gamma : ndarray, shape (D,)
        Scale.
    var : ndarray, shape (D,)
        Biased batch variance.
    inv_std : ndarray, shape (D,)
        ``1 / sqrt(var + eps)``.
    eps : float
        The eps used in the forward pass.
    training : bool
        Whether the forward used batch statistics (True) or running ones (False); in
        evaluation mode ``x_mu``, ``var`` and ``inv_std`` come from the running statistics.
    """

    x_hat: np.ndarray
    x_mu: np.ndarray
    gamma: np.ndarray
    var: np.ndarray
    inv_std: np.ndarray
    eps: float
    training: bool = True


def _param(a, name: str, D: int, dtype) -> np.ndarray:
    """gamma or beta as a (D,) float array; integer values are accepted and converted."""
    if a is None:
        raise TypeError(f"{name} must be an array of shape ({D},), got None")
    arr = np.asarray(a)
    if arr.dtype.kind in "iu":  # integers (e.g. np.ones(D, int), [1, 1, 1]) are exact in floats
        arr = arr.astype(dtype)
    elif arr.dtype.kind == "b":
        raise TypeError(f"{name} must hold numbers, got a boolean array")
    return _per_channel(arr, name, D)


def _check_2d(x, gamma, beta, *, training: bool = True):
    x = _float_array(x, "x")
    if x.ndim != 2:
        raise ValueError(f"expected 2-D input (N, D), got shape {x.shape}")
    if training and x.shape[0] < 2:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input of shape {x.shape}"
        )
    D = x.shape[1]
    return x, _param(gamma, "gamma", D, x.dtype), _param(beta, "beta", D, x.dtype)


def batchnorm_forward(
    x,
    gamma,
    beta,
    eps=1e-5,
    *,
    training=True,
    running_mean=None,
    running_var=None,
    momentum=None,
    convention="torch",
):
    """BN forward pass on (N, D) input, keeping a cache for the backward.

    Book: chapter 3 (``book/03_mechanics.md``), section ``bn-transform``; the
    ``training`` flag and running statistics: chapter 5, section ``train-vs-inference``.

    Training mode (the default) normalizes with the batch mean and biased variance and,
    when ``running_mean``/``running_var`` are given, updates them in place with
    :func:`update_running_stats`. Evaluation mode (``training=False``) normalizes with
    the running statistics and changes nothing.

    Parameters
    ----------
    x : ndarray, shape (N, D)
        Input; N >= 2 in training mode.
    gamma : array, shape (D,)
        Scale (integer values are accepted and converted to x's dtype).
    beta : array, shape (D,)
        Shift (likewise).
    eps : float
        Added to the variance inside the square root.
    training : bool, keyword only
        Batch statistics (True) or running statistics (False).
    running_mean, running_var : ndarray of shape (D,), keyword only, optional
        Updated in place in training mode; required in evaluation mode.
    momentum : float, keyword only, optional
        In ``convention``'s meaning; None for its default (0.1 torch, 0.99 keras).
    convention : {"torch", "keras"}, keyword only
        How the running statistics are updated; see :func:`update_running_stats`.

    Returns
    -------
    out : ndarray, shape (N, D)
        ``gamma * x_hat + beta``.
    cache : BatchNormCache
        Input to :func:`batchnorm_backward` or :func:`batchnorm_backward_graph`.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(5.0, 3.0, size=(8, 3))  # (N, D)
    >>> out, cache = batchnorm_forward(x, np.ones(3), np.zeros(3))
    >>> out.mean(axis=0).round(6) + 0.0
    array([0., 0., 0.])
    >>> dx, dgamma, dbeta = batchnorm_backward(np.ones_like(out), cache)
    >>> float(np.abs(dx).max()) < 1e-12  # a gradient equal for every example vanishes
    True
    """
    if not isinstance(training, bool | np.bool_):
        raise TypeError(f"training must be a bool, got {type(training).__name__}")
    x, gamma, beta = _check_2d(x, gamma, beta, training=bool(training))
    eps = _real(eps, "eps")
    if not eps >= 0.0 or (training and eps == 0.0):
        raise ValueError(f"eps must be positive (>= 0 in evaluation mode), got {eps}")
    D = x.shape[1]
    running_mean = _per_channel(running_mean, "running_mean", D, in_place=True)
    running_var = _per_channel(running_var, "running_var", D, in_place=True)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must both be None or both be arrays")
    if training:
        mu = x.mean(axis=0)  # (D,)
        x_mu = x - mu  # (N, D)
        var = (x_mu**2).mean(axis=0)  # (D,) biased: the batch is normalized by its own N
        if running_mean is not None:
            update_running_stats(
                running_mean, running_var, mu, var, x.shape[0], momentum, convention=convention
            )
    else:
        if running_mean is None:
            raise ValueError(
                "evaluation mode (training=False) normalizes with running_mean and "
                "running_var: pass both"
            )
        x_mu = x - running_mean  # (N, D)
        var = running_var.astype(x.dtype, copy=True)  # (D,)
    inv_std = 1.0 / np.sqrt(var + eps)  # (D,)
    x_hat = x_mu * inv_std  # (N, D)
    out = gamma * x_hat + beta  # (N, D)
    return out, BatchNormCache(x_hat, x_mu, gamma, var, inv_std, eps, bool(training))


def batchnorm_backward(dout, cache):
    """BN backward pass in the compact closed form.

    Book: chapter 3 (``book/03_mechanics.md``), section ``bn-backward``.

    ``dx = gamma * inv_std / N * (N * dout - sum(dout) - x_hat * sum(dout * x_hat))``,
    sums over the batch axis.

    Parameters
    ----------
    dout : ndarray, shape (N, D)
        Upstream gradient.
    cache : BatchNormCache
        From :func:`batchnorm_forward`.

    Returns
    -------
    dx : ndarray, shape (N, D)
    dgamma : ndarray, shape (D,)
    dbeta : ndarray, shape (D,)

    Examples
    --------
    The compact form and the node-by-node :func:`batchnorm_backward_graph` agree:

    >>> x, dout = np.random.default_rng(0).normal(size=(2, 16, 3))  # (N, D) each
    >>> out, cache = batchnorm_forward(x, np.full(3, 2.0), np.zeros(3))
    >>> compact, graph = batchnorm_backward(dout, cache), batchnorm_backward_graph(dout, cache)
    >>> all(np.allclose(a, b) for a, b in zip(compact, graph))
    True
    """
    x_hat, gamma, inv_std = cache.x_hat, cache.gamma, cache.inv_std
    dout = _check_dout(dout, x_hat)
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)  # (D,)
    dgamma = (dout * x_hat).sum(axis=0)  # (D,)
    if not cache.training:  # running statistics are constants: a per-feature affine map
        return dout * (gamma * inv_std), dgamma, dbeta
    dx = gamma * inv_std / N * (N * dout - dbeta - x_hat * dgamma)  # (N, D)
    return dx, dgamma, dbeta


def batchnorm_backward_graph(dout, cache):
    """BN backward pass node by node through the computational graph.

    Book: chapter 3 (``book/03_mechanics.md``), section ``bn-backward``.

    An independent second derivation of :func:`batchnorm_backward`: the forward
    graph is ``mu -> x_mu -> x_mu**2 -> var -> sqrt(var + eps) -> 1/sqrt -> x_hat ->
    gamma * x_hat + beta``, and each line of the code backpropagates through one node.

    Parameters
    ----------
    dout : ndarray, shape (N, D)
        Upstream gradient.
    cache : BatchNormCache
        From :func:`batchnorm_forward`.

    Returns
    -------
    dx : ndarray, shape (N, D)
    dgamma : ndarray, shape (D,)
    dbeta : ndarray, shape (D,)
    """
    x_hat, x_mu, gamma, var, inv_std, eps = cache[:6]
    dout = _check_dout(dout, x_hat)
    if not cache.training:  # the graph ends at the running statistics: only x_hat = x_mu * inv_std
        return dout * gamma * inv_std, (dout * x_hat).sum(axis=0), dout.sum(axis=0)
    N = dout.shape[0]
    std = np.sqrt(var + eps)  # (D,)
    # out = gamma * x_hat + beta
    dbeta = dout.sum(axis=0)  # (D,)
    dgamma = (dout * x_hat).sum(axis=0)  # (D,)
    dx_hat = dout * gamma  # (N, D)
    # x_hat = x_mu * inv_std: x_mu is used here and in the variance branch
    dinv_std = (dx_hat * x_mu).sum(axis=0)  # (D,)
    dx_mu = dx_hat * inv_std  # (N, D), first branch
    # inv_std = 1 / std
    dstd = -dinv_std / std**2  # (D,)
    # std = sqrt(var + eps)
    dvar = 0.5 / std * dstd  # (D,)
    # var = mean(x_mu**2, axis=0)
    dsq = np.ones_like(dout) * dvar / N  # (N, D)
    # sq = x_mu**2
    dx_mu = dx_mu + 2.0 * x_mu * dsq  # (N, D), both branches
    # x_mu = x - mu: x is used here and in the mean
    dmu = -dx_mu.sum(axis=0)  # (D,)
    # mu = mean(x, axis=0)
    dx = dx_mu + np.ones_like(dout) * dmu / N  # (N, D)
    return dx, dgamma, dbeta


def _check_dout(dout, x_hat):
    dout = _float_array(dout, "dout")
    if dout.shape != x_hat.shape:
        raise ValueError(
            f"dout has shape {dout.shape} but the forward output had shape {x_hat.shape}"
        )
    return dout


class SpatialBatchNormCache(NamedTuple):
    """What :func:`spatial_batchnorm_forward` keeps for the backward pass.

    Attributes
    ----------
    cache : BatchNormCache
        The cache of the 2-D pass on the (N*H*W, C) reshaped input.
    shape : tuple of int
        The input shape (N, C, H, W).
    """

    cache: BatchNormCache
    shape: tuple


def _to_rows(a):
    N, C, H, W = a.shape
    return a.transpose(0, 2, 3, 1).reshape(N * H * W, C)  # (N*H*W, C)


def _from_rows(a, shape):
    N, C, H, W = shape
    return np.ascontiguousarray(a.reshape(N, H, W, C).transpose(0, 3, 1, 2))  # (N, C, H, W)


def spatial_batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Training-mode BN for convolutional (N, C, H, W) input.

    Book: chapter 3 (``book/03_mechanics.md``), section ``bn-conv``.

    Each channel is normalized over N, H and W: the input is reshaped to
    (N*H*W, C) and passed to :func:`batchnorm_forward`.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
        Input.
    gamma : ndarray, shape (C,)
        Scale.
    beta : ndarray, shape (C,)
        Shift.
    eps : float
        Added to the variance inside the square root.

    Returns
    -------
    out : ndarray, shape (N, C, H, W)
    cache : SpatialBatchNormCache
        Input to :func:`spatial_batchnorm_backward`.
    """
    x = _float_array(x, "x")
    if x.ndim != 4:
        raise ValueError(f"expected 4-D input (N, C, H, W), got shape {x.shape}")
    out, cache = batchnorm_forward(_to_rows(x), gamma, beta, eps)  # (N*H*W, C)
    return _from_rows(out, x.shape), SpatialBatchNormCache(cache, x.shape)


def spatial_batchnorm_backward(dout, cache):
    """Backward pass of :func:`spatial_batchnorm_forward`.

    Book: chapter 3 (``book/03_mechanics.md``), section ``bn-conv``.

    Parameters
    ----------
    dout : ndarray, shape (N, C, H, W)
        Upstream gradient.
    cache : SpatialBatchNormCache
        From :func:`spatial_batchnorm_forward`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dgamma : ndarray, shape (C,)
    dbeta : ndarray, shape (C,)
    """
    dout = _float_array(dout, "dout")
    if dout.shape != tuple(cache.shape):
        raise ValueError(
            f"dout has shape {dout.shape} but the forward output had shape {cache.shape}"
        )
    dx, dgamma, dbeta = batchnorm_backward(_to_rows(dout), cache.cache)  # (N*H*W, C)
    return _from_rows(dx, cache.shape), dgamma, dbeta


# --------------------------------------------------------------------------------------
# inference: folding, momentum conventions
# --------------------------------------------------------------------------------------
def fold_batch_norm(weight, bias, running_mean, running_var, gamma=None, beta=None, eps=1e-5):
    """Fold an evaluation-mode BN into the linear or conv layer that precedes it.

    Book: chapter 3 (``book/03_mechanics.md``), section ``bn-folding``.

    ``BN(W x + b) = W' x + b'`` with ``W' = W * s`` (output channel by output
    channel) and ``b' = (b - running_mean) * s + beta``, where
    ``s = gamma / sqrt(running_var + eps)``. Valid only for BN in evaluation mode
    (running statistics) with nothing between the layer and the BN.

    Parameters
    ----------
    weight : ndarray, shape (C_out, ...)
        Linear weight (C_out, C_in) or conv weight ``(C_out, C_in/groups, *kernel)``
        for 1-D, 2-D or 3-D convolution.
    bias : ndarray of shape (C_out,), or None
        The layer's bias; None for a layer built with ``bias=False``.
    running_mean, running_var : ndarray, shape (C_out,)
        The BN's running statistics.
    gamma, beta : ndarray of shape (C_out,), optional
        The BN's weight and bias (None means 1 and 0).
    eps : float
        The BN's eps.

    Returns
    -------
    weight_folded : ndarray, same shape and dtype as weight
    bias_folded : ndarray, shape (C_out,)
        Dtype of ``bias``, or of ``weight`` when bias is None.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> W, b = rng.normal(size=(4, 3)), rng.normal(size=4)  # linear layer (C_out, C_in)
    >>> mean, var = rng.normal(size=4), rng.uniform(0.5, 2.0, size=4)  # BN's running stats
    >>> W_fold, b_fold = fold_batch_norm(W, b, mean, var)
    >>> x = rng.normal(size=(5, 3))
    >>> bn_out = batch_norm(x @ W.T + b, mean, var, training=False)
    >>> bool(np.allclose(x @ W_fold.T + b_fold, bn_out))  # one layer instead of two
    True
    """
    weight = _float_array(weight, "weight")
    if weight.ndim < 2:
        raise ValueError(
            f"weight must be (C_out, C_in) or (C_out, C_in/groups, *kernel), got shape "
            f"{weight.shape}"
        )
    C = weight.shape[0]
    eps = _real(eps, "eps")
    if not eps >= 0.0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    checked = [
        _per_channel(a, name, C)
        for a, name in (
            (bias, "bias"),
            (running_mean, "running_mean"),
            (running_var, "running_var"),
            (gamma, "gamma"),
            (beta, "beta"),
        )
    ]
    bias, running_mean, running_var, gamma, beta = checked
    scale = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)  # (C_out,)
    if gamma is not None:
        scale = scale * gamma
    b = np.zeros(C) if bias is None else bias.astype(np.float64)
    bias_folded = (b - running_mean) * scale  # (C_out,)
    if beta is not None:
        bias_folded = bias_folded + beta
    weight_folded = weight * scale.reshape((C,) + (1,) * (weight.ndim - 1))  # (C_out, ...)
    bias_dtype = weight.dtype if bias is None else bias.dtype
    return weight_folded.astype(weight.dtype), bias_folded.astype(bias_dtype)


# Which value each convention's momentum weights in running = ... .
_CONVENTIONS = {"torch": "new", "keras": "old", "cs231n": "old"}
# How update_running_stats can update: the momentum's default, and the variance stored.
_RUNNING_CONVENTIONS = {"torch": (0.1, "unbiased"), "keras": (0.99, "biased")}


def _running_update(momentum, n, convention) -> tuple[float, float]:
    """Check the arguments; return (weight of the new value, factor for the biased variance).

    Shared by both backends' ``update_running_stats``.
    """
    if convention not in _RUNNING_CONVENTIONS:
        raise ValueError(
            f"unknown running-statistics convention {convention!r}; known: "
            + ", ".join(repr(k) for k in _RUNNING_CONVENTIONS)
        )
    default, variance = _RUNNING_CONVENTIONS[convention]
    m = _real(default if momentum is None else momentum, "momentum")
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {m}")
    if isinstance(n, bool | np.bool_) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive int (values per channel), got {n!r}")
    if variance == "biased":
        return (1.0 - m if _CONVENTIONS[convention] == "old" else m), 1.0
    if n == 1:
        raise ValueError("the unbiased variance needs n > 1 values per channel, got n=1")
    return m, n / (n - 1)


def update_running_stats(
    running_mean, running_var, batch_mean, batch_var, n, momentum=None, *, convention="torch"
):
    """Update running statistics in place with one batch's mean and *biased* variance.

    Book: chapter 5, section ``train-vs-inference``.

    * ``convention="torch"`` (default; what :func:`batch_norm` does):
      ``running = (1 - momentum) * running + momentum * batch`` with the *unbiased*
      batch variance ``batch_var * n / (n - 1)``; default momentum 0.1.
    * ``convention="keras"`` (``keras.layers.BatchNormalization``):
      ``running = momentum * running + (1 - momentum) * batch`` with the *biased*
      batch variance; default momentum 0.99. An explicit option, never the default.

    Parameters
    ----------
    running_mean, running_var : ndarray of shape (C,)
        Updated in place (their dtype is kept).
    batch_mean, batch_var : array of shape (C,)
        The batch mean and biased variance (divide by n).
    n : int
        Values per channel in the batch; > 1 for torch's unbiased correction.
    momentum : float in [0, 1], optional
        In the chosen convention; None means its default. (The cumulative average of
        torch's ``momentum=None`` modules is ``momentum=1 / num_batches_tracked``.)
    convention : {"torch", "keras"}, keyword only

    Returns
    -------
    running_mean, running_var : ndarray of shape (C,)
        The same arrays, updated.

    Examples
    --------
    >>> running_mean, running_var = np.zeros(2), np.ones(2)
    >>> batch_mean, batch_var = np.array([1.0, 2.0]), np.array([4.0, 4.0])  # biased, n = 5
    >>> update_running_stats(running_mean, running_var, batch_mean, batch_var, n=5)
    (array([0.1, 0.2]), array([1.4, 1.4]))

    The variance stored is the unbiased 4 * 5/4 = 5: ``0.9 * 1 + 0.1 * 5 = 1.4``.
    """
    weight_new, var_factor = _running_update(momentum, n, convention)
    C = np.shape(running_mean)[0] if np.ndim(running_mean) == 1 else -1
    running_mean = _per_channel(running_mean, "running_mean", C, in_place=True)
    running_var = _per_channel(running_var, "running_var", C, in_place=True)
    batch_mean = _per_channel(batch_mean, "batch_mean", C)
    batch_var = _per_channel(batch_var, "batch_var", C)
    running_mean[...] = weight_new * batch_mean + (1.0 - weight_new) * running_mean
    running_var[...] = weight_new * (batch_var * var_factor) + (1.0 - weight_new) * running_var
    return running_mean, running_var


def convert_momentum(momentum, src, dst):
    """Convert a momentum value from one framework's convention to another's.

    Book: the notation page (``book/notation.md``), section ``notation-conventions``.

    * ``"torch"``: ``running = (1 - m) * running + m * batch`` (m = 0.1 weights the new value)
    * ``"keras"``: ``running = m * running + (1 - m) * batch`` (m = 0.99 weights the old value)
    * ``"cs231n"``: ``running = m * running + (1 - m) * batch`` (m = 0.9 weights the old value)

    So ``m_torch = 1 - m_keras``. Only the momentum is converted: Keras also feeds
    the *biased* batch variance into its moving variance, PyTorch the unbiased one.

    Parameters
    ----------
    momentum : float in [0, 1]
    src, dst : {"torch", "keras", "cs231n"}

    Returns
    -------
    float
        The momentum that gives the same running statistics in ``dst``'s convention.

    Examples
    --------
    >>> round(convert_momentum(0.99, "keras", "torch"), 12)  # Keras' default in torch terms
    0.01
    >>> convert_momentum(0.1, "torch", "torch")
    0.1
    """
    for name, conv in (("src", src), ("dst", dst)):
        if conv not in _CONVENTIONS:
            raise ValueError(
                f"unknown momentum convention {name}={conv!r}; known: "
                + ", ".join(repr(k) for k in _CONVENTIONS)
            )
    m = _real(momentum, "momentum")
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {m}")
    return m if _CONVENTIONS[src] == _CONVENTIONS[dst] else 1.0 - m
