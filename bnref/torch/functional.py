"""The functional core of :mod:`bnref.torch`: ``batch_norm`` and its hand-written gradients.

* :func:`batch_norm`: ``torch.nn.functional.batch_norm``'s signature and semantics.
* :class:`BatchNormFunction`: the autograd function behind it, with the compact closed-form
  backward of chapter 3 (``backward``) and forward-mode derivative (``jvp``). It is written
  for ``torch.func``: ``setup_context`` is separate from ``forward``, the vmap rule is
  generated (``generate_vmap_rule``), and no op writes into a preallocated output, so
  ``vmap``, ``grad``, ``vjp``, ``jvp``, ``jacrev``/``jacfwd``, batched gradients
  (``gradcheck(check_batched_grad=True)``) and ``torch.compile(fullgraph=True)`` all work.
* :func:`update_running_stats`: the exponential moving average of the statistics, in
  PyTorch's convention (default) or Keras's (``convention="keras"``).
* :func:`check_running_stats`: find corrupted (NaN, inf, negative) running statistics.

The running statistics are updated *outside* the autograd function, in :func:`batch_norm`:
the function itself is pure (it returns the batch statistics instead of writing them), which
is what ``torch.func`` transforms and ``torch.compile`` need.
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor

from bnref.numpy import _momentum_eps, _running_update

# Elements per block of the CPU blockwise passes (see _blocks): 1 MiB of float32, so that a
# block written by one op is still in cache when the next op reads it.
_BLOCK = 1 << 18
# Centring error budget of the backward's fast path, see _grad_sums.
_MAX_MEAN_OVER_STD = 8.0


# --------------------------------------------------------------------------------------
# small helpers: dtypes, shapes, checks
# --------------------------------------------------------------------------------------
def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the arithmetic runs in: float32 for float16/bfloat16, else the input's."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _reduce_dims(x: Tensor) -> tuple[int, ...]:
    """Every axis except the channel axis 1: (0, 2, 3) for (N, C, H, W)."""
    return (0, *range(2, x.dim()))


def _channel_shape(x: Tensor) -> tuple[int, ...]:
    """Shape that broadcasts a (C,) vector against x: (1, C, 1, 1) for (N, C, H, W)."""
    return (1, x.shape[1]) + (1,) * (x.dim() - 2)


def _as_acc(t: Tensor | None, acc: torch.dtype) -> Tensor | None:
    """``t`` in the arithmetic dtype (no call at all when it already is: each op costs host
    time, which a GPU waits for on small batches)."""
    return t if t is None or t.dtype == acc else t.to(acc)


def _eager() -> bool:
    """True in plain eager mode: no ``torch.compile`` or ``torch.jit.trace`` tracing, no
    ``torch.func`` transform.

    Only then do the fast paths run: in-place writes into temporaries of our own, the
    blockwise CPU passes and the ``bmm`` dot products. ``torch.func`` transforms need plain
    out-of-place ops (an in-place write into an unbatched temporary fails under vmap), and
    Inductor fuses the plain ops better itself; a ``torch.jit.trace`` would unroll the
    blockwise loops for one batch size.
    """
    return not (
        torch.compiler.is_compiling()
        or torch._C._functorch.maybe_current_level() is not None
        or torch.jit.is_tracing()
    )


def _eager_cpu(*tensors: Tensor) -> bool:
    """:func:`_eager`, and every tensor on the CPU (where the ``bmm`` fast paths pay off)."""
    return _eager() and all(t.device.type == "cpu" for t in tensors)


def _blockwise(*tensors: Tensor) -> bool:
    """True where the CPU blockwise passes apply: plain eager mode, CPU, one torch thread,
    contiguous non-empty (N, C, *) tensors of one full-precision dtype (float32 or
    float64), none of them batched (gradcheck's batched gradients run the backward under
    the legacy vmap, which :func:`_eager` does not see; the passes write into unbatched
    buffers).

    One thread only: with several, each of the many small ops is a parallel region whose
    threads wait for each other, and on a machine shared with other jobs one of them is
    often descheduled (measured: forward+backward 16x torch's time with two threads on a
    loaded 2-core machine, against 1.7x with full-size temporaries).
    """
    dtype = tensors[0].dtype
    return (
        dtype in (torch.float32, torch.float64)
        and tensors[0].numel() > 0
        and all(t.dtype == dtype and t.is_contiguous() for t in tensors)
        and _eager_cpu(*tensors)
        and not any(
            torch._C._functorch.is_legacy_batchedtensor(t)
            or torch._C._functorch.is_batchedtensor(t)
            for t in tensors
        )
        and torch.get_num_threads() == 1  # last: torch.compile cannot trace this call
    )


def _blocks(x: Tensor) -> tuple[list[slice], int]:
    """Slices along the batch axis holding about ``_BLOCK`` elements each (at least one
    sample), and the most rows a slice has.

    A full-size temporary costs a fresh allocation (on the CPU the kernel zeroes every
    page: as much as a copy) and a trip through main memory; a block-sized one is reused
    and stays in cache. Same arithmetic, same rounding, per block.
    """
    N = x.shape[0]
    rows = max(1, _BLOCK // max(1, x[0].numel()))
    return [slice(i, min(i + rows, N)) for i in range(0, N, rows)], min(rows, N)


def _channel_dot(a: Tensor, b: Tensor, dims: tuple[int, ...], acc: torch.dtype) -> Tensor:
    """Per-channel ``sum(a * b)`` over ``dims``, shape (C,), without a full-size temporary
    when possible.

    On CPU, for contiguous (N, C, *) tensors of one full-precision dtype, the sum is a
    batch of N*C dot products (a single ``bmm`` that reads a and b once); elsewhere it
    is the product followed by a reduction.
    """
    N, C = a.shape[0], a.shape[1]
    if (
        _eager_cpu(a, b)
        and a.dtype == b.dtype == acc
        and acc in (torch.float32, torch.float64)
        and a.is_contiguous()
        and b.is_contiguous()
        and a.numel() > 0
    ):
        L = a.numel() // (N * C)
        # b as (L, 1) columns through a transposed view: a (L, 1) block with unit strides
        # makes bmm copy it first (twice the time)
        dots = torch.bmm(a.reshape(N * C, 1, L), b.reshape(N * C, 1, L).transpose(1, 2))
        return dots.reshape(N, C).sum(0)  # (C,)
    return (a * b).sum(dims, dtype=acc)  # (C,)


def _batch_stats(x: Tensor, acc: torch.dtype):
    """``(mean, var, d, m)``: the batch mean and *biased* variance per channel, (C,) each, in
    ``acc``; and, when it was formed, the full-size ``d = x - m`` with its centre ``m``
    (else ``None, None``), which :func:`_forward` turns into the output.

    The variance is the mean of squared deviations from the mean, never
    ``E[x^2] - E[x]^2`` (which cancels catastrophically when ``|mean| >> std``):

    * on the CPU: the corrected two-pass algorithm. A first mean ``m`` (one read), then the
      deviations ``d = x - m`` give ``mean = m + sum(d) / n`` and ``var = sum(d^2) / n -
      (sum(d) / n)^2``, whose correction term is tiny: it removes most of the first
      mean's rounding error (a float32 sum of 1e4-sized values is off by ~1e-3). In eager
      mode, for contiguous float32/float64 input, the deviations go block by block through
      one small buffer (one more read of x, no full-size temporary); elsewhere
      (channels-last, float16/bfloat16, ``torch.compile``, ``torch.func``) ``x - m`` is
      one tensor in ``acc``;
    * on other devices (CUDA): ``torch.var_mean`` (one read, Welford's update), of the
      input converted to float32 first when it is float16/bfloat16, so that the
      statistics are float32 all the way, as torch's kernels keep them.
    """
    dims, shape = _reduce_dims(x), _channel_shape(x)
    n = x.numel() // x.shape[1]  # values per channel
    if x.device.type != "cpu":
        var, mean = torch.var_mean(x.to(acc), dims, correction=0)  # (C,) each
        return mean, var, None, None
    m = x.mean(dims, dtype=acc)  # (C,) first estimate
    if _blockwise(x):
        slices, rows = _blocks(x)
        buf = x.new_empty((rows, *x.shape[1:]))  # one block of deviations x - m
        dev, sq = x.new_zeros(x.shape[1]), x.new_zeros(x.shape[1])  # (C,) sum(d), sum(d^2)
        for s in slices:
            d = torch.sub(x[s], m.view(shape), out=buf[: s.stop - s.start])
            dev += d.sum(dims)
            sq += d.square_().sum(dims)
        return m + dev / n, sq / n - (dev / n) ** 2, None, None
    d = x - m.view(shape)  # (N, C, *) in acc, x's layout
    dev, sq = d.sum(dims), _channel_dot(d, d, dims, acc)
    return m + dev / n, sq / n - (dev / n) ** 2, d, m


def _scale_shift(x: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
    """``x * scale + shift`` per channel, one pass, in x's dtype, layout and device.

    ``scale`` and ``shift`` are (C,) in the arithmetic dtype: float32 arithmetic on
    float16/bfloat16 input is written straight into the low-precision output (no float32
    intermediate) in eager mode; under ``torch.func`` and ``torch.compile``, plain
    out-of-place ops.
    """
    shape = _channel_shape(x)
    scale, shift = scale.view(shape), shift.view(shape)
    if not _eager():
        return torch.addcmul(shift, x, scale).to(x.dtype)
    # addcmul, not x * scale + shift in two ops: rounding x * scale first doubles the
    # error when |mean| >> std (x * scale and shift nearly cancel; measured at mean 1e4)
    return torch.addcmul(shift, x, scale, out=torch.empty_like(x))


def _real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def _check_per_channel(t: Tensor | None, name: str, x: Tensor) -> None:
    """Check a (C,) tensor (weight, bias, running statistics) against the input x."""
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")
    C = x.shape[1]
    if t.numel() != C:
        raise ValueError(f"{name} has {t.numel()} entries but the input has {C} channels")
    if t.dim() != 1:
        raise ValueError(f"{name} must be 1-D of shape ({C},), got shape {tuple(t.shape)}")
    if t.device != x.device:
        raise ValueError(f"{name} is on {t.device} but the input is on {x.device}")


def _check_input(x, who: str = "batch_norm") -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{who} expects a torch.Tensor input, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{who} expects a floating-point input (float16, bfloat16, float32 or "
            f"float64), got dtype {x.dtype}; convert it first, e.g. x.float()"
        )
    if x.dim() < 2:
        raise ValueError(
            f"{who} expects input of shape (N, C, *) with at least 2 dimensions, "
            f"got {x.dim()}-D input of shape {tuple(x.shape)}"
        )


def _check_batch_size(x: Tensor, n: int) -> None:
    if n == 1:
        raise ValueError(
            "Expected more than 1 value per channel when training, got input of size "
            f"{tuple(x.shape)}: the variance of a single value is 0. Use a larger batch, "
            "drop the last partial batch (DataLoader(drop_last=True)), or evaluate in eval mode"
        )


def _check_training_eps(eps: float) -> None:
    if eps <= 0.0:
        raise ValueError(
            f"eps must be positive in training mode (as torch requires), got {eps}: a "
            "constant channel has variance 0 and would divide 0 by 0"
        )


def check_running_stats(running_mean: Tensor | None, running_var: Tensor | None) -> None:
    """Raise a ValueError if running statistics are corrupted (NaN, inf, negative variance).

    Book: chapter 5, section ``train-vs-inference``.

    A single NaN batch in training mode poisons ``running_mean`` / ``running_var``
    for good, and evaluation mode then outputs NaN everywhere. This check costs a
    device-to-host sync, so it runs only when asked: directly, through
    ``batch_norm(..., validate=True)``, or through a module's ``check_running_stats()``.

    Parameters
    ----------
    running_mean, running_var : Tensor of shape (C,), or None
        None is accepted (nothing to check).

    Raises
    ------
    ValueError
        Naming the statistic and the offending channels.
    """
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if t is None:
            continue
        bad = (~torch.isfinite(t)).nonzero().flatten().tolist()
        if bad:
            raise ValueError(
                f"{name} has {len(bad)} non-finite entries (NaN or inf) at channels "
                f"{bad[:10]}{' ...' if len(bad) > 10 else ''}: the running statistics are "
                "corrupted (a NaN/inf batch in training mode?); reset them with "
                "reset_running_stats() and recollect"
            )
    if running_var is not None:
        neg = (running_var < 0).nonzero().flatten().tolist()
        if neg:
            raise ValueError(
                f"running_var has {len(neg)} negative entries at channels {neg[:10]}: "
                "a variance cannot be negative"
            )


def update_running_stats(
    running_mean: Tensor,
    running_var: Tensor,
    batch_mean: Tensor,
    batch_var: Tensor,
    n: int,
    momentum: float | None = None,
    *,
    convention: str = "torch",
) -> tuple[Tensor, Tensor]:
    """Update running statistics in place with one batch's mean and *biased* variance.

    Book: chapter 5, section ``train-vs-inference``.

    :func:`bnref.numpy.update_running_stats` on tensors (``lerp_``, no autograd):
    ``convention="torch"`` (default, what :func:`batch_norm` and the modules do) stores the
    unbiased variance with momentum weighting the new value (default 0.1);
    ``convention="keras"`` stores the biased variance with momentum weighting the old
    value (default 0.99), an explicit option for comparisons with Keras.

    Parameters
    ----------
    running_mean, running_var : Tensor of shape (C,)
        Updated in place (their dtype is kept).
    batch_mean, batch_var : Tensor of shape (C,)
        The batch mean and the biased batch variance (divide by n).
    n : int
        Values per channel in the batch (``N * prod(spatial)``); > 1 for torch's
        unbiased correction.
    momentum : float in [0, 1], optional
        In the chosen convention; None means that convention's default. (The modules'
        cumulative average, ``momentum=None`` there, is ``momentum=1 / num_batches``.)
    convention : {"torch", "keras"}, keyword only

    Returns
    -------
    running_mean, running_var : Tensor of shape (C,)
        The same tensors, updated.
    """
    if isinstance(n, Tensor) and n.dim() == 0 and not n.is_floating_point():
        n = int(n)  # torch.jit.trace records sizes as tensors
    weight_new, var_factor = _running_update(momentum, n, convention)  # checks them
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor (updated in place), got {type(t)}")
    var = batch_var * var_factor if var_factor != 1.0 else batch_var
    # running + weight_new * (batch - running): the same average, written as lerp_
    with torch.no_grad():
        running_mean.lerp_(_as_acc(batch_mean, running_mean.dtype), weight_new)
        running_var.lerp_(_as_acc(var, running_var.dtype), weight_new)
    return running_mean, running_var


def _forward(x, weight, bias, running_mean, running_var, training, eps, *, copy=False):
    """The forward computation: ``(out, mean, var)``, the normalized output and the
    statistics used (training: the batch mean and *biased* variance; evaluation: the
    running ones, copied if ``copy``), (C,) in the arithmetic dtype.

    ``out = gamma * (x - mean) / sqrt(var + eps) + beta`` is computed as one per-channel
    affine map of x, ``x * scale + shift`` with ``scale = gamma / sqrt(var + eps)`` and
    ``shift = beta - mean * scale`` worked out on the (C,) vectors, as torch's CPU kernel
    does: one pass over x for the output, plus the statistics' passes in training. Where
    the statistics formed the full-size deviations ``d = x - m`` (CPU with several threads,
    channels-last, float16/bfloat16), the same map is applied to ``d`` instead, written
    over it in eager mode. Changes nothing of the caller's in place.
    """
    acc = _acc_dtype(x.dtype)
    if x.numel() == 0:  # as torch: nothing to normalize, running statistics untouched
        empty = x.new_zeros(x.shape[1], dtype=acc)  # (C,)
        return x.clone(), empty, empty.clone()
    d = None
    if training:
        # biased variance (divide by n): the batch is normalized by its own n values
        mean, var, d, m = _batch_stats(x, acc)  # (C,) each; d = x - m or None
    elif copy:
        mean, var = running_mean.to(acc, copy=True), running_var.to(acc, copy=True)  # (C,)
    else:
        mean, var = _as_acc(running_mean, acc), _as_acc(running_var, acc)  # (C,)
    invstd = torch.rsqrt(var + eps)  # (C,)
    scale = invstd if weight is None else invstd * _as_acc(weight, acc)  # (C,)
    if bias is None:
        shift = -mean * scale  # (C,)
    else:
        shift = torch.addcmul(_as_acc(bias, acc), mean, scale, value=-1)  # (C,) beta - mean * scale
    if d is None:
        return _scale_shift(x, scale, shift), mean, var
    # x * scale + shift = d * scale + (shift + m * scale); in eager mode written over d, our
    # own temporary, when it has x's dtype (a fresh buffer costs as much as a copy on CPU)
    shift = torch.addcmul(shift, m, scale)  # (C,)
    if _eager() and d.dtype == x.dtype:
        shape = _channel_shape(x)
        return torch.addcmul(shift.view(shape), d, scale.view(shape), out=d), mean, var
    return _scale_shift(d, scale, shift).to(x.dtype), mean, var


def _needs_function(*tensors: Tensor | None) -> bool:
    """Whether the call needs :class:`BatchNormFunction` (a gradient to record, forward-mode
    AD, a ``torch.func`` transform or ``torch.compile``), or can run :func:`_forward` alone.

    Inference (``torch.no_grad()``, or no input that requires grad) skips the autograd
    machinery: its Python-level cost (binding arguments, saving tensors) is several times
    the cost of the forward on a small batch, and on a GPU the device would wait for it.
    """
    # forward-mode AD (torch.autograd.forward_ad.dual_level) ignores no_grad; its level is
    # -1 outside a dual_level block
    if not _eager() or torch.autograd.forward_ad._current_level >= 0:
        return True
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


# --------------------------------------------------------------------------------------
# the autograd function: forward, hand-written backward and forward-mode derivative
# --------------------------------------------------------------------------------------
class _NoDoubleBackward(torch.autograd.Function):
    """Passes gradients through; differentiating them again raises a clear error."""

    generate_vmap_rule = True

    @staticmethod
    def forward(dout, *grads):
        return tuple(None if g is None else g.view_as(g) for g in grads)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, *ggrads):
        raise RuntimeError(
            "bnref.torch.batch_norm implements the first derivative only (a hand-written "
            "backward); double backward (create_graph=True, gradgradcheck, gradient "
            "penalties) is not supported. Use torch.nn.functional.batch_norm for that."
        )


def _guard_double_backward(dout: Tensor, grads: tuple) -> tuple:
    if torch.is_grad_enabled() and dout.requires_grad:
        return _NoDoubleBackward.apply(dout, *grads)
    return grads


def _grad_sums(
    dout: Tensor, x: Tensor, mean: Tensor, invstd: Tensor, acc: torch.dtype
) -> tuple[Tensor, Tensor]:
    """The backward's per-channel sums ``sum(dout)`` and ``sum(dout * (x - mean))``, (C,) each.

    On the CPU in eager mode, for full-precision tensors: when every channel's
    mean is within ``_MAX_MEAN_OVER_STD`` standard deviations (``1 / invstd``) of 0,
    ``sum(dout * x) - mean * sum(dout)`` (a ``bmm`` dot product and a sum, two reads, no
    temporary when they are contiguous; the cancellation costs at most about that factor
    in rounding error over the centred form); otherwise the centred product, block by block
    through one small buffer where :func:`_blockwise` allows (x and dout read once, no
    full-size temporary), else as one expression.
    """
    dims, shape = _reduce_dims(x), _channel_shape(x)
    if (
        _eager_cpu(x, dout)
        and x.dtype == dout.dtype == acc
        and bool((mean.abs() * invstd).amax() <= _MAX_MEAN_OVER_STD)
    ):
        sum_dout = dout.sum(dims)  # (C,)
        return sum_dout, _channel_dot(dout, x, dims, acc) - mean * sum_dout
    if not _blockwise(x, dout):
        sum_dout = dout.sum(dims, dtype=acc)  # (C,)
        return sum_dout, (dout * (x - mean.view(shape))).sum(dims, dtype=acc)  # (C,)
    slices, rows = _blocks(x)
    buf = x.new_empty((rows, *x.shape[1:]))  # one block of dout * (x - mean)
    sum_dout, dotp = x.new_zeros(x.shape[1]), x.new_zeros(x.shape[1])  # (C,) each
    for s in slices:
        d = dout[s]
        prod = torch.sub(x[s], mean.view(shape), out=buf[: s.stop - s.start]).mul_(d)
        sum_dout += d.sum(dims)
        dotp += prod.sum(dims)
    return sum_dout, dotp


def _dx_train(dout, x, mean, k, invstd, n, sum_dout, dotp) -> Tensor:
    """dx of training-mode BN from the per-channel sums, in the arithmetic dtype.

    ``dx = k * (dout - sum(dout) / n - x_hat * sum(dout * x_hat) / n)`` with ``k = gamma *
    invstd``, ``x_hat = (x - mu) * invstd``, computed as ``dout * k + (x - mu) * c1 + c0``
    with per-channel ``c1 = -k * invstd^2 * sum(dout * (x - mu)) / n`` and ``c0 = -k *
    sum(dout) / n``. On the CPU in eager mode, block by block into the output (x and dout
    read once, ``x - mu`` never stored whole); elsewhere ``x * c1 + (c0 - mu * c1)``
    then ``+ dout * k``, in place into our own output in eager mode only (vmap needs
    out-of-place ops).
    """
    shape = _channel_shape(x)
    c1 = (-k * invstd * invstd * dotp / n).view(shape)  # coefficient of (x - mu)
    c0 = (-k * sum_dout / n).view(shape)  # constant term
    k = k.view(shape)
    if _blockwise(x, dout):
        dx = torch.empty_like(x)
        for s in _blocks(x)[0]:
            torch.sub(x[s], mean.view(shape), out=dx[s]).mul_(c1).add_(c0).addcmul_(dout[s], k)
        return dx
    dx = torch.addcmul(c0 - mean.view(shape) * c1, x, c1)  # (x - mu) * c1 + c0, in acc
    return dx.addcmul_(dout, k) if _eager() else torch.addcmul(dx, dout, k)


class BatchNormFunction(torch.autograd.Function):
    """Autograd function behind :func:`batch_norm`: forward, hand-written backward and jvp.

    Book: chapter 3 (``book/03_mechanics.md``), sections ``bn-transform`` (forward)
    and ``bn-backward`` (backward).

    ``BatchNormFunction.apply(x, weight, bias, running_mean, running_var, training,
    eps)`` returns ``(out, mean, var)``: the normalized output and the batch mean and
    *biased* variance used (training) or the running ones (evaluation). It takes
    arguments already checked by :func:`batch_norm` and changes nothing in place; call
    :func:`batch_norm` instead, which also updates the running statistics. The forward
    saves ``x``, the per-channel ``mean`` and ``invstd = 1 / sqrt(var + eps)`` (no
    full-size x_hat). The forward itself is ``_forward``: the statistics, then one
    per-channel affine map ``x * scale + shift``.

    Training-mode backward, with ``x_hat = (x - mu) * invstd`` and ``n`` values per
    channel::

        dbeta  = sum(dout)
        dgamma = sum(dout * x_hat)
        dx     = gamma * invstd / n * (n * dout - dbeta - x_hat * dgamma)

    Evaluation-mode backward (the statistics are constants)::

        dx = dout * gamma * invstd,   dgamma = sum(dout * x_hat),   dbeta = sum(dout)

    Forward mode (``jvp``, in eager mode), tangents ``tx``, ``tgamma``, ``tbeta``: in training
    ``t_x_hat = invstd * (tx - mean(tx) - x_hat * mean(x_hat * tx))``, in evaluation
    ``t_x_hat = invstd * tx``; then ``tout = gamma * t_x_hat + tgamma * x_hat + tbeta``.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x, weight, bias, running_mean, running_var, training, eps):
        # copies of the running statistics: the outputs must not alias the buffers
        return _forward(x, weight, bias, running_mean, running_var, training, eps, copy=True)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, bias, running_mean, running_var, training, eps = inputs
        _, mean, var = output
        ctx.mark_non_differentiable(mean, var)
        invstd = torch.rsqrt(var + eps)  # (C,)
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.save_for_forward(x, weight, mean, invstd)
        ctx.training = training
        ctx.bias_dtype = None if bias is None else bias.dtype

    @staticmethod
    def backward(ctx, dout, _dmean, _dvar):
        with torch.no_grad():  # the gradients are formulas, not a graph to record
            grads = BatchNormFunction._backward(ctx, dout)
        dx, dw, db = _guard_double_backward(dout, grads)
        return dx, dw, db, None, None, None, None

    @staticmethod
    def _backward(ctx, dout):
        x, weight, mean, invstd = ctx.saved_tensors
        need_dx, need_dw, need_db = ctx.needs_input_grad[:3]
        dx = dw = db = None
        if x.numel() == 0:
            zeros = x.new_zeros(x.shape[1], dtype=_acc_dtype(x.dtype))  # (C,)
            dx = torch.zeros_like(x) if need_dx else None
            dw = zeros.to(weight.dtype) if need_dw else None
            db = zeros.to(ctx.bias_dtype) if need_db else None
            return dx, dw, db
        acc, dims, shape = invstd.dtype, _reduce_dims(x), _channel_shape(x)
        k = invstd if weight is None else invstd * weight.to(acc)  # (C,) d out / d x_hat * invstd
        if need_dx and not ctx.training:  # the statistics are constants: a per-channel affine map
            dx = (dout * k.view(shape)).to(x.dtype)
        if not (need_dw or need_db or (need_dx and ctx.training)):
            return dx, dw, db
        if not (need_dw or (need_dx and ctx.training)):  # dbeta alone
            return dx, dw, dout.sum(dims, dtype=acc).to(ctx.bias_dtype)
        # (C,) each: sum(dout) = dbeta, and sum(dout * (x - mu)) = dgamma / invstd
        sum_dout, dotp = _grad_sums(dout, x, mean, invstd, acc)
        if need_db:
            db = sum_dout.to(ctx.bias_dtype)
        if need_dw:
            dw = (dotp * invstd).to(weight.dtype)  # sum(dout * x_hat)
        if need_dx and ctx.training:
            n = x.numel() // x.shape[1]  # values per channel
            dx = _dx_train(dout, x, mean, k, invstd, n, sum_dout, dotp).to(x.dtype)
        return dx, dw, db


