"""Speed of ``bncourse.grade`` on a class of 50 synthetic submissions of bn03_mechanics.

A plain script (run by ``make bench``), not a test. It builds a temporary course from the
repository's ``nbgrader_config.py`` and ``solutions/bn03_mechanics``, hands in 50 notebooks
(a third correct, a third with Part B left as the stub, a third with a numerical bug in Part
A), and measures, in this one run:

* grading with 1 worker and with all workers (``jobs`` = CPU cores): seconds per submission
  (the batch's wall time / 50, worker start-up included), the median time a worker spent on
  one submission, and CPU seconds per submission (all processes);
* the floor: executing the same notebooks (hidden tests included, as graded) one after the
  other with plain nbclient, a fresh kernel each, nothing else;
* the sandbox's cost: grading with 1 worker in the bubblewrap sandbox (``--sandbox
  required``, what ``make grade`` does where bwrap runs) over grading with 1 worker without
  it (``--sandbox off``), both in this run.

Goals on 2 cores: all workers >= 1.7x faster than 1 worker; grading with 1 worker <= 1.5x
the bare execution time (both with one kernel at a time: like for like); sandboxed grading
<= 1.3x unsandboxed.
``BENCH_GRADING_ROUNDS`` (default 1) repeats everything and reports medians over rounds.
"""

from __future__ import annotations

import copy
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bncourse import grade as G  # noqa: E402

ASSIGNMENT = "bn03_mechanics"
N = int(os.environ.get("BENCH_GRADING_N", "50"))
ROUNDS = int(os.environ.get("BENCH_GRADING_ROUNDS", "1"))
GOAL_SPEEDUP, GOAL_OVERHEAD, GOAL_SANDBOX = 1.7, 1.5, 1.3


def build_course(base: Path) -> tuple[Path, str]:
    """A released copy of the course with N submissions; returns (root, notebook file name)."""
    from nbgrader.apps import NbGraderAPI

    G.ensure_alembic()
    root = base / "course"
    root.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    res = NbGraderAPI(config=G.load_config(root)).generate_assignment(ASSIGNMENT)
    if not res["success"]:
        raise SystemExit(f"generate_assignment failed:\n{res.get('error')}")
    name = next((root / "exercises" / ASSIGNMENT).glob("*.ipynb")).name
    release = nbformat.read(root / "exercises" / ASSIGNMENT / name, as_version=4)
    solution = nbformat.read(root / "solutions" / ASSIGNMENT / name, as_version=4)
    answers = {}
    for cell in solution.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            lines = cell.source.splitlines()
            answers[meta["grade_id"]] = "\n".join(ln for ln in lines if "SOLUTION" not in ln)
    ids = list(answers)
    for k in range(N):
        nb = copy.deepcopy(release)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid not in answers:
                continue
            if k % 3 == 1 and gid == ids[1]:
                continue  # Part B left as released: the stub raises NotImplementedError
            cell.source = answers[gid]
            if k % 3 == 2 and gid == ids[0]:  # a classic bug: eps outside the square root
                cell.source = cell.source.replace("np.sqrt(var + eps)", "np.sqrt(var) + eps")
        folder = root / "submitted" / f"student{k:03d}" / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / name)
    return root, name


def cpu_seconds() -> float:
    """CPU used so far by this process and every finished descendant (workers, kernels)."""
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def grade_batch(
    root: Path, jobs: int, sandbox: str = "auto"
) -> tuple[float, list[float], G.GradeReport, float]:
    c0, t0 = cpu_seconds(), time.perf_counter()
    report = G.grade(root, ASSIGNMENT, jobs=jobs, force=True, sandbox=sandbox)
    wall = time.perf_counter() - t0
    assert report.executed == N, report.executed
    return wall, [r.seconds for r in report.rows], report, cpu_seconds() - c0


def bare_batch(notebooks: list[nbformat.NotebookNode], workdir: Path) -> float:
    """Plain nbclient, one fresh kernel per notebook, one after the other.

    The kernels talk over IPC sockets, as the grader's do (like for like, and no
    "running over TCP without encryption" warning per kernel).
    """
    from nbclient import NotebookClient
    from traitlets.config import Config

    ipc = Config()
    ipc.KernelManager.transport = "ipc"
    ipc.KernelManager.ip = str(workdir / "kernel")
    t0 = time.perf_counter()
    for nb in notebooks:
        nb = copy.deepcopy(nb)
        NotebookClient(
            nb,
            config=ipc,
            timeout=60,
            kernel_name="python3",
            allow_errors=True,  # a stub raises NotImplementedError, as in grading
            resources={"metadata": {"path": str(workdir)}},
        ).execute()
    return time.perf_counter() - t0


