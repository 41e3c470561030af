"""Benchmark bnref.torch.batch_norm against torch's native kernel (not a test).

CPU: float32 (128, 64, 32, 32). CUDA (when available): (256, 64, 56, 56) in float32 and
bfloat16 (bfloat16 input with float32 weight, bias and running statistics, as under
autocast), against ``F.batch_norm`` (cuDNN). Medians over repeats, after warm-up, of
bnref.torch.batch_norm and torch.nn.functional.batch_norm in the same modes (forward in
training and in evaluation mode under ``torch.no_grad()``, forward+backward in training
mode), measured interleaved in the same run, plus a plain copy of the same tensor
(``dst.copy_(x)``: one read and one write, the memory-bandwidth floor).

CPU: one thread by default (``--threads``), as the course runs torch
(``bncourse.experiments._common.fast_torch``). Wall-clock (``time.perf_counter``) and
process CPU time (``time.process_time``) are both reported: on a machine shared with
other jobs the process is often descheduled, which inflates wall time but not CPU time.
Also on the CPU: the host time per call on a tiny input (2, 64, 4, 4), where the fixed
cost of each call (argument checks, Python, one dispatch per aten op) is all there is,
and the number of aten ops per call (``TorchDispatchMode``): on a GPU each op is a kernel
launch, and the device waits for the host on small batches. Printed, not judged.
With two threads on a loaded machine each parallel op waits for a descheduled thread,
so what is measured is mostly the number of ops, not the memory passes.

CUDA, two timings per case, both with CUDA events:

* ``call``: events around one call; includes the Python/launch time whenever the GPU
  waits for the host (the case for short kernels);
* ``device``: the same call queued behind a ``torch.cuda._sleep`` spin kernel, so all of
  its kernels are enqueued before the first one starts: GPU time alone.

It also checks that no bnref call synchronizes the host with the device
(``torch.cuda.set_sync_debug_mode``) and prints the host time per call on a tiny input.

Goals: forward+backward (training mode) <= 1.2x F.batch_norm on CPU; every case <= 1.3x
on CUDA.

Run: ``python benchmarks/bench_bn_torch.py`` (``make bench`` runs it; CPU, then CUDA if
there is one), or ``python benchmarks/bench_bn_torch.py --device cuda --json out.json``
(``benchmarks/cuda_check.sh`` does that on a GPU machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

import bnref.torch as bt

SHAPES = {"cpu": (128, 64, 32, 32), "cuda": (256, 64, 56, 56)}  # (N, C, H, W)
TINY = (2, 64, 4, 4)  # host overhead per call
DTYPES = {"cpu": ("float32",), "cuda": ("float32", "bfloat16")}
WARMUP = {"cpu": 3, "cuda": 10}
REPEATS = {"cpu": 15, "cuda": 50}
GOALS = {"cpu": 1.2, "cuda": 1.3}  # ratio bnref / torch
SLEEP_CYCLES = 10_000_000  # ~5 ms at 2 GHz: longer than the host needs to enqueue a call
IMPLS = {"bnref": bt.batch_norm, "torch": F.batch_norm}


def _cases(device: str, shape: tuple, dtype: torch.dtype):
    """{name: {impl: fn}} for one device, shape and dtype; plus the copy floor."""
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

    cases = {
        "forward (train)": {k: forward(f, True) for k, f in IMPLS.items()},
        "forward (eval)": {k: forward(f, False) for k, f in IMPLS.items()},
        "forward+backward (train)": {k: forward_backward(f) for k, f in IMPLS.items()},
    }
    return cases, lambda: dst.copy_(x)


# --------------------------------------------------------------------------------------
# CPU
# --------------------------------------------------------------------------------------
def bench_cpu(dtype_name: str, repeats: int) -> dict:
    """Wall and CPU-time medians (ms) and ratios for the CPU; prints a table."""
    shape, dtype, warmup = SHAPES["cpu"], getattr(torch, dtype_name), WARMUP["cpu"]
    cases, copy = _cases("cpu", shape, dtype)
    fns = {"copy": copy} | {(n, i): f for n, impls in cases.items() for i, f in impls.items()}
    load_before = os.getloadavg()[0]
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    wall = {key: [] for key in fns}
    cpu = {key: [] for key in fns}
    for _ in range(repeats):  # interleaved, so that load changes hit every variant alike
        for key, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            cpu[key].append(time.process_time() - c0)
            wall[key].append(time.perf_counter() - t0)
    med_w = {k: statistics.median(v) * 1e3 for k, v in wall.items()}
    med_c = {k: statistics.median(v) * 1e3 for k, v in cpu.items()}
    print(
        f"CPU: {dtype_name} {shape}, median of {repeats} after {warmup} warm-up, "
        f"{torch.get_num_threads()} thread(s), torch {torch.__version__}, load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs"
    )
    print(f"  copy floor (dst.copy_(x)): wall {med_w['copy']:.2f} ms, CPU {med_c['copy']:.2f} ms")
    header = "bnref wall", "torch wall", "ratio wall", "bnref CPU", "torch CPU", "ratio CPU"
    print(f"  {'(ms)':26s}" + "".join(f"{h:>12s}" for h in header))
    result = {
        "device": "cpu",
        "dtype": dtype_name,
        "shape": list(shape),
        "threads": torch.get_num_threads(),
        "load_average": [load_before, os.getloadavg()[0]],
        "torch_version": torch.__version__,
        "copy_ms": med_w["copy"],
    }
    for name in cases:
        ow, rw = med_w[name, "bnref"], med_w[name, "torch"]
        oc, rc = med_c[name, "bnref"], med_c[name, "torch"]
        row = ow, rw, ow / rw, oc, rc, oc / rc
        print(f"  {name:26s}" + "".join(f"{v:12.2f}" for v in row))
        result[name] = {
            "bnref_ms": ow,
            "torch_ms": rw,
            "ratio": ow / rw,
            "bnref_cpu_ms": oc,
            "torch_cpu_ms": rc,
            "ratio_cpu": oc / rc,
        }
    goal, fb = GOALS["cpu"], result["forward+backward (train)"]
    met = fb["ratio"] <= goal
    print(
        f"  goal forward+backward <= {goal}x torch: {fb['ratio']:.2f}x wall, "
        f"{fb['ratio_cpu']:.2f}x CPU time -> {'met' if met else 'NOT met'} (wall)"
    )
    result["goal"], result["goal_met"] = goal, met
    result["host_tiny"] = host_cpu(dtype_name)
    return result


class _OpCounter(TorchDispatchMode):
    """Counts the aten ops (views included) that run under it."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def _ops_per_call(fn) -> int:
    with _OpCounter() as counter:
        fn()
    return counter.count


