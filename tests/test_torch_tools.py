"""bnref.torch under torch's tools: torch.func, forward AD, compile, fx, export, jit.

Each test compares with ``torch.nn``'s own BatchNorm doing the same thing. The defects of
issue 11 each have a test here that failed before the fix (named in its docstring):

1. eps=0 accepted in training            -> test_eps_zero_in_training_is_refused_like_torch
2. backward wrote into preallocated outputs -> test_batched_gradients_*
3. no setup_context/vmap                 -> test_torch_func_grad_vjp_vmap_match_torch
4. no forward-mode AD                    -> test_forward_mode_ad_matches_torch
5. torch.compile(fullgraph=True) failed  -> test_compile_fullgraph_matches_torch
6. torch.fx.symbolic_trace failed        -> test_fx_symbolic_trace_matches_torch
7. torch.jit.script: internal error      -> test_jit_script_refuses_naming_the_alternatives
8. track_running_stats switched on later -> test_track_running_stats_switched_on_later_like_torch
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bnref.numpy as bnp
import bnref.torch as bt

torch.set_num_threads(1)

TORCH_BN = {
    "BatchNorm1d": nn.BatchNorm1d,
    "BatchNorm2d": nn.BatchNorm2d,
    "BatchNorm3d": nn.BatchNorm3d,
}


def _conv_bn_relu(bn_cls, seed=0):
    """A small Conv-BN-ReLU model with the given BN class; same weights for every class."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), bn_cls(4), nn.ReLU())
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 1.5)
        model[1].bias.uniform_(-0.5, 0.5)
    return model


def _pair(seed=0):
    return _conv_bn_relu(bt.BatchNorm2d, seed), _conv_bn_relu(nn.BatchNorm2d, seed)


def _x(shape=(4, 3, 5, 5), seed=1, dtype=torch.float32):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _close(a, b, **kw):
    kw.setdefault("rtol", 1e-4)
    kw.setdefault("atol", 1e-5)
    torch.testing.assert_close(a, b, **kw)


def _same_buffers(ours: nn.Module, ref: nn.Module):
    for (name, a), (_, b) in zip(ours.named_buffers(), ref.named_buffers(), strict=True):
        _close(a.float(), b.float(), msg=name)


# --------------------------------------------------------------------------------------
# defect 1: eps = 0 in training
# --------------------------------------------------------------------------------------
def test_eps_zero_in_training_is_refused_like_torch():
    """Defect 1: torch raises for eps=0 in training; so do both bnref backends."""
    x = _x((4, 3))
    with pytest.raises(ValueError, match="eps"):
        F.batch_norm(x, None, None, training=True, eps=0.0)
    with pytest.raises(ValueError, match="eps must be positive in training"):
        bt.batch_norm(x, None, None, training=True, eps=0.0)
    with pytest.raises(ValueError, match="eps must be positive in training"):
        bnp.batch_norm(x.numpy(), None, None, training=True, eps=0.0)
    with pytest.raises(ValueError, match="eps must be positive in training"):
        bt.BatchNorm1d(3, eps=0.0)(x)
    # evaluation mode with eps=0 is allowed, as in torch
    rm, rv = torch.zeros(3), torch.ones(3)
    _close(bt.batch_norm(x, rm, rv, eps=0.0), F.batch_norm(x, rm, rv, eps=0.0))


# --------------------------------------------------------------------------------------
# defects 2-4: torch.func, batched gradients, forward-mode AD
# --------------------------------------------------------------------------------------
def _f64(training):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(4, 3, 2, dtype=torch.float64, generator=gen)
    w = 0.5 + torch.rand(3, dtype=torch.float64, generator=gen)
    b = torch.randn(3, dtype=torch.float64, generator=gen)
    rm = torch.randn(3, dtype=torch.float64, generator=gen)
    rv = 0.5 + torch.rand(3, dtype=torch.float64, generator=gen)

    def make(fn, running=True):
        # running statistics are copied per call: the function under test stays pure
        if not running:
            return lambda x, w, b: fn(x, None, None, w, b, training)
        return lambda x, w, b: fn(x, rm.clone(), rv.clone(), w, b, training)

    return (x, w, b), make


