"""Autograde a whole class: ``python -m bncourse.grade`` (``make grade``).

Grades ``submitted/<student>/<assignment>/*.ipynb`` under the course root and writes

* ``autograded/<student>/<assignment>/`` - the graded notebooks (instructor's view);
* ``feedback/<student>/<assignment>/<notebook>.html`` and ``grading_log.txt`` - the learner's
  view: scores, printed test messages, no hidden-test code, and every repair or refusal
  explained in words;
* ``grades.csv`` - exactly one row per (student, assignment) graded in this run, with a
  ``status`` (``graded``, ``partly graded``, ``not gradable``, ``grader error``) and a short
  ``reason``;
* the gradebook (``db_url``: sqlite by default, PostgreSQL for several graders).

Raw submissions are only read. Work happens on copies, in worker processes (``--jobs``), each
notebook in its own sandboxed kernel; one process (this one) writes the gradebook. Results are
cached under ``.grading/`` by submission content and release: re-running re-executes nothing
that has not changed.

Exit status: 0 when the batch completed (even if some submissions were not gradable), 2 when
grading could not run at all (no ``nbgrader_config.py``, assignment not released, gradebook
unreachable), with the reason on stderr, and 3 when the batch completed but the grader itself
failed on some submission (status ``grader error``: a bug or a broken machine, never the
learner's doing; such results are not cached, so the next run retries them).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from .config import DB_ENV, ConfigError, course_dir, load_config

__all__ = ["DB_ENV", "GradeReport", "GradingError", "Row", "grade", "load_config", "main"]

# Bump when a change to the grader can change results that its source hash would not show.
GRADER_VERSION = "3"
STATUSES = ("graded", "partly graded", "not gradable", "grader error")
CSV_COLUMNS = ("student", "assignment", "status", "score", "max_score", "reason")


class GradingError(RuntimeError):
    """Grading itself could not run (no config, assignment not released, DB unreachable)."""


@dataclass
class Row:
    """One (student, assignment) of the run."""

    student: str
    assignment: str
    status: str
    score: float
    max_score: float
    reason: str
    cached: bool = False
    seconds: float = 0.0
    notebooks: dict = field(default_factory=dict)


@dataclass
class GradeReport:
    rows: list[Row] = field(default_factory=list)
    root: Path | None = None
    db_url: str = ""
    jobs: int = 1
    seconds: float = 0.0
    executed: int = 0  # submissions graded by running them (not from the cache)
    all_rows: list[Row] = field(default_factory=list)  # grades.csv after this run (merged)
    message: str = ""  # what the instructor must know about this run (printed by main)
    class_report: Path | None = None

    def row(self, student: str, assignment: str | None = None) -> Row:
        for r in self.rows:
            if r.student == student and (assignment is None or r.assignment == assignment):
                return r
        raise KeyError((student, assignment))


# --- configuration ----------------------------------------------------------------------


def ensure_alembic() -> None:
    """nbgrader creates gradebooks by running ``alembic``: find the one next to this Python."""
    bindir = Path(sys.executable).parent
    if shutil.which("alembic") is None and (bindir / "alembic").exists():
        os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"


def _as_list(value) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    items = [str(v).strip() for v in value if str(v).strip()]
    return items or None


def discover(root: Path, submitted: str, assignment: str | None, students) -> list[tuple]:
    """``(student, assignment, folder)`` for every submission folder found, sorted."""
    base = root / submitted
    wanted = _as_list(students)
    found = []
    if not base.is_dir():
        return found
    for sdir in sorted(base.iterdir()):
        if not sdir.is_dir() or sdir.name.startswith("."):
            continue
        if wanted is not None and sdir.name not in wanted:
            continue
        for adir in sorted(sdir.iterdir()):
            if adir.is_dir() and (assignment is None or adir.name == assignment):
                found.append((sdir.name, adir.name, adir))
    return found


def assignments(root: Path, cfg) -> list[str]:
    """The course's assignments: folders with a notebook in the release or source folder."""
    names = set()
    for key, default in (("release_directory", "release"), ("source_directory", "source")):
        base = root / course_dir(cfg, key, default)
        if base.is_dir():
            names |= {d.name for d in base.iterdir() if d.is_dir() and any(d.glob("*.ipynb"))}
    return sorted(names)