class _BatchNormFunctionWithJvp(BatchNormFunction):
    """:class:`BatchNormFunction` plus its forward-mode derivative, for eager mode.

    ``torch.compile`` cannot trace an autograd function that defines ``jvp`` (Dynamo
    refuses it), so :func:`batch_norm` uses this subclass in eager mode only.
    """

    @staticmethod
    def jvp(ctx, tx, tweight, tbias, _trm, _trv, _training, _eps):
        x, weight, mean, invstd = ctx.saved_tensors
        acc, dims, shape = invstd.dtype, _reduce_dims(x), _channel_shape(x)
        x_hat = (x - mean.view(shape)) * invstd.view(shape)  # (N, C, *) in acc
        tout = torch.zeros_like(x_hat)
        if tx is not None:
            t_hat = tx.to(acc)
            if ctx.training:
                t_hat = (
                    t_hat
                    - t_hat.mean(dims, keepdim=True)
                    - x_hat * (x_hat * t_hat).mean(dims, keepdim=True)
                )
            t_hat = t_hat * invstd.view(shape)
            tout = tout + (t_hat if weight is None else t_hat * weight.to(acc).view(shape))
        if tweight is not None:
            tout = tout + x_hat * tweight.to(acc).view(shape)
        if tbias is not None:
            tout = tout + tbias.to(acc).view(shape)
        return tout.to(x.dtype), None, None


