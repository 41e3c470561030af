"""Benchmark folding BN into the layer before it (chapter 5, ``ch5-folding``; not a test).

Two questions, each answered with ratios measured in the same run (medians over repeats,
interleaved so that a load change hits every variant alike; ``time.perf_counter``; one
thread, as the course's CPU machine runs):

1. What folding buys at inference: evaluation-mode forward time of ``conv -> BN`` (and of
   ``linear -> BN``) unfused, against the same layer fused by ``bnref.torch`` and by
   ``torch.nn.utils.fusion``. Baseline: the unfused pair. Shapes: a 3x3 conv 64 -> 64 on
   (32, 64, 32, 32) float32, and a linear layer 512 -> 512 on (256, 512).
2. What the fusion itself costs: ``bnref.torch.fuse_conv_bn_eval`` (and the linear
   version) against ``torch.nn.utils.fusion.fuse_conv_bn_eval``. Baseline: torch's.

Run: ``python benchmarks/bench_fusion.py [--json out.json] [--threads N]`` (``make bench``
runs it). The chapter quotes a run committed as
``bncourse/experiments/results/ch5_fusion_bench.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time

import torch
from torch import nn
from torch.nn.utils import fusion as torch_fusion

import bnref.torch as bt

WARMUP, REPEATS = 3, 21


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _trained_pair(kind: str, gen: torch.Generator):
    """An eval-mode (layer, BN) pair with non-trivial running statistics, and an input."""
    if kind == "conv":
        layer, norm = nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64)
        x = torch.randn(8, 64, 32, 32, generator=gen)  # (N, C, H, W)
    else:
        layer, norm = nn.Linear(512, 512), nn.BatchNorm1d(512)
        x = torch.randn(256, 512, generator=gen)  # (N, C)
    with torch.no_grad():
        for _ in range(3):  # running statistics that are not the initial ones
            norm(layer(x * 2 + 1))
        norm.weight.uniform_(0.5, 2.0, generator=gen)
        norm.bias.uniform_(-1.0, 1.0, generator=gen)
    return layer.eval(), norm.eval(), x


def _medians(cases: dict) -> dict:
    for _ in range(WARMUP):
        for fn in cases.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(REPEATS):
        for name, fn in cases.items():
            times[name].append(_time(fn))
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


def bench(kind: str) -> dict:
    """Inference and fusion-call medians (ms) and ratios for ``kind`` in {"conv", "linear"}."""
    gen = torch.Generator().manual_seed(0)
    layer, norm, x = _trained_pair(kind, gen)
    ours_fuse = bt.fuse_conv_bn_eval if kind == "conv" else bt.fuse_linear_bn_eval
    theirs_fuse = (
        torch_fusion.fuse_conv_bn_eval if kind == "conv" else torch_fusion.fuse_linear_bn_eval
    )
    ours, theirs = ours_fuse(layer, norm), theirs_fuse(layer, norm)
    with torch.no_grad():
        ref = norm(layer(x))
        err = max(float((ours(x) - ref).abs().max()), float((theirs(x) - ref).abs().max()))

    def infer(fn):
        def call():
            with torch.no_grad():
                fn(x)

        return call

    inference = _medians(
        {
            "unfused": infer(lambda a: norm(layer(a))),
            "fused (bnref)": infer(ours),
            "fused (torch)": infer(theirs),
        }
    )
    calls = _medians(
        {"bnref": lambda: ours_fuse(layer, norm), "torch": lambda: theirs_fuse(layer, norm)}
    )
    base = inference["unfused"]
    print(f"{kind}: input {tuple(x.shape)}, largest |fused - unfused| {err:.1e}")
    for name, ms in inference.items():
        print(f"  inference {name:14s} {ms:9.3f} ms   {ms / base:6.3f} x unfused")
    print(
        f"  fusion call: bnref {calls['bnref']:.3f} ms, torch {calls['torch']:.3f} ms, "
        f"bnref/torch {calls['bnref'] / calls['torch']:.2f}"
    )
    return {
        "kind": kind,
        "shape": list(x.shape),
        "max_abs_diff": err,
        "inference_ms": inference,
        "inference_ratio_to_unfused": {k: v / base for k, v in inference.items()},
        "fusion_call_ms": calls,
        "fusion_call_ratio_bnref_to_torch": calls["bnref"] / calls["torch"],
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"median of {REPEATS} after {WARMUP} warm-up, {torch.get_num_threads()} thread(s), "
        f"torch {torch.__version__}"
    )
    results = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "threads": torch.get_num_threads(),
        "repeats": REPEATS,
        "torch": torch.__version__,
        "cases": [bench("conv"), bench("linear")],
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