@pytest.mark.parametrize("training", [True, False])
def test_batched_gradients_gradcheck_and_vectorized_jacobian(training):
    """Defect 2: gradcheck(check_batched_grad=True) and jacobian(vectorize=True) work."""
    inputs, make = _f64(training)
    inputs = tuple(t.clone().requires_grad_() for t in inputs)
    ours = make(bt.batch_norm)
    assert torch.autograd.gradcheck(ours, inputs, check_batched_grad=True)
    jac = torch.autograd.functional.jacobian(ours, inputs, vectorize=True)
    ref = torch.autograd.functional.jacobian(make(F.batch_norm), inputs, vectorize=True)
    for a, b in zip(jac, ref, strict=True):
        _close(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("training", [True, False])
def test_torch_func_grad_vjp_vmap_match_torch(training):
    """Defect 3: torch.func.grad, vjp, vmap (per-sample over a batch of batches), jacrev."""
    inputs, make = _f64(training)
    ours, ref = make(bt.batch_norm), make(F.batch_norm)
    dout = torch.randn_like(inputs[0])

    def loss(fn):
        return lambda *a: (fn(*a) * dout).sum()

    for argnum in (0, 1, 2):
        g = torch.func.grad(loss(ours), argnums=argnum)(*inputs)
        _close(g, torch.func.grad(loss(ref), argnums=argnum)(*inputs), rtol=1e-9, atol=1e-10)
    out, vjp_fn = torch.func.vjp(ours, *inputs)
    out_ref, vjp_ref = torch.func.vjp(ref, *inputs)
    _close(out, out_ref, rtol=1e-9, atol=1e-10)
    for a, b in zip(vjp_fn(dout), vjp_ref(dout), strict=True):
        _close(a, b, rtol=1e-9, atol=1e-10)
    xs = torch.randn(5, *inputs[0].shape, dtype=torch.float64)  # 5 independent batches
    if training:  # running statistics cannot be updated in place per batch: torch refuses too
        for fn, match in ((ours, "running statistics"), (ref, "running_mean")):
            with pytest.raises(RuntimeError, match=match):
                torch.func.vmap(fn, in_dims=(0, None, None))(xs, *inputs[1:])
        ours, ref = make(bt.batch_norm, running=False), make(F.batch_norm, running=False)
    batched = torch.func.vmap(ours, in_dims=(0, None, None))(xs, *inputs[1:])
    _close(batched, torch.func.vmap(ref, in_dims=(0, None, None))(xs, *inputs[1:]))
    _close(torch.func.jacrev(ours, argnums=1)(*inputs), torch.func.jacrev(ref, argnums=1)(*inputs))


def test_vmap_over_a_module_with_functional_call_matches_torch():
    """Per-sample gradients over a model, the torch.func recipe (track_running_stats=False)."""
    ours = nn.Sequential(nn.Linear(3, 4), bt.BatchNorm1d(4, track_running_stats=False))
    ref = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, track_running_stats=False))
    ref.load_state_dict(ours.state_dict())
    xs = _x((6, 5, 3))  # 6 groups of 5 examples

    def grads(model):
        params = dict(model.named_parameters())

        def loss(p, x):
            return torch.func.functional_call(model, p, (x,)).pow(2).sum()

        return torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0))(params, xs)

    for (name, a), b in zip(grads(ours).items(), grads(ref).values(), strict=True):
        _close(a, b, atol=1e-4, msg=name)  # float32 gradients of size ~1


@pytest.mark.parametrize("training", [True, False])
def test_forward_mode_ad_matches_torch(training):
    """Defect 4: torch.func.jvp, jacfwd and torch.autograd.forward_ad work and agree."""
    inputs, make = _f64(training)
    ours, ref = make(bt.batch_norm), make(F.batch_norm)
    tangents = tuple(torch.randn_like(t) for t in inputs)
    _, t_ours = torch.func.jvp(ours, inputs, tangents)
    _, t_ref = torch.func.jvp(ref, inputs, tangents)
    _close(t_ours, t_ref, rtol=1e-9, atol=1e-10)
    _close(torch.func.jacfwd(ours)(*inputs), torch.func.jacfwd(ref)(*inputs))
    import torch.autograd.forward_ad as fwAD

    with fwAD.dual_level():
        duals = [fwAD.make_dual(p, t) for p, t in zip(inputs, tangents, strict=True)]
        tangent = fwAD.unpack_dual(ours(*duals)).tangent
    _close(tangent, t_ref, rtol=1e-9, atol=1e-10)
    x = inputs[0].clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: ours(x, inputs[1], inputs[2]), (x,), check_forward_ad=True, check_backward_ad=True
    )


