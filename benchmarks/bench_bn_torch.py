"""Benchmark bnref.torch.batch_norm against torch's native kernel (not a test).

float32 (128, 64, 32, 32), CPU (and CUDA when available): medians over repeats, after
warm-up, of bnref.torch.batch_norm and torch.nn.functional.batch_norm in the same
modes, measured interleaved in the same run, plus a plain copy of the same tensor
(``dst.copy_(x)``: one read and one write, the memory-bandwidth floor).

Goals: forward+backward (training mode) within 2x of F.batch_norm on CPU and within
1.3x on CUDA. Run: ``python benchmarks/bench_bn_torch.py`` (``make bench`` runs it).
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

import bnref.torch as bt

SHAPE = (128, 64, 32, 32)  # (N, C, H, W)
WARMUP, REPEATS = 3, 15
GOALS = {"cpu": 2.0, "cuda": 1.3}  # forward+backward ratio bnref / torch


def _timer(device: str):
    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def run(fn) -> float:
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - t0

    return run


def _cases(device: str):
    """{name: {"bnref": fn, "torch": fn}} for one device; plus the copy floor."""
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(SHAPE, generator=gen, device=device)
    dout = torch.randn(SHAPE, generator=gen, device=device)
    C = SHAPE[1]
    weight = torch.rand(C, generator=gen, device=device).add_(0.5).requires_grad_()
    bias = torch.randn(C, generator=gen, device=device).requires_grad_()
    running_mean = torch.zeros(C, device=device)
    running_var = torch.ones(C, device=device)
    x_grad = x.clone().requires_grad_()
    dst = torch.empty_like(x)

    def forward(fn, training):
        def call():
            with torch.no_grad():
                fn(x, running_mean, running_var, weight, bias, training)

        return call

    def forward_backward(fn):
        def call():
            x_grad.grad = weight.grad = bias.grad = None
            out = fn(x_grad, running_mean, running_var, weight, bias, True)
            out.backward(dout)

        return call

    impls = {"bnref": bt.batch_norm, "torch": F.batch_norm}
    cases = {
        "forward (train)": {k: forward(f, True) for k, f in impls.items()},
        "forward (eval)": {k: forward(f, False) for k, f in impls.items()},
        "forward+backward (train)": {k: forward_backward(f) for k, f in impls.items()},
    }
    return cases, lambda: dst.copy_(x)


def bench(device: str) -> None:
    run = _timer(device)
    cases, copy = _cases(device)
    for _ in range(WARMUP):
        run(copy)
        for fns in cases.values():
            for fn in fns.values():
                run(fn)
    times = {(name, impl): [] for name, fns in cases.items() for impl in fns}
    copies = []
    for _ in range(REPEATS):  # interleaved, so that load changes hit every variant alike
        copies.append(run(copy))
        for name, fns in cases.items():
            for impl, fn in fns.items():
                times[name, impl].append(run(fn))
    med = {key: statistics.median(ts) * 1e3 for key, ts in times.items()}
    copy_ms = statistics.median(copies) * 1e3
    threads = f", {torch.get_num_threads()} threads" if device == "cpu" else ""
    print(f"{device.upper()}: float32 {SHAPE}, median of {REPEATS} after {WARMUP} warm-up{threads}")
    print(f"  copy floor (dst.copy_(x)): {copy_ms:8.2f} ms")
    header = "bnref ms", "torch ms", "bnref/torch", "bnref/copy", "torch/copy"
    print(f"  {'':26s}" + "".join(f"{h:>13s}" for h in header))
    for name in cases:
        ours, ref = med[name, "bnref"], med[name, "torch"]
        row = ours, ref, ours / ref, ours / copy_ms, ref / copy_ms
        print(f"  {name:26s}" + "".join(f"{v:13.2f}" for v in row))
    goal = GOALS[device]
    fb = med["forward+backward (train)", "bnref"] / med["forward+backward (train)", "torch"]
    fwd = med["forward (train)", "bnref"] / med["forward (train)", "torch"]
    verdict = "met" if fb <= goal else "NOT met"
    print(f"  goal forward+backward <= {goal}x torch: {fb:.2f}x -> {verdict}")
    print(f"  forward (train) ratio: {fwd:.2f}x (reported, no goal)")


def main() -> None:
    bench("cpu")
    if torch.cuda.is_available():
        bench("cuda")
    else:
        print("CUDA: not available")


if __name__ == "__main__":
    main()
