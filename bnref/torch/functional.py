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

import contextlib
import numbers

import torch
from torch import Tensor
from torch._functorch.utils import unwrap_dead_wrappers

from bnref.numpy import _momentum_eps, _running_update

# Elements per block of the CPU blockwise passes (see _blocks): 1 MiB of float32, so that a
# block written by one op is still in cache when the next op reads it.
_BLOCK = 1 << 18
# Centring error budget of the backward's uncentred forms, see _centred.
_MAX_MEAN_OVER_STD = 8.0
# Elements up to which a CPU tensor is "small": there each op's fixed host cost (several
# microseconds) outweighs the memory traffic the bmm dot products and the two-pass
# statistics save, so the fewest ops win (torch.var_mean, a product and a sum).
_SMALL = 1 << 13
# Per-channel operands spelled out along the spatial axes (see _per_channel): at most this
# many elements each (256 KiB of float32: stays in cache), for inputs of at least
# _SPREAD_MIN elements (below that the copies cost more host time than they save).
_SPREAD_MAX = 1 << 16
_SPREAD_MIN = 1 << 18


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
    """``t`` in the arithmetic dtype (or another dtype ``acc``), with no call at all when it
    already is: each op costs host time, which a GPU waits for on small batches."""
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


def _on_cpu(*tensors: Tensor) -> bool:
    """Every tensor on the CPU (where the ``bmm`` dot products and blockwise passes pay off)."""
    return all(t.device.type == "cpu" for t in tensors)


