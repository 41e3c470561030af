"""bnref.numpy against torch (the independent oracle) and against numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.fusion import fuse_conv_bn_weights, fuse_linear_bn_weights

import bnref.numpy as bn

FAST = settings(max_examples=40, deadline=None)
# (rtol, atol) for the output of batch_norm against torch, per input dtype.
TOL = {np.float64: (1e-10, 1e-10), np.float32: (1e-5, 1e-5), np.float16: (1e-2, 1e-2)}


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a))  # a copy: torch never shares our buffers


def _param_dtype(dtype) -> type:
    """Parameter dtype for an input dtype: float16 input keeps float32 parameters,
    the usual mixed-precision set-up (torch on the CPU accepts both)."""
    return np.float32 if dtype == np.float16 else dtype


@st.composite
def bn_cases(draw):
    """A random batch_norm call: shape (2-D to 5-D), dtype, momentum, eps, mode, params."""
    ndim = draw(st.integers(2, 5))
    N = draw(st.integers(2, 5))
    C = draw(st.integers(1, 4))
    spatial = draw(st.lists(st.integers(1, 4), min_size=ndim - 2, max_size=ndim - 2))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.float16]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    loc = draw(st.floats(-5, 5))
    scale = draw(st.floats(0.5, 5))
    x = (loc + scale * rng.standard_normal((N, C, *spatial))).astype(dtype)
    p = _param_dtype(dtype)
    case = {
        "x": x,
        "running_mean": rng.standard_normal(C).astype(p),
        "running_var": rng.uniform(0.2, 3.0, C).astype(p),
        "weight": rng.standard_normal(C).astype(p) if draw(st.booleans()) else None,
        "bias": rng.standard_normal(C).astype(p) if draw(st.booleans()) else None,
        "training": draw(st.booleans()),
        "momentum": draw(st.floats(0.0, 1.0)),
        "eps": draw(st.floats(1e-6, 1e-1)),
    }
    return case


def _torch_batch_norm(case):
    """Run F.batch_norm on copies; returns (out, running_mean, running_var) as arrays."""
    rm, rv = _t(case["running_mean"]), _t(case["running_var"])
    w, b = (None if case[k] is None else _t(case[k]) for k in ("weight", "bias"))
    out = F.batch_norm(_t(case["x"]), rm, rv, w, b, case["training"], case["momentum"], case["eps"])
    return out.numpy(), rm.numpy(), rv.numpy()


@FAST
@given(bn_cases())
def test_batch_norm_matches_torch_forward_and_running_stats(case):
    """Output, in-place running statistics and dtype match F.batch_norm (train and eval)."""
    want_out, want_rm, want_rv = _torch_batch_norm(case)
    rm, rv = case["running_mean"].copy(), case["running_var"].copy()
    out = bn.batch_norm(
        case["x"],
        rm,
        rv,
        case["weight"],
        case["bias"],
        case["training"],
        case["momentum"],
        case["eps"],
    )
    rtol, atol = TOL[case["x"].dtype.type]
    assert out.dtype == case["x"].dtype and out.shape == case["x"].shape
    np.testing.assert_allclose(out.astype(np.float64), want_out, rtol=rtol, atol=atol)
    stat_tol = 1e-12 if rm.dtype == np.float64 else 1e-5  # rm, rv were updated in place:
    np.testing.assert_allclose(rm, want_rm, rtol=stat_tol, atol=stat_tol)
    np.testing.assert_allclose(rv, want_rv, rtol=stat_tol, atol=stat_tol)
    if not case["training"]:  # evaluation mode leaves the statistics alone
        np.testing.assert_array_equal(rm, case["running_mean"])
        np.testing.assert_array_equal(rv, case["running_var"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_without_running_stats_matches_torch(dtype):
    """running_mean = running_var = None in training mode normalizes with batch statistics."""
    x = np.random.default_rng(0).standard_normal((6, 3, 5)).astype(dtype)
    want = F.batch_norm(_t(x), None, None, training=True).numpy()
    np.testing.assert_allclose(bn.batch_norm(x, None, None, training=True), want, **_tol(dtype))


def _tol(dtype):
    rtol, atol = TOL[np.dtype(dtype).type]
    return {"rtol": rtol, "atol": atol}


# Blocked code paths: block sizes small enough that small arrays take every branch
# (several row blocks, channel groups, row sums by dot or down the batch, tiled and
# broadcast per-channel operands, remainders).
BLOCK_CASES = [
    ((200, 3), {}),
    ((1000, 4, 5), {"_BLOCK_BYTES": 4096}),
    ((1000, 4, 5), {"_BLOCK_BYTES": 16384}),
    ((6, 3, 40, 40), {"_BLOCK_BYTES": 8192}),
    ((4, 2, 64, 64), {"_SPREAD_MAX": 4096}),
    ((3, 5, 7, 3, 10), {"_BLOCK_BYTES": 2048, "_SUB_ROWS": 4}),
    ((2, 3, 256, 256), {}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "constants"), BLOCK_CASES)
def test_blocked_paths_match_torch(shape, constants, dtype, monkeypatch):
    """Every blocking branch of the fast implementation gives torch's result."""
    for name, value in constants.items():
        monkeypatch.setattr(bn, name, value)
    rng = np.random.default_rng(1)
    x = (3 + 2 * rng.standard_normal(shape)).astype(dtype)
    C = shape[1]
    case = {
        "x": x,
        "running_mean": np.zeros(C, dtype),
        "running_var": np.ones(C, dtype),
        "weight": rng.standard_normal(C).astype(dtype),
        "bias": rng.standard_normal(C).astype(dtype),
        "training": True,
        "momentum": 0.3,
        "eps": 1e-5,
    }
    want_out, want_rm, want_rv = _torch_batch_norm(case)
    rm, rv = case["running_mean"], case["running_var"]
    out = bn.batch_norm(x, rm, rv, case["weight"], case["bias"], True, 0.3, 1e-5)
    np.testing.assert_allclose(out, want_out, **_tol(dtype))
    np.testing.assert_allclose(rm, want_rm, **_tol(dtype))
    np.testing.assert_allclose(rv, want_rv, **_tol(dtype))
    out_eval = bn.batch_norm(x, rm, rv, case["weight"], case["bias"], False)
    want_eval = F.batch_norm(
        _t(x), _t(rm), _t(rv), _t(case["weight"]), _t(case["bias"]), False
    ).numpy()
    np.testing.assert_allclose(out_eval, want_eval, **_tol(dtype))


