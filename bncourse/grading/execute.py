"""Run a learner's notebook in a sandboxed kernel, cell by cell, and survive what it does.

* The kernel runs in a fresh temporary directory holding only the notebook and the released
  files, with ``HOME``, IPython and Jupyter directories pointed inside it, an environment
  reduced to an allow-list, a cap on its address space (``RLIMIT_AS``: a memory blow-up
  raises ``MemoryError`` instead of swapping the machine), no core dumps, a cap on file size,
  and ``SIGKILL`` if the grader dies (``PR_SET_PDEATHSIG``).
* Each cell has a time limit; a cell over it is interrupted and the notebook goes on. A
  kernel that will not come back from the interrupt is killed and treated like a death.
* When the kernel dies (``os._exit``, a segfault, the memory limit), the dying cell is
  recorded as an error and the notebook is run again from the top on a fresh kernel with that
  cell left out: what ran before keeps its credit, what needed the cell gets 0, and the rest
  is still graded.
* Output is capped in bytes per cell while it arrives, not only in lines afterwards.

* With ``Limits.sandbox`` (bubblewrap available, see ``sandbox.py``) the worker's zygote runs
  inside bwrap and every kernel's folder lives in the sandbox's private ``/tmp``
  (:class:`JailBox`): the kernel sees no course tree, no ``$HOME``, no network and no other
  process, runs under a process limit, and what it writes is capped in bytes. The grader
  reaches the kernel's sockets and files through ``/proc/<zygote>/root``.

Without the sandbox (no bwrap, ``--sandbox off``) the kernel runs as the grader's user on the
same filesystem (absolute paths reach anything that user can read), with the same network,
and without a process-count limit (the README says so).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute

from . import integrity
from .tasks import GiB, Limits

TIMEOUT_ENAME = "CellTimeoutError"
FLOOD_FACTOR = 50  # a cell that prints 50x the kept output is interrupted
_TIMEOUT_ERRORS = (TIMEOUT_ENAME, "KeyboardInterrupt")


class Sandbox:
    """A temporary directory tree for one kernel: ``work/`` (cwd), ``home/``, ``run/``.

    ``root``, ``work``, ``run``, ``kernel_log`` are paths as the grader sees them; ``inner``
    maps one to the path the kernel sees (the same here; not so in a :class:`JailBox`)."""

    uid: int | None = None

    def __init__(self, base: str | None = None):
        self.root = Path(tempfile.mkdtemp(prefix="bngrade-", dir=base))
        self._layout()

    def _layout(self) -> None:
        self.work = self.root / "work"
        self.home = self.root / "home"
        self.run = self.root / "run"
        for d in (self.work, self.home, self.run):
            d.mkdir(mode=0o700, exist_ok=True)
            self.give(d)
        self.kernel_log = self.run / "kernel.log"

    def inner(self, path: Path) -> Path:
        return path

    def give(self, path: Path) -> None:
        """Make ``path`` (and what is under it) the kernel's (when it runs as its own uid)."""
        if self.uid is None:
            return
        for p in [path, *(path.rglob("*") if path.is_dir() else [])]:
            os.chown(p, self.uid, self.uid, follow_symlinks=False)

    def env(self) -> dict[str, str]:
        """The kernel's whole environment (nothing else leaks in from the grader's)."""
        home_p, run = self.inner(self.home), str(self.inner(self.run))
        home = str(home_p)
        env = {
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
            "HOME": home,
            "USER": "learner",
            "TMPDIR": run,
            "IPYTHONDIR": str(home_p / ".ipython"),
            "JUPYTER_CONFIG_DIR": str(home_p / ".jupyter"),
            "JUPYTER_DATA_DIR": str(home_p / ".local" / "share" / "jupyter"),
            "JUPYTER_RUNTIME_DIR": run,
            "MPLCONFIGDIR": str(home_p / ".matplotlib"),
            "MPLBACKEND": "Agg",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "PYTHONHASHSEED": "0",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "NBGRADER_EXECUTION": "autograde",
        }
        if os.environ.get("PYTHONPATH"):  # the instructor's choice, kept on purpose
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        return env

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class JailBox(Sandbox):
    """A kernel's folder inside a sandboxed zygote's private ``/tmp`` (``/tmp/k<n>`` for the
    kernel, ``/proc/<zygote>/root/tmp/k<n>`` for the grader)."""

    def __init__(self, zygote, n: int, uid: int | None):
        self.zygote, self.uid = zygote, uid
        self.inner_root = Path("/tmp") / f"k{n}"
        self.root = zygote.root_dir / "tmp" / f"k{n}"
        self.root.mkdir(mode=0o700)
        self.give(self.root)
        self._layout()
        self.status_file = zygote.root_dir / "tmp" / ".status" / f"k{n}"

    def inner(self, path: Path) -> Path:
        return self.inner_root / Path(path).relative_to(self.root)