def _blockwise(eager: bool, *tensors: Tensor) -> bool:
    """True where the CPU blockwise passes apply: plain eager mode (``eager``, from
    :func:`_eager`), CPU, one torch thread, contiguous non-empty (N, C, *) tensors of one
    full-precision dtype (float32 or float64), none of them batched (gradcheck's batched
    gradients run the backward under the legacy vmap, which :func:`_eager` does not see; the
    passes write into unbatched buffers).

    One thread only: with several, each of the many small ops is a parallel region whose
    threads wait for each other, and on a machine shared with other jobs one of them is
    often descheduled (measured: forward+backward 16x torch's time with two threads on a
    loaded 2-core machine, against 1.7x with full-size temporaries).
    """
    dtype = tensors[0].dtype
    return (
        eager
        and dtype in (torch.float32, torch.float64)
        and tensors[0].numel() > 0
        and all(t.dtype == dtype and t.is_contiguous() for t in tensors)
        and _on_cpu(*tensors)
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


def _channel_dot(
    a: Tensor, b: Tensor, dims: tuple[int, ...], acc: torch.dtype, eager: bool | None = None
) -> Tensor:
    """Per-channel ``sum(a * b)`` over ``dims``, shape (C,), without a full-size temporary
    when possible.

    On CPU in eager mode, for contiguous (N, C, *) tensors of one full-precision dtype and
    more than ``_SMALL`` elements, the sum is a batch of N*C dot products (a single ``bmm``
    that reads a and b once); elsewhere it is the product followed by a reduction.
    """
    N, C = a.shape[0], a.shape[1]
    if (
        a.numel() > _SMALL
        and (_eager() if eager is None else eager)
        and _on_cpu(a, b)
        and a.dtype == b.dtype == acc
        and acc in (torch.float32, torch.float64)
        and a.is_contiguous()
        and b.is_contiguous()
    ):
        L = a.numel() // (N * C)
        # b as (L, 1) columns through a transposed view: a (L, 1) block with unit strides
        # makes bmm copy it first (twice the time)
        dots = torch.bmm(a.reshape(N * C, 1, L), b.reshape(N * C, 1, L).transpose(1, 2))
        return dots.reshape(N, C).sum(0)  # (C,)
    return (a * b).sum(dims, dtype=acc)  # (C,)


def _batch_stats(x: Tensor, acc: torch.dtype, eager: bool):
    """``(mean, var, d, c)``: the batch mean and *biased* variance per channel, (C,) each, in
    ``acc``; and, when they were formed, the full-size deviations ``d = x - m`` from a first
    mean ``m`` and their mean ``c = mean - m`` (else ``None, None``), which :func:`_forward`
    turns into the output.

    The variance is the mean of squared deviations from the mean, never
    ``E[x^2] - E[x]^2`` (which cancels catastrophically when ``|mean| >> std``):

    * on the CPU, above ``_SMALL`` elements: the corrected two-pass algorithm. A first mean
      ``m`` (one read), then the deviations ``d = x - m`` give ``mean = m + c`` with ``c =
      mean(d)`` and ``var = mean(d^2) - c^2``, whose correction term is tiny: it removes
      most of the first mean's rounding error (a float32 sum of 1e4-sized values is off by
      ~1e-3). In eager mode, for contiguous float32/float64 input of more than one block
      (``_BLOCK``) and one thread, the deviations go block by block through one small
      buffer (one more read of x, no full-size temporary); elsewhere (one block,
      channels-last, several threads, float16/bfloat16, ``torch.compile``, ``torch.func``)
      ``x - m`` is one tensor in ``acc``;
    * on other devices (CUDA), and for small CPU inputs (where each op's fixed cost
      dominates): ``torch.var_mean`` (one op, Welford's update; in double precision on
      the CPU, too slow per element for large inputs), of the input converted to float32
      first when it is float16/bfloat16, so that the statistics are float32 all the way,
      as torch's kernels keep them.
    """
    if x.device.type != "cpu" or x.numel() <= _SMALL:
        var, mean = torch.var_mean(_as_acc(x, acc), _reduce_dims(x), correction=0)  # (C,) each
        return mean, var, None, None
    dims = _reduce_dims(x)
    m = x.mean(dims, dtype=acc)  # (C,) first estimate
    if x.numel() > _BLOCK and _blockwise(eager, x):
        n = x.numel() // x.shape[1]  # values per channel
        slices, rows = _blocks(x)
        buf = x.new_empty((rows, *x.shape[1:]))  # one block of deviations x - m
        dev, sq = x.new_zeros(x.shape[1]), x.new_zeros(x.shape[1])  # (C,) sum(d), sum(d^2)
        m_ = _per_channel(m, x)
        for s in slices:
            d = torch.sub(x[s], m_, out=buf[: s.stop - s.start])
            dev += d.sum(dims)
            sq += d.square_().sum(dims)
        c, sq, d = dev / n, sq / n, None  # (C,) mean(d), mean(d^2)
    else:
        d = x - _per_channel(m, x)  # (N, C, *) in acc, x's layout
        c, sq = d.mean(dims), _channel_dot(d, d, dims, acc, eager) / (x.numel() // x.shape[1])
    return m + c, torch.addcmul(sq, c, c, value=-1), d, c  # var = mean(d^2) - mean(d)^2


def _spreads(x: Tensor, eager: bool) -> bool:
    """Whether :func:`_per_channel` should spell per-channel operands out for x: eager mode,
    a contiguous (N, C, *) CPU tensor with spatial axes, of at least ``_SPREAD_MIN``
    elements (below that the copies cost more host time than they save), one torch thread
    (with several, the copies are two more parallel regions, which on a loaded machine wait
    for descheduled threads: measured slower, as for :func:`_blockwise`)."""
    return (
        x.numel() >= _SPREAD_MIN
        and eager
        and x.dim() > 2
        and x.device.type == "cpu"
        and x.is_contiguous()
        and torch.get_num_threads() == 1
    )


def _per_channel(v: Tensor, x: Tensor, spread: bool = False) -> Tensor:
    """The (C,) vector ``v`` as an operand against x (N, C, *): viewed as (1, C, 1, ...)
    (as it is, for (N, C) input); with ``spread``, spelled out (copied) along x's trailing
    axes, as many as fit in ``_SPREAD_MAX`` elements.

    Why spell out: torch's CPU kernel runs an elementwise op as a SIMD loop only when at most
    one operand is broadcast along the innermost axis; with two per-channel operands
    (``addcmul(shift, x, scale)`` on contiguous NCHW input) it runs a scalar loop. Measured
    on (128, 64, 32, 32) float32, one thread: 8.9 ms, against 6.1 ms with both operands
    spelled out along H and W (the operands stay in cache: 256 KiB each).
    """
    if x.dim() == 2:
        return v
    shape = _channel_shape(x)
    if not spread:
        return v.view(shape)
    C, sizes = x.shape[1], x.shape[2:]
    k, inner = len(sizes), 1  # spell out along sizes[k:], inner elements per channel
    while k > 0 and C * inner * sizes[k - 1] <= _SPREAD_MAX:
        k -= 1
        inner *= sizes[k]
    if inner == 1:
        return v.view(shape)
    return v.view(shape).expand(1, C, *shape[2 : 2 + k], *sizes[k:]).contiguous()


def _scale_shift(
    x: Tensor, scale: Tensor, shift: Tensor, eager: bool, dtype=None, *, in_place=False
) -> Tensor:
    """``x * scale + shift`` per channel, one pass, in ``dtype`` (default: x's), in x's
    layout and on its device; written over x if ``in_place`` (eager mode, a temporary of
    our own).

    ``scale`` and ``shift`` are (C,) in the arithmetic dtype: float32 arithmetic on
    float16/bfloat16 input is written straight into the low-precision output (no float32
    intermediate) in eager mode; under ``torch.func`` and ``torch.compile``, plain
    out-of-place ops.
    """
    dtype = x.dtype if dtype is None else dtype
    if not eager:
        shape = _channel_shape(x)
        return torch.addcmul(shift.view(shape), x, scale.view(shape)).to(dtype)
    spread = _spreads(x, eager)
    out = x if in_place else None if dtype == scale.dtype else torch.empty_like(x, dtype=dtype)
    # addcmul, not x * scale + shift in two ops: rounding x * scale first doubles the
    # error when |mean| >> std (x * scale and shift nearly cancel; measured at mean 1e4)
    return torch.addcmul(_per_channel(shift, x, spread), x, _per_channel(scale, x, spread), out=out)


def _real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def _check_per_channel(t: Tensor, name: str, C: int, device: torch.device) -> None:
    """Check a (C,) tensor (weight, bias, running statistics) against the input's channel
    count ``C`` and ``device``."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")
    if t.shape != (C,):
        if t.numel() != C:
            raise ValueError(f"{name} has {t.numel()} entries but the input has {C} channels")
        raise ValueError(f"{name} must be 1-D of shape ({C},), got shape {tuple(t.shape)}")
    if t.device != device:
        raise ValueError(f"{name} is on {t.device} but the input is on {device}")


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
    # running + weight_new * (batch - running): the same average, written as lerp_, outside
    # autograd (entering no_grad costs host time: only when grad mode is on)
    with torch.no_grad() if torch.is_grad_enabled() else contextlib.nullcontext():
        running_mean.lerp_(_as_acc(batch_mean, running_mean.dtype), weight_new)
        running_var.lerp_(_as_acc(var, running_var.dtype), weight_new)
    return running_mean, running_var


def _forward(x, weight, bias, running_mean, running_var, training, eps, *, copy=False, eager=None):
    """The forward computation: ``(out, mean, var, invstd)``, the normalized output, the
    statistics used (training: the batch mean and *biased* variance; evaluation: the
    running ones, copied if ``copy``) and ``invstd = 1 / sqrt(var + eps)``, (C,) in the
    arithmetic dtype. ``eager``: :func:`_eager`'s answer, if the caller has it.

    ``out = gamma * (x - mean) / sqrt(var + eps) + beta`` is computed as one per-channel
    affine map of x, ``x * scale + shift`` with ``scale = gamma / sqrt(var + eps)`` and
    ``shift = beta - mean * scale`` worked out on the (C,) vectors, as torch's CPU kernel
    does: one pass over x for the output, plus the statistics' passes in training. Where
    the statistics formed the full-size deviations ``d = x - m`` (CPU: one block, several
    threads, channels-last, float16/bfloat16), the same map is applied to ``d`` instead,
    ``d * scale + (beta - c * scale)`` with ``c = mean - m``, written over ``d`` in eager
    mode. Changes nothing of the caller's in place.
    """
    acc = _acc_dtype(x.dtype)
    if eager is None:
        eager = _eager()
    d = None
    if x.numel() == 0:  # as torch: nothing to normalize, running statistics untouched
        mean = x.new_zeros(x.shape[1], dtype=acc)  # (C,)
        var = mean.clone()
    elif training:
        # biased variance (divide by n): the batch is normalized by its own n values
        mean, var, d, c = _batch_stats(x, acc, eager)  # (C,) each; d = x - m, or None
    elif copy:
        mean, var = running_mean.to(acc, copy=True), running_var.to(acc, copy=True)  # (C,)
    else:
        mean, var = _as_acc(running_mean, acc), _as_acc(running_var, acc)  # (C,)
    invstd = torch.rsqrt(var + eps)  # (C,)
    if x.numel() == 0:
        return x.clone(), mean, var, invstd
    scale = invstd if weight is None else invstd * _as_acc(weight, acc)  # (C,)
    # out = src * scale + (beta - centre * scale): x and its mean, or d and its mean c
    src, centre = (x, mean) if d is None else (d, c)
    if bias is None:
        shift = -centre * scale  # (C,)
    else:
        shift = torch.addcmul(_as_acc(bias, acc), centre, scale, value=-1)  # (C,)
    # d is our own temporary: in eager mode the output is written over it when it has x's
    # dtype (a fresh buffer costs as much as a copy on CPU)
    in_place = d is not None and eager and d.dtype == x.dtype
    return _scale_shift(src, scale, shift, eager, x.dtype, in_place=in_place), mean, var, invstd


def _needs_function(eager: bool, *tensors: Tensor | None) -> bool:
    """Whether the call needs :class:`BatchNormFunction` (a gradient to record, forward-mode
    AD, a ``torch.func`` transform or ``torch.compile``: ``eager`` False), or can run
    :func:`_forward` alone.

    Inference (``torch.no_grad()``, or no input that requires grad) skips the autograd
    machinery: its Python-level cost (binding arguments, saving tensors) is several times
    the cost of the forward on a small batch, and on a GPU the device would wait for it.
    """
    # forward-mode AD (torch.autograd.forward_ad.dual_level) ignores no_grad; its level is
    # -1 outside a dual_level block
    if not eager or torch.autograd.forward_ad._current_level >= 0:
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


def _centred(
    dout: Tensor, x: Tensor, mean: Tensor, invstd: Tensor, acc: torch.dtype, eager: bool
) -> bool:
    """Whether the backward forms ``x - mean`` before its products (the centred forms), or
    may use ``sum(dout * x) - mean * sum(dout)`` and ``x * c1 + (c0 - mean * c1)``.

    Uncentred on the CPU in eager mode, for full-precision tensors, when every channel's
    mean is within ``_MAX_MEAN_OVER_STD`` standard deviations (``1 / invstd``) of 0: the
    cancellation then costs at most about that factor in rounding error over the centred
    form, and saves the ``x - mean`` pass. Elsewhere the check would cost a device-to-host
    sync (CUDA) or could not be traced.
    """
    return not (
        eager
        and _on_cpu(x, dout)
        and x.dtype == dout.dtype == acc
        and bool((mean * invstd).abs().amax() <= _MAX_MEAN_OVER_STD)
    )


def _grad_sums(
    dout: Tensor, x: Tensor, mean: Tensor, acc: torch.dtype, eager: bool, centred: bool
) -> tuple[Tensor, Tensor]:
    """The backward's per-channel sums ``sum(dout)`` and ``sum(dout * (x - mean))``, (C,) each.

    Uncentred (``centred`` False, see :func:`_centred`): ``sum(dout * x) - mean *
    sum(dout)`` (a ``bmm`` dot product and a sum, two reads, no temporary when they are
    contiguous). Centred: the product of ``dout`` and ``x - mean``, block by block through
    one small buffer where :func:`_blockwise` allows (x and dout read once, no full-size
    temporary), else as one expression.
    """
    dims = _reduce_dims(x)
    if not centred:
        sum_dout = dout.sum(dims)  # (C,)
        dot = _channel_dot(dout, x, dims, acc, eager)  # (C,) sum(dout * x)
        return sum_dout, torch.addcmul(dot, mean, sum_dout, value=-1)
    mean_ = _per_channel(mean, x)
    if not _blockwise(eager, x, dout):
        sum_dout = dout.sum(dims, dtype=acc)  # (C,)
        return sum_dout, (dout * (x - mean_)).sum(dims, dtype=acc)  # (C,)
    slices, rows = _blocks(x)
    buf = x.new_empty((rows, *x.shape[1:]))  # one block of dout * (x - mean)
    sum_dout, dotp = x.new_zeros(x.shape[1]), x.new_zeros(x.shape[1])  # (C,) each
    for s in slices:
        d = dout[s]
        prod = torch.sub(x[s], mean_, out=buf[: s.stop - s.start]).mul_(d)
        sum_dout += d.sum(dims)
        dotp += prod.sum(dims)
    return sum_dout, dotp


def _dx_coefficients(k, invstd, n, sum_dout, dotp) -> tuple[Tensor, Tensor]:
    """``(c1, c0)``, (C,) each, of training-mode ``dx = dout * k + (x - mu) * c1 + c0``.

    ``dx = k * (dout - sum(dout) / n - x_hat * sum(dout * x_hat) / n)`` with ``k = gamma *
    invstd`` and ``x_hat = (x - mu) * invstd`` gives ``c1 = -k * invstd^2 * sum(dout * (x -
    mu)) / n`` (the coefficient of ``x - mu``) and ``c0 = -k * sum(dout) / n``.
    """
    g = k / -n  # (C,) -k / n
    return g * invstd * (invstd * dotp), g * sum_dout


def _dx_train(dout, x, mean, k, invstd, n, sum_dout, dotp, eager, centred) -> Tensor:
    """dx of training-mode BN from the per-channel sums, in the arithmetic dtype.

    ``dout * k + (x - mu) * c1 + c0`` (see :func:`_dx_coefficients`). On the CPU in eager
    mode (:func:`_blockwise`), block by block into the output, x and dout read once:
    ``x - mu`` formed per block when ``centred`` (see :func:`_centred`), else ``x * c1 +
    (c0 - mu * c1)`` then ``+ dout * k``, two ops per block. Elsewhere that uncentred form
    over the whole tensor, the second op in place into our own output in eager mode only
    (vmap needs out-of-place ops).
    """
    c1, c0 = _dx_coefficients(k, invstd, n, sum_dout, dotp)
    k_ = _per_channel(k, x)
    blockwise = _blockwise(eager, x, dout)
    if blockwise and centred:
        dx = torch.empty_like(x)
        mean_, c1_, c0_ = _per_channel(mean, x), _per_channel(c1, x), _per_channel(c0, x)
        for s in _blocks(x)[0]:
            torch.sub(x[s], mean_, out=dx[s]).mul_(c1_).add_(c0_).addcmul_(dout[s], k_)
        return dx
    spread = _spreads(x, eager)
    c1_ = _per_channel(c1, x, spread)
    c0_ = _per_channel(torch.addcmul(c0, mean, c1, value=-1), x, spread)  # c0 - mu * c1
    if blockwise:
        dx = torch.empty_like(x)
        for s in _blocks(x)[0]:
            torch.addcmul(c0_, x[s], c1_, out=dx[s]).addcmul_(dout[s], k_)
        return dx
    dx = torch.addcmul(c0_, x, c1_)  # (x - mu) * c1 + c0, in acc
    return dx.addcmul_(dout, k_) if eager else torch.addcmul(dx, dout, k_)


class BatchNormFunction(torch.autograd.Function):
    """Autograd function behind :func:`batch_norm`: forward, hand-written backward and jvp.

    Book: chapter 3 (``book/03_mechanics.md``), sections ``bn-transform`` (forward)
    and ``bn-backward`` (backward).

    ``BatchNormFunction.apply(x, weight, bias, running_mean, running_var, training,
    eps)`` returns ``(out, mean, var, invstd)``: the normalized output, the batch mean and
    *biased* variance used (training) or the running ones (evaluation), and ``invstd = 1 /
    sqrt(var + eps)``. It takes
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
        _, mean, var, invstd = output
        ctx.mark_non_differentiable(mean, var, invstd)
        ctx.set_materialize_grads(False)  # no zero gradients for mean, var and invstd
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.save_for_forward(x, weight, mean, invstd)
        ctx.training = training
        ctx.bias_dtype = None if bias is None else bias.dtype

    @staticmethod
    def backward(ctx, dout, _dmean, _dvar, _dinvstd):
        if dout is None:  # the output was not used (gradients arrive as None, not zeros)
            return None, None, None, None, None, None, None
        # the gradients are formulas, not a graph to record (grad mode is on only under
        # create_graph=True; entering no_grad costs host time)
        with torch.no_grad() if torch.is_grad_enabled() else contextlib.nullcontext():
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
        acc, dims = invstd.dtype, _reduce_dims(x)
        k = invstd if weight is None else invstd * _as_acc(weight, acc)  # (C,) gamma * invstd
        if need_dx and not ctx.training:  # the statistics are constants: a per-channel affine map
            dx = (dout * _per_channel(k, x)).to(x.dtype)
        if not (need_dw or need_db or (need_dx and ctx.training)):
            return dx, dw, db
        if not (need_dw or (need_dx and ctx.training)):  # dbeta alone
            return dx, dw, dout.sum(dims, dtype=acc).to(ctx.bias_dtype)
        eager, xmu = _eager(), None
        # (C,) each: sum(dout) = dbeta, and sum(dout * (x - mu)) = dgamma / invstd
        if x.numel() <= _SMALL and _blockwise(eager, x, dout):
            # small: the fewest ops, x - mu one small temporary, reused for dx below
            xmu = x - _per_channel(mean, x)
            sum_dout, dotp = dout.sum(dims), (dout * xmu).sum(dims)
        else:
            centred = _centred(dout, x, mean, invstd, acc, eager)
            sum_dout, dotp = _grad_sums(dout, x, mean, acc, eager, centred)
        if need_db:
            db = _as_acc(sum_dout, ctx.bias_dtype)
        if need_dw:
            dw = _as_acc(dotp * invstd, weight.dtype)  # sum(dout * x_hat)
        if need_dx and ctx.training:
            n = x.numel() // x.shape[1]  # values per channel
            if xmu is not None:
                dx = _backward_train(dout, x, xmu, mean, k, invstd, n, sum_dout, dotp, eager)
            else:
                dx = _dx_train(dout, x, mean, k, invstd, n, sum_dout, dotp, eager, centred)
            dx = _as_acc(dx, x.dtype)
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
        return tout.to(x.dtype), None, None, None


def _backward_train(dout, x, xmu, mean, k, invstd, n, sum_dout, dotp, eager=None) -> Tensor:
    """dx of training-mode BN from the (global) per-channel sums.

    ``sum_dout = sum(dout)``, ``dotp = sum(dout * (x - mu))``, both (C,), ``k = gamma *
    invstd``. ``dx = k * (dout - sum(dout) / n - x_hat * sum(dout * x_hat) / n)``,
    computed as ``dout * k + (x - mu) * c1 + c0`` (:func:`_dx_coefficients`); when ``x -
    mu`` was not formed (``xmu is None``), ``x * c1 + (c0 - mu * c1)``. Synchronized BN's
    backward (:mod:`bnref.torch.sync`), which has ``x - mu`` at hand, and the
    single-process one for small inputs; :func:`_dx_train` is the one for the rest.
    In-place writes go only into buffers of our own, and only in plain eager mode
    (``eager``: :func:`_eager`'s answer, if the caller has it), so batched gradients
    (vmap) work.
    """
    c1, c0 = _dx_coefficients(k, invstd, n, sum_dout, dotp)
    c1_, k_ = _per_channel(c1, dout), _per_channel(k, dout)
    if xmu is None:
        c0_mu = torch.addcmul(c0, mean, c1, value=-1)  # (C,) c0 - mu * c1
        dx = torch.addcmul(_per_channel(c0_mu, dout), x, c1_)
    elif _eager() if eager is None else eager:  # written over xmu, our own temporary
        dx = xmu.mul_(c1_).add_(_per_channel(c0, dout))
    else:
        dx = torch.addcmul(_per_channel(c0, dout), xmu, c1_)
    return dx.addcmul_(dout, k_)


def _apply(function: type[torch.autograd.Function], args: tuple):
    """``function.apply(*args)``, without its per-call argument binding where that is a no-op.

    ``torch.autograd.Function.apply`` binds the arguments to ``forward``'s signature with
    ``inspect.signature`` on every call (for ``setup_context``: pure Python, measured at
    about 40% of the host time of a training-mode forward on a small batch). Ours are
    always complete and positional, so outside ``torch.func`` transforms this calls what
    ``Function.apply`` then calls itself.
    """
    if torch._C._are_functorch_transforms_active():
        return function.apply(*args)
    return super(torch.autograd.Function, function).apply(*unwrap_dead_wrappers(args))


def _check_args(
    x, running_mean, running_var, weight, bias, training, momentum, eps, *, count_local=True
):
    """The checks shared by :func:`batch_norm` and the modules. Returns (momentum, eps).

    ``count_local=False`` skips the one-value-per-channel check, which synchronized BN
    makes on the global count instead.
    """
    _check_input(x)
    C, device = x.shape[1], x.device
    for name, t in (
        ("weight", weight),
        ("bias", bias),
        ("running_mean", running_mean),
        ("running_var", running_var),
    ):
        if t is not None:
            _check_per_channel(t, name, C, device)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must both be tensors or both be None")
    if running_mean is None and not training:
        raise ValueError(
            "running_mean and running_var are needed in evaluation mode (training=False "
            "normalizes with them); pass training=True to normalize with batch statistics"
        )
    # the common case, two floats in range, without the general checks' isinstance calls
    if not (type(momentum) is type(eps) is float and 0.0 <= momentum <= 1.0 and eps > 0.0):
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
    if convention != "torch":
        _running_update(None, 2, convention)  # checks the convention's name
    if validate:
        check_running_stats(running_mean, running_var)
    training = bool(training)
    eager = _eager()
    args = input, weight, bias, running_mean, running_var, training, eps
    if not _needs_function(eager, input, weight, bias):
        out, mean, var, _ = _forward(*args, eager=eager)
    elif not eager and torch.compiler.is_compiling():
        out, mean, var, _ = BatchNormFunction.apply(*args)
    else:
        out, mean, var, _ = _apply(_BatchNormFunctionWithJvp, args)
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