@pytest.mark.parametrize("shape", [(64, 8), (16, 8, 6, 6), (4, 8, 3, 4, 5), (8, 4, 40, 40)])
@pytest.mark.parametrize("std", [1.0, 0.01])
def test_large_mean_float32_stays_accurate(shape, std):
    """x = 1e4 + std * randn in float32: within 2e-5 of the float64 result, where the
    one-pass formula E[x^2] - E[x]^2 is off by orders of magnitude more."""
    rng = np.random.default_rng(2)
    x = (1e4 + std * rng.standard_normal(shape)).astype(np.float32)
    C = shape[1]
    rm, rv = np.zeros(C, np.float32), np.ones(C, np.float32)
    out = bn.batch_norm(x, rm, rv, training=True)

    x64 = torch.from_numpy(x.astype(np.float64))
    rm64, rv64 = torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64)
    want = F.batch_norm(x64, rm64, rv64, training=True).numpy()
    tol = 2e-5
    assert np.abs(out - want).max() < tol
    np.testing.assert_allclose(rm, rm64.numpy(), rtol=1e-6)
    np.testing.assert_allclose(rv, rv64.numpy(), rtol=1e-5)

    axes = (0, *range(2, x.ndim))  # the contrast: the same normalization, one-pass variance
    mu = x.mean(axis=axes, keepdims=True, dtype=np.float32)
    var = (x * x).mean(axis=axes, keepdims=True, dtype=np.float32) - mu * mu
    with np.errstate(invalid="ignore"):
        naive = (x - mu) / np.sqrt(np.maximum(var, 0) + np.float32(1e-5))
    assert not np.abs(naive - want).max() < 100 * tol


