"""Run time of every experiment in ``bncourse.experiments``, against a fixed reference workload.

Plain script (``make bench`` runs it): imports every ``bncourse.experiments.ch*`` module, runs
each entry of its ``EXPERIMENTS`` dict once with its defaults, and prints a table of wall
and CPU seconds, each also as a ratio to the reference workload measured in the same run
(500 plain-SGD steps of a 784-100-10 ReLU MLP, batch 64, on the MNIST tensors; the median
of three runs). Ratios travel between machines better than seconds do; CPU seconds are
less disturbed than wall seconds when other processes compete for the cores.

Usage: ``python benchmarks/bench_experiments.py [substring ...]`` -- only the experiments
whose module or name contains one of the substrings.
"""

from __future__ import annotations

import importlib
import pkgutil
import statistics
import sys
import time


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def reference_workload() -> None:
    """500 SGD steps of a 784-100-10 ReLU MLP (batch 64) on MNIST."""
    from bncourse.experiments._common import fast_torch, mlp, mnist_tensors, seeded, train

    fast_torch()
    gen, _ = seeded(0)
    model = mlp((784, 100, 10), "relu", generator=gen)
    train(model, mnist_tensors(), steps=500, lr=0.1, batch_size=64, eval_every=500, generator=gen)


def main(argv: list[str]) -> int:
    import bncourse.experiments as pkg
    from bncourse.experiments._common import mnist_tensors

    mnist_tensors()  # read the data once, outside every timing
    reference_workload()  # warm-up
    runs = [_timed(reference_workload) for _ in range(3)]
    ref_wall = statistics.median(r[0] for r in runs)
    ref_cpu = statistics.median(r[1] for r in runs)

    modules = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name.startswith("ch"))
    rows = []
    for name in modules:
        module = importlib.import_module(f"bncourse.experiments.{name}")
        for label, fn in getattr(module, "EXPERIMENTS", {}).items():
            if argv and not any(s in name or s in label for s in argv):
                continue
            wall, cpu = _timed(fn)
            rows.append((name, label, wall, cpu))
            print(f"  ran {name}: {label} in {wall:.2f} s", file=sys.stderr, flush=True)

    print(
        f"reference: 500 SGD steps of a 784-100-10 MLP, median of 3: "
        f"{ref_wall:.3f} s wall, {ref_cpu:.3f} s CPU"
    )
    width = max([len(f"{m}: {lab}") for m, lab, _, _ in rows] + [10])
    print(f"{'experiment':<{width}}  {'wall s':>8}  {'x ref':>7}  {'CPU s':>8}  {'x ref':>7}")
    for name, label, wall, cpu in rows:
        print(
            f"{name + ': ' + label:<{width}}  {wall:8.2f}  {wall / ref_wall:7.1f}  "
            f"{cpu:8.2f}  {cpu / ref_cpu:7.1f}"
        )
    total_wall = sum(r[2] for r in rows)
    total_cpu = sum(r[3] for r in rows)
    print(
        f"{'total':<{width}}  {total_wall:8.2f}  {total_wall / ref_wall:7.1f}  "
        f"{total_cpu:8.2f}  {total_cpu / ref_cpu:7.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
