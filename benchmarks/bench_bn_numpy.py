"""Speed of bnref.numpy.batch_norm against torch, a memory copy and a textbook NumPy BN.

A plain script (run by ``make bench``), not a test. Input: float32 (128, 64, 32, 32)
on the CPU, training mode with the running statistics updated. Every candidate runs
once per round, in turn (rotating the order, with a short untimed pause before each
call), so that a busy machine slows them all alike; the script prints each
candidate's median and its ratio to bnref.numpy, all from this one run.

Goals: bnref.numpy forward <= 1.5x torch.nn.functional.batch_norm, and >= 3x faster
than the textbook NumPy implementation.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from bnref.numpy import batch_norm

SHAPE = (128, 64, 32, 32)
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "25"))
MOMENTUM, EPS = 0.1, 1e-5
# torch's worker threads keep spinning for some milliseconds after each call and
# would slow whichever candidate runs next; a short untimed pause isolates the calls.
PAUSE_S = 0.02


def naive_batch_norm(x, gamma, beta, running_mean, running_var, momentum=MOMENTUM, eps=EPS):
    """BN the way textbook (CS231n / d2l-style) NumPy code writes it."""
    mu = x.mean(axis=(0, 2, 3), keepdims=True)  # (1, C, 1, 1)
    var = ((x - mu) ** 2).mean(axis=(0, 2, 3), keepdims=True)  # (1, C, 1, 1)
    out = (x - mu) / np.sqrt(var + eps) * gamma.reshape(1, -1, 1, 1) + beta.reshape(1, -1, 1, 1)
    n = x.size // x.shape[1]
    running_mean[:] = (1 - momentum) * running_mean + momentum * mu.ravel()
    running_var[:] = (1 - momentum) * running_var + momentum * var.ravel() * n / (n - 1)
    return out


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE, dtype=np.float32)
    C = SHAPE[1]
    gamma = rng.standard_normal(C).astype(np.float32)
    beta = rng.standard_normal(C).astype(np.float32)
    stats = {name: (np.zeros(C, np.float32), np.ones(C, np.float32)) for name in ("ours", "naive")}
    copy_dst = np.empty_like(x)
    tx, tgamma, tbeta = torch.from_numpy(x), torch.from_numpy(gamma), torch.from_numpy(beta)
    t_rm, t_rv = torch.zeros(C), torch.ones(C)

    candidates = {
        "bnref.numpy.batch_norm": lambda: batch_norm(
            x, *stats["ours"], gamma, beta, True, MOMENTUM, EPS
        ),
        "torch F.batch_norm": lambda: F.batch_norm(
            tx, t_rm, t_rv, tgamma, tbeta, True, MOMENTUM, EPS
        ),
        "np.copyto (bandwidth floor)": lambda: np.copyto(copy_dst, x),
        "naive NumPy BN": lambda: naive_batch_norm(x, gamma, beta, *stats["naive"]),
        # for information: what a fresh output array costs each library (page faults)
        "x.copy() (fresh output)": x.copy,
        "torch clone (fresh output)": tx.clone,
    }
    times: dict[str, list[float]] = {name: [] for name in candidates}
    load_before = os.getloadavg()[0]
    with torch.no_grad():
        for f in candidates.values():  # warm up: page faults, thread pools
            f()
        for r in range(ROUNDS):
            names = list(candidates)
            names = names[r % len(names) :] + names[: r % len(names)]  # rotate the order
            for name in names:
                time.sleep(PAUSE_S)  # untimed: let torch's worker threads go idle
                t0 = time.perf_counter()
                candidates[name]()
                times[name].append(time.perf_counter() - t0)

    med = {name: float(np.median(ts)) * 1e3 for name, ts in times.items()}
    best = {name: min(ts) * 1e3 for name, ts in times.items()}
    ours = med["bnref.numpy.batch_norm"]
    print(
        f"BN forward, training mode, float32 {SHAPE}, {ROUNDS} rounds; "
        f"torch threads: {torch.get_num_threads()}, NumPy single-threaded ufuncs; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
        f"on {os.cpu_count()} CPUs"
    )
    print(f"{'candidate':30s} {'median ms':>10s} {'min ms':>8s} {'median / bnref.numpy':>21s}")
    for name, ms in med.items():
        print(f"{name:30s} {ms:10.2f} {best[name]:8.2f} {ms / ours:21.2f}")
    vs_torch = ours / med["torch F.batch_norm"]
    vs_naive = med["naive NumPy BN"] / ours
    vs_copy = ours / med["np.copyto (bandwidth floor)"]
    print(f"bnref.numpy / torch      = {vs_torch:.2f}x  (goal <= 1.5x: {_met(vs_torch <= 1.5)})")
    print(f"naive / bnref.numpy      = {vs_naive:.2f}x  (goal >= 3x:   {_met(vs_naive >= 3.0)})")
    print(f"bnref.numpy / np.copyto  = {vs_copy:.2f}x  (memory passes, roughly)")


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    main()