def _backward_train(dout, x, xmu, mean, k, invstd, n, sum_dout, dotp) -> Tensor:
    """dx of training-mode BN from the (global) per-channel sums.

    ``sum_dout = sum(dout)``, ``dotp = sum(dout * (x - mu))``, both (C,), ``k = gamma *
    invstd``. ``dx = k * (dout - sum(dout) / n - x_hat * sum(dout * x_hat) / n)``,
    computed as ``dout * k + (x - mu) * c1 + c0``; when ``x - mu`` was not formed
    (``xmu is None``), ``x * c1 + (c0 - mu * c1)``. Synchronized BN's backward
    (:mod:`bnref.torch.sync`), which has ``x - mu`` at hand; :func:`_dx_train` is the
    single-process one. In-place writes go only into buffers of our own, and only in plain
    eager mode, so batched gradients (vmap) work.
    """
    shape = _channel_shape(dout)
    c1 = -k * invstd * invstd * dotp / n  # (C,) coefficient of (x - mu)
    c0 = -k * sum_dout / n  # (C,) constant term
    if xmu is None:
        dx = torch.addcmul((c0 - mean * c1).view(shape), x, c1.view(shape))
    elif _eager():  # written over xmu, our own temporary
        dx = xmu.mul_(c1.view(shape)).add_(c0.view(shape))
    else:
        dx = torch.addcmul(c0.view(shape), xmu, c1.view(shape))
    return dx.addcmul_(dout, k.view(shape))