def _limits_preexec(limits: Limits):
    def apply() -> None:  # runs in the kernel process between fork and exec
        os.nice(2)
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        try:  # die with the grader (Linux)
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass

    return apply


async def launch_kernel(sandbox: Sandbox, limits: Limits) -> AsyncKernelManager:
    """Start a kernel process in ``sandbox`` (returns at once; the kernel boots meanwhile)."""
    km = AsyncKernelManager(
        kernel_name=limits.kernel_name, transport="ipc", ip=str(sandbox.run / "kernel")
    )
    log = open(sandbox.kernel_log, "ab")  # noqa: SIM115 - closed with the kernel
    try:
        await km.start_kernel(
            env=sandbox.env(),
            cwd=str(sandbox.work),
            extra_arguments=["--HistoryManager.hist_file=:memory:"],
            preexec_fn=_limits_preexec(limits),
            stdout=log,
            stderr=log,
        )
    finally:
        log.close()
    return km


class KernelSource:
    """Kernels for one worker process, each used for exactly one notebook of one student.

    Kernels are forked from a warm zygote (``zygote.py``) when possible, else started the
    usual way. With ``limits.sandbox`` the zygote runs inside bubblewrap and there is no
    fallback: a sandboxed zygote that cannot start is an error, never a silent unsandboxed
    kernel. With ``prestart`` the next kernel is launched (in its own fresh folder) as soon as
    one is handed out, so its boot overlaps the grading of the current notebook. Kernels are
    never shared: every notebook gets its own, fresh process.
    """

    def __init__(
        self, limits: Limits, prestart: bool, base: str | None = None, zygote: bool = True
    ):
        self.limits, self.prestart, self.base = limits, prestart, base
        self.use_zygote = zygote or limits.sandbox
        self._zygote = None
        self._zygote_box: Sandbox | None = None
        self.preload: list[str] = []
        self._next: tuple = None
        self._count = 0

    def _jail(self) -> dict | None:
        if not self.limits.sandbox:
            return None
        from . import sandbox

        bwrap = sandbox.find_bwrap()
        if bwrap is None:
            raise RuntimeError(f"the grading sandbox cannot start: {sandbox.unavailable()}")
        return {"bwrap": bwrap, "disk": self.limits.disk, "root": sandbox.privileged()}

    def _get_zygote(self):
        if not self.use_zygote:
            return None
        if self._zygote is not None and self._zygote.alive():
            return self._zygote
        from .zygote import Zygote

        jail = self._jail()
        try:
            self._zygote_box = self._zygote_box or Sandbox(self.base)
            env = self._zygote_box.env()
            if jail:  # inside the sandbox only its /tmp is writable
                env.update(HOME="/tmp", TMPDIR="/tmp", IPYTHONDIR="/tmp/.ipython")
                env.update(MPLCONFIGDIR="/tmp/.matplotlib", JUPYTER_RUNTIME_DIR="/tmp")
            self._zygote = Zygote(env, self.preload, self._zygote_box.run / "zygote.log", jail)
        except Exception:  # noqa: BLE001 - fall back to ordinary kernels, never when sandboxed
            if jail:
                raise
            self.use_zygote = False
            self._zygote = None
        return self._zygote

    def new_box(self) -> Sandbox:
        """A fresh folder for the next kernel."""
        zygote = self._get_zygote()
        if zygote is None or not zygote.jailed:
            return Sandbox(self.base)
        from . import sandbox

        self._count += 1
        uid = sandbox.kernel_uid(os.getpid(), self._count) if zygote.privileged else None
        return JailBox(zygote, self._count, uid)

    async def launch(self, box: Sandbox):
        """A kernel process in ``box`` (returns at once; the kernel boots meanwhile)."""
        zygote = self._get_zygote()
        if zygote is not None:
            from .zygote import ForkedKernel

            try:
                return ForkedKernel(zygote, box, self.limits)
            except Exception:  # noqa: BLE001
                if zygote.jailed:
                    raise
                self.use_zygote = False
        return await launch_kernel(box, self.limits)

    async def take(self) -> tuple:
        if self._next is not None:
            pair, self._next = self._next, None
        else:
            box = self.new_box()
            pair = (await self.launch(box), box)
        if self.prestart:
            box = self.new_box()
            self._next = (await self.launch(box), box)
        return pair

    async def close(self) -> None:
        if self._next is not None:
            km, box = self._next
            self._next = None
            await shutdown(km)
            box.cleanup()
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None
        if self._zygote_box is not None:
            self._zygote_box.cleanup()
            self._zygote_box = None


