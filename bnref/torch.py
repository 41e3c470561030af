"""Batch Normalization in PyTorch: a readable reference with a hand-written backward.

What lives here
---------------
* :func:`batch_norm`: ``torch.nn.functional.batch_norm``'s signature and semantics,
  implemented as the autograd function :class:`BatchNormFunction` whose backward is
  the compact closed form of chapter 3 (no autograd through the statistics).
* :class:`BatchNorm1d`, :class:`BatchNorm2d`, :class:`BatchNorm3d`: drop-in
  replacements for ``torch.nn.BatchNorm*d`` (same arguments, parameters, buffers and
  ``state_dict`` keys; weights load both ways).
* :class:`SyncBatchNorm` and :func:`convert_sync_batchnorm`: statistics over the
  global batch of a ``torch.distributed`` process group (gloo on CPU, NCCL on GPU).
* :func:`fold_batch_norm`, :func:`fuse_conv_bn_eval`, :func:`fuse_linear_bn_eval`:
  fold an evaluation-mode BN into the preceding conv or linear layer.
* :func:`check_running_stats`: find corrupted (NaN, inf, negative) running statistics.
* :func:`convert_momentum` (from :mod:`bnref.numpy`): move between momentum conventions.

Conventions (the same as :mod:`bnref.numpy` and the book's notation page)
------------------------------------------------------------------------
* Input is ``(N, C, *)``: statistics are taken per channel (axis 1) over every other
  axis, ``n = N * prod(*)`` values per channel. Any memory format (channels-last too).
* The batch is normalized with the *biased* variance (divide by ``n``);
  ``running_var`` is updated with the *unbiased* variance (divide by ``n - 1``).
* ``eps`` is added inside the square root: ``x_hat = (x - mu) / sqrt(var + eps)``.
* ``momentum`` follows PyTorch: ``running = (1 - momentum) * running + momentum * batch``,
  ``momentum = 0.1``. Keras (0.99) and CS231n (0.9) weight the old value instead;
  convert explicitly with ``convert_momentum(0.99, "keras", "torch")``.
* Training mode is always an explicit argument (``training=`` or ``module.train()``),
  never guessed from grad mode.
* Code follows ``x.device`` and ``x.dtype``. float16 and bfloat16 input is computed
  in float32 (statistics, normalization, gradients) and returned in the input dtype;
  its weight, bias and running statistics may be float32, as with cuDNN.
* The variance is the mean of squared deviations from the batch mean, never
  ``E[x^2] - E[x]^2`` (which cancels catastrophically when the mean is large).

Validation: shapes, dtypes and arguments are always checked (cheap, no device sync).
NaN or inf in the running statistics is only looked for when asked, because it
needs a device-to-host sync: ``batch_norm(..., validate=True)``, the modules'
``check_running_stats()`` method, or :func:`check_running_stats` itself.

Double backward (``create_graph=True`` through BN) is not implemented: it raises a
RuntimeError that says so. Use ``torch.nn.functional.batch_norm`` for it.
"""

from __future__ import annotations

import copy
import numbers

import torch
import torch.distributed as dist
from torch import Tensor, nn

from bnref.numpy import _momentum_eps, convert_momentum

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "BatchNormFunction",
    "SyncBatchNorm",
    "batch_norm",
    "check_running_stats",
    "convert_momentum",
    "convert_sync_batchnorm",
    "fold_batch_norm",
    "fuse_conv_bn_eval",
    "fuse_linear_bn_eval",
]


# --------------------------------------------------------------------------------------
# small helpers: dtypes, shapes, checks
# --------------------------------------------------------------------------------------
_NORM_MIN_NUMEL = 1 << 22  # from this size on, _sum_of_squares uses vector_norm


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
    return t if t is None or t.dtype == acc else t.to(acc)


def _channel_dot(a: Tensor, b: Tensor, dims: tuple[int, ...], acc: torch.dtype) -> Tensor:
    """Per-channel ``sum(a * b)`` over ``dims``, shape (C,), without a full-size temporary
    when possible.

    On CPU, for contiguous (N, C, *) tensors of one full-precision dtype, the sum is a
    batch of N*C dot products (a single ``bmm`` that reads a and b once); elsewhere it
    is the product followed by a reduction.
    """
    N, C = a.shape[0], a.shape[1]
    if (
        a.device.type == "cpu"
        and a.dtype == b.dtype == acc
        and acc in (torch.float32, torch.float64)
        and a.is_contiguous()
        and b.is_contiguous()
        and torch.get_float32_matmul_precision() == "highest"
        and a.numel() > 0
    ):
        L = a.numel() // (N * C)
        dots = torch.bmm(a.reshape(N * C, 1, L), b.reshape(N * C, L, 1))  # (N*C, 1, 1)
        return dots.reshape(N, C).sum(0)  # (C,)
    return (a * b).sum(dims, dtype=acc)  # (C,)


