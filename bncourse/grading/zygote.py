"""Kernels forked from a warm parent: one fresh process per notebook, without the boot cost.

Starting a Python kernel costs about a second of CPU, mostly imports (IPython, ipykernel,
zmq, numpy): as much as running a whole exercise notebook. A worker therefore starts one
*zygote* process that imports all of that once and then never runs learner code. For every
notebook the zygote ``fork()``s a child; the child applies the limits (memory, file size,
no core dumps, death with its parent), moves into the notebook's sandbox with the sandbox's
environment, and becomes an ordinary IPython kernel. Kernels are never reused: each
student's notebook gets a process that no other code has run in.

Run as a script (``python zygote.py``) so that it imports nothing of the grader. Protocol,
one JSON object per line: the worker writes ``{"connection_file", "cwd", "env", "log",
"status", "memory", "file_size", "preload"}``; the zygote answers ``{"pid": ...}`` (or
``{"error": ...}``) and, when that kernel ends, writes its wait status to ``status``.
"""

from __future__ import annotations

import json
import os
import signal
import sys

if __name__ == "__main__":  # the zygote itself: heavy imports once, then serve forks
    import importlib
    import resource

    for _name in sys.argv[1:] + ["ipykernel.kernelapp", "numpy"]:
        try:
            importlib.import_module(_name)
        except Exception:  # noqa: BLE001 - a module the tests use may not exist: skip it
            pass

    _status_files: dict[int, str] = {}

    def _reap(signum, frame) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            path = _status_files.pop(pid, None)
            if path:
                try:  # the sandbox may be gone already: a handler must never raise
                    with open(path, "w") as fh:
                        fh.write(str(status))
                except OSError:
                    pass

    def _child(req: dict) -> None:
        """In the forked child: become the notebook's kernel. Never returns."""
        code = 1
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.setsid()
            mem, fsize = int(req["memory"]), int(req["file_size"])
            resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            if req.get("cpu"):
                cpu = int(req["cpu"])
                resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
            if req.get("uid") is not None:  # sandbox as root: the kernel's own, unused uid
                os.setgroups([])
                os.setgid(int(req["gid"]))
                os.setuid(int(req["uid"]))  # drops every capability
            if req.get("nproc"):  # counted per uid (root mode) or per user namespace
                resource.setrlimit(resource.RLIMIT_NPROC, (int(req["nproc"]),) * 2)
            try:
                import ctypes

                libc = ctypes.CDLL("libc.so.6")
                libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the zygote
                if req.get("uid") is not None or req.get("private"):
                    libc.prctl(4, 0)  # PR_SET_DUMPABLE 0: no other process reads its memory
            except OSError:
                pass
            log = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.chdir(req["cwd"])
            os.environ.clear()
            os.environ.update(req["env"])
            import tempfile

            tempfile.tempdir = None
            sys.path[0] = req["cwd"]  # as `python -m ipykernel_launcher` run from there
            sys.argv = ["ipykernel_launcher", "-f", req["connection_file"]]
            from ipykernel.kernelapp import IPKernelApp

            app = IPKernelApp.instance(parent_handle=os.getppid())
            app.initialize(["-f", req["connection_file"], "--HistoryManager.hist_file=:memory:"])
            app.start()
            code = 0
        except BaseException:  # noqa: BLE001 - report, then leave without running the loop
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)

    def _sweep() -> int:
        """Kill every process in this PID namespace but this one and the live kernels (and
        their sessions): what a finished kernel left running cannot wait for the next."""
        live = set(_status_files)
        killed = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            if pid == os.getpid() or pid in live:
                continue
            try:
                if os.getsid(pid) in live:
                    continue
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        return killed

    signal.signal(signal.SIGCHLD, _reap)
    out = sys.stdout
    print(json.dumps({"ready": os.getpid()}), file=out, flush=True)
    for line in sys.stdin:
        try:
            req = json.loads(line)
        except ValueError:
            continue
        if req.get("sweep"):  # sandboxed zygotes only (own PID namespace)
            print(json.dumps({"swept": _sweep()}), file=out, flush=True)
            continue
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
        try:
            pid = os.fork()
            if pid == 0:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])
                _child(req)
            _status_files[pid] = req["status"]
        except OSError as e:
            print(json.dumps({"error": str(e)}), file=out, flush=True)
            continue
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])
        print(json.dumps({"pid": pid}), file=out, flush=True)
    sys.exit(0)