def graded_notebooks(root: Path, name: str) -> list[nbformat.NotebookNode]:
    """The notebooks exactly as the grader ran them (hidden tests in), outputs cleared."""
    out = []
    for path in sorted((root / "autograded").glob(f"*/{ASSIGNMENT}/{name}")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        out.append(nb)
    assert len(out) == N, len(out)
    return out


def main() -> None:
    if not (ROOT / "solutions" / ASSIGNMENT).is_dir():
        raise SystemExit(f"solutions/{ASSIGNMENT} is missing: nothing to benchmark")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    from bncourse.grading import sandbox

    no_sandbox = sandbox.unavailable()
    base = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        root, name = build_course(base)
        work = base / "bare"
        work.mkdir()
        one, many, bare, lat_one, lat_many, off = [], [], [], [], [], []
        cpu: dict[str, list[float]] = {"bare": [], "one": [], "many": [], "off": []}
        scores = None
        for _ in range(ROUNDS):
            wall, lat, report, c = grade_batch(root, 1)
            one.append(wall / N)
            cpu["one"].append(c / N)
            lat_one += lat
            scores = sorted(r.score for r in report.rows)
            nbs = graded_notebooks(root, name)
            c0 = cpu_seconds()
            bare.append(bare_batch(nbs, work) / N)
            cpu["bare"].append((cpu_seconds() - c0) / N)
            wall, lat, _, c = grade_batch(root, cores)
            many.append(wall / N)
            cpu["many"].append(c / N)
            lat_many += lat
            wall, _, report_off, c = grade_batch(root, 1, sandbox="off")
            off.append(wall / N)
            cpu["off"].append(c / N)
            assert sorted(r.score for r in report_off.rows) == scores  # same grades
        s_one, s_many, s_bare = (statistics.median(v) for v in (one, many, bare))
        speedup = s_one / s_many
        overhead = s_one / s_bare
        print(f"grading {N} submissions of {ASSIGNMENT} on {cores} cores, {ROUNDS} round(s)")
        mid = statistics.median(scores)
        print(f"  scores: min {scores[0]:g}, median {mid:g}, max {scores[-1]:g}")
        print(f"  bare nbclient execution (floor) : {s_bare:6.2f} s per submission")
        print(
            f"  grading, 1 worker (sandbox)     : {s_one:6.2f} s per submission "
            f"(median {statistics.median(lat_one):.2f} s in the worker)"
        )
        print(
            f"  grading, {cores} workers              : {s_many:6.2f} s per submission "
            f"(median {statistics.median(lat_many):.2f} s in a worker)"
        )
        c_bare, c_one, c_many = (statistics.median(cpu[k]) for k in ("bare", "one", "many"))
        print(
            f"  CPU seconds per submission      : bare {c_bare:.2f}, grading {c_one:.2f} "
            f"(1 worker), {c_many:.2f} ({cores} workers)"
        )
        s_off = statistics.median(off)
        print(
            f"  grading, 1 worker, no sandbox   : {s_off:6.2f} s per submission "
            f"(CPU {statistics.median(cpu['off']):.2f} s)"
        )
        if no_sandbox:
            print(f"  the 1-worker figures above ran UNSANDBOXED here: {no_sandbox}")
        else:
            ratio = s_one / s_off
            cpu_ratio = c_one / statistics.median(cpu["off"])
            print(f"  sandboxed / unsandboxed (1 worker): {ratio:6.2f}x (CPU {cpu_ratio:.2f}x)")
            ok = "met" if ratio <= GOAL_SANDBOX else "NOT met"
            print(f"  goal sandboxed <= {GOAL_SANDBOX}x unsandboxed: {ok}")
        print(f"  speedup, {cores} workers vs 1        : {speedup:6.2f}x")
        print(f"  grading (1 worker) / bare       : {overhead:6.2f}x")
        ok_speed = speedup >= GOAL_SPEEDUP
        ok_over = overhead <= GOAL_OVERHEAD
        print(f"  goal speedup >= {GOAL_SPEEDUP}x: {'met' if ok_speed else 'NOT met'}")
        print(f"  goal grading <= {GOAL_OVERHEAD}x bare: {'met' if ok_over else 'NOT met'}")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(
            f"  (load average at the end: {load:.1f} on {cores} cores; other programs running "
            "meanwhile lower the speedup: compare the CPU seconds)"
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