def _sum_of_squares(xmu: Tensor, dims: tuple[int, ...]) -> Tensor:
    """Per-channel ``sum(xmu ** 2)`` over ``dims``, shape (C,).

    Large tensors use ``vector_norm`` (one read, no temporary); below ~4M values the
    square-then-sum is faster (measured on CPU), and its temporary is cheap.
    """
    if xmu.numel() >= _NORM_MIN_NUMEL:
        return torch.linalg.vector_norm(xmu, dim=dims).square_()
    return (xmu * xmu).sum(dims)


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


# --------------------------------------------------------------------------------------
# the autograd function: forward, hand-written backward
# --------------------------------------------------------------------------------------
class _NoDoubleBackward(torch.autograd.Function):
    """Passes gradients through; differentiating them again raises a clear error."""

    @staticmethod
    def forward(ctx, dout, *grads):
        return tuple(None if g is None else g.view_as(g) for g in grads)

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


def _update_running_stats(
    running_mean: Tensor, running_var: Tensor, mean: Tensor, var_unbiased: Tensor, momentum: float
) -> None:
    """``running = (1 - momentum) * running + momentum * batch``, in place, in their dtype.

    Written as ``lerp_``: ``running + momentum * (batch - running)``, the same average.
    """
    with torch.no_grad():
        running_mean.lerp_(_as_acc(mean, running_mean.dtype), momentum)
        running_var.lerp_(_as_acc(var_unbiased, running_var.dtype), momentum)


def _normalize_into(xmu: Tensor, scale: Tensor, bias: Tensor | None, shape) -> Tensor:
    """``out = xmu * scale[c] + bias[c]`` written over the ``xmu`` buffer (one pass)."""
    if bias is None:
        return xmu.mul_(scale.view(shape))
    return torch.addcmul(bias.view(shape), xmu, scale.view(shape), out=xmu)


def _backward_train(
    dout: Tensor, xmu: Tensor, invstd: Tensor, weight: Tensor | None, n: int, sums: Tensor
) -> Tensor:
    """dx of training-mode BN from the (global) per-channel sums, written over ``xmu``.

    ``sums[0] = sum(dout)``, ``sums[1] = sum(dout * (x - mu))``, both (C,).
    ``dx = k * (dout - sum(dout) / n - x_hat * sum(dout * x_hat) / n)`` with
    ``k = gamma * invstd``, computed as ``dout * k + xmu * c1 + c0``.
    """
    acc, shape = xmu.dtype, _channel_shape(xmu)
    k = invstd if weight is None else invstd * weight.to(acc)  # (C,)
    c1 = -k * invstd * invstd * sums[1] / n  # (C,) coefficient of (x - mu)
    c0 = -k * sums[0] / n  # (C,) constant term
    dx = torch.addcmul(c0.view(shape), xmu, c1.view(shape), out=xmu)
    return dx.addcmul_(dout, k.view(shape))