async def shutdown(km: AsyncKernelManager) -> None:
    try:
        if km.has_kernel:
            await km.shutdown_kernel(now=True)
    except Exception:  # noqa: BLE001 - it may be dead already
        pass
    try:
        await km.cleanup_resources()
    except Exception:  # noqa: BLE001
        pass


class _Client(Execute):
    """nbgrader's Execute (keeps its fix for the ``showtraceback`` exploit), with output
    capped in bytes per cell as it arrives."""

    def __init__(self, nb, km, output_bytes: int, **kw):
        super().__init__(**kw)
        self.nb, self.km, self.owns_km = nb, km, False
        self.output_bytes = output_bytes
        self.used: dict[int, int] = {}
        self.truncated: set[int] = set()
        self.received: dict[int, int] = {}  # bytes sent by the cell, kept or not
        self.stopped: set[int] = set()  # cells interrupted for flooding the grader

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        kind = msg["msg_type"]
        if kind == "error":
            tb = content.get("traceback", [])
            if len(tb) > 60:
                content["traceback"] = tb[:30] + ["... traceback truncated ..."] + tb[-29:]
            return super().output(outs, msg, display_id, cell_index)
        if kind == "stream":
            size = len(content.get("text", ""))
        else:
            size = sum(len(str(v)) for v in content.get("data", {}).values())
        got = self.received[cell_index] = self.received.get(cell_index, 0) + size
        if got > FLOOD_FACTOR * self.output_bytes and cell_index not in self.stopped:
            self.stopped.add(cell_index)  # receiving a gigabyte only to drop it costs minutes
            asyncio.ensure_future(self.km.interrupt_kernel())
        used = self.used.get(cell_index, 0)
        left = self.output_bytes - used
        if size > left:
            self.truncated.add(cell_index)
            if kind != "stream" or left <= 0:
                self.used[cell_index] = self.output_bytes
                return None
            content["text"] = content["text"][:left]
            size = left
        self.used[cell_index] = used + size
        return super().output(outs, msg, display_id, cell_index)


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(
        output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]
    )


def _stream(name: str, text: str) -> NotebookNode:
    return NotebookNode(output_type="stream", name=name, text=text)


def is_grade(cell) -> bool:
    m = cell.get("metadata", {}).get("nbgrader", {})
    return bool(m.get("grade")) and not m.get("solution") and cell.cell_type == "code"


def _cell_label(cell, index: int) -> str:
    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"cell '{gid}'" if gid else f"cell {index + 1}"