def host_cpu(dtype_name: str, calls: int = 200, rounds: int = 9) -> dict:
    """Host microseconds per call (wall and CPU time) and aten ops per call on the tiny
    input, bnref and torch interleaved; prints a table."""
    cases, _ = _cases("cpu", TINY, getattr(torch, dtype_name))
    fns = {(n, i): f for n, impls in cases.items() for i, f in impls.items()}
    for fn in fns.values():
        for _ in range(20):
            fn()
    wall = {key: [] for key in fns}
    cpu = {key: [] for key in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(calls):
                fn()
            cpu[key].append((time.process_time() - c0) / calls * 1e6)
            wall[key].append((time.perf_counter() - t0) / calls * 1e6)
    print(
        f"  host time per call on {TINY} (us; median of {rounds} x {calls} calls, "
        "interleaved) and aten ops per call:"
    )
    header = "bnref wall", "torch wall", "bnref CPU", "torch CPU", "ops bnref", "ops torch"
    print(f"  {'':26s}" + "".join(f"{h:>12s}" for h in header))
    result = {"shape": list(TINY)}
    for name in cases:
        row = {
            f"{i}_{what}": statistics.median(times[name, i])
            for what, times in (("us", wall), ("cpu_us", cpu))
            for i in IMPLS
        }
        ops = {f"{i}_ops": _ops_per_call(fns[name, i]) for i in IMPLS}
        cells = [row["bnref_us"], row["torch_us"], row["bnref_cpu_us"], row["torch_cpu_us"]]
        print(
            f"  {name:26s}"
            + "".join(f"{v:12.1f}" for v in cells)
            + "".join(f"{ops[f'{i}_ops']:12d}" for i in IMPLS)
        )
        result[name] = row | ops
    return result


# --------------------------------------------------------------------------------------
# CUDA
# --------------------------------------------------------------------------------------
def _event_time(fn, queued: bool) -> float:
    """Milliseconds between CUDA events around ``fn()``; behind a spin kernel if ``queued``."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    if queued:
        torch.cuda._sleep(SLEEP_CYCLES)  # the GPU spins while the host enqueues the call
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end)


def _host_us(fn, calls: int = 200) -> float:
    """Host microseconds per call (tiny input: the GPU work is negligible)."""
    for _ in range(10):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / calls * 1e6


def _sync_free(cases) -> dict:
    """{case: None, or the first synchronizing call's warning} for bnref's calls."""
    found = {}
    for name, impls in cases.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                impls["bnref"]()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        syncs = [str(w.message).splitlines()[0] for w in caught if "synchroniz" in str(w.message)]
        found[name] = syncs[0] if syncs else None
    return found


def bench_cuda(dtype_name: str, repeats: int) -> dict:
    """Event-timed medians (ms) and ratios on the GPU, call and device-only; prints a table."""
    shape, dtype, warmup = SHAPES["cuda"], getattr(torch, dtype_name), WARMUP["cuda"]
    cases, copy = _cases("cuda", shape, dtype)
    tiny, _ = _cases("cuda", TINY, dtype)
    for _ in range(warmup):
        copy()
        for impls in cases.values():
            for fn in impls.values():
                fn()
    torch.cuda.synchronize()
    keys = [(n, i, q) for n in cases for i in IMPLS for q in (False, True)]
    times = {key: [] for key in keys}
    copies = []
    for _ in range(repeats):  # interleaved
        copies.append(_event_time(copy, queued=True))
        for name, impl, queued in keys:
            times[name, impl, queued].append(_event_time(cases[name][impl], queued))
    med = {key: statistics.median(ts) for key, ts in times.items()}
    host = {(n, i): _host_us(tiny[n][i]) for n in cases for i in IMPLS}
    syncs = _sync_free(cases)
    copy_ms = statistics.median(copies)
    print(
        f"CUDA: {dtype_name} {shape}, median of {repeats} after {warmup} warm-up, "
        f"{torch.cuda.get_device_name()}, CUDA events, torch {torch.__version__}"
    )
    print(f"  copy floor (dst.copy_(x), device): {copy_ms:.3f} ms")
    header = "call bnref", "call torch", "ratio", "dev bnref", "dev torch", "ratio", "host us"
    print(f"  {'(ms)':26s}" + "".join(f"{h:>11s}" for h in header))
    result = {
        "device": "cuda",
        "dtype": dtype_name,
        "shape": list(shape),
        "gpu": torch.cuda.get_device_name(),
        "torch_version": torch.__version__,
        "copy_ms": copy_ms,
    }
    goal, all_met = GOALS["cuda"], True
    for name in cases:
        oc, rc = med[name, "bnref", False], med[name, "torch", False]
        od, rd = med[name, "bnref", True], med[name, "torch", True]
        hb, ht = host[name, "bnref"], host[name, "torch"]
        cells = [f"{v:11.3f}" for v in (oc, rc, oc / rc, od, rd, od / rd)]
        cells.append(f"{hb:5.0f}/{ht:<5.0f}")
        print(f"  {name:26s}" + "".join(cells))
        all_met &= od / rd <= goal and oc / rc <= goal
        result[name] = {
            "bnref_ms": oc,
            "torch_ms": rc,
            "ratio": oc / rc,
            "bnref_device_ms": od,
            "torch_device_ms": rd,
            "ratio_device": od / rd,
            "bnref_host_us_tiny": hb,
            "torch_host_us_tiny": ht,
            "bnref_host_sync": syncs[name],
        }
    for name, sync in syncs.items():
        if sync:
            print(f"  host-device sync in bnref {name}: {sync}")
    if not any(syncs.values()):
        print("  host-device syncs in bnref's calls: none")
    print(
        f"  goal every case <= {goal}x torch (call and device): {'met' if all_met else 'NOT met'}"
    )
    result["goal"], result["goal_met"] = goal, all_met
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["all", "cpu", "cuda"], default="all")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--repeats", type=int, help="timed repeats (default 15 CPU, 50 CUDA)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    results = []
    for device in devices:
        if device == "cuda" and not torch.cuda.is_available():
            print("CUDA: not available")
            continue
        bench = bench_cuda if device == "cuda" else bench_cpu
        for dtype_name in DTYPES[device]:
            results.append(bench(dtype_name, args.repeats or REPEATS[device]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
