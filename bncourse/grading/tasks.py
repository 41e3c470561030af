"""The plain data passed between the grader and its workers (no heavy imports here, so the
grader can start its workers before it imports nbgrader itself)."""

from __future__ import annotations

from dataclasses import dataclass, field

GiB = 2**30


@dataclass
class Limits:
    """Resource limits for one notebook's kernel."""

    timeout: int = 30  # seconds per cell
    memory: int = 4 * GiB  # address space of the kernel process
    output_bytes: int = 200_000  # per cell, all outputs together
    file_size: int = 256 * 2**20  # largest file the kernel may write
    max_restarts: int = 3  # fresh kernels after deaths, per notebook
    kernel_name: str = "python3"
    startup_timeout: int = 60
    # The OS sandbox (grading/sandbox.py): bubblewrap, plus these per-kernel limits.
    sandbox: bool = False
    processes: int = 128  # processes and threads per kernel (RLIMIT_NPROC; sandbox only)
    cpu_seconds: int = 900  # CPU time per kernel process (RLIMIT_CPU)
    disk: int = 512 * 2**20  # bytes a worker's kernels may write in all (sandbox tmpfs)


@dataclass
class Spec:
    """What a worker needs to know about one assignment (picklable, sent with each task)."""

    name: str
    releases: dict[str, str]  # notebook name -> released notebook JSON
    files: dict[str, str]  # released non-notebook files: relative path -> absolute path
    template_db: str  # sqlite URL of a copy of this assignment's gradebook entries
    watch: list[str]  # modules the tests import (the kernel guard fingerprints them)


@dataclass
class Task:
    student: str
    folder: str  # submitted/<student>/<assignment>
    key: str  # cache key (submission content + release)
    folder_hash: str = ""  # submission content alone


@dataclass
class Settings:
    limits: Limits = field(default_factory=Limits)
    prestart: bool = False  # boot the next kernel while grading (see execute.KernelSource)
    zygote: bool = True  # fork kernels from a warm process (zygote.py)
    tmp: str | None = None


def quiet(process_wide: bool = False) -> None:
    """Silence known, harmless noise (see /work/shared/notes/nbgrader.md).

    ``process_wide`` (worker processes and the command line only, never a caller's process)
    also skips jsonschema's import of ``rfc3987_syntax``, 2.5 s of start-up for IRI formats
    that nobody here checks, and turns nbgrader's and traitlets' logging down.
    """
    import logging
    import sys
    import warnings

    warnings.filterwarnings("ignore", message=r".*not in session.*")
    if not process_wide:
        return
    sys.modules.setdefault("rfc3987_syntax", None)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        from nbformat.warnings import MissingIDFieldWarning

        warnings.filterwarnings("ignore", category=MissingIDFieldWarning)
    except ImportError:
        pass
    for name in ("traitlets", "nbgrader", "NbGraderAPI", "nbclient", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
