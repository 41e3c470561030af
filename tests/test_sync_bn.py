"""bnref.torch.SyncBatchNorm: two gloo processes against one-process BN on the whole batch.

The fixture starts this file as a script in 2 processes, a gloo group of world size 2
on 127.0.0.1 (each rank also runs one scenario in a subgroup of its own, world size 1,
where SyncBatchNorm must be plain BN). Each scenario
draws one global batch from a seeded generator; rank r takes its rows (per-rank batch
sizes may differ, even be 0) and runs a SyncBatchNorm for two training steps and one
evaluation step. The oracle is torch.nn.BatchNorm*d on the concatenated batch in the
test process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import torch
from filelock import FileLock
from torch import nn

import bnref.torch as bt

# name: (per-rank batch sizes, shape of one sample (C, *), momentum, affine, dtype)
SCENARIOS = {
    "equal_batches_4d": ((3, 3), (4, 3, 3), 0.1, True, torch.float64),
    "unequal_batches_4d": ((2, 5), (3, 4, 2), 0.3, True, torch.float64),
    "one_sample_on_a_rank_2d": ((1, 4), (5,), None, True, torch.float64),
    "empty_rank_3d": ((0, 4), (2, 6), 0.1, False, torch.float64),
    "unequal_batches_float32": ((4, 2), (3, 5, 5), 0.1, True, torch.float32),
}
ROOT = Path(__file__).resolve().parents[1]
SOLO = "unequal_batches_4d"  # the scenario each rank also runs alone, on the whole batch
STEPS = 2  # training steps before the evaluation step
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-10), torch.float32: dict(rtol=1e-4, atol=1e-5)}


def _data(name: str, step: int):
    """The global batch, upstream gradient, gamma and beta of one scenario and step."""
    sizes, sample, _, _, dtype = SCENARIOS[name]
    gen = torch.Generator().manual_seed(1000 * sorted(SCENARIOS).index(name) + step)
    x = 2.0 + 3.0 * torch.randn((sum(sizes), *sample), generator=gen, dtype=dtype)
    dout = torch.randn(x.shape, generator=gen, dtype=dtype)
    gamma = 0.5 + torch.rand(sample[0], generator=gen, dtype=dtype)
    beta = torch.randn(sample[0], generator=gen, dtype=dtype)
    return x, dout, gamma, beta


def _rows(name: str, rank: int) -> slice:
    sizes = SCENARIOS[name][0]
    return slice(sum(sizes[:rank]), sum(sizes[: rank + 1]))


def _worker(rank: int, world_size: int, port: int, out_dir: Path) -> None:
    """Run every scenario in one rank of a gloo group and save what it saw."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=timedelta(seconds=60))
    solo = [dist.new_group([r]) for r in range(world_size)][rank]  # a group of one rank
    results = {}
    runs = [(name, name, None) for name in SCENARIOS] + [("solo", SOLO, solo)]
    for key, name, group in runs:
        _, sample, momentum, affine, dtype = SCENARIOS[name]
        bn = bt.SyncBatchNorm(
            sample[0], momentum=momentum, affine=affine, process_group=group, dtype=dtype
        )

        def all_reduce(g, group=group):  # each rank holds its share; DDP sums them
            dist.all_reduce(g, group=group)
            return g

        rows = _rows(name, rank) if group is None else slice(None)
        results[key] = _train_and_eval(bn, name, rows, all_reduce)
    torch.save(results, out_dir / f"rank{rank}.pt")
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(out_dir: Path) -> None:
    """Start the 2 ranks, wait for them, fail with their output if one failed."""
    path = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)]))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "2", str(rank), str(port), str(out_dir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    logs = [p.communicate(timeout=120)[0] for p in procs]
    for rank, (p, log) in enumerate(zip(procs, logs, strict=True)):
        assert p.returncode == 0, f"rank {rank} failed:\n{log}"


@pytest.fixture(scope="session")
def ranks(tmp_path_factory):
    """Run the 2 workers once per test session: [results of rank 0, results of rank 1].

    Under pytest-xdist the results live in the session's shared temporary folder and a
    file lock makes the first xdist worker that needs them run the ranks; the others
    wait and reuse them (pytest-xdist 3.8's loadgroup does not group tests under
    pytest 9, so the tests of this file may land on several workers).
    """
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # common to all workers of this session
    out_dir = shared / "sync_bn"
    with FileLock(str(shared / "sync_bn.lock")):
        if not (out_dir / "done").exists():
            out_dir.mkdir(exist_ok=True)
            _launch(out_dir)
            (out_dir / "done").touch()
    return [torch.load(out_dir / f"rank{rank}.pt") for rank in (0, 1)]


def _train_and_eval(bn, name: str, rows=slice(None), reduce_grad=lambda g: g) -> dict:
    """STEPS training steps then one eval step of ``bn`` on ``rows`` of the global batches."""
    affine = SCENARIOS[name][3]
    seen = {"out": [], "dx": [], "dgamma": [], "dbeta": []}
    for step in range(STEPS):
        x, dout, gamma, beta = _data(name, step)
        if affine and step == 0:
            with torch.no_grad():
                bn.weight.copy_(gamma)
                bn.bias.copy_(beta)
        x = x[rows].clone().requires_grad_()
        out = bn(x)
        (out * dout[rows]).sum().backward()
        seen["out"].append(out.detach())
        seen["dx"].append(x.grad)
        if affine:
            for key, p in (("dgamma", bn.weight), ("dbeta", bn.bias)):
                seen[key].append(reduce_grad(p.grad.clone()))
                p.grad = None
    bn.eval()
    seen["eval_out"] = bn(_data(name, STEPS)[0][rows])
    seen["running_mean"] = bn.running_mean.clone()
    seen["running_var"] = bn.running_var.clone()
    seen["num_batches_tracked"] = int(bn.num_batches_tracked)
    return seen


def _oracle(name: str) -> dict:
    """torch.nn.BatchNorm*d on the concatenated batch, the same steps as the workers."""
    _, sample, momentum, affine, dtype = SCENARIOS[name]
    cls = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d, 4: nn.BatchNorm3d}
    return _train_and_eval(
        cls[len(sample)](sample[0], momentum=momentum, affine=affine, dtype=dtype), name
    )