# --------------------------------------------------------------------------------------
# defects 5-7: compile, fx, jit; export and trace
# --------------------------------------------------------------------------------------
def _train_then_eval(ours, ref, run):
    """Two training steps then one eval step through ``run(model, x)``; compare everything."""
    for step, mode in enumerate(["train", "train", "eval"]):
        x = _x(seed=10 + step)
        for model in (ours, ref):
            getattr(model, mode)()
        a, b = run(ours, x), run(ref, x)
        _close(a, b, msg=f"step {step} ({mode})")
    _same_buffers(ours, ref)


def test_compile_fullgraph_matches_torch():
    """Defect 5: torch.compile(fullgraph=True), forward and backward, train then eval."""
    ours, ref = _pair()
    compiled = torch.compile(ours, fullgraph=True, backend="aot_eager")

    def step(model, x):
        x = x.clone().requires_grad_()
        out = (compiled if model is ours else model)(x)
        if model.training:
            out.pow(2).sum().backward()
            return torch.cat([out.flatten(), x.grad.flatten()])
        return out

    _train_then_eval(ours, ref, step)
    for (name, p), q in zip(ours.named_parameters(), ref.parameters(), strict=True):
        # the conv bias gradient is rounding noise (~1e-6): BN removes a constant shift
        _close(p.grad, q.grad, atol=1e-4, msg=name)


def test_compile_inductor_fullgraph_matches_torch():
    """The default backend (Inductor generates C++ for the CPU), one compile, train mode."""
    ours, ref = _pair()
    compiled = torch.compile(ours, fullgraph=True)
    x = _x()
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    a, b = compiled(xa), ref(xb)
    a.pow(2).sum().backward()
    b.pow(2).sum().backward()
    _close(a, b)
    _close(xa.grad, xb.grad)
    _same_buffers(ours, ref)


def test_fx_symbolic_trace_matches_torch():
    """Defect 6: symbolic_trace of Conv-BN-ReLU; bnref's BN stays one call_module node."""
    ours, ref = _pair()
    gm = torch.fx.symbolic_trace(ours)
    targets = [n.target for n in gm.graph.nodes if n.op == "call_module"]
    assert targets == ["0", "1", "2"]
    gm_ref = torch.fx.symbolic_trace(ref)
    _train_then_eval(gm, gm_ref, lambda model, x: model(x))


def test_jit_trace_matches_torch():
    ours, ref = _pair()
    for mode in ("train", "eval"):
        getattr(ours, mode)()
        getattr(ref, mode)()
        traced = torch.jit.trace(copy.deepcopy(ours), _x(seed=5), check_trace=False)
        _close(traced(_x(seed=6)), copy.deepcopy(ref)(_x(seed=6)), msg=mode)


def test_export_matches_torch():
    """torch.export.export in eval mode (inference graph) and in training mode."""
    ours, ref = _pair()
    x = _x()
    for mode in ("eval", "train"):
        a, b = copy.deepcopy(ours), copy.deepcopy(ref)
        getattr(a, mode)()
        getattr(b, mode)()
        program = torch.export.export(a, (x,))
        _close(program.module()(x), b(x), msg=mode)


def test_jit_script_refuses_naming_the_alternatives():
    """Defect 7: torch.jit.script says what to use instead; no internal attribute error."""
    ours, _ = _pair()
    with pytest.raises(RuntimeError, match="torch.compile.*torch.export.export.*torch.jit.trace"):
        torch.jit.script(ours)


# --------------------------------------------------------------------------------------
# defect 8 and torch's tools that look BN up by type
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["BatchNorm1d", "BatchNorm2d"])
def test_track_running_stats_switched_on_later_like_torch(name):
    """Defect 8: switching track_running_stats on after construction works as in torch."""
    ours, ref = (
        getattr(bt, name)(3, track_running_stats=False),
        TORCH_BN[name](3, track_running_stats=False),
    )
    shape = (4, 3) if name == "BatchNorm1d" else (4, 3, 2, 2)
    for model in (ours, ref):
        model.track_running_stats = True
    for mode in ("train", "eval"):
        ours.train(mode == "train")
        ref.train(mode == "train")
        _close(ours(_x(shape)), ref(_x(shape)), msg=mode)
    assert ours.running_mean is None and ours.num_batches_tracked is None
    ours.reset_running_stats()  # nothing to reset, no error


