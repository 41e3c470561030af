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
            try:
                import ctypes

                ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # die with the zygote
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

    signal.signal(signal.SIGCHLD, _reap)
    out = sys.stdout
    print(json.dumps({"ready": os.getpid()}), file=out, flush=True)
    for line in sys.stdin:
        try:
            req = json.loads(line)
        except ValueError:
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
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402


def _die_with_parent() -> None:
    try:
        _ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)
    except OSError:
        pass


class Zygote:
    """The worker's handle on its zygote process."""

    def __init__(self, env: dict[str, str], preload: list[str], log: Path):
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-s", str(Path(__file__).resolve()), *preload],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                cwd=str(log.parent),
                preexec_fn=_die_with_parent,
                text=True,
                bufsize=1,
            )
        hello = self.proc.stdout.readline()
        if not hello.startswith('{"ready"'):
            self.close()
            raise RuntimeError(f"the kernel zygote did not start (see {log})")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def fork(self, request: dict) -> int:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline() or '{"error": "zygote closed"}')
        if "pid" not in reply:
            raise RuntimeError(f"the kernel zygote could not fork: {reply.get('error')}")
        return int(reply["pid"])

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

        self.sandbox = sandbox
        self.connection_file, _ = write_connection_file(
            str(sandbox.run / "kernel.json"), transport="ipc", ip=str(sandbox.run / "kernel")
        )
        self.status_file = sandbox.run / "kernel.status"
        env = sandbox.env()
        self.pid = zygote.fork(
            {
                "connection_file": self.connection_file,
                "cwd": str(sandbox.work),
                "env": env,
                "log": str(sandbox.kernel_log),
                "status": str(self.status_file),
                "memory": limits.memory,
                "file_size": limits.file_size,
            }
        )
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
        return kc

    def returncode(self) -> int | None:
        """The kernel's exit code (negative: killed by that signal), None while it runs."""
        try:
            status = int(self.status_file.read_text())
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

    async def cleanup_resources(self, restart: bool = False) -> None:
        for p in self.sandbox.run.glob("kernel*"):
            if p.name != "kernel.log":
                try:
                    p.unlink()
                except OSError:
                    pass