@pytest.mark.parametrize(("shape", "block_bytes"), [((64, 3, 40), 2048), ((256, 8), 512)])
def test_mean_drifting_across_the_batch_stays_accurate(shape, block_bytes, monkeypatch):
    """Sample means 1e3 apart (std 1) in float32, over many blocks: the blocks whose mean
    is far from the running shift are centred again; the result matches float64."""
    monkeypatch.setattr(bn, "_BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(16)
    offsets = 1e3 * rng.permutation(shape[0]).reshape(-1, *([1] * (len(shape) - 1)))
    x = (offsets + rng.standard_normal(shape)).astype(np.float32)
    x64 = torch.from_numpy(x.astype(np.float64))
    want = F.batch_norm(x64, None, None, training=True).numpy()
    assert np.abs(bn.batch_norm(x, None, None, training=True) - want).max() < 1e-5


@pytest.mark.parametrize("shape", [(5, 3), (4, 6, 3), (2, 5, 4, 3), (2, 3, 2, 4, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_channels_last_equals_moving_the_axis(shape, training):
    """channel_axis=-1 on (N, ..., C) equals channel_axis=1 on the axis moved to 1."""
    rng = np.random.default_rng(3)
    x_last = rng.standard_normal(shape).astype(np.float32)
    C = shape[-1]
    w, b = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
    rm1, rv1 = rng.standard_normal(C).astype(np.float32), rng.uniform(0.5, 2, C).astype(np.float32)
    rm2, rv2 = rm1.copy(), rv1.copy()
    out_last = bn.batch_norm(x_last, rm1, rv1, w, b, training, channel_axis=-1)
    x_first = np.moveaxis(x_last, -1, 1)
    out_first = bn.batch_norm(x_first, rm2, rv2, w, b, training, channel_axis=1)
    np.testing.assert_allclose(out_last, np.moveaxis(out_first, 1, -1), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(rm1, rm2, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(rv1, rv2, rtol=1e-6, atol=1e-7)
    explicit = bn.batch_norm(
        x_last, rm1.copy(), rv1.copy(), w, b, training, channel_axis=len(shape) - 1
    )
    np.testing.assert_array_equal(
        explicit, bn.batch_norm(x_last, rm1, rv1, w, b, training, channel_axis=-1)
    )


def test_strided_input_equals_its_contiguous_copy():
    """A non-contiguous view gives the same result as a contiguous copy of it."""
    base = np.random.default_rng(14).standard_normal((6, 3, 8, 10)).astype(np.float32)
    view = base[:, :, ::2, 1::3]  # (6, 3, 4, 3), strided
    rm1, rv1, rm2, rv2 = np.zeros(3), np.ones(3), np.zeros(3), np.ones(3)
    out = bn.batch_norm(view, rm1, rv1, training=True)
    np.testing.assert_array_equal(out, bn.batch_norm(view.copy(), rm2, rv2, training=True))
    np.testing.assert_array_equal(rv1, rv2)


def test_numpy_without_vecdot_gives_the_same_result(monkeypatch):
    """The einsum fallback for NumPy < 2 (no np.vecdot) gives torch's result too."""
    x = np.random.default_rng(15).standard_normal((4, 3, 16, 16)).astype(np.float32)
    monkeypatch.delattr(np, "vecdot", raising=False)
    want = F.batch_norm(_t(x), None, None, training=True).numpy()
    np.testing.assert_allclose(
        bn.batch_norm(x, None, None, training=True), want, **_tol(np.float32)
    )


def test_float16_input_returns_float16_close_to_float32_result():
    """float16 in, float16 out, computed in float32 (torch's CPU half path agrees)."""
    x = np.random.default_rng(4).standard_normal((8, 3, 4, 4)).astype(np.float16)
    out = bn.batch_norm(x, None, None, training=True)
    assert out.dtype == np.float16
    want = F.batch_norm(_t(x), None, None, training=True)
    assert want.dtype == torch.float16
    np.testing.assert_allclose(out.astype(np.float32), want.float().numpy(), atol=4e-3, rtol=4e-3)
    ref32 = bn.batch_norm(x.astype(np.float32), None, None, training=True)
    np.testing.assert_allclose(out.astype(np.float32), ref32, atol=4e-3, rtol=1e-3)


def test_empty_batch_returns_empty_and_leaves_running_stats():
    """An empty batch gives an empty output and no update, as in torch."""
    rm, rv = np.zeros(3), np.ones(3)
    out = bn.batch_norm(np.empty((0, 3)), rm, rv, training=True)
    assert out.shape == (0, 3)
    want = F.batch_norm(torch.empty(0, 3, dtype=torch.float64), _t(rm), _t(rv), training=True)
    assert tuple(want.shape) == out.shape
    np.testing.assert_array_equal(rm, np.zeros(3))
    np.testing.assert_array_equal(rv, np.ones(3))


# --------------------------------------------------------------------------------------
# the teaching pair
# --------------------------------------------------------------------------------------
def _torch_grads(x, gamma, beta, dout, eps):
    """dx, dgamma, dbeta of sum(dout * BN(x)) by torch autograd (training mode)."""
    xt, gt, bt = (_t(a).requires_grad_() for a in (x, gamma, beta))
    out = F.batch_norm(xt, None, None, gt, bt, training=True, eps=eps)
    (out * _t(dout)).sum().backward()
    return out.detach().numpy(), xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()


def _numerical_gradient(f, a, h=1e-5):
    """Centered differences of the scalar f() with respect to the array a (changed in place)."""
    grad = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + h
        plus = f()
        a[i] = old - h
        minus = f()
        a[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def _teaching_inputs(shape, seed):
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = 5 * rng.standard_normal(shape) + 12
    return x, rng.standard_normal(C), rng.standard_normal(C), rng.standard_normal(shape)


@pytest.mark.parametrize(("N", "D"), [(2, 3), (4, 5), (50, 7)])
@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_batchnorm_forward_and_backward_match_torch_autograd(N, D, eps):
    """Forward output and all three gradients equal torch's autograd in float64."""
    x, gamma, beta, dout = _teaching_inputs((N, D), seed=N * D)
    out, cache = bn.batchnorm_forward(x, gamma, beta, eps)
    want_out, want_dx, want_dgamma, want_dbeta = _torch_grads(x, gamma, beta, dout, eps)
    np.testing.assert_allclose(out, want_out, rtol=1e-10, atol=1e-12)
    for backward in (bn.batchnorm_backward, bn.batchnorm_backward_graph):
        dx, dgamma, dbeta = backward(dout, cache)
        np.testing.assert_allclose(dx, want_dx, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(dgamma, want_dgamma, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dbeta, want_dbeta, rtol=1e-10, atol=1e-12)


def test_batchnorm_backward_matches_numerical_gradient():
    """Centered differences (h = 1e-5, float64, random dout) agree to 1e-7 relative."""
    x, gamma, beta, dout = _teaching_inputs((4, 5), seed=5)

    def loss():
        return np.sum(dout * bn.batchnorm_forward(x, gamma, beta)[0])

    dx, dgamma, dbeta = bn.batchnorm_backward(dout, bn.batchnorm_forward(x, gamma, beta)[1])
    for ours, param in ((dx, x), (dgamma, gamma), (dbeta, beta)):
        numerical = _numerical_gradient(loss, param)
        rel = np.abs(ours - numerical) / np.maximum(1e-8, np.abs(ours) + np.abs(numerical))
        assert rel.max() < 1e-7
    assert np.abs(dx).max() > 1e-3  # a random dout gives a gradient that is not ~0


def test_two_numpy_backwards_agree_and_dout_of_ones_gives_zero_dx():
    """Compact and graph backward agree; a constant dout has zero dx (BN removes the mean)."""
    x, gamma, beta, dout = _teaching_inputs((64, 10), seed=6)
    _, cache = bn.batchnorm_forward(x, gamma, beta)
    for a, b in zip(
        bn.batchnorm_backward(dout, cache), bn.batchnorm_backward_graph(dout, cache), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    dx_ones, _, _ = bn.batchnorm_backward(np.ones_like(dout), cache)
    assert np.abs(dx_ones).max() < 1e-12


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (5, 2, 3, 3), (1, 4, 2, 3)])
def test_spatial_batchnorm_matches_torch_4d(shape):
    """spatial forward and backward equal F.batch_norm on (N, C, H, W) with autograd."""
    x, gamma, beta, dout = _teaching_inputs(shape, seed=7)
    out, cache = bn.spatial_batchnorm_forward(x, gamma, beta)
    want_out, want_dx, want_dgamma, want_dbeta = _torch_grads(x, gamma, beta, dout, 1e-5)
    np.testing.assert_allclose(out, want_out, rtol=1e-10, atol=1e-12)
    dx, dgamma, dbeta = bn.spatial_batchnorm_backward(dout, cache)
    assert dx.shape == shape and dgamma.shape == dbeta.shape == (shape[1],)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(dgamma, want_dgamma, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dbeta, want_dbeta, rtol=1e-10, atol=1e-12)


def test_batchnorm_cache_documents_its_fields():
    """The cache is a NamedTuple whose fields are the documented graph nodes."""
    x, gamma, beta, _ = _teaching_inputs((6, 3), seed=8)
    _, cache = bn.batchnorm_forward(x, gamma, beta, eps=1e-3)
    assert cache._fields == ("x_hat", "x_mu", "gamma", "var", "inv_std", "eps", "training")
    assert cache.training is True
    np.testing.assert_allclose(cache.x_mu, x - x.mean(axis=0))
    np.testing.assert_allclose(cache.var, x.var(axis=0))
    np.testing.assert_allclose(cache.inv_std, 1 / np.sqrt(x.var(axis=0) + 1e-3))
    np.testing.assert_allclose(cache.x_hat, cache.x_mu * cache.inv_std)


# --------------------------------------------------------------------------------------
# folding
# --------------------------------------------------------------------------------------
def _bn_params(C, rng, affine=True):
    rm, rv = rng.standard_normal(C), rng.uniform(0.2, 3.0, C)
    gamma = rng.uniform(0.5, 2.0, C) if affine else None
    beta = rng.standard_normal(C) if affine else None
    return rm, rv, gamma, beta


@pytest.mark.parametrize(
    "weight_shape", [(6, 4, 3), (6, 4, 3, 3), (6, 2, 3, 3), (6, 4, 2, 3, 3)], ids=str
)
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_fold_batch_norm_equals_torch_conv_fusion(weight_shape, with_bias, affine):
    """Equals torch.nn.utils.fusion.fuse_conv_bn_weights (1-D/2-D/3-D, grouped, no bias)."""
    rng = np.random.default_rng(9)
    C = weight_shape[0]
    w = rng.standard_normal(weight_shape).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32) if with_bias else None
    rm, rv, gamma, beta = (
        None if a is None else a.astype(np.float32) for a in _bn_params(C, rng, affine)
    )
    eps = 1e-3
    wf, bf = bn.fold_batch_norm(w, b, rm, rv, gamma, beta, eps)
    want_w, want_b = fuse_conv_bn_weights(
        _t(w),
        None if b is None else _t(b),
        _t(rm),
        _t(rv),
        eps,
        None if gamma is None else _t(gamma),
        None if beta is None else _t(beta),
    )
    assert wf.shape == w.shape and wf.dtype == w.dtype and bf.dtype == np.float32
    np.testing.assert_allclose(wf, want_w.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(bf, want_b.detach().numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("with_bias", [True, False])
def test_fold_batch_norm_equals_torch_linear_fusion(with_bias):
    """Equals torch.nn.utils.fusion.fuse_linear_bn_weights."""
    rng = np.random.default_rng(10)
    w = rng.standard_normal((5, 7))
    b = rng.standard_normal(5) if with_bias else None
    rm, rv, gamma, beta = _bn_params(5, rng)
    wf, bf = bn.fold_batch_norm(w, b, rm, rv, gamma, beta, eps=1e-5)
    want_w, want_b = fuse_linear_bn_weights(
        _t(w), None if b is None else _t(b), _t(rm), _t(rv), 1e-5, _t(gamma), _t(beta)
    )
    np.testing.assert_allclose(wf, want_w.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(bf, want_b.detach().numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("with_bias", [True, False])
def test_folded_layers_equal_layer_then_eval_bn(with_bias):
    """Folded linear and conv layers compute the layer followed by evaluation-mode BN."""
    rng = np.random.default_rng(11)
    # linear
    w, x = rng.standard_normal((5, 7)), rng.standard_normal((9, 7))
    b = rng.standard_normal(5) if with_bias else None
    rm, rv, gamma, beta = _bn_params(5, rng)
    wf, bf = bn.fold_batch_norm(w, b, rm, rv, gamma, beta)
    h = x @ w.T + (0 if b is None else b)  # (9, 5)
    want = F.batch_norm(_t(h), _t(rm), _t(rv), _t(gamma), _t(beta), training=False).numpy()
    np.testing.assert_allclose(x @ wf.T + bf, want, rtol=1e-10, atol=1e-10)
    # grouped 2-D conv
    w = rng.standard_normal((6, 2, 3, 3))
    b = rng.standard_normal(6) if with_bias else None
    x = rng.standard_normal((2, 4, 8, 8))
    rm, rv, gamma, beta = _bn_params(6, rng)
    wf, bf = bn.fold_batch_norm(w, b, rm, rv, gamma, beta)
    h = F.conv2d(_t(x), _t(w), None if b is None else _t(b), groups=2)
    want = F.batch_norm(h, _t(rm), _t(rv), _t(gamma), _t(beta), training=False)
    got = F.conv2d(_t(x), _t(wf), _t(bf), groups=2)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------------------
# momentum conventions
# --------------------------------------------------------------------------------------
CONVENTIONS = ["torch", "keras", "cs231n"]


@FAST
@given(st.floats(0.0, 1.0), st.sampled_from(CONVENTIONS), st.sampled_from(CONVENTIONS))
def test_convert_momentum_round_trips(m, src, dst):
    """src -> dst -> src gives the momentum back (to one rounding of 1 - m)."""
    back = bn.convert_momentum(bn.convert_momentum(m, src, dst), dst, src)
    assert back == pytest.approx(m, abs=2**-53)
    torch_m = bn.convert_momentum(m, src, "torch")
    assert torch_m == (m if src == "torch" else 1 - m)


def test_keras_momentum_converted_gives_keras_running_mean():
    """Keras' moving = 0.99 * moving + 0.01 * batch equals batch_norm with the converted
    momentum, and torch with momentum 0.01."""
    m = bn.convert_momentum(0.99, "keras", "torch")
    assert m == pytest.approx(0.01, abs=1e-15)
    rng = np.random.default_rng(12)
    keras_mean = rng.standard_normal(3)
    ours, theirs = keras_mean.copy(), _t(keras_mean)
    for _ in range(5):
        x = rng.standard_normal((16, 3)) + 2.0
        keras_mean = 0.99 * keras_mean + (1 - 0.99) * x.mean(axis=0)  # Keras' formula
        bn.batch_norm(x, ours, np.ones(3), training=True, momentum=m)
        F.batch_norm(
            _t(x), theirs, torch.ones(3, dtype=torch.float64), training=True, momentum=0.01
        )
    np.testing.assert_allclose(ours, keras_mean, rtol=1e-12)
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12)
    assert bn.convert_momentum(0.9, "cs231n", "keras") == 0.9


def test_convert_momentum_errors():
    """Unknown conventions, values outside [0, 1] and non-numbers are refused by name."""
    with pytest.raises(ValueError, match=r"unknown momentum convention src='pytorch'.*'torch'"):
        bn.convert_momentum(0.1, "pytorch", "keras")
    with pytest.raises(ValueError, match="unknown momentum convention dst='tf'"):
        bn.convert_momentum(0.1, "torch", "tf")
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\], got 1.5"):
        bn.convert_momentum(1.5, "torch", "keras")
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\], got -0.1"):
        bn.convert_momentum(-0.1, "keras", "torch")
    with pytest.raises(TypeError, match="momentum must be a real number, got str"):
        bn.convert_momentum("0.1", "torch", "keras")


# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------
def _x(*shape, dtype=np.float32):
    return np.random.default_rng(13).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("shape", [(5,), (2, 3, 2, 2, 2, 2)])
def test_wrong_rank_is_named(shape):
    with pytest.raises(
        ValueError,
        match=rf"expected 2-D to 5-D input \(N, C, \.\.\.\), got shape {re_shape(shape)}",
    ):
        bn.batch_norm(_x(*shape), None, None, training=True)


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("name", ["weight", "bias", "running_mean", "running_var"])
def test_channel_count_mismatch_is_named(name):
    x = _x(6, 4, 5)
    args = {"running_mean": np.zeros(4, np.float32), "running_var": np.ones(4, np.float32)}
    args[name] = np.ones(3, np.float32)
    with pytest.raises(ValueError, match=f"{name} has 3 entries but the input has 4 channels$"):
        bn.batch_norm(x, training=True, **args)


def test_channels_last_mismatch_suggests_channel_axis():
    x = _x(6, 5, 5, 3)  # (N, H, W, C), passed as channels-first
    with pytest.raises(
        ValueError, match="weight has 3 entries but the input has 5 channels; .*channel_axis=-1"
    ):
        bn.batch_norm(x, None, None, np.ones(3, np.float32), training=True)


@pytest.mark.parametrize("shape", [(1, 4), (1, 4, 1, 1)])
def test_single_value_per_channel_in_training_as_torch(shape):
    """The message is torch's, with the shape; torch itself refuses the same input."""
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        F.batch_norm(torch.zeros(shape), None, None, training=True)
    with pytest.raises(
        ValueError,
        match="Expected more than 1 value per channel when training, got input of shape "
        + re_shape(shape),
    ):
        bn.batch_norm(_x(*shape), None, None, training=True)
    out = bn.batch_norm(_x(*shape), np.zeros(4), np.ones(4), training=False)  # eval is fine
    assert out.shape == shape


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_, np.complex64])
def test_non_floating_input_is_a_type_error_naming_the_dtype(dtype):
    x = np.ones((4, 3), dtype)
    with pytest.raises(
        TypeError, match=f"x must be a floating-point array .*got dtype {np.dtype(dtype)}"
    ):
        bn.batch_norm(x, None, None, training=True)
    with pytest.raises(
        TypeError, match=f"weight must be a floating-point array .*got dtype {np.dtype(dtype)}"
    ):
        bn.batch_norm(_x(4, 3), None, None, np.ones(3, dtype), training=True)


@pytest.mark.parametrize("name", ["running_mean", "running_var"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_in_running_stats_caught_with_validate(name, bad):
    stats = {"running_mean": np.zeros(3), "running_var": np.ones(3)}
    stats[name][1] = bad
    with pytest.raises(ValueError, match=f"{name} .*contains NaN or inf"):
        bn.batch_norm(_x(4, 3, dtype=np.float64), training=False, validate=True, **stats)
    out = bn.batch_norm(
        _x(4, 3, dtype=np.float64), training=False, **stats
    )  # without validate: as torch
    want = F.batch_norm(
        _t(_x(4, 3, dtype=np.float64)), _t(stats["running_mean"]), _t(stats["running_var"])
    )
    np.testing.assert_array_equal(np.isfinite(out), np.isfinite(want.numpy()))


def test_validate_catches_nan_input_and_negative_running_var():
    x = _x(4, 3)
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        bn.batch_norm(x, None, None, training=True, validate=True)
    with pytest.raises(ValueError, match="running_var has negative entries"):
        bn.batch_norm(_x(4, 3), np.zeros(3), -np.ones(3), validate=True)


def test_argument_errors_are_named():
    x = _x(4, 3)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    with pytest.raises(TypeError, match="momentum=None .*not part of the functional API"):
        bn.batch_norm(x, rm, rv, training=True, momentum=None)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\].*got 1.5"):
        bn.batch_norm(x, rm, rv, training=True, momentum=1.5)
    with pytest.raises(ValueError, match="eps must be >= 0, got -1e-05"):
        bn.batch_norm(x, rm, rv, eps=-1e-5)
    with pytest.raises(ValueError, match="eps must be positive"):  # torch refuses it too
        F.batch_norm(_t(x), None, None, training=True, eps=0.0)
    with pytest.raises(ValueError, match="eps must be positive in training mode"):
        bn.batch_norm(x, rm, rv, training=True, eps=0.0)
    bn.batch_norm(x, rm, rv, training=False, eps=0.0)  # allowed in evaluation mode
    with pytest.raises(ValueError, match="needed in evaluation mode"):
        bn.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="must both be None or both be arrays"):
        bn.batch_norm(x, rm, None, training=True)
    with pytest.raises(
        TypeError,
        match="running_mean must be a NumPy array because it is updated in place, got list",
    ):
        bn.batch_norm(x, [0.0, 0.0, 0.0], rv, training=True)
    with pytest.raises(ValueError, match="running_mean must be 1-D .*got shape \\(1, 3\\)"):
        bn.batch_norm(x, rm.reshape(1, 3), rv, training=True)
    with pytest.raises(ValueError, match="channel_axis must be 1 .* or -1 .*got 0"):
        bn.batch_norm(x, rm, rv, channel_axis=0)
    with pytest.raises(TypeError, match="training must be a bool, got str"):
        bn.batch_norm(x, rm, rv, training="False")
    rm.flags.writeable = False
    with pytest.raises(ValueError, match="running_mean is read-only"):
        bn.batch_norm(x, rm, rv, training=True)
    bn.batch_norm(x, rm, rv, training=False)  # evaluation mode only reads it


def test_teaching_pair_errors_are_named():
    with pytest.raises(ValueError, match=r"expected 2-D input \(N, D\), got shape \(2, 3, 4\)"):
        bn.batchnorm_forward(_x(2, 3, 4), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="gamma has 2 entries but the input has 3 channels"):
        bn.batchnorm_forward(_x(4, 3), np.ones(2), np.zeros(3))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        bn.batchnorm_forward(_x(1, 3), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"expected 4-D input \(N, C, H, W\), got shape \(4, 3\)"):
        bn.spatial_batchnorm_forward(_x(4, 3), np.ones(3), np.zeros(3))
    _, cache = bn.batchnorm_forward(_x(4, 3), np.ones(3), np.zeros(3))
    with pytest.raises(
        ValueError, match=r"dout has shape \(3, 3\) but the forward output had shape \(4, 3\)"
    ):
        bn.batchnorm_backward(_x(3, 3), cache)
    _, cache = bn.spatial_batchnorm_forward(_x(2, 3, 2, 2), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="dout has shape"):
        bn.spatial_batchnorm_backward(_x(2, 3, 2, 3), cache)
    with pytest.raises(TypeError, match="dout must be a floating-point array"):
        bn.batchnorm_backward_graph(
            np.ones((4, 3), int), bn.batchnorm_forward(_x(4, 3), np.ones(3), np.zeros(3))[1]
        )


def test_fold_batch_norm_errors_are_named():
    w = _x(4, 3)
    with pytest.raises(ValueError, match=r"weight must be \(C_out, C_in\).*got shape \(4,\)"):
        bn.fold_batch_norm(_x(4), None, np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match="running_var has 5 entries but the input has 4 channels"):
        bn.fold_batch_norm(w, None, np.zeros(4), np.ones(5))
    with pytest.raises(ValueError, match="bias has 3 entries"):
        bn.fold_batch_norm(w, np.zeros(3), np.zeros(4), np.ones(4))


def test_public_api_names_and_book_sections():
    """__all__ is the public API, and every public function names its book section."""
    for name in bn.__all__:
        obj = getattr(bn, name)
        if callable(obj) and not isinstance(obj, type):
            assert "Book:" in obj.__doc__, f"{name} does not name its book section"
    assert {"batch_norm", "fold_batch_norm", "convert_momentum"} <= set(bn.__all__)


# --------------------------------------------------------------------------------------
# the teaching forward's training flag, update_running_stats, integer gamma/beta
# --------------------------------------------------------------------------------------
def test_teaching_forward_training_flag_matches_torch_module_over_steps():
    """training=True updates the running statistics like torch's BatchNorm1d; False uses them."""
    torch_bn = pytest.importorskip("torch").nn.BatchNorm1d(3, momentum=0.3).double()
    rm, rv = np.zeros(3), np.ones(3)
    gamma, beta = np.ones(3), np.zeros(3)
    rng = np.random.default_rng(0)
    for step in range(3):
        x = rng.normal(2.0, 3.0, size=(5, 3))
        out, _ = bn.batchnorm_forward(
            x, gamma, beta, training=True, running_mean=rm, running_var=rv, momentum=0.3
        )
        ref = torch_bn.train()(_t(x)).detach().numpy()
        np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12, err_msg=f"step {step}")
    np.testing.assert_allclose(rm, torch_bn.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv, torch_bn.running_var.numpy(), rtol=1e-12)
    x = rng.normal(size=(1, 3))  # a batch of one is fine in evaluation mode
    before = rm.copy(), rv.copy()
    out, cache = bn.batchnorm_forward(
        x, gamma, beta, training=False, running_mean=rm, running_var=rv
    )
    np.testing.assert_allclose(out, torch_bn.eval()(_t(x)).detach().numpy(), rtol=1e-10)
    np.testing.assert_array_equal(rm, before[0])
    np.testing.assert_array_equal(rv, before[1])
    # evaluation-mode backward: a per-feature affine map
    dout = rng.normal(size=x.shape)
    for backward in (bn.batchnorm_backward, bn.batchnorm_backward_graph):
        dx, dgamma, dbeta = backward(dout, cache)
        np.testing.assert_allclose(dx, dout / np.sqrt(rv + 1e-5))
        np.testing.assert_allclose(dbeta, dout.sum(0))
    with pytest.raises(ValueError, match="running_mean and running_var"):
        bn.batchnorm_forward(x, gamma, beta, training=False)
    with pytest.raises(TypeError, match="training must be a bool"):
        bn.batchnorm_forward(x, gamma, beta, training="yes")


def test_update_running_stats_torch_and_keras_conventions():
    mean, var = np.array([1.0, -2.0]), np.array([4.0, 0.5])
    rm, rv = np.zeros(2), np.ones(2)
    out = bn.update_running_stats(rm, rv, mean, var, 5)  # torch: momentum 0.1, unbiased
    assert out[0] is rm and out[1] is rv
    np.testing.assert_allclose(rm, 0.1 * mean)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * var * 5 / 4)
    rm, rv = np.zeros(2), np.ones(2)
    bn.update_running_stats(rm, rv, mean, var, 5, convention="keras")  # 0.99 weights the old
    np.testing.assert_allclose(rm, 0.01 * mean)
    np.testing.assert_allclose(rv, 0.99 + 0.01 * var)
    with pytest.raises(ValueError, match="convention"):
        bn.update_running_stats(rm, rv, mean, var, 5, convention="cs231n")
    with pytest.raises(ValueError, match="n > 1"):
        bn.update_running_stats(rm, rv, mean, var, 1)
    with pytest.raises(TypeError, match="updated in place"):
        bn.update_running_stats([0.0, 0.0], rv, mean, var, 5)


@pytest.mark.parametrize("kind", ["int array", "int list", "python ints in float array"])
def test_teaching_functions_accept_integer_gamma_and_beta(kind):
    x, gamma, beta, _ = _teaching_inputs((6, 3), seed=2)
    g = {"int array": np.array([1, 2, 3]), "int list": [1, 2, 3]}.get(kind, np.array([1.0, 2, 3]))
    b = {"int array": np.array([0, -1, 4]), "int list": [0, -1, 4]}.get(
        kind, np.array([0.0, -1, 4])
    )
    out, cache = bn.batchnorm_forward(x, g, b)
    want, _ = bn.batchnorm_forward(x, np.array([1.0, 2, 3]), np.array([0.0, -1, 4]))
    np.testing.assert_allclose(out, want)
    assert cache.gamma.dtype == x.dtype
    spatial, _ = bn.spatial_batchnorm_forward(
        np.ones((2, 3, 2, 2)) + np.arange(3)[:, None, None], g, b
    )
    assert spatial.dtype == np.float64
    with pytest.raises(TypeError, match="gamma must hold numbers"):
        bn.batchnorm_forward(x, np.ones(3, bool), b)
