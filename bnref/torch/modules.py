"""Modules: drop-in replacements for ``torch.nn.BatchNorm1d/2d/3d``.

They subclass torch's own ``torch.nn.modules.batchnorm._BatchNorm``, so code that looks for
BatchNorm layers by type finds them: ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``,
``isinstance(m, nn.modules.batchnorm._BatchNorm)`` checks in training loops, and (through
the registration in :mod:`bnref.torch.fusion`) ``torch.ao.quantization.fuse_modules``.
Their ``forward`` is bnref's own (:func:`bnref.torch.batch_norm`), never torch's kernel.
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor, fx, nn

from bnref.torch.functional import (
    _check_batch_size,
    _check_input,
    _real,
    batch_norm,
    check_running_stats,
)

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]

_SCRIPT_MESSAGE = (
    "{name} is not TorchScript-compatible: torch.jit.script (deprecated upstream) cannot "
    "compile bnref's Python-level checks and autograd.Function. Supported instead: "
    "torch.compile(model), torch.export.export(model, args), torch.jit.trace(model, "
    "example) and torch.fx.symbolic_trace(model); or swap in torch.nn.BatchNorm*d (same "
    "state_dict keys) before scripting."
)


class _BatchNorm(nn.modules.batchnorm._BatchNorm):
    """Shared body of :class:`BatchNorm1d`/``2d``/``3d`` and :class:`SyncBatchNorm`.

    Parameters (learned, ``weight`` = gamma, ``bias`` = beta) and buffers (collected,
    ``running_mean``, ``running_var``, ``num_batches_tracked``) are registered under
    the same names and in the same order as in ``torch.nn``, so ``state_dict`` keys
    are identical and weights load both ways. A subclass of torch's ``_BatchNorm``
    (for the tools that look BN layers up by type); everything it computes is bnref's.
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
        nn.Module.__init__(self)  # torch's _NormBase.__init__ is replaced by the checked one below
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
        if self.running_mean is not None:
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

    def __prepare_scriptable__(self):
        # torch.jit.script calls this on every module before compiling it
        raise RuntimeError(_SCRIPT_MESSAGE.format(name=type(self).__name__))

    def _momentum_for_batch(self) -> float:
        """Count a training batch and return the momentum to use for it, as torch.nn does.

        ``momentum=None`` means a cumulative average: momentum ``1 / num_batches_tracked``.
        A module whose ``track_running_stats`` was switched on after construction has no
        counter (nor running statistics): nothing is counted, as in torch.
        """
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
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
        """Normalize ``input`` ``(N, C, *)``; in training mode, update the running statistics.

        Book: chapter 3, section ``bn-transform``; chapter 5, section ``train-vs-inference``.

        Training mode (``module.train()``) uses batch statistics; evaluation mode
        (``module.eval()``) uses the running statistics, or batch statistics when there
        are none (``track_running_stats=False``). ``momentum=None`` makes the running
        statistics a cumulative average: momentum ``1 / num_batches_tracked`` per batch.
        """
        if isinstance(input, fx.Proxy):
            # torch.fx.symbolic_trace: record this module as one call, a leaf, as the
            # tracer does for torch.nn's own modules (the checks below need real tensors)
            tracer = input.tracer
            return tracer.create_proxy("call_module", tracer.path_of_module(self), (input,), {})
        self._check_input_dim(input)
        self._check_channels(input)
        # each buffer or parameter read costs a Module.__getattr__: read them once
        running_mean, running_var, training = self.running_mean, self.running_var, self.training
        # as torch.nn: batch statistics in training, and in eval without running statistics
        use_batch_stats = training or (running_mean is None and running_var is None)
        if use_batch_stats:  # before num_batches_tracked moves
            _check_batch_size(input, input.numel() // input.shape[1])
        momentum = self._momentum_for_batch()
        # running statistics are passed when used (eval) or updated (training + tracking)
        pass_stats = not training or self.track_running_stats
        return batch_norm(
            input,
            running_mean if pass_stats else None,
            running_var if pass_stats else None,
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

    Shape
    -----
    Input (N, C) or (N, C, L); output the same.

    Examples
    --------
    >>> bn = BatchNorm1d(3)
    >>> out = bn(torch.randn(16, 3))  # training mode: batch statistics, running ones updated
    >>> int(bn.num_batches_tracked), tuple(out.shape)
    (1, (16, 3))
    >>> bn.eval()(torch.randn(2, 3)).shape  # evaluation mode: the running statistics
    torch.Size([2, 3])
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
