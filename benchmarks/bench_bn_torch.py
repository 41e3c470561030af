"""Benchmark bnref.torch.batch_norm against torch's native kernel (not a test).

CPU: float32 (128, 64, 32, 32). CUDA (when available): (256, 64, 56, 56) in float32 and
bfloat16 (bfloat16 input with float32 weight, bias and running statistics, as under
autocast), against ``F.batch_norm`` (cuDNN). Medians over repeats, after warm-up, of
bnref.torch.batch_norm and torch.nn.functional.batch_norm in the same modes, measured
interleaved in the same run, plus a plain copy of the same tensor (``dst.copy_(x)``:
one read and one write, the memory-bandwidth floor). CPU times come from
``time.perf_counter``, CUDA times from CUDA events.

Goals: forward+backward (training mode) <= 1.2x F.batch_norm on CPU and <= 1.3x on CUDA.

Run: ``python benchmarks/bench_bn_torch.py`` (``make bench`` runs it; CPU, then CUDA if
there is one), or ``python benchmarks/bench_bn_torch.py --device cuda --json out.json``
(``benchmarks/cuda_check.sh`` does that on a GPU machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

import bnref.torch as bt

SHAPES = {"cpu": (128, 64, 32, 32), "cuda": (256, 64, 56, 56)}  # (N, C, H, W)
DTYPES = {"cpu": ("float32",), "cuda": ("float32", "bfloat16")}
WARMUP = {"cpu": 3, "cuda": 10}
REPEATS = {"cpu": 15, "cuda": 50}
GOALS = {"cpu": 1.2, "cuda": 1.3}  # forward+backward ratio bnref / torch


def _timer(device: str):
    """``run(fn) -> seconds``: wall clock on CPU, CUDA events on CUDA."""
    if device == "cuda":

        def run(fn) -> float:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3

        return run

    def run(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    return run


def _cases(device: str, shape: tuple, dtype: torch.dtype):
    """{name: {"bnref": fn, "torch": fn}} for one device and dtype; plus the copy floor."""
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(shape, generator=gen, device=device).to(dtype)
    dout = torch.randn(shape, generator=gen, device=device).to(dtype)
    C = shape[1]
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


def bench(device: str, dtype_name: str) -> dict:
    """Run one device and dtype; print a table; return the medians (ms) and ratios."""
    shape, dtype = SHAPES[device], getattr(torch, dtype_name)
    warmup, repeats = WARMUP[device], REPEATS[device]
    run = _timer(device)
    cases, copy = _cases(device, shape, dtype)
    for _ in range(warmup):
        run(copy)
        for fns in cases.values():
            for fn in fns.values():
                run(fn)
    times = {(name, impl): [] for name, fns in cases.items() for impl in fns}
    copies = []
    for _ in range(repeats):  # interleaved, so that load changes hit every variant alike
        copies.append(run(copy))
        for name, fns in cases.items():
            for impl, fn in fns.items():
                times[name, impl].append(run(fn))
    med = {key: statistics.median(ts) * 1e3 for key, ts in times.items()}
    copy_ms = statistics.median(copies) * 1e3
    if device == "cuda":
        where = f"{torch.cuda.get_device_name()}, CUDA events"
    else:
        where = f"{torch.get_num_threads()} threads"
    print(
        f"{device.upper()}: {dtype_name} {shape}, median of {repeats} after {warmup} "
        f"warm-up, {where}, torch {torch.__version__}"
    )
    print(f"  copy floor (dst.copy_(x)): {copy_ms:8.3f} ms")
    header = "bnref ms", "torch ms", "bnref/torch", "bnref/copy", "torch/copy"
    print(f"  {'':26s}" + "".join(f"{h:>13s}" for h in header))
    result = {"device": device, "dtype": dtype_name, "shape": list(shape), "copy_ms": copy_ms}
    result["torch_version"] = torch.__version__
    for name in cases:
        ours, ref = med[name, "bnref"], med[name, "torch"]
        row = ours, ref, ours / ref, ours / copy_ms, ref / copy_ms
        print(f"  {name:26s}" + "".join(f"{v:13.3f}" for v in row))
        result[name] = {"bnref_ms": ours, "torch_ms": ref, "ratio": ours / ref}
    goal = GOALS[device]
    fb = result["forward+backward (train)"]["ratio"]
    verdict = "met" if fb <= goal else "NOT met"
    print(f"  goal forward+backward <= {goal}x torch: {fb:.2f}x -> {verdict}")
    result["goal"], result["goal_met"] = goal, fb <= goal
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["all", "cpu", "cuda"], default="all")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    results = []
    for device in devices:
        if device == "cuda" and not torch.cuda.is_available():
            print("CUDA: not available")
            continue
        for dtype_name in DTYPES[device]:
            results.append(bench(device, dtype_name))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
