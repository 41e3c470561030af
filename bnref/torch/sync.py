"""Synchronized BN: statistics over the global batch of a ``torch.distributed`` process group.

:class:`SyncBatchNorm` (drop-in for ``torch.nn.SyncBatchNorm``, gloo on CPU and NCCL on GPU)
and :func:`convert_sync_batchnorm`, which swaps it in for every BN module of a model.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn

from bnref.torch.functional import (
    _acc_dtype,
    _backward_train,
    _channel_dot,
    _channel_shape,
    _check_args,
    _check_batch_size,
    _guard_double_backward,
    _reduce_dims,
    update_running_stats,
)
from bnref.torch.modules import _BatchNorm

__all__ = ["SyncBatchNorm", "convert_sync_batchnorm"]


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
        m2_local = _channel_dot(xmu, xmu, dims, acc)  # (C,)
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
            update_running_stats(running_mean, running_var, mean64, m2 / n_total, n_total, momentum)
        xmu.sub_((mean - mean_local).view(shape))  # deviations from the global mean
        scale = invstd if weight is None else invstd * weight.to(acc)  # (C,)
        shift = torch.zeros_like(scale) if bias is None else bias.to(acc)  # (C,)
        out = torch.addcmul(shift.view(shape), xmu, scale.view(shape), out=xmu)  # over xmu
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
            k = invstd if weight is None else invstd * weight.to(acc)  # (C,)
            dx = _backward_train(dout, x, xmu, mean, k, invstd, ctx.n, sums[0], sums[1])
            dx = dx.to(x.dtype)
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

    Shape
    -----
    Input ``(N, C, *)`` with at least 2 dimensions; output the same.
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
        """Normalize ``input`` of shape ``(N, C, *)`` with the statistics of the global batch.

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
