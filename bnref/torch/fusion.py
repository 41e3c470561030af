"""Inference fusion: fold an evaluation-mode BN into the conv or linear layer before it.

:func:`fold_batch_norm` (the arithmetic), :func:`fuse_conv_bn_eval` and
:func:`fuse_linear_bn_eval` (new modules, as ``torch.nn.utils.fusion``), and the
registration that lets ``torch.ao.quantization.fuse_modules`` fuse bnref's modules too.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from bnref.torch.modules import BatchNorm1d, BatchNorm2d, BatchNorm3d

__all__ = ["fold_batch_norm", "fuse_conv_bn_eval", "fuse_linear_bn_eval"]


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
        Linear weight (C_out, C_in) or conv weight ``(C_out, C_in/groups, *kernel)``.
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
        Whether ``conv`` is transposed (weight ``(C_in, C_out/groups, *kernel)``); by
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


# --------------------------------------------------------------------------------------
# torch.ao.quantization.fuse_modules: which fuser handles which sequence of module types
# --------------------------------------------------------------------------------------
def _fuser_method_mapping() -> dict:
    """``{(layer type, bnref BN type[, nn.ReLU]): torch's fuser function}``.

    torch's fuser functions work with any BN module that has ``running_mean``,
    ``running_var``, ``weight``, ``bias`` and ``eps`` in evaluation mode (post-training
    fusion). Quantization-aware training fusion (``fuse_modules_qat``) builds torch's
    intrinsic ``ConvBn*d`` modules, which accept only ``torch.nn``'s BN types.
    """
    from torch.ao.quantization import fuser_method_mappings as fm

    bns = {1: BatchNorm1d, 2: BatchNorm2d, 3: BatchNorm3d}
    convs = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
    transposed = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
    mapping: dict = {(nn.Linear, BatchNorm1d): fm.fuse_linear_bn}
    for d, bn in bns.items():
        mapping[convs[d], bn] = fm.fuse_conv_bn
        mapping[convs[d], bn, nn.ReLU] = fm.fuse_conv_bn_relu
        mapping[transposed[d], bn] = fm.fuse_convtranspose_bn
    return mapping


#: For ``torch.ao.quantization.fuse_modules(model, names,
#: fuse_custom_config_dict={"additional_fuser_method_mapping": FUSER_METHOD_MAPPING})``;
#: importing :mod:`bnref.torch` also adds these entries to torch's default table, so
#: ``fuse_modules(model, [["conv", "bn", "relu"]])`` works without it.
FUSER_METHOD_MAPPING = _fuser_method_mapping()


def _register_with_torch_fuser() -> None:
    """Add bnref's entries (never replacing torch's) to fuse_modules' default table."""
    from torch.ao.quantization import fuser_method_mappings as fm

    table = getattr(fm, "_DEFAULT_OP_LIST_TO_FUSER_METHOD", None)
    if isinstance(table, dict):  # a private table: if torch renames it, pass the mapping
        for key, fuser in FUSER_METHOD_MAPPING.items():
            table.setdefault(key, fuser)


_register_with_torch_fuser()