def test_modules_are_torch_batchnorm_for_type_based_tools():
    """convert_sync_batchnorm (torch's) and fuse_modules find bnref's modules."""
    ours, ref = _pair()
    assert isinstance(ours[1], nn.modules.batchnorm._BatchNorm)
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(ours))
    assert isinstance(synced[1], nn.SyncBatchNorm)
    ours.eval()
    ref.eval()
    for model in (ours, ref):  # some statistics to fold
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    fused = torch.ao.quantization.fuse_modules(copy.deepcopy(ours), [["0", "1", "2"]])
    assert not any(isinstance(m, bt.BatchNorm2d) for m in fused.modules())
    _close(fused(_x()), ours(_x()))
    fused_lin = torch.ao.quantization.fuse_modules(
        nn.Sequential(nn.Linear(3, 4), bt.BatchNorm1d(4)).eval(), [["0", "1"]]
    )
    assert isinstance(fused_lin[0], nn.Linear) and isinstance(fused_lin[1], nn.Identity)


def test_keras_convention_matches_keras_formula():
    """convention='keras': momentum weights the old value and the biased variance is stored."""
    x = _x((8, 3))
    rm, rv = torch.zeros(3), torch.ones(3)
    bt.batch_norm(x, rm, rv, training=True, momentum=0.99, convention="keras")
    var, mean = torch.var_mean(x, 0, correction=0)
    _close(rm, 0.01 * mean)
    _close(rv, 0.99 + 0.01 * var)
    rm2, rv2 = torch.zeros(3), torch.ones(3)
    bt.update_running_stats(rm2, rv2, mean, var, 8, convention="keras")  # default 0.99
    _close(rm2, rm)
    _close(rv2, rv)
    with pytest.raises(ValueError, match="convention"):
        bt.batch_norm(x, rm, rv, training=True, convention="tf")
    rm_np, rv_np = np.zeros(3, np.float32), np.ones(3, np.float32)
    bnp.update_running_stats(rm_np, rv_np, mean.numpy(), var.numpy(), 8, convention="keras")
    np.testing.assert_allclose(rv_np, rv.numpy(), rtol=1e-6)


# --------------------------------------------------------------------------------------
# CUDA (skipped without a GPU; benchmarks/cuda_check.sh runs them)
# --------------------------------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_module_train_eval_and_torch_func_match_torch(dtype):
    ours, ref = (m.cuda() for m in _pair())
    # bfloat16 (autocast): 8 bits of mantissa through conv, BN and the conv's backward;
    # the two BN implementations round differently (bnref in float32, once at the end)
    tol = {} if dtype == torch.float32 else {"rtol": 0.1, "atol": 0.1}
    for mode in ("train", "eval"):
        x = _x((8, 3, 9, 9)).cuda()
        ours.train(mode == "train")
        ref.train(mode == "train")
        with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
            xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
            a, b = ours(xa), ref(xb)
        a.float().pow(2).sum().backward()
        b.float().pow(2).sum().backward()
        _close(a.float(), b.float(), **tol, msg=mode)
        scale = max(1.0, xb.grad.abs().max().item())
        _close(xa.grad / scale, xb.grad / scale, **tol, msg=f"{mode} dx")
    inputs = tuple(t.cuda() for t in _f64(True)[0])

    def no_running(fn):
        return lambda x, w, b: fn(x, None, None, w, b, True)

    _, t_ours = torch.func.jvp(no_running(bt.batch_norm), inputs, inputs)
    _, t_ref = torch.func.jvp(no_running(F.batch_norm), inputs, inputs)
    _close(t_ours, t_ref)
    g_ours = torch.func.vmap(no_running(bt.batch_norm))(*(t.expand(2, *t.shape) for t in inputs))
    g_ref = torch.func.vmap(no_running(F.batch_norm))(*(t.expand(2, *t.shape) for t in inputs))
    _close(g_ours, g_ref)