pytestmark = pytest.mark.xdist_group("sync_bn")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_forward_and_input_gradient_match_bn_on_the_concatenated_batch(ranks, name):
    """Outputs and input gradients of the two ranks, concatenated, equal one-process BN's."""
    ref, tol = _oracle(name), TOL[SCENARIOS[name][4]]
    for step in range(STEPS):
        for key in ("out", "dx"):
            got = torch.cat([ranks[r][name][key][step] for r in (0, 1)])
            torch.testing.assert_close(got, ref[key][step], **tol, msg=f"{key}, step {step}")


@pytest.mark.parametrize("name", [n for n in sorted(SCENARIOS) if SCENARIOS[n][3]])
def test_weight_and_bias_gradients_summed_over_ranks_match(ranks, name):
    """All-reduced (summed) gamma/beta gradients equal one-process BN's gradients."""
    ref, tol = _oracle(name), TOL[SCENARIOS[name][4]]
    for step in range(STEPS):
        for key in ("dgamma", "dbeta"):
            for r in (0, 1):
                got = ranks[r][name][key][step]
                torch.testing.assert_close(got, ref[key][step], **tol, msg=f"{key}, rank {r}")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_running_stats_and_eval_output_match_on_every_rank(ranks, name):
    """Every rank ends with the running statistics of the global batches."""
    ref, tol = _oracle(name), TOL[SCENARIOS[name][4]]
    for r in (0, 1):
        seen = ranks[r][name]
        torch.testing.assert_close(seen["running_mean"], ref["running_mean"], **tol)
        torch.testing.assert_close(seen["running_var"], ref["running_var"], **tol)
        assert seen["num_batches_tracked"] == ref["num_batches_tracked"] == STEPS
        torch.testing.assert_close(seen["eval_out"], ref["eval_out"][_rows(name, r)], **tol)


def test_world_size_one_group_is_plain_batch_norm(ranks):
    """In a process group of one rank, SyncBatchNorm is ordinary BN on that rank's batch."""
    ref, tol = _oracle(SOLO), TOL[SCENARIOS[SOLO][4]]
    for r in (0, 1):
        seen = ranks[r]["solo"]
        for key in ("out", "dx", "dgamma", "dbeta"):
            torch.testing.assert_close(seen[key][-1], ref[key][-1], **tol, msg=key)
        torch.testing.assert_close(seen["running_var"], ref["running_var"], **tol)


def test_without_process_group_sync_bn_is_batch_norm():
    """Not initialized: SyncBatchNorm trains and evaluates exactly like torch.nn.BatchNorm2d."""
    import torch.distributed as dist

    assert not (dist.is_available() and dist.is_initialized())
    gen = torch.Generator().manual_seed(0)
    ours, ref = bt.SyncBatchNorm(3, momentum=None), nn.BatchNorm2d(3, momentum=None)
    for _ in range(3):
        x = torch.randn(4, 3, 2, 2, generator=gen) * 2 + 1
        outs = []
        for bn in (ours, ref):
            xx = x.clone().requires_grad_()
            out = bn(xx)
            out.pow(2).sum().backward()
            outs.append((out, xx.grad))
        for a, b in zip(*outs, strict=True):
            torch.testing.assert_close(a, b)
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad)
    torch.testing.assert_close(ours.running_var, ref.running_var)
    ours.eval()
    ref.eval()
    x = torch.randn(2, 3, 2, 2, generator=gen)
    torch.testing.assert_close(ours(x), ref(x))


@pytest.mark.parametrize("source", ["bnref", "torch"])
def test_convert_sync_batchnorm_swaps_bn_modules_and_shares_their_tensors(source):
    """Every BatchNorm*d (bnref's or torch's) becomes a bnref SyncBatchNorm on the same tensors."""
    lib = bt if source == "bnref" else nn
    model = nn.Sequential(
        nn.Conv2d(2, 3, 1), lib.BatchNorm2d(3), nn.Sequential(nn.Flatten(), lib.BatchNorm1d(12))
    )
    model[1].eval()
    old = [model[1], model[2][1]]
    converted = bt.convert_sync_batchnorm(model)
    new = [converted[1], converted[2][1]]
    for a, b in zip(old, new, strict=True):
        assert type(b) is bt.SyncBatchNorm
        assert b.weight is a.weight and b.bias is a.bias
        assert b.running_mean is a.running_mean and b.running_var is a.running_var
        assert b.training == a.training
    assert isinstance(converted[0], nn.Conv2d)
    single = bt.SyncBatchNorm.convert_sync_batchnorm(lib.BatchNorm3d(4, momentum=None))
    assert type(single) is bt.SyncBatchNorm and single.momentum is None


def test_sync_bn_rejects_1d_input():
    with pytest.raises(
        ValueError, match=r"SyncBatchNorm expects input of shape \(N, C, \*\) with at least 2 dim"
    ):
        bt.SyncBatchNorm(3)(torch.randn(3))


if __name__ == "__main__":  # a worker: world_size rank port out_dir
    _worker(int(sys.argv[2]), int(sys.argv[1]), int(sys.argv[3]), Path(sys.argv[4]))