def _death_cause(km, sandbox: Sandbox, limits: Limits) -> str:
    code = None
    try:
        if hasattr(km, "returncode"):  # a kernel forked by the zygote
            for _ in range(100):  # its exit status is written just after it is reaped
                code = km.returncode()
                if code is not None:
                    break
                time.sleep(0.01)
        else:
            proc = getattr(km.provisioner, "process", None)
            code = proc.poll() if proc is not None else None
    except Exception:  # noqa: BLE001
        pass
    try:
        from .zygote import read_tail

        tail = read_tail(sandbox.kernel_log, 4000).decode("utf-8", "replace")
    except OSError:
        tail = ""
    if code is not None and code < 0:
        sig = -code
        if sig == signal.SIGSEGV or "Segmentation fault" in tail:
            return "it crashed with a segmentation fault"
        if sig == signal.SIGKILL:
            return "it was killed, most likely for using too much memory"
        if sig == signal.SIGXFSZ:
            return f"it wrote a file larger than {limits.file_size // 2**20} MiB"
        if sig == signal.SIGXCPU:
            return f"it used more than the {limits.cpu_seconds} s of CPU time a notebook may use"
        return f"it was stopped by signal {signal.Signals(sig).name}"
    if "MemoryError" in tail or "Cannot allocate memory" in tail or "std::bad_alloc" in tail:
        return f"it ran out of memory (the limit is {limits.memory / GiB:g} GiB)"
    if code is not None:
        return f"the code ended the Python process (exit status {code})"
    return "it stopped responding"


@dataclass
class RunReport:
    """What happened while running one notebook."""

    notes: list[str] = field(default_factory=list)
    cell_notes: dict[int, list[str]] = field(default_factory=dict)  # index -> learner notes
    timed_out: set[int] = field(default_factory=set)
    died: set[int] = field(default_factory=set)
    not_run: set[int] = field(default_factory=set)
    refused: dict[int, list[str]] = field(default_factory=dict)  # by the kernel guard
    restarts: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # where the time went


async def _silent(client: _Client, code: str, expressions: dict[str, str] | None = None):
    msg_id = client.kc.execute(
        code, silent=True, store_history=False, user_expressions=expressions or {}
    )
    reply = await client.async_wait_for_reply(msg_id)
    return reply["content"] if reply else None