# --- the worker's side ---------------------------------------------------------------------

import ctypes as _ctypes  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402


def _die_with_parent() -> None:
    try:
        _ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)
    except OSError:
        pass


def read_tail(path, limit: int) -> bytes:
    """The last ``limit`` bytes of a regular file the kernel could have tampered with: never
    follows a symlink, never blocks on a FIFO (b"" then)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return b""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return b""
        os.lseek(fd, max(0, st.st_size - limit), os.SEEK_SET)
        return os.read(fd, limit)
    except OSError:
        return b""
    finally:
        os.close(fd)


class Zygote:
    """The worker's handle on its zygote process.

    ``jail`` (``{"bwrap", "disk", "root"}``, see ``sandbox.py``) runs the zygote inside
    bubblewrap as PID 1 of its own namespaces; ``root_dir`` is then the sandbox's root as the
    grader reaches it (``/proc/<zygote>/root``) and ``host_pid`` the zygote's pid out here."""

    def __init__(self, env: dict[str, str], preload: list[str], log: Path, jail=None):
        cmd = [sys.executable, "-s", str(Path(__file__).resolve()), *preload]
        self.jailed, self.privileged = bool(jail), bool(jail and jail.get("root"))
        fds: tuple = ()
        if jail:
            from . import sandbox

            info_r, info_w = os.pipe()
            fds = (info_w,)
            args = sandbox.bwrap_args(
                jail["bwrap"], disk=jail["disk"], root=jail["root"], preload=preload,
                info_fd=info_w,
            )  # fmt: skip
            cmd = args + ["--"] + cmd
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                cwd=str(log.parent),
                preexec_fn=_die_with_parent,
                text=True,
                bufsize=1,
                pass_fds=fds,
            )
        self.host_pid = self.proc.pid
        self.root_dir: Path | None = None
        if jail:
            os.close(info_w)
            try:
                info = sandbox.read_info(info_r)
            except (OSError, ValueError):
                info = {}
            if "child-pid" in info:
                self.host_pid = int(info["child-pid"])
                self.root_dir = Path(f"/proc/{self.host_pid}/root")
        hello = self.proc.stdout.readline()
        if not hello.startswith('{"ready"') or (jail and self.root_dir is None):
            self.close()
            tail = log.read_bytes()[-600:].decode("utf-8", "replace").strip()
            raise RuntimeError(f"the kernel zygote did not start: {tail or 'see ' + str(log)}")
        if self.root_dir is not None:  # now inside the sandbox (not before: bwrap was mounting)
            (self.root_dir / "tmp" / ".status").mkdir(mode=0o700)  # the zygote's, not kernels'

    def alive(self) -> bool:
        return self.proc.poll() is None

    def inner(self, path: Path) -> Path:
        """``path`` under ``root_dir`` as the sandbox sees it."""
        return Path("/") / Path(path).relative_to(self.root_dir)

    def _ask(self, request: dict) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline() or '{"error": "zygote closed"}')

    def fork(self, request: dict) -> int:
        """Fork a kernel; its pid as the grader sees it."""
        reply = self._ask(request)
        if "pid" not in reply:
            raise RuntimeError(f"the kernel zygote could not fork: {reply.get('error')}")
        pid = int(reply["pid"])
        if not self.jailed:
            return pid
        from .sandbox import host_pid

        for _ in range(200):
            found = host_pid(self.host_pid, pid)
            if found is not None:
                return found
            time.sleep(0.005)
        raise RuntimeError(f"the sandboxed kernel (pid {pid} inside) could not be found")

    def sweep(self) -> None:
        """Kill what finished kernels left running (sandboxed zygotes only)."""
        if self.jailed and self.alive():
            try:
                self._ask({"sweep": True})
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ForkedKernel:
    """What nbclient needs of a kernel manager, for a kernel forked by the zygote."""

    kernel_name = "python3"
    ipykernel = True

    def __init__(self, zygote: Zygote, sandbox, limits):
        from jupyter_client.connect import write_connection_file

        self.sandbox, self.zygote = sandbox, zygote
        inner = sandbox.inner
        self.connection_file, _ = write_connection_file(
            str(sandbox.run / "kernel.json"),
            transport="ipc",
            ip=str(inner(sandbox.run / "kernel")),
        )
        sandbox.give(Path(self.connection_file))
        # Where the zygote writes the kernel's exit status: out of the kernel's reach when
        # sandboxed (a folder of the zygote's), in the kernel's run/ folder otherwise.
        self.status_file = getattr(sandbox, "status_file", None) or sandbox.run / "kernel.status"
        try:
            self.status_file.unlink()  # a previous kernel's, after a death in this folder
        except OSError:
            pass
        request = {
            "connection_file": str(inner(Path(self.connection_file))),
            "cwd": str(inner(sandbox.work)),
            "env": sandbox.env(),
            "log": str(inner(sandbox.kernel_log)),
            "status": str(zygote.inner(self.status_file) if zygote.jailed else self.status_file),
            "memory": limits.memory,
            "file_size": limits.file_size,
            "cpu": limits.cpu_seconds,
        }
        if zygote.jailed:
            request["nproc"] = limits.processes
            request["private"] = True
        if sandbox.uid is not None:
            request["uid"] = request["gid"] = sandbox.uid
        self.pid = zygote.fork(request)
        self.has_kernel = True

    def client(self):
        from jupyter_client.asynchronous import AsyncKernelClient

        manager = self

        class Client(AsyncKernelClient):
            async def _async_is_alive(self) -> bool:
                return manager.alive()

            is_alive = _async_is_alive

        kc = Client(parent=None)
        kc.load_connection_file(self.connection_file)
        kc.ip = str(self.sandbox.run / "kernel")  # the sockets, as the grader reaches them
        return kc

    def returncode(self) -> int | None:
        """The kernel's exit code (negative: killed by that signal), None while it runs."""
        try:
            status = int(read_tail(self.status_file, 64))
        except (OSError, ValueError):
            return None
        if os.WIFSIGNALED(status):
            return -os.WTERMSIG(status)
        return os.WEXITSTATUS(status)

    def alive(self) -> bool:
        if self.returncode() is not None:
            return False
        try:
            with open(f"/proc/{self.pid}/stat") as fh:
                return fh.read().split(")")[-1].split()[0] != "Z"
        except OSError:
            return False

    def _reaped(self) -> bool:
        """The zygote has collected the process (and written its status file)."""
        return self.returncode() is not None or not os.path.exists(f"/proc/{self.pid}")

    async def is_alive(self) -> bool:
        return self.alive()

    async def interrupt_kernel(self) -> None:
        try:
            os.kill(self.pid, signal.SIGINT)
        except ProcessLookupError:
            pass

    async def shutdown_kernel(self, now: bool = True, restart: bool = False) -> None:
        for _ in range(2):
            try:
                os.killpg(self.pid, signal.SIGKILL)  # the kernel and anything it started
            except (ProcessLookupError, PermissionError):
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 2
            while not self._reaped() and time.monotonic() < deadline:
                time.sleep(0.01)
            if self._reaped():
                break
        self.has_kernel = False
        self.zygote.sweep()

    async def cleanup_resources(self, restart: bool = False) -> None:
        try:
            self.status_file.unlink()
        except OSError:
            pass
        for p in self.sandbox.run.glob("kernel*"):
            if p.name != "kernel.log":
                try:
                    p.unlink()
                except OSError:
                    pass
