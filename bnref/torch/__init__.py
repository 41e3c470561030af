"""Batch Normalization in PyTorch: a readable reference with a hand-written backward.

What lives where
----------------
* ``functional.py``: :func:`batch_norm`, ``torch.nn.functional.batch_norm``'s signature and
  semantics, implemented as the autograd function :class:`BatchNormFunction` whose
  backward is the compact closed form of chapter 3 (no autograd through the statistics),
  with a forward-mode derivative and ``torch.func`` support; :func:`update_running_stats`
  (torch's convention, or Keras's on request); :func:`check_running_stats`.
* ``modules.py``: :class:`BatchNorm1d`, :class:`BatchNorm2d`, :class:`BatchNorm3d`,
  drop-in replacements for ``torch.nn.BatchNorm*d`` (same arguments, parameters, buffers
  and ``state_dict`` keys; weights load both ways; subclasses of torch's ``_BatchNorm``).
* ``sync.py``: :class:`SyncBatchNorm` and :func:`convert_sync_batchnorm`, statistics over
  the global batch of a ``torch.distributed`` process group (gloo on CPU, NCCL on GPU).
* ``fusion.py``: :func:`fold_batch_norm`, :func:`fuse_conv_bn_eval`,
  :func:`fuse_linear_bn_eval`: fold an evaluation-mode BN into the preceding conv or
  linear layer; ``torch.ao.quantization.fuse_modules`` learns bnref's module types.
* :func:`convert_momentum` (from :mod:`bnref.numpy`): move between momentum conventions.

Works with ``torch.compile`` (``fullgraph=True``), ``torch.export.export``,
``torch.jit.trace``, ``torch.fx.symbolic_trace`` and ``torch.func`` (``grad``, ``vjp``,
``jvp``, ``vmap``). ``torch.jit.script`` (deprecated upstream) refuses with a message
naming these alternatives. Differences from torch that remain are listed in the README's
"Using bnref" section.

Conventions
-----------
The same as in :mod:`bnref.numpy` and on the book's notation page.

* Input is ``(N, C, *)``: statistics are taken per channel (axis 1) over every other
  axis, ``n = N * prod(*)`` values per channel. Any memory format (channels-last too).
* The batch is normalized with the *biased* variance (divide by ``n``);
  ``running_var`` is updated with the *unbiased* variance (divide by ``n - 1``).
* ``eps`` is added inside the square root: ``x_hat = (x - mu) / sqrt(var + eps)``;
  it must be > 0 in training mode, as torch requires.
* ``momentum`` follows PyTorch: ``running = (1 - momentum) * running + momentum * batch``,
  ``momentum = 0.1``. Keras (0.99) and CS231n (0.9) weight the old value instead;
  convert explicitly with ``convert_momentum(0.99, "keras", "torch")``. Keras also stores
  the *biased* variance: ``update_running_stats(..., convention="keras")`` and
  ``batch_norm(..., convention="keras")`` do both, as an explicit option.
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

from bnref.numpy import convert_momentum
from bnref.torch.functional import (
    BatchNormFunction,
    batch_norm,
    check_running_stats,
    update_running_stats,
)
from bnref.torch.fusion import (
    FUSER_METHOD_MAPPING,  # noqa: F401 (not in __all__: a dict, no docstring)
    fold_batch_norm,
    fuse_conv_bn_eval,
    fuse_linear_bn_eval,
)
from bnref.torch.modules import BatchNorm1d, BatchNorm2d, BatchNorm3d
from bnref.torch.sync import SyncBatchNorm, convert_sync_batchnorm

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
    "update_running_stats",
]