def _check_args(
    x, running_mean, running_var, weight, bias, training, momentum, eps, *, count_local=True
):
    """The checks shared by :func:`batch_norm` and the modules. Returns (momentum, eps).

    ``count_local=False`` skips the one-value-per-channel check, which synchronized BN
    makes on the global count instead.
    """
    _check_input(x)
    for name, t in (
        ("weight", weight),
        ("bias", bias),
        ("running_mean", running_mean),
        ("running_var", running_var),
    ):
        _check_per_channel(t, name, x)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must both be tensors or both be None")
    if running_mean is None and not training:
        raise ValueError(
            "running_mean and running_var are needed in evaluation mode (training=False "
            "normalizes with them); pass training=True to normalize with batch statistics"
        )
    if training:  # torch's check and message, before the general eps >= 0 one
        _check_training_eps(_real(eps, "eps"))
    momentum, eps = _momentum_eps(
        momentum,
        eps,
        none_hint="needs a count of batches, which the modules keep: use "
        "BatchNorm2d(C, momentum=None), or pass momentum=1/num_batches_tracked",
    )
    if training and count_local:
        _check_batch_size(x, x.numel() // x.shape[1] if x.shape[1] else 0)
    return momentum, eps


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
    *,
    validate: bool = False,
    convention: str = "torch",
) -> Tensor:
    """Batch Normalization with the semantics of ``torch.nn.functional.batch_norm``.

    Book: chapter 3 (``book/03_mechanics.md``), sections ``bn-transform`` (forward),
    ``bn-backward`` (backward) and ``bn-conv`` (why (N, C, H, W) input shares statistics
    over N, H and W); training versus evaluation mode: chapter 5, section
    ``train-vs-inference``.

    Training mode normalizes with the batch mean and *biased* variance and, if running
    statistics are given, updates them in place with :func:`update_running_stats`
    (batch mean and *unbiased* variance). Evaluation mode normalizes with the running
    statistics and updates nothing. Gradients come from the hand-written backward of
    :class:`BatchNormFunction`.

    Parameters
    ----------
    input : Tensor, shape (N, C), (N, C, L), (N, C, H, W) or (N, C, D, H, W)
        Floating point, any device and memory format. float16/bfloat16 are computed
        in float32 and returned in their own dtype.
    running_mean, running_var : Tensor of shape (C,), or None
        Running statistics (buffers), updated in place in training mode. Both or
        neither may be None; None needs ``training=True``.
    weight, bias : Tensor of shape (C,), optional
        gamma and beta; None means gamma = 1 and beta = 0.
    training : bool
        Normalize with batch statistics (True) or running statistics (False).
    momentum : float in [0, 1]
        ``running = (1 - momentum) * running + momentum * batch``.
    eps : float
        Added to the variance inside the square root; > 0 in training mode (as torch
        requires), >= 0 in evaluation mode.
    validate : bool, keyword only
        Also check that the running statistics hold no NaN/inf and no negative
        variance (one device-to-host sync); see :func:`check_running_stats`.
    convention : {"torch", "keras"}, keyword only
        How the running statistics are updated (see :func:`update_running_stats`).
        ``"keras"`` (momentum weights the old value, biased variance stored) is an
        explicit option for comparisons with Keras; the default is torch's.

    Returns
    -------
    out : Tensor, same shape, dtype and device as input

    Raises
    ------
    TypeError
        Non-floating input or parameters, a momentum or eps that is not a number.
    ValueError
        Fewer than 2 dimensions; weight, bias or running statistics whose length is
        not C; a single value per channel in training mode; running statistics
        missing in evaluation mode; momentum outside [0, 1]; eps < 0 (or 0 in
        training); and, with ``validate=True``, corrupted running statistics.

    Examples
    --------
    >>> x = torch.randn(8, 3, 4, 4)
    >>> running_mean, running_var = torch.zeros(3), torch.ones(3)
    >>> out = batch_norm(x, running_mean, running_var, training=True)
    >>> out.shape
    torch.Size([8, 3, 4, 4])
    """
    momentum, eps = _check_args(
        input, running_mean, running_var, weight, bias, training, momentum, eps
    )
    _running_update(None, 2, convention)  # checks the convention's name
    if validate:
        check_running_stats(running_mean, running_var)
    training = bool(training)
    args = input, weight, bias, running_mean, running_var, training, eps
    if not _needs_function(input, weight, bias):
        out, mean, var = _forward(*args)
    elif torch.compiler.is_compiling():
        out, mean, var = BatchNormFunction.apply(*args)
    else:
        out, mean, var = _BatchNormFunctionWithJvp.apply(*args)
    if training and running_mean is not None and input.numel() > 0:
        n = input.numel() // input.shape[1]
        try:
            update_running_stats(
                running_mean, running_var, mean, var, n, momentum, convention=convention
            )
        except RuntimeError as error:
            if "vmap" not in str(error):
                raise
            raise RuntimeError(
                "batch_norm got a batched input (torch.func.vmap) in training mode while the "
                "running statistics, which it updates in place, are not batched: pass "
                "running_mean=running_var=None (modules: track_running_stats=False), or batch "
                "them too, as torch requires"
            ) from error
    return out