async def run_notebook(
    nb: NotebookNode,
    first: tuple,
    limits: Limits,
    watch: list[str],
    launch=None,
) -> RunReport:
    """Execute ``nb`` in place. ``first`` is a launched kernel in the sandbox holding the files;
    ``launch(sandbox)`` starts another after a death (default: an ordinary kernel)."""
    report = RunReport()
    frozen: dict[int, list] = {}  # cells never to run again, with the outputs to show
    km, sandbox = first
    total_attempts = limits.max_restarts + 1
    for attempt in range(total_attempts):
        if attempt:
            km = await (launch(sandbox) if launch else launch_kernel(sandbox, limits))
            report.restarts += 1
        client = _Client(
            nb,
            km,
            limits.output_bytes,
            timeout=limits.timeout,
            startup_timeout=limits.startup_timeout,
            iopub_timeout=5,
            kernel_name=limits.kernel_name,
            coalesce_streams=False,  # nbclient's version is quadratic on long lines: ours below
            resources={"metadata": {"path": str(sandbox.work)}},
        )
        restart = False
        try:
            t0 = time.perf_counter()
            await client.async_start_new_kernel_client()
            t1 = time.perf_counter()
            report.seconds["kernel ready"] = report.seconds.get("kernel ready", 0.0) + t1 - t0
            content = await _silent(
                client,
                integrity.GUARD_SETUP + f"\n_bn_grader_guard_setup({watch!r})\n"
                "del _bn_grader_guard_setup",
            )
            base, base_detail = None, {}
            if content and content.get("status") == "ok":
                base = await _fingerprint(client)
                mods = list(base["modules"]) if base else []
                exprs = {f"m{k}": integrity.guard_detail_expr(m) for k, m in enumerate(mods)}
                got = await _silent(client, "", exprs)
                base_detail = {
                    m: integrity.parse_expr_result(got, f"m{k}") or {} for k, m in enumerate(mods)
                }
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                if index in frozen:
                    cell.outputs = frozen[index]
                    continue
                if not cell.source.strip():
                    cell.outputs = []
                    continue
                if is_grade(cell) and base is not None:
                    why = await _guard_check(client, base, base_detail)
                    if why:
                        report.refused[index] = [why]
                try:
                    await client.async_execute_cell(cell, index, execution_count=index + 1)
                except (DeadKernelError, CellTimeoutError) as e:
                    label = _cell_label(cell, index)
                    if isinstance(e, DeadKernelError):
                        cause = _death_cause(km, sandbox, limits)
                        ename, bucket = "KernelDied", report.died
                        note = f"The kernel died in {label}: {cause}."
                        msg = (
                            f"The Python kernel died while running this cell: {cause}. Cells "
                            "before it kept their results; the notebook was run again without "
                            "this cell, so anything that needed it scores 0."
                        )
                    else:  # interrupted at the time limit, but the kernel never became idle
                        ename, bucket = "TimeoutError", report.timed_out
                        note = f"{label} ran past the {limits.timeout} s limit."
                        msg = (
                            f"This cell was still running after {limits.timeout} s and did not "
                            "stop when interrupted, so its kernel was replaced. Anything that "
                            "needed it scores 0."
                        )
                    frozen[index] = list(cell.get("outputs", [])) + [_error(ename, msg)]
                    bucket.add(index)
                    report.cell_notes.setdefault(index, []).append(note)
                    restart = True
                    break
                if any(
                    o.get("output_type") == "error" and o.get("ename") == TIMEOUT_ENAME
                    for o in cell.outputs
                ):
                    _tidy_timeout(cell, limits.timeout)
                    frozen[index] = list(cell.outputs)  # don't wait for it again on a rerun
                    report.timed_out.add(index)
                    report.cell_notes.setdefault(index, []).append(
                        f"{_cell_label(cell, index)} ran past the {limits.timeout} s limit "
                        "(an endless loop?) and was stopped; the rest of the notebook still ran."
                    )
                _coalesce(cell)
                for note in _limit_notes(cell, index, limits):
                    report.cell_notes.setdefault(index, []).append(note)
                if any(o.get("ename") == "MemoryError" for o in cell.outputs):
                    report.cell_notes.setdefault(index, []).append(
                        f"{_cell_label(cell, index)} ran out of memory (each notebook may use "
                        f"{limits.memory / GiB:g} GiB) and raised MemoryError."
                    )
                if index in client.truncated:
                    cell.outputs.append(
                        _stream(
                            "stdout",
                            f"\n... output cut by the grader after {limits.output_bytes} bytes "
                            "...\n",
                        )
                    )
                    stopped = (
                        f" It was stopped after {FLOOD_FACTOR * limits.output_bytes} bytes."
                        if index in client.stopped
                        else ""
                    )
                    report.cell_notes.setdefault(index, []).append(
                        f"{_cell_label(cell, index)} printed more than "
                        f"{limits.output_bytes} bytes; the rest of its output was cut.{stopped}"
                    )
        finally:
            report.seconds["run"] = report.seconds.get("run", 0.0) + time.perf_counter() - t0
            try:
                if client.kc is not None:
                    client.kc.stop_channels()
            except Exception:  # noqa: BLE001
                pass
            await shutdown(km)
        if not restart:
            break
    else:
        # the last death's cell is frozen but no later attempt showed it: without its error
        # nbgrader would read its partial output as a passing test
        for index, outputs in frozen.items():
            nb.cells[index].outputs = outputs
        last = max(frozen) if frozen else -1
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and index > last and index not in frozen:
                cell.outputs = [
                    _error(
                        "NotRun",
                        f"Not run: the kernel died {total_attempts} times in this notebook.",
                    )
                ]
                report.not_run.add(index)
        report.notes.append(
            f"The kernel died {total_attempts} times; cells after the last death were not run."
        )
    return report