class BatchNormFunction(torch.autograd.Function):
    """Autograd function behind :func:`batch_norm`: forward and a hand-written backward.

    Book: chapter 3 (``book/03_mechanics.md``), sections ``bn-transform`` (forward)
    and ``bn-backward`` (backward).

    ``BatchNormFunction.apply(x, running_mean, running_var, weight, bias, training,
    momentum, eps)`` takes arguments already checked by :func:`batch_norm`; call that
    instead. The forward saves ``x``, the per-channel ``mu`` and ``invstd = 1 /
    sqrt(var + eps)`` (no full-size x_hat); the backward recomputes ``x - mu`` once.

    Training-mode backward, with ``x_hat = (x - mu) * invstd`` and ``n`` values per
    channel::

        dbeta  = sum(dout)
        dgamma = sum(dout * x_hat)
        dx     = gamma * invstd / n * (n * dout - dbeta - x_hat * dgamma)

    Evaluation-mode backward (the statistics are constants)::

        dx = dout * gamma * invstd,   dgamma = sum(dout * x_hat),   dbeta = sum(dout)
    """

    @staticmethod
    def forward(ctx, x, running_mean, running_var, weight, bias, training, momentum, eps):
        acc = _acc_dtype(x.dtype)
        dims, shape = _reduce_dims(x), _channel_shape(x)
        n = x.numel() // x.shape[1] if x.shape[1] else 0  # values per channel
        ctx.training, ctx.n = training, n
        ctx.bias_dtype = None if bias is None else bias.dtype
        if x.numel() == 0:  # as torch: nothing to normalize, running statistics untouched
            ctx.save_for_backward(x, weight, None, None)
            return x.clone()
        w, b = _as_acc(weight, acc), _as_acc(bias, acc)
        if training:
            mean = x.mean(dims, dtype=acc)  # (C,)
            xmu = x - mean.view(shape)  # (N, C, *) in acc; becomes the output buffer
            # biased variance (divide by n): the batch is normalized by its own n values.
            # Sum of squared deviations from mu, never E[x^2] - E[x]^2.
            m2 = _sum_of_squares(xmu, dims)  # (C,)
            invstd = torch.rsqrt(m2 / n + eps)  # (C,)
            if running_mean is not None:
                # unbiased variance (divide by n - 1) feeds the running estimate
                _update_running_stats(running_mean, running_var, mean, m2 / (n - 1), momentum)
            scale = invstd if w is None else invstd * w  # (C,)
            out = _normalize_into(xmu, scale, b, shape)
        else:
            # a copy: saving the buffer itself would break backward after a later update
            mean = running_mean.to(acc, copy=True)  # (C,)
            invstd = torch.rsqrt(running_var.to(acc) + eps)  # (C,)
            scale = invstd if w is None else invstd * w  # (C,)
            shift = -mean * scale if b is None else b - mean * scale  # (C,)
            out = torch.addcmul(shift.view(shape), x, scale.view(shape))  # x*scale + shift
        ctx.save_for_backward(x, weight, mean, invstd)
        return out.to(x.dtype)

    @staticmethod
    def backward(ctx, dout):
        with torch.no_grad():  # the gradients are formulas, not a graph to record
            grads = BatchNormFunction._backward(ctx, dout)
        dx, dw, db = _guard_double_backward(dout, grads)
        return dx, None, None, dw, db, None, None, None

    @staticmethod
    def _backward(ctx, dout):
        x, weight, mean, invstd = ctx.saved_tensors
        need_dx, need_dw, need_db = (ctx.needs_input_grad[i] for i in (0, 3, 4))
        dx = dw = db = None
        if x.numel() == 0:
            zeros = x.new_zeros(x.shape[1], dtype=_acc_dtype(x.dtype))  # (C,)
            dx = torch.zeros_like(x) if need_dx else None
            dw = zeros.to(weight.dtype) if need_dw else None
            db = zeros.to(ctx.bias_dtype) if need_db else None
            return dx, dw, db
        acc, dims, shape = invstd.dtype, _reduce_dims(x), _channel_shape(x)
        sum_dout = dout.sum(dims, dtype=acc) if (need_db or (need_dx and ctx.training)) else None
        xmu = dotp = None
        if need_dw or (need_dx and ctx.training):
            xmu = x - mean.view(shape)  # (N, C, *) in acc
            dotp = _channel_dot(dout, xmu, dims, acc)  # (C,) sum(dout * (x - mu))
        if need_dw:
            dw = (dotp * invstd).to(weight.dtype)  # sum(dout * x_hat)
        if need_db:
            db = sum_dout.to(ctx.bias_dtype)
        if need_dx:
            if ctx.training:
                sums = torch.stack((sum_dout, dotp))  # (2, C)
                dx = _backward_train(dout, xmu, invstd, weight, ctx.n, sums).to(x.dtype)
            else:  # the statistics are constants: BN is a per-channel affine map
                k = invstd if weight is None else invstd * weight.to(acc)  # (C,)
                dx = (dout * k.view(shape)).to(x.dtype)
        return dx, dw, db


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
) -> Tensor:
    """Batch Normalization with the semantics of ``torch.nn.functional.batch_norm``.

    Book: chapter 3 (``book/03_mechanics.md``), sections ``bn-transform`` (forward),
    ``bn-backward`` (backward) and ``bn-conv`` (why (N, C, H, W) input shares statistics
    over N, H and W); training versus evaluation mode: chapter 5, section
    ``train-vs-inference``.

    Training mode normalizes with the batch mean and *biased* variance and, if running
    statistics are given, updates them in place with the batch mean and the *unbiased*
    variance. Evaluation mode normalizes with the running statistics and updates
    nothing. Gradients come from the hand-written backward of
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
    eps : float >= 0
        Added to the variance inside the square root.
    validate : bool, keyword only
        Also check that the running statistics hold no NaN/inf and no negative
        variance (one device-to-host sync); see :func:`check_running_stats`.

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
        missing in evaluation mode; momentum outside [0, 1]; eps < 0; and, with
        ``validate=True``, corrupted running statistics.

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
    if validate:
        check_running_stats(running_mean, running_var)
    return BatchNormFunction.apply(
        input, running_mean, running_var, weight, bias, bool(training), momentum, eps
    )


# --------------------------------------------------------------------------------------
# modules: drop-in replacements for torch.nn.BatchNorm1d/2d/3d
# --------------------------------------------------------------------------------------
class _BatchNorm(nn.Module):
    """Shared body of :class:`BatchNorm1d`/``2d``/``3d`` and :class:`SyncBatchNorm`.

    Parameters (learned, ``weight`` = gamma, ``bias`` = beta) and buffers (collected,
    ``running_mean``, ``running_var``, ``num_batches_tracked``) are registered under
    the same names and in the same order as in ``torch.nn``, so ``state_dict`` keys
    are identical and weights load both ways.
    """

    _version = 2  # as torch.nn: version 2 added num_batches_tracked
    _ranks: tuple[int, ...] = ()  # allowed input dimensions
    _layout = ""  # their shapes, for error messages

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, numbers.Integral):
            raise TypeError(
                f"num_features must be an int (the channel count C), "
                f"got {type(num_features).__name__}"
            )
        if num_features < 1:
            raise ValueError(f"num_features must be >= 1, got {num_features}")
        if momentum is not None and not 0.0 <= _real(momentum, "momentum") <= 1.0:
            raise ValueError(
                f"momentum must be in [0, 1] or None (cumulative average), got {momentum}"
            )
        factory = {"device": device, "dtype": dtype}
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        # parameters: learned by gradient descent
        if affine:
            self.weight = nn.Parameter(torch.empty(num_features, **factory))  # gamma (C,)
            if bias:
                self.bias = nn.Parameter(torch.empty(num_features, **factory))  # beta (C,)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        # buffers: collected during training, used at inference, never learned
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer(
                "num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device)
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics, gamma to 1 and beta to 0."""
        self.reset_running_stats()
        if self.affine:
            nn.init.ones_(self.weight)
            if self.bias is not None:
                nn.init.zeros_(self.bias)

    def check_running_stats(self) -> None:
        """Raise a ValueError if the running statistics hold NaN, inf or negative variance.

        Book: chapter 5, section ``train-vs-inference``. See :func:`check_running_stats`.
        """
        check_running_stats(self.running_mean, self.running_var)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )

    def _check_input_dim(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"{type(self).__name__} expects a torch.Tensor, got {type(x).__name__}")
        if x.dim() not in self._ranks:
            ranks = " or ".join(f"{r}-D" for r in self._ranks)
            raise ValueError(
                f"{type(self).__name__} expects {ranks} input of shape {self._layout}, "
                f"got {x.dim()}-D input of shape {tuple(x.shape)}"
            )

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, errors
    ) -> None:
        # checkpoints older than version 2 have no num_batches_tracked: as torch.nn,
        # keep this module's own counter (0 unless it has trained)
        version = local_metadata.get("version", None)
        key = prefix + "num_batches_tracked"
        if (version is None or version < 2) and self.track_running_stats:
            own = self.num_batches_tracked
            if own is None or own.device.type == "meta":
                own = torch.tensor(0, dtype=torch.long)
            state_dict.setdefault(key, own)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, errors
        )

    def _momentum_for_batch(self) -> float:
        """Count a training batch and return the momentum to use for it.

        ``momentum=None`` means a cumulative average: momentum ``1 / num_batches_tracked``.
        """
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked)
        return momentum

    def _check_channels(self, x: Tensor) -> None:
        _check_input(x, type(self).__name__)
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) got input with {x.shape[1]} "
                f"channels (input shape {tuple(x.shape)})"
            )

    def forward(self, input: Tensor) -> Tensor:
        """Normalize ``input`` (N, C, *) and, in training mode, update the running statistics.

        Book: chapter 3, section ``bn-transform``; chapter 5, section ``train-vs-inference``.

        Training mode (``module.train()``) uses batch statistics; evaluation mode
        (``module.eval()``) uses the running statistics, or batch statistics when
        ``track_running_stats=False``. ``momentum=None`` makes the running statistics a
        cumulative average: momentum ``1 / num_batches_tracked`` for each batch.
        """
        self._check_input_dim(input)
        self._check_channels(input)
        use_batch_stats = self.training or self.running_mean is None
        if use_batch_stats:  # before num_batches_tracked moves
            _check_batch_size(input, input.numel() // input.shape[1])
        momentum = self._momentum_for_batch()
        # running statistics are passed when used (eval) or updated (training + tracking)
        pass_stats = not self.training or self.track_running_stats
        return batch_norm(
            input,
            self.running_mean if pass_stats else None,
            self.running_var if pass_stats else None,
            self.weight,
            self.bias,
            use_batch_stats,
            momentum,
            self.eps,
        )


class BatchNorm1d(_BatchNorm):
    """Batch Normalization over (N, C) or (N, C, L) input; drop-in for ``torch.nn.BatchNorm1d``.

    Book: chapter 3 (``book/03_mechanics.md``), section ``bn-transform``; chapter 5,
    section ``train-vs-inference``.

    Parameters
    ----------
    num_features : int
        C, the number of features or channels.
    eps : float
        Added to the variance inside the square root. Default 1e-5.
    momentum : float in [0, 1] or None
        ``running = (1 - momentum) * running + momentum * batch`` (PyTorch convention,
        default 0.1); None for a cumulative average over all batches seen.
    affine : bool
        Learn gamma (``weight``) and beta (``bias``), shape (C,). Default True.
    track_running_stats : bool
        Keep ``running_mean``, ``running_var`` (C,) and ``num_batches_tracked``. If
        False, batch statistics are used in evaluation mode too. Default True.
    device, dtype
        Where and in which dtype parameters and buffers are created.
    bias : bool, keyword only
        Learn beta (only with ``affine=True``). Default True.

    Shape: input (N, C) or (N, C, L); output the same.
    """

    _ranks = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch Normalization over (N, C, H, W) input; drop-in for ``torch.nn.BatchNorm2d``.

    Book: chapter 3 (``book/03_mechanics.md``), sections ``bn-transform`` and ``bn-conv``
    (statistics shared over N, H and W); chapter 5, section ``train-vs-inference``.

    Parameters are those of :class:`BatchNorm1d`. Shape: input (N, C, H, W); output
    the same.
    """

    _ranks = (4,)
    _layout = "(N, C, H, W)"


class BatchNorm3d(_BatchNorm):
    """Batch Normalization over (N, C, D, H, W) input; drop-in for ``torch.nn.BatchNorm3d``.

    Book: chapter 3 (``book/03_mechanics.md``), sections ``bn-transform`` and ``bn-conv``;
    chapter 5, section ``train-vs-inference``.

    Parameters are those of :class:`BatchNorm1d`. Shape: input (N, C, D, H, W); output
    the same.
    """

    _ranks = (5,)
    _layout = "(N, C, D, H, W)"


# --------------------------------------------------------------------------------------
# synchronized BN: statistics of the global batch over a process group
# --------------------------------------------------------------------------------------
class _SyncBatchNormFunction(torch.autograd.Function):
    """Training-mode BN whose statistics and input gradient cover all ranks of a group.

    Forward: each rank computes (count, mean, M2 = sum of squared deviations) per
    channel; an all_gather brings every rank's triple; they are combined exactly with
    Chan et al.'s parallel formula
    ``M2 = sum_r M2_r + sum_r n_r * (mean_r - mean)^2`` (no cancellation), so unequal
    (even empty) per-rank batches are fine. Backward: one all_reduce of the per-channel
    ``sum(dout)`` and ``sum(dout * (x - mu))``. weight/bias gradients stay local (sum
    over this rank's values), as in ``torch.nn.SyncBatchNorm``: data-parallel training
    reduces parameter gradients across ranks itself.
    """

    @staticmethod
    def forward(ctx, x, running_mean, running_var, weight, bias, momentum, eps, group, world_size):
        acc, dims, shape = _acc_dtype(x.dtype), _reduce_dims(x), _channel_shape(x)
        C = x.shape[1]
        n_local = x.numel() // C
        if n_local > 0:
            mean_local = x.mean(dims, dtype=acc)  # (C,)
        else:  # an empty shard contributes nothing
            mean_local = torch.zeros(C, dtype=acc, device=x.device)
        xmu = x - mean_local.view(shape)  # (N, C, *) in acc; becomes the output buffer
        m2_local = _sum_of_squares(xmu, dims)  # (C,)
        count = torch.full_like(mean_local, float(n_local))
        stats = torch.stack((count, mean_local, m2_local)).to(torch.float64)  # (3, C)
        gathered = [torch.empty_like(stats) for _ in range(world_size)]
        dist.all_gather(gathered, stats, group=group)
        counts, means, m2s = torch.stack(gathered).unbind(1)  # each (world_size, C)
        n = counts.sum(0)  # (C,)
        mean64 = (counts * means).sum(0) / n  # (C,)
        m2 = m2s.sum(0) + (counts * (means - mean64) ** 2).sum(0)  # (C,) Chan et al.
        n_total = int(n[0].item())
        _check_batch_size(x, n_total)  # the same on every rank: all raise together
        mean = mean64.to(acc)
        invstd = torch.rsqrt(m2 / n_total + eps).to(acc)  # biased variance normalizes
        if running_mean is not None:  # unbiased variance feeds the running estimate
            _update_running_stats(running_mean, running_var, mean64, m2 / (n_total - 1), momentum)
        xmu.sub_((mean - mean_local).view(shape))  # deviations from the global mean
        scale = invstd if weight is None else invstd * weight.to(acc)  # (C,)
        out = _normalize_into(xmu, scale, _as_acc(bias, acc), shape)
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.n, ctx.group = n_total, group
        ctx.bias_dtype = None if bias is None else bias.dtype
        return out.to(x.dtype)

    @staticmethod
    def backward(ctx, dout):
        with torch.no_grad():
            grads = _SyncBatchNormFunction._backward(ctx, dout)
        dx, dw, db = _guard_double_backward(dout, grads)
        return dx, None, None, dw, db, None, None, None, None

    @staticmethod
    def _backward(ctx, dout):
        x, weight, mean, invstd = ctx.saved_tensors
        need_dx, need_dw, need_db = (ctx.needs_input_grad[i] for i in (0, 3, 4))
        acc, dims, shape = invstd.dtype, _reduce_dims(x), _channel_shape(x)
        sum_dout = dout.sum(dims, dtype=acc)  # (C,) this rank's share
        xmu = x - mean.view(shape)  # (N, C, *) in acc
        dotp = _channel_dot(dout, xmu, dims, acc)  # (C,) this rank's sum(dout * (x - mu))
        dw = (dotp * invstd).to(weight.dtype) if need_dw else None
        db = sum_dout.to(ctx.bias_dtype) if need_db else None
        dx = None
        if need_dx:
            sums = torch.stack((sum_dout, dotp))  # (2, C)
            dist.all_reduce(sums, group=ctx.group)  # global sums over all ranks
            dx = _backward_train(dout, xmu, invstd, weight, ctx.n, sums).to(x.dtype)
        return dx, dw, db


class SyncBatchNorm(_BatchNorm):
    """Batch Normalization with statistics over the global batch of a process group.

    Book: chapter 3 (``book/03_mechanics.md``), sections ``bn-transform`` and
    ``bn-backward``; chapter 5, section ``train-vs-inference``.

    Drop-in for ``torch.nn.SyncBatchNorm``, for CPU (gloo) as well as GPU (NCCL). In
    training mode, when ``torch.distributed`` is initialized and the group has more
    than one rank, mean and variance are those of the concatenation of every rank's
    batch (per-rank batch sizes may differ), and the input gradient is that of the
    global batch. Otherwise (evaluation mode, no process group, one rank) it is plain
    BN. weight/bias gradients are this rank's share; sum them over ranks (DDP does)
    to get the global ones.

    Parameters
    ----------
    num_features, eps, momentum, affine, track_running_stats, device, dtype, bias
        As in :class:`BatchNorm1d`.
    process_group : ProcessGroup, optional
        The group whose ranks share statistics; default the whole world.

    Shape: input (N, C, *) with at least 2 dimensions; output the same.
    """

    _layout = "(N, C, *)"

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group=None,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(
            num_features,
            eps,
            momentum,
            affine,
            track_running_stats,
            device=device,
            dtype=dtype,
            bias=bias,
        )
        self.process_group = process_group

    def _check_input_dim(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"SyncBatchNorm expects a torch.Tensor, got {type(x).__name__}")
        if x.dim() < 2:
            raise ValueError(
                f"SyncBatchNorm expects input of shape (N, C, *) with at least 2 dimensions, "
                f"got {x.dim()}-D input of shape {tuple(x.shape)}"
            )

    def _sync_group(self):
        """The process group to synchronize over, or None to behave as plain BN."""
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return None
        group = self.process_group if self.process_group is not None else dist.group.WORLD
        return group if dist.get_world_size(group) > 1 else None

    def forward(self, input: Tensor) -> Tensor:
        """Normalize ``input`` (N, C, *) with the statistics of the global batch.

        Book: chapter 3, sections ``bn-transform`` and ``bn-backward``.

        Plain BN (as :class:`BatchNorm1d`) in evaluation mode or without a process
        group of more than one rank.
        """
        group = self._sync_group()
        if group is None:
            return super().forward(input)
        self._check_input_dim(input)
        self._check_channels(input)
        running_mean = self.running_mean if self.track_running_stats else None
        running_var = self.running_var if self.track_running_stats else None
        _, eps = _check_args(
            input,
            running_mean,
            running_var,
            self.weight,
            self.bias,
            True,
            0.0,  # the module's momentum was checked when it was built
            self.eps,
            count_local=False,  # the sync function checks the global count
        )
        momentum = self._momentum_for_batch()
        return _SyncBatchNormFunction.apply(
            input,
            running_mean,
            running_var,
            self.weight,
            self.bias,
            momentum,
            eps,
            group,
            dist.get_world_size(group),
        )

    @classmethod
    def convert_sync_batchnorm(cls, module: nn.Module, process_group=None) -> nn.Module:
        """Same as :func:`convert_sync_batchnorm` (``torch.nn.SyncBatchNorm``'s spelling)."""
        return convert_sync_batchnorm(module, process_group)


def convert_sync_batchnorm(module: nn.Module, process_group=None) -> nn.Module:
    """Replace every BN module (bnref's or ``torch.nn``'s) in ``module`` by :class:`SyncBatchNorm`.

    Book: chapter 3 (``book/03_mechanics.md``), section ``bn-transform``.

    The new modules share the old ones' parameters and buffers (same tensors), mode
    and ``qconfig``, as ``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` does.

    Parameters
    ----------
    module : nn.Module
        A model, or a single BN module.
    process_group : ProcessGroup, optional
        Passed to every new :class:`SyncBatchNorm`; default the whole world.

    Returns
    -------
    nn.Module
        ``module`` with its BN children replaced, or a new :class:`SyncBatchNorm` if
        ``module`` itself is a BN module.
    """
    out = module
    is_bn = isinstance(module, _BatchNorm | nn.modules.batchnorm._BatchNorm)
    if is_bn and not isinstance(module, SyncBatchNorm):
        out = SyncBatchNorm(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
            process_group,
            bias=module.bias is not None,
        )
        if module.affine:
            with torch.no_grad():
                out.weight = module.weight
                out.bias = module.bias
        out.running_mean = module.running_mean
        out.running_var = module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.training = module.training
        if hasattr(module, "qconfig"):
            out.qconfig = module.qconfig
    for name, child in module.named_children():
        out.add_module(name, convert_sync_batchnorm(child, process_group))
    return out


# --------------------------------------------------------------------------------------
# inference: fold an evaluation-mode BN into the preceding conv or linear layer
# --------------------------------------------------------------------------------------
def fold_batch_norm(
    weight: Tensor,
    bias: Tensor | None,
    running_mean: Tensor,
    running_var: Tensor,
    gamma: Tensor | None = None,
    beta: Tensor | None = None,
    eps: float = 1e-5,
) -> tuple[Tensor, Tensor]:
    """Fold an evaluation-mode BN into the linear or conv weights that precede it.

    Book: chapter 3 (``book/03_mechanics.md``), section ``bn-folding``.

    ``BN(W x + b) = W' x + b'`` with ``W' = W * s`` (scaled output channel by output
    channel) and ``b' = (b - running_mean) * s + beta``, ``s = gamma / sqrt(running_var
    + eps)``. Valid only for BN in evaluation mode (running statistics) with nothing
    between the layer and the BN. Computed in float32 at least (float64 for float64).

    Parameters
    ----------
    weight : Tensor, shape (C_out, ...)
        Linear weight (C_out, C_in) or conv weight (C_out, C_in/groups, *kernel).
    bias : Tensor of shape (C_out,), or None
        The layer's bias; None for a layer built with ``bias=False``.
    running_mean, running_var : Tensor, shape (C_out,)
    gamma, beta : Tensor of shape (C_out,), optional
        The BN's weight and bias (None means 1 and 0).
    eps : float

    Returns
    -------
    weight_folded : Tensor, same shape and dtype as weight
    bias_folded : Tensor, shape (C_out,), dtype of bias (of weight when bias is None)
    """
    if not isinstance(weight, Tensor) or not weight.is_floating_point() or weight.dim() < 2:
        raise ValueError(
            "weight must be a floating-point tensor of shape (C_out, C_in) or "
            f"(C_out, C_in/groups, *kernel), got {getattr(weight, 'shape', type(weight))}"
        )
    C = weight.shape[0]
    for name, t in (
        ("bias", bias),
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("gamma", gamma),
        ("beta", beta),
    ):
        if t is not None and (not isinstance(t, Tensor) or t.shape != (C,)):
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(
                f"{name} must have shape ({C},), one entry per output channel of the "
                f"layer, got {got}"
            )
    if running_mean is None or running_var is None:
        raise ValueError("running_mean and running_var are needed to fold a BN")
    work = torch.promote_types(weight.dtype, torch.float32)
    with torch.no_grad():
        scale = torch.rsqrt(running_var.to(work) + eps)  # (C_out,)
        if gamma is not None:
            scale = scale * gamma.to(work)
        b = torch.zeros_like(scale) if bias is None else bias.to(work)
        bias_folded = (b - running_mean.to(work)) * scale  # (C_out,)
        if beta is not None:
            bias_folded = bias_folded + beta.to(work)
        weight_folded = weight.to(work) * scale.view((C,) + (1,) * (weight.dim() - 1))
    bias_dtype = weight.dtype if bias is None else bias.dtype
    return weight_folded.to(weight.dtype), bias_folded.to(bias_dtype)


def _check_foldable(layer: nn.Module, bn: nn.Module, who: str, out_features: int) -> None:
    if layer.training or bn.training:
        raise ValueError(
            f"{who} folds BN's running statistics, which is only valid in evaluation mode "
            f"(in training mode BN normalizes with batch statistics); call .eval() on both "
            f"first (layer.training={layer.training}, bn.training={bn.training})"
        )
    if getattr(bn, "running_mean", None) is None or getattr(bn, "running_var", None) is None:
        raise ValueError(
            f"{who}: the BN has no running statistics (track_running_stats=False), so it "
            "normalizes with batch statistics even in evaluation mode and cannot be folded"
        )
    if out_features != bn.num_features:
        raise ValueError(
            f"{who}: the layer has {out_features} output channels but the BN has "
            f"{bn.num_features} features"
        )


def _as_parameter(t: Tensor, like: Tensor) -> nn.Parameter:
    return nn.Parameter(t, requires_grad=like.requires_grad)


def fuse_conv_bn_eval(conv: nn.Module, bn: nn.Module, transpose: bool | None = None) -> nn.Module:
    """A new conv module equal to ``bn(conv(x))`` in evaluation mode (BN folded in).

    Book: chapter 3 (``book/03_mechanics.md``), section ``bn-folding``.

    Same result as ``torch.nn.utils.fusion.fuse_conv_bn_eval``. Works with bnref's
    and ``torch.nn``'s BN modules, convs with or without bias (the fused conv gets
    one), 1-D/2-D/3-D, grouped and transposed convs (grouped transposed too).

    Parameters
    ----------
    conv : torch.nn.Conv1d/2d/3d or ConvTranspose1d/2d/3d, in eval mode
    bn : a BatchNorm module with running statistics, in eval mode
    transpose : bool, optional
        Whether ``conv`` is transposed (weight (C_in, C_out/groups, *kernel)); by
        default read from ``conv.transposed``.

    Returns
    -------
    nn.Module
        A deep copy of ``conv`` with folded weight and bias; the inputs are untouched.

    Raises
    ------
    ValueError
        Either module in training mode, a BN without running statistics, or channel
        counts that do not match.
    """
    transpose = getattr(conv, "transposed", False) if transpose is None else transpose
    _check_foldable(conv, bn, "fuse_conv_bn_eval", conv.out_channels)
    w = conv.weight
    if transpose:  # (C_in, C_out/g, *k): bring output channels first, group by group
        g, c_in = conv.groups, w.shape[0]
        w = w.unflatten(0, (g, c_in // g)).transpose(1, 2).flatten(0, 1)  # (C_out, C_in/g, *k)
    w, b = fold_batch_norm(
        w, conv.bias, bn.running_mean, bn.running_var, bn.weight, bn.bias, bn.eps
    )
    if transpose:
        w = w.unflatten(0, (g, w.shape[0] // g)).transpose(1, 2).flatten(0, 1)  # back
    fused = copy.deepcopy(conv)
    fused.weight = _as_parameter(w.contiguous(), conv.weight)
    fused.bias = _as_parameter(b, conv.weight if conv.bias is None else conv.bias)
    return fused


def fuse_linear_bn_eval(linear: nn.Linear, bn: nn.Module) -> nn.Linear:
    """A new ``nn.Linear`` equal to ``bn(linear(x))`` in evaluation mode (BN folded in).

    Book: chapter 3 (``book/03_mechanics.md``), section ``bn-folding``.

    Same result as ``torch.nn.utils.fusion.fuse_linear_bn_eval``, with bnref's or
    ``torch.nn``'s BatchNorm1d, with or without a linear bias.

    Parameters
    ----------
    linear : nn.Linear (C_out = out_features), in eval mode
    bn : a BatchNorm1d with C_out features and running statistics, in eval mode

    Returns
    -------
    nn.Linear
        A deep copy of ``linear`` with folded weight and bias.

    Raises
    ------
    ValueError
        Either module in training mode, a BN without running statistics, or
        ``linear.out_features != bn.num_features``.
    """
    _check_foldable(linear, bn, "fuse_linear_bn_eval", linear.out_features)
    w, b = fold_batch_norm(
        linear.weight, linear.bias, bn.running_mean, bn.running_var, bn.weight, bn.bias, bn.eps
    )
    fused = copy.deepcopy(linear)
    fused.weight = _as_parameter(w, linear.weight)
    fused.bias = _as_parameter(b, linear.weight if linear.bias is None else linear.bias)
    return fused