def _listing(names: list[str], most: int = 40) -> str:
    if not names:
        return "none"
    shown = ", ".join(repr(n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def check_names(root: Path, cfg, assignment: str | None, students) -> None:
    """A student id or assignment name asked for that matches nothing is an error that says
    what exists (a typo must not grade nothing and exit 0)."""
    if assignment is not None:
        known = assignments(root, cfg)
        if assignment not in known:
            raise GradingError(
                f"there is no assignment {assignment!r} (nothing in "
                f"{course_dir(cfg, 'release_directory', 'release')}/ or "
                f"{course_dir(cfg, 'source_directory', 'source')}/); the assignments are: "
                + _listing(known)
            )
    wanted = _as_list(students)
    if wanted:
        base = root / course_dir(cfg, "submitted_directory", "submitted")
        have = sorted(d.name for d in (base.iterdir() if base.is_dir() else ()) if d.is_dir())
        unknown = [s for s in wanted if s not in have]
        if unknown:
            raise GradingError(
                f"no submission folder under {base} for {_listing(unknown)}; the students "
                f"there are: {_listing(have)}"
            )


_HERE = Path(__file__).resolve().parent
# What outside the course folder can change a grade, hashed into the cache key: the grader's
# own code and the checks (every .py file below these folders, whatever files appear there).
SOURCE_TREES = {
    "bncourse/grade.py": _HERE / "grade.py",
    "bncourse/config.py": _HERE / "config.py",
    "bncourse/grading": _HERE / "grading",
    "bncourse/checks": _HERE / "checks",
}
RUNTIME_DISTS = ("numpy", "nbgrader", "nbclient", "nbconvert", "ipykernel", "torch")


def hashed_sources(others: frozenset[str] = frozenset()) -> list[tuple[str, Path]]:
    """``(label, file)`` for every source file in the cache key: :data:`SOURCE_TREES` and
    ``bnref``'s package (located, not imported). Files named after one of ``others`` (the
    course's other assignments, e.g. ``checks/bn04_placement.py``) are left out: a new
    assignment's checks do not regrade the rest."""
    import importlib.util

    trees = dict(SOURCE_TREES)
    spec = importlib.util.find_spec("bnref")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        trees["bnref"] = Path(loc)
    files = []
    for label, tree in trees.items():
        if tree.is_file():
            files.append((label, tree))
        elif tree.is_dir():
            files += [
                (f"{label}/{p.relative_to(tree).as_posix()}", p)
                for p in tree.rglob("*.py")
                if p.stem not in others
            ]
    return sorted(files)


def code_hash(others: frozenset[str] = frozenset()) -> str:
    """Digest of what outside the course folder can change a grade: :func:`hashed_sources`,
    and the versions of Python and of the packages that run and score notebooks."""
    import importlib.metadata

    h = hashlib.sha256(f"{GRADER_VERSION}\0{sys.version}".encode())
    for label, path in hashed_sources(others):
        h.update(label.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    for dist in RUNTIME_DISTS:
        try:
            h.update(f"{dist}=={importlib.metadata.version(dist)}".encode())
        except importlib.metadata.PackageNotFoundError:
            pass
    return h.hexdigest()


def folder_hash(folder: Path) -> str:
    """Digest of a submission folder's content (names and bytes of every file)."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(folder).as_posix()
        h.update(rel.encode("utf-8", "surrogateescape") + b"\0")
        if path.is_symlink():  # never followed (see submission.list_notebook_files)
            h.update(b"link:" + os.readlink(path).encode("utf-8", "surrogateescape"))
        else:
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


# --- the cache --------------------------------------------------------------------------


def _cache_path(root: Path, student: str, assignment: str) -> Path:
    sid = hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    aid = hashlib.sha256(assignment.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return root / ".grading" / "cache" / aid / f"{sid}.json.gz"


def _cache_get(root: Path, student: str, assignment: str, key: str) -> dict | None:
    path = _cache_path(root, student, assignment)
    try:
        data = json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, ValueError, EOFError):
        return None
    if data.get("key") != key or data.get("student") != student:
        return None
    return data


def _cache_put(root: Path, result: dict) -> None:
    path = _cache_path(root, result["student"], result["assignment"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(json.dumps(result).encode(), compresslevel=3))
    os.replace(tmp, path)
    meta = path.with_name(path.name.replace(".json.gz", ".folder"))
    meta.write_text(result.get("folder_hash", ""))


def _cache_maybe(root: Path, student: str, assignment: str, fhash: str) -> bool:
    """Cheap guess, before the release is known: was this exact folder graded before?"""
    path = _cache_path(root, student, assignment)
    try:
        return path.with_name(path.name.replace(".json.gz", ".folder")).read_text() == fhash
    except OSError:
        return False


# --- outcome of one submission ----------------------------------------------------------


def _status(result: dict) -> tuple[str, str]:
    if result.get("error"):
        return "grader error", f"the grader failed: {result['error']}"
    nbs = result["notebooks"]
    states = [nb["state"] for nb in nbs.values()]
    bits: list[str] = []
    for note in result.get("notes", []):
        if note.startswith("Your submission folder is empty"):
            bits.append("empty submission folder")
    for name, nb in nbs.items():
        prefix = f"{name}: " if len(nbs) > 1 else ""
        bits += [prefix + s for s in nb["short"]]
        bits += [prefix + s for s in nb["repairs"]]
    if any(s == "error" for s in states):
        status = "grader error"
    elif all(s in ("missing", "unreadable") for s in states):
        status = "not gradable"
        if "empty submission folder" in bits:
            bits = ["empty submission folder"]
    elif any(s in ("partial", "missing", "unreadable") for s in states):
        status = "partly graded"
    else:
        status = "graded"
    if status in ("graded", "partly graded") and not any(
        nb.get("attempted") for nb in nbs.values() if nb["state"] in ("graded", "partial")
    ):
        bits.insert(0, "not attempted: no answer changed from the release")
    if not bits:
        bits = ["all tests ran"]
    reason = "; ".join(dict.fromkeys(bits))
    return status, reason if len(reason) <= 300 else reason[:297] + "..."


def _log_text(result: dict, row: Row) -> str:
    lines = [
        f"Grading log for {row.student}, assignment {row.assignment}",
        f"Status: {row.status} ({row.reason})",
        f"Score: {row.score:g} / {row.max_score:g}",
        "",
    ]
    for note in result.get("notes", []):
        lines.append(f"- {note}")
    for name, nb in result["notebooks"].items():
        used = f" (graded from your file '{nb['file']}')" if nb.get("file") else ""
        lines.append(f"{name}.ipynb{used}: {nb['score']:g} / {nb['max_score']:g}")
        said = [f"  - {n}" for n in nb["notes"]] + [f"  - {t}" for t in _short_tests(nb)]
        lines += said or ["  - Graded normally."]
    return "\n".join(lines) + "\n"


def _short_tests(nb: dict) -> list[str]:
    """One line per test that scored below its points: its claim and what it printed first
    (the check's first ``  -> `` message, else the error's last line)."""
    import nbformat

    from .grading import feedback

    if not nb.get("autograded"):
        return []
    out = []
    for cell in nbformat.reads(nb["autograded"], as_version=4).cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        auto, points = nb.get("grades", {}).get(gid, (None, 0))
        if auto is None or auto >= points or cell.get("cell_type") != "code":
            continue
        what = ""
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stdout":
                arrows = [ln for ln in o.get("text", "").splitlines() if ln.startswith("  -> ")]
                what = what or (arrows[0][5:].strip() if arrows else "")
            elif o.get("output_type") == "error" and not what:
                what = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", f"{o.get('ename')}: {o.get('evalue')}")
        text = f"Test '{gid}' ({feedback.claim(cell.source, gid)}): {auto:g} / {points:g}"
        out.append(feedback.scrub_paths(text + (f". {what}" if what else "")))
    return out


def _csv_cell(value) -> str:
    """A spreadsheet-safe cell: text that a spreadsheet would run as a formula gets a quote."""
    text = value if isinstance(value, str) else f"{value:g}"
    if text[:1] in ("=", "+", "-", "@", "\t", "\r", "\n") and isinstance(value, str):
        return "'" + text
    return text


def _csv_uncell(text: str) -> str:
    if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@", "\t", "\r", "\n"):
        return text[1:]
    return text


def read_csv(path: Path) -> list[Row]:
    """The rows of an existing ``grades.csv`` (none when there is no file). Raises
    GradingError for a file this grader did not write: it is never overwritten."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as e:
        raise GradingError(f"{path} cannot be read ({e}); move it away to grade") from None
    lines = list(csv.reader(io.StringIO(text, newline="")))
    if not lines:
        return []
    if tuple(lines[0]) != CSV_COLUMNS:
        raise GradingError(
            f"{path} does not have the columns {', '.join(CSV_COLUMNS)}: it was not written by "
            "this grader (or was edited); move it away to grade"
        )
    rows = []
    for n, cells in enumerate(lines[1:], start=2):
        if not cells:
            continue
        try:
            s, a, status, score, max_score, reason = (_csv_uncell(c) for c in cells)
            rows.append(Row(s, a, status, float(score), float(max_score), reason))
        except ValueError:
            raise GradingError(
                f"{path}, line {n}, is damaged; move the file away to grade"
            ) from None
    return rows


def merge_rows(old: list[Row], new: list[Row]) -> list[Row]:
    """``old`` with every (student, assignment) graded in ``new`` replaced, sorted."""
    merged = {(r.student, r.assignment): r for r in old}
    merged.update({(r.student, r.assignment): r for r in new})
    return sorted(merged.values(), key=lambda r: (r.assignment, r.student))


def write_csv(path: Path, rows: list[Row]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow(
            [_csv_cell(v) for v in (r.student, r.assignment, r.status, r.score, r.max_score)]
            + [_csv_cell(r.reason)]
        )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8", newline="")
    os.replace(tmp, path)


# --- the run ----------------------------------------------------------------------------


def _limits(cfg, timeout, memory_limit):
    from .grading.tasks import GiB, Limits

    lim = Limits()
    ex = cfg.get("Execute", {})
    lim.timeout = int(timeout or ex.get("timeout") or lim.timeout)
    if ex.get("kernel_name"):
        lim.kernel_name = str(ex.kernel_name)
    env_mem = os.environ.get("BN_GRADE_MEMORY_GB")
    lim.memory = int(float(memory_limit or env_mem or lim.memory / GiB) * GiB)
    return lim


def _register(root: Path, gb, name: str, url: str, has_source: bool, info) -> dict | None:
    """The assignment's gradebook entries, put there from ``solutions/`` first when the
    gradebook lacks them or was given an older source (so a fresh clone grades without
    ``make exercises``, and a test fixed in ``solutions/`` is what grades)."""
    from . import release
    from .grading import gradebook as gbmod

    if not has_source or (info is not None and release.registered(root, name, url)):
        return info
    gb.db.rollback()  # no read transaction open while another connection writes
    try:
        problems = release.register(root, name, url)
    except release.ReleaseError as e:
        raise GradingError(f"could not put {name!r} into the gradebook: {e}") from None
    if problems:
        raise GradingError(
            f"the release of {name!r} is not what its source generates (the release was edited "
            "by hand, or the source changed since it was released): run `make exercises`, "
            "commit, then grade again.\n" + "\n".join(problems)[:2000]
        )
    gb.db.rollback()
    return gbmod.assignment_info(gb, name)


def _specs(root, cfg, gb, names, run_dir, explicit):
    """Per released assignment: the worker spec, its cache hash, why it cannot be graded,
    and the gradebook entries to export for the workers. Raises GradingError."""
    from . import release
    from .grading import gradebook as gbmod
    from .grading import integrity
    from .grading.tasks import Spec

    release_dir = root / course_dir(cfg, "release_directory", "release")
    source_dir = root / course_dir(cfg, "source_directory", "source")
    url = str(cfg.CourseDirectory.db_url)
    course = frozenset(assignments(root, cfg))
    specs, hashes, problems, exports = {}, {}, {}, {}
    for name in names:
        folder = release_dir / name
        notebooks = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
        has_source = (source_dir / name).is_dir() and any((source_dir / name).glob("*.ipynb"))
        info = gbmod.assignment_info(gb, name)
        if notebooks:
            info = _register(root, gb, name, url, has_source, info)
        if not notebooks or info is None:
            if not notebooks:
                why = f"there is no assignment {name!r} (no notebook in {folder})"
                if has_source:
                    why = f"assignment {name!r} is not released: run `make exercises`, commit"
                why += "; the released assignments are: " + _listing(
                    [a for a in assignments(root, cfg) if any((release_dir / a).glob("*.ipynb"))]
                )
            else:
                why = f"assignment {name!r} is neither in the gradebook nor in {source_dir}"
            if explicit:
                raise GradingError(why)
            problems[name] = why
            continue
        db_names = set(info["notebooks"])
        releases = {p.stem: p.read_text(encoding="utf-8") for p in notebooks if p.stem in db_names}
        if not releases:
            raise GradingError(f"the notebooks in {folder} are not in the gradebook for {name!r}")
        files = {}
        for p in sorted(folder.rglob("*")):
            rel = p.relative_to(folder)
            if p.is_file() and p.suffix != ".ipynb" and ".ipynb_checkpoints" not in rel.parts:
                files[rel.as_posix()] = str(p)
        db = f"sqlite:///{Path(run_dir) / f'template-{len(specs)}.db'}"
        exports[name] = (info, db)  # written once workers are starting (see grade)
        tests = [
            src
            for nb in info["notebooks"].values()
            for (_, locked, src, _) in nb["source_cells"].values()
            if locked and src
        ]
        watch = list(integrity.WATCH_DEFAULT)
        watch += [m for m in integrity.imported_modules(tests) if m not in watch]
        specs[name] = Spec(name, releases, files, db, watch)
        # The cache key: everything that can change a grade. The tests as the gradebook holds
        # them (hidden ones included) and as solutions/ has them, the release, the grader, the
        # checks and bnref (code_hash).
        h = hashlib.sha256(code_hash(course - {name}).encode())
        h.update(gbmod.info_hash(info).encode())
        h.update(release.source_hash(root, name).encode())
        for key in sorted(releases):
            h.update(key.encode() + releases[key].encode())
        for key in sorted(files):
            h.update(key.encode() + Path(files[key]).read_bytes())
        hashes[name] = h.hexdigest()
    return specs, hashes, problems, exports


class _Pool:
    """``jobs`` worker processes (spawned, so nothing of this process leaks into them)."""

    def __init__(self, jobs: int, settings, progress):
        self.jobs, self.settings, self.progress = jobs, settings, progress
        self.ex = None

    def start(self, n: int) -> None:
        from .grading import worker

        ctx = multiprocessing.get_context("spawn")
        self.ex = ProcessPoolExecutor(
            n, mp_context=ctx, initializer=worker.init, initargs=(self.settings,)
        )
        for _ in range(n):  # start them now: they import while this process prepares
            self.ex.submit(worker.ready)

    def results(self, tasks):
        """Run ``(Task, Spec)`` pairs; yield results as they finish. A pool broken by a dying
        worker process is replaced once; what it was running is retried once."""
        from .grading import worker

        pending = list(tasks)
        for attempt in range(2):
            if not pending:
                break
            if self.ex is None:
                self.start(max(1, min(self.jobs, len(pending))))
            broken = []
            futures = {self.ex.submit(worker.work, t, s): (t, s) for t, s in pending}
            for fut in as_completed(futures):
                task, spec = futures[fut]
                try:
                    yield fut.result()
                except BrokenProcessPool:
                    broken.append((task, spec))
                except Exception as e:  # noqa: BLE001
                    yield _failed(task, spec, e)
            pending = broken
            if pending:
                self.close()
                if attempt == 0 and self.progress:
                    self.progress(f"a worker process died; retrying {len(pending)} submission(s)")
        for task, spec in pending:
            yield _failed(task, spec, RuntimeError("the worker process died twice"))

    def close(self) -> None:
        if self.ex is not None:
            self.ex.shutdown(wait=True, cancel_futures=True)
            self.ex = None


def _failed(task, spec, exc) -> dict:
    return {
        "student": task.student,
        "assignment": spec.name,
        "key": task.key,
        "notebooks": {},
        "notes": [],
        "error": f"{type(exc).__name__}: {exc}",
        "seconds": 0.0,
    }


def _write_outputs(root: Path, cfg, result: dict, spec, row: Row) -> None:
    s, a = result["student"], result["assignment"]
    ag = root / course_dir(cfg, "autograded_directory", "autograded") / s / a
    fb = root / course_dir(cfg, "feedback_directory", "feedback") / s / a
    for d in (ag, fb):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    for name, nb in result["notebooks"].items():
        if nb.get("autograded"):
            (ag / f"{name}.ipynb").write_text(nb["autograded"], encoding="utf-8")
        (fb / f"{name}.html").write_text(nb["feedback"], encoding="utf-8")
    if spec is not None:
        for rel, src in spec.files.items():
            (ag / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, ag / rel)
    if result.get("timestamp"):
        (ag / "timestamp.txt").write_text(result["timestamp"] + "\n", encoding="utf-8")
    (fb / "grading_log.txt").write_text(_log_text(result, row), encoding="utf-8")


def _rerender(result: dict, db_scores: dict) -> None:
    """Feedback pages again where the gradebook disagrees with the autograder (manual grades,
    late penalties): the learner sees the grade that counts."""
    import nbformat

    from .grading import feedback

    for name, nb in result["notebooks"].items():
        got = db_scores.get(name)
        if not got or not nb.get("shown") or not (got["manual"] or got["late_penalty"]):
            continue
        shown = nbformat.reads(nb["shown"], as_version=4)
        for cell in shown.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade_id") in got["cells"]:
                meta["score"], meta["points"] = got["cells"][meta["grade_id"]]
        nb["feedback"] = feedback.render(
            shown,
            name,
            got["score"],
            got["max_score"],
            got["late_penalty"],
            nb["notes"],
            nb.get("hidden", []),
        )


def grade(
    root=".",
    assignment: str | None = None,
    students=None,
    jobs: int | None = None,
    *,
    db_url: str | None = None,
    timeout: int | None = None,
    memory_limit: float | None = None,
    prestart: bool = False,
    force: bool = False,
    sandbox: str = "auto",
    progress=None,
) -> GradeReport:
    """Autograde every ``submitted/<student>/<assignment>/`` under the course ``root``.

    Parameters
    ----------
    root : path
        The course root (holds ``nbgrader_config.py``).
    assignment : str, optional
        Grade only this assignment; it must be released. Default: every assignment found.
    students : str or list of str, optional
        Grade only these students (a list, or a comma-separated string).
    jobs : int, optional
        Worker processes; default the number of CPU cores.
    db_url : str, optional
        Gradebook URL (e.g. ``postgresql://user@host/db``); default ``$BN_COURSE_DB_URL``,
        then the course config, then ``sqlite:///<root>/gradebook.db``.
    timeout : int, optional
        Seconds per cell (default: the config's ``Execute.timeout``, else 30).
    memory_limit : float, optional
        GiB of address space per kernel (default ``$BN_GRADE_MEMORY_GB`` or 4).
    prestart : bool
        Launch each worker's next kernel while the current notebook is graded. Off by
        default: kernels are forked from a warm process, so there is little left to hide.
    force : bool
        Ignore the cache: run every submission again.
    sandbox : {"auto", "required", "off"}
        Run each kernel in the bubblewrap sandbox (``grading/sandbox.py``): ``auto`` uses it
        where it can run and warns once on stderr where not; ``required`` raises
        GradingError where it cannot run; ``off`` never uses it.
    progress : callable, optional
        Called with one line of text per finished submission.

    Returns
    -------
    GradeReport
        ``.rows``: one :class:`Row` per (student, assignment), sorted.

    Raises
    ------
    GradingError
        When grading cannot run at all.
    """
    from .grading.tasks import Settings, quiet

    t0 = time.perf_counter()
    quiet()
    ensure_alembic()
    root = Path(root).resolve()
    try:
        cfg = load_config(root, db_url)
    except ConfigError as e:
        raise GradingError(str(e)) from None
    url = str(cfg.CourseDirectory.db_url)
    course_id = cfg.CourseDirectory.get("course_id")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    jobs = max(1, int(jobs or cpus or 1))
    limits = _limits(cfg, timeout, memory_limit)
    from .grading import sandbox as sbx

    try:
        limits.sandbox, how = sbx.resolve(sandbox)
    except (sbx.SandboxUnavailable, ValueError) as e:
        raise GradingError(str(e)) from None
    if not limits.sandbox and sandbox == "auto":
        print(f"warning: {how}", file=sys.stderr, flush=True)
    submitted = course_dir(cfg, "submitted_directory", "submitted")
    old_rows = read_csv(root / "grades.csv")  # refuse a foreign file before any work
    check_names(root, cfg, assignment, students)
    found = discover(root, submitted, assignment, students)
    if not found and not assignment:  # nothing handed in: no gradebook to open or create
        report = GradeReport(root=root, jobs=jobs, all_rows=old_rows)
        report.message = f"nothing handed in: no submission folder under {root / submitted}"
        if (root / "grades.csv").exists():
            report.message += "; grades.csv left as it was"
        else:
            write_csv(root / "grades.csv", [])
        report.seconds = time.perf_counter() - t0
        return report
    fhashes = {(s, a): folder_hash(f) for s, a, f in found}
    likely = [k for k, h in fhashes.items() if force or not _cache_maybe(root, *k, h)]
    pool = _Pool(jobs, Settings(limits=limits, prestart=prestart, tmp=None), progress)
    if likely:  # workers import nbgrader and boot their kernels while this process prepares
        pool.start(min(jobs, len(likely)))
    try:
        return _grade(root, cfg, url, course_id, assignment, found, fhashes, limits, jobs,
                      force, pool, progress, t0)  # fmt: skip
    finally:
        pool.close()


def _grade(root, cfg, url, course_id, assignment, found, fhashes, limits, jobs, force, pool,
           progress, t0) -> GradeReport:  # fmt: skip
    from .grading import gradebook as gbmod
    from .grading.tasks import Task

    submitted = course_dir(cfg, "submitted_directory", "submitted")
    try:
        gb = gbmod.open_gradebook(url, course_id)
    except RuntimeError as e:
        raise GradingError(str(e)) from None
    report = GradeReport(root=root, db_url=gbmod.safe_url(url), jobs=jobs)
    run_dir = tempfile.mkdtemp(prefix="bngrade-run-")
    try:
        names = sorted({a for _, a, _ in found} | ({assignment} if assignment else set()))
        specs, hashes, problems, exports = _specs(root, cfg, gb, names, run_dir, bool(assignment))
        late_plugin = _late_plugin(cfg)
        results: dict[tuple, dict] = {}
        todo = []
        for student, a, folder in found:
            if a in problems:
                results[(student, a)] = {
                    "student": student,
                    "assignment": a,
                    "notebooks": {},
                    "notes": [],
                    "unreleased": problems[a],
                }
                continue
            fhash = fhashes[(student, a)]
            key = hashlib.sha256(f"{hashes[a]}:{fhash}:{limits}".encode()).hexdigest()
            hit = None if force else _cache_get(root, student, a, key)
            if hit is not None:
                hit["cached"] = True
                results[(student, a)] = hit
            else:
                todo.append((Task(student, str(folder), key, fhash), specs[a]))
        report.executed = len(todo)
        for name in sorted({spec.name for _, spec in todo}):
            gbmod.export_assignment(*exports[name])
        done = 0

        def finish(result: dict) -> None:
            nonlocal done
            done += 1
            _finish(root, cfg, gb, result, specs.get(result["assignment"]), late_plugin, report)
            if progress:
                r = report.rows[-1]
                src = "cached" if r.cached else f"{r.seconds:.1f} s"
                progress(
                    f"[{done}/{len(found)}] {r.student} {r.assignment}: {r.status} "
                    f"{r.score:g}/{r.max_score:g} ({src}) {r.reason}"
                )

        for key in sorted(results):
            finish(results[key])
        for result in pool.results(todo):
            finish(result)
    finally:
        gb.close()
        shutil.rmtree(run_dir, ignore_errors=True)
    report.rows.sort(key=lambda r: (r.assignment, r.student))
    old_rows = read_csv(root / "grades.csv")  # again: another grader may have written since
    report.all_rows = merge_rows(old_rows, report.rows)
    write_csv(root / "grades.csv", report.all_rows)
    if not report.rows:
        report.message = f"no submission of {assignment!r} under {root / submitted}"
    kept = [
        f"{r.student}/{r.assignment}"
        for r in report.all_rows
        if not (root / submitted / r.student / r.assignment).is_dir()
    ]
    if kept:
        report.message = (
            f"grades.csv keeps {len(kept)} earlier row(s) whose submission folder is gone: "
            + _listing(kept, 10)
        )
    _class_report(root, cfg, report)
    report.seconds = time.perf_counter() - t0
    return report


def _class_report(root: Path, cfg, report: GradeReport) -> None:
    """``class_report.html`` beside grades.csv, from every row of it (never fatal)."""
    from . import report as class_report

    try:
        report.class_report = class_report.write(root, cfg, report.all_rows)
    except Exception as e:  # noqa: BLE001 - the grades are written; the summary page is extra
        report.message = (report.message + "; " if report.message else "") + (
            f"the class report could not be written: {type(e).__name__}: {e}"
        )


def _late_plugin(cfg):
    try:
        from nbgrader.preprocessors import AssignLatePenalties

        pp = AssignLatePenalties(config=cfg)
        pp.init_plugin()
        return pp.plugin_inst
    except Exception:  # noqa: BLE001 - no penalties rather than no grades
        return None


def _finish(root, cfg, gb, result, spec, late_plugin, report) -> None:
    """Apply one result: gradebook, files, cache, row."""
    from .grading import gradebook as gbmod

    s, a = result["student"], result["assignment"]
    if result.get("unreleased"):
        row = Row(s, a, "not gradable", 0.0, 0.0, result["unreleased"])
        report.rows.append(row)
        return
    status, reason = _status(result)
    if not result.get("error"):
        if not (result.get("cached") and gbmod.matches(gb, result)):
            try:
                gbmod.apply(gb, result, late_plugin)
            except Exception as e:  # noqa: BLE001 - this submission fails, not the batch
                gb.db.rollback()
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                result["error"] = f"could not write the gradebook: {first}"
                status, reason = _status(result)
    db = gbmod.scores(gb, a, s) if not result.get("error") else {}
    score = sum(v["score"] - v["late_penalty"] for v in db.values())
    max_score = sum(v["max_score"] for v in db.values())
    if not db:
        score = sum(nb["score"] for nb in result["notebooks"].values())
        max_score = sum(nb["max_score"] for nb in result["notebooks"].values())
    row = Row(
        s,
        a,
        status,
        round(score, 6),
        round(max_score, 6),
        reason,
        cached=bool(result.get("cached")),
        seconds=float(result.get("seconds", 0.0)),
        notebooks={k: v["state"] for k, v in result["notebooks"].items()},
    )
    _rerender(result, db)
    if not result.get("error"):
        _write_outputs(root, cfg, result, spec, row)
        if not result.get("cached") and status != "grader error":  # retried next run
            result.pop("cached", None)
            _cache_put(root, result)
    report.rows.append(row)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bncourse.grade",
        description="Autograde submitted/<student>/<assignment>/ into autograded/, feedback/ "
        "and grades.csv.",
    )
    p.add_argument("--root", default=".", help="course root (default: current directory)")
    p.add_argument("--assignment", help="grade only this assignment")
    p.add_argument("--students", help="comma-separated student ids (default: all)")
    p.add_argument("--jobs", type=int, help="worker processes (default: CPU cores)")
    p.add_argument("--db-url", help=f"gradebook URL (default: ${DB_ENV}, then the config)")
    p.add_argument("--timeout", type=int, help="seconds per cell (default: config, else 30)")
    p.add_argument("--memory-gb", type=float, help="kernel memory limit in GiB (default 4)")
    p.add_argument("--force", action="store_true", help="ignore the cache, run everything again")
    p.add_argument(
        "--sandbox",
        choices=("auto", "required", "off"),
        default=os.environ.get("BN_GRADE_SANDBOX", "auto"),
        help="bubblewrap sandbox per kernel: auto (where it can run), required (refuse "
        "where it cannot), off (default: $BN_GRADE_SANDBOX, else auto)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    from .grading.tasks import quiet

    quiet(process_wide=True)  # this process is ours: skip slow imports, quiet the logs

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        report = grade(
            args.root,
            args.assignment,
            args.students,
            args.jobs,
            db_url=args.db_url,
            timeout=args.timeout,
            memory_limit=args.memory_gb,
            sandbox=args.sandbox,
            force=args.force,
            progress=None if args.quiet else say,
        )
    except GradingError as e:
        print(f"error: grading could not run: {e}", file=sys.stderr)
        return 2
    counts = {s: sum(r.status == s for r in report.rows) for s in STATUSES}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no submissions found"
    cached = sum(r.cached for r in report.rows)
    wrote = f"grades.csv has {len(report.all_rows)} row(s)"
    if report.class_report is not None:
        wrote += f"; class report: {report.class_report}"
    print(
        f"{len(report.rows)} submission(s): {summary}. Ran {report.executed}, {cached} "
        f"unchanged since the last run ({report.seconds:.1f} s, {report.jobs} worker(s)). "
        f"{report.root / 'grades.csv'}: {wrote}."
    )
    if report.message:
        print(f"note: {report.message}", file=sys.stderr)
    if counts["grader error"]:
        print(
            f"warning: the grader itself failed on {counts['grader error']} submission(s); "
            "see their reason in grades.csv (they are retried on the next run)",
            file=sys.stderr,
        )
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