async def _fingerprint(client: _Client) -> dict | None:
    content = await _silent(client, "", {"fp": integrity.GUARD_FP})
    return integrity.parse_expr_result(content, "fp")


async def _guard_check(client: _Client, base: dict, base_detail: dict) -> str | None:
    """A learner-readable reason if the tests' modules or hooks changed, else None."""
    now = await _fingerprint(client)
    if now is None:
        return (
            "The grader's integrity check could not run before this test (something in the "
            "notebook interfered with it), so the test scores 0."
        )
    changed = integrity.diff_fingerprints(base, now)
    if not changed:
        return None
    names: list[str] = []
    for item in changed:
        if item in base["modules"]:
            content = await _silent(client, "", {"d": integrity.guard_detail_expr(item)})
            after = integrity.parse_expr_result(content, "d") or {}
            found = integrity.changed_attributes(item, base_detail.get(item, {}), after)
            if found or item not in base_detail:
                names += found or [item]
        else:
            names.append(item)
    if not names:  # only new names were added to a module: harmless
        return None
    shown = ", ".join(f"`{n}`" for n in names[:5])
    return (
        f"Before this test ran, code in the notebook had changed {shown}, which the tests rely "
        "on. The test cannot be trusted, so it scores 0."
    )


_LIMIT_SIGNS = (  # (text in an error or stderr, sandbox only, note)
    (
        ("Resource temporarily unavailable", "can't start new thread"),
        True,
        "{label} hit the limit of {processes} processes and threads per notebook; the extra "
        "ones were not started.",
    ),
    (
        ("No space left on device",),
        True,
        "{label} wrote more than the {disk} MiB a notebook may write; the write failed.",
    ),
    (
        ("File too large",),
        False,
        "{label} wrote a file larger than the {file_size} MiB limit; the write failed.",
    ),
    (
        ("Network is unreachable", "Temporary failure in name resolution", "Connection refused"),
        True,
        "{label} tried to use the network; grading runs without network.",
    ),
)


def _limit_notes(cell: NotebookNode, index: int, limits: Limits) -> list[str]:
    """Learner notes for limits a cell ran into (read from its errors and stderr)."""
    text = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            text.append(f"{out.get('ename', '')}: {out.get('evalue', '')}")
        elif out.get("output_type") == "stream" and out.get("name") == "stderr":
            text.append(out.get("text", "")[-20_000:])
    joined = "\n".join(text)
    notes = []
    for signs, sandbox_only, note in _LIMIT_SIGNS:
        if (limits.sandbox or not sandbox_only) and any(sign in joined for sign in signs):
            notes.append(
                note.format(
                    label=_cell_label(cell, index),
                    processes=limits.processes,
                    disk=limits.disk // 2**20,
                    file_size=limits.file_size // 2**20,
                )
            )
    return notes


def _coalesce(cell: NotebookNode) -> None:
    """Merge consecutive stream outputs of the same name (linear time)."""
    merged: list = []
    for out in cell.get("outputs", []):
        last = merged[-1] if merged else None
        if (
            out.get("output_type") == "stream"
            and last is not None
            and last.get("output_type") == "stream"
            and last.get("name") == out.get("name")
        ):
            last["text"] += out.get("text", "")
        else:
            merged.append(out)
    cell.outputs = merged


def _tidy_timeout(cell: NotebookNode, timeout: int) -> None:
    """One clear timeout error instead of nbclient's KeyboardInterrupt plus CellTimeoutError."""
    keep = [
        o
        for o in cell.outputs
        if not (o.get("output_type") == "error" and o.get("ename") in _TIMEOUT_ERRORS)
    ]
    keep.insert(
        0,
        _error(
            "TimeoutError",
            f"this cell ran longer than the {timeout} s limit and was stopped (an endless loop?)",
        ),
    )
    cell.outputs = keep


def run(coro):
    """Run a coroutine on this process's event loop (kept across calls)."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    if loop.is_closed():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return loop.run_until_complete(coro)
