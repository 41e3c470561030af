"""Grade one (student, assignment) submission. Runs in a worker process; returns plain data.

The worker never writes to the course: it reads the raw submission, grades a repaired copy
in a temporary sandbox against a read-only copy of the assignment's gradebook entries, and
returns the graded notebooks, scores and feedback pages to the single writer (``grade.py``).
"""

from __future__ import annotations

import copy
import math
import re
import shutil
import time
import traceback
from pathlib import Path

import nbformat

from . import feedback, integrity
from .execute import KernelSource, is_grade, run, run_notebook
from .submission import load_submission
from .tasks import Limits, Settings, Spec, Task, quiet

# A warning as printed by the warnings module: "file:line: SomeWarning: message" + source line.
_WARNING = re.compile(r"^[^\n]*:\d+: \w*Warning: [^\n]*\n(?:[ \t]+[^\n]*\n)?", re.M)
_NP_SCALAR = re.compile(r"^np\.(?:float|int|uint|bool_?)\w*\((.*)\)$")


_state: dict = {}


def init(settings: Settings) -> None:
    """Worker process initializer: heavy imports once, a kernel source, a clean shutdown."""
    import multiprocessing.util

    quiet(process_wide=True)
    _state["settings"] = settings
    _state["kernels"] = KernelSource(
        settings.limits, settings.prestart, settings.tmp, zygote=settings.zygote
    )
    _state["releases"] = {}
    feedback._html_exporter()
    from nbgrader import preprocessors  # noqa: F401 - import once, here

    multiprocessing.util.Finalize(None, _close, exitpriority=10)


def _close() -> None:
    kernels = _state.pop("kernels", None)
    if kernels is not None:
        try:
            run(kernels.close())
        except Exception:  # noqa: BLE001
            pass


def _release(spec: Spec, name: str) -> nbformat.NotebookNode:
    key = (spec.name, name, hash(spec.releases[name]))
    cache = _state.setdefault("releases", {})
    if key not in cache:
        cache[key] = nbformat.reads(spec.releases[name], as_version=4)
    return copy.deepcopy(cache[key])


def _sanitize(nb, name: str, spec: Spec, student: str):
    """nbgrader's own sanitize pass (restores locked cells and hidden tests from the DB)."""
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        OverwriteCells,
        OverwriteKernelspec,
    )

    res = {
        "nbgrader": {
            "notebook": name,
            "assignment": spec.name,
            "student": student,
            "db_url": spec.template_db,
        }
    }
    for pp in (ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata):
        nb, res = pp().preprocess(nb, res)
    return nb


def _strip_warnings(cell) -> bool:
    """Drop printed warnings from a test cell's stderr (a warning must not zero a test)."""
    changed = False
    keep = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            text = _WARNING.sub("", out["text"])
            if text != out["text"]:
                changed = True
                if not text.strip():
                    continue
                out["text"] = text
        keep.append(out)
    cell.outputs = keep
    return changed


def _fix_partial(cell) -> str | None:
    """Make a test's partial-credit value safe to parse; a note for the instructor if odd."""
    points = float(cell.metadata.nbgrader.get("points", 0))
    for out in cell.get("outputs", []):
        if out.get("output_type") != "execute_result":
            continue
        data = out.get("data", {})
        text = data.get("text/plain")
        if isinstance(text, list):
            text = "".join(text)
        if not isinstance(text, str):
            return None
        m = _NP_SCALAR.match(text.strip())
        raw = m.group(1) if m else text.strip()
        try:
            value = float(raw)
        except ValueError:
            return None
        clamped = 0.0 if math.isnan(value) else min(max(value, 0.0), points)
        data["text/plain"] = repr(clamped)
        if clamped != value:
            return f"test returned {raw}, outside [0, {points:g}]; used {clamped:g}"
        return None
    return None


def _refuse(cell, reasons: list[str]) -> None:
    """Zero a test cell: an error output first (nbgrader scores the first decisive output)."""
    text = " ".join(reasons)
    out = nbformat.NotebookNode(
        output_type="error",
        ename="GradingRefused",
        evalue=text,
        traceback=[f"GradingRefused: {text}"],
    )
    cell.outputs = [out] + list(cell.get("outputs", []))


def _limit_output(nb) -> None:
    from nbgrader.preprocessors import LimitOutput

    LimitOutput().preprocess(nb, {})


def _grades(nb) -> tuple[dict, dict]:
    from nbgrader import utils

    grades, comments = {}, {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if not gid:
            continue
        if utils.is_grade(cell):
            auto, points = utils.determine_grade(cell)
            grades[gid] = (auto, points)
        if utils.is_solution(cell) or utils.is_task(cell):
            unchanged = meta.get("checksum") == utils.compute_checksum(cell)
            comments[gid] = "No response." if unchanged and not utils.is_task(cell) else None
    return grades, comments


def _label(cell, index: int) -> str:
    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"'{gid}'" if gid else f"cell {index + 1}"


def grade_notebook(item, spec: Spec, student: str) -> dict:
    """Run and score one loaded notebook. Returns the notebook's part of the result."""
    limits: Limits = _state["settings"].limits
    t0 = time.perf_counter()
    release = _release(spec, item.name)
    nb = _sanitize(item.nb, item.name, spec, student)
    static = integrity.refusals(nb)
    t1 = time.perf_counter()
    notes = list(item.notes)
    short: list[str] = []
    kernels = _state["kernels"]
    if not kernels.preload:  # the zygote imports what the tests import, once
        kernels.preload = [m for m in spec.watch if m not in ("builtins", "math")]
    km, sandbox = run(kernels.take())
    try:
        for rel, src in spec.files.items():  # released files only: no learner .py shadows a module
            dest = sandbox.work / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest)
        if spec.files:
            sandbox.give(sandbox.work)
        report = run(run_notebook(nb, (km, sandbox), limits, spec.watch, kernels.launch))
    finally:
        sandbox.cleanup()
    notes += report.notes
    for index in sorted(report.cell_notes):
        notes += report.cell_notes[index]
    warned, odd = [], []
    for index, cell in enumerate(nb.cells):
        if not is_grade(cell):
            continue
        if _strip_warnings(cell):
            warned.append(_label(cell, index))
        fix = _fix_partial(cell)
        if fix:
            odd.append(f"{_label(cell, index)}: {fix}")
        reasons = static.get(index, []) + report.refused.get(index, [])
        if reasons:
            _refuse(cell, reasons)
    _limit_output(nb)
    if warned:
        notes.append(
            "Warnings printed while these tests ran were ignored (a warning is not a failure): "
            + ", ".join(warned)
            + "."
        )
    refused = sorted(set(static) | set(report.refused))
    for index in refused:
        for why in static.get(index, []) + report.refused.get(index, []):
            line = f"Test {_label(nb.cells[index], index)} scored 0: {why}"
            if line not in notes:
                notes.append(line)
    grades, comments = _grades(nb)
    score = sum(a for a, _ in grades.values() if a is not None)
    max_score = sum(p for _, p in grades.values())
    if static:
        kinds = "reference used" if any("reference" in " ".join(v) for v in static.values()) else ""
        short.append(kinds or "tests tampered with")
    if report.refused:
        short.append("tests tampered with")
    if report.died:
        short.append(
            "kernel died in " + ", ".join(_label(nb.cells[i], i) for i in sorted(report.died))
        )
    if report.timed_out:
        short.append(
            "time limit hit in "
            + ", ".join(_label(nb.cells[i], i) for i in sorted(report.timed_out))
        )
    if report.not_run:
        short.append(f"{len(report.not_run)} cell(s) not run")
    partial = bool(refused or report.died or report.timed_out or report.not_run)
    t2 = time.perf_counter()
    shown, hidden = feedback.for_learner(nb, release, grades, comments)
    if not item.attempted:
        notes.insert(0, "No answer cell was changed from the released notebook.")
    page = feedback.render(shown, item.name, score, max_score, 0.0, notes, hidden)
    seconds = {"sanitize+scan": t1 - t0, **report.seconds, "feedback": time.perf_counter() - t2}
    return {
        "state": "partial" if partial else "graded",
        "file": item.filename,
        "problem": "",
        "short": short,
        "repairs": _repair_tags(item.notes),
        "attempted": item.attempted,
        "autograded": nbformat.writes(nb),
        "feedback": page,
        "grades": grades,
        "comments": comments,
        "score": score,
        "max_score": max_score,
        "notes": notes,
        "instructor": odd,
        "shown": nbformat.writes(shown),
        "hidden": hidden,
        "timing": seconds,
    }


_REPAIR_TAGS = (
    ("was saved as", "renamed file used"),
    ("the only other notebook", "renamed file used"),
    ("lost the grading information", "metadata re-attached"),
    ("had been edited", "edited locked cell restored"),
    ("was missing (deleted?). It was put back", "deleted cell restored"),
    ("had been turned into", "cell type restored"),
    ("asked for the kernel", "kernel replaced"),
    ("slightly damaged", "damaged file rebuilt"),
)


def _repair_tags(notes: list[str]) -> list[str]:
    tags = []
    for note in notes:
        for needle, tag in _REPAIR_TAGS:
            if needle in note and tag not in tags:
                tags.append(tag)
    return tags


def _max_points(spec: Spec, name: str) -> float:
    rel = _release(spec, name)
    return sum(
        float(c.metadata.nbgrader.get("points", 0))
        for c in rel.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade")
    )


def grade_task(task: Task, spec: Spec) -> dict:
    """Grade one submission; never raises (a failure becomes a ``grader error`` result)."""
    t0 = time.perf_counter()
    folder = Path(task.folder)
    result = {
        "student": task.student,
        "assignment": spec.name,
        "key": task.key,
        "folder_hash": task.folder_hash,
        "notebooks": {},
    }
    try:
        releases = {n: _release(spec, n) for n in spec.releases}
        loaded, folder_notes = load_submission(folder, releases)
        result["notes"] = folder_notes
        for name, item in loaded.items():
            if item.state != "ok":
                notes = item.notes + [f"This notebook scores 0: {item.problem}."]
                mx = _max_points(spec, name)
                result["notebooks"][name] = {
                    "state": item.state,
                    "file": item.filename,
                    "problem": item.problem,
                    "short": [item.problem],
                    "repairs": [],
                    "attempted": False,
                    "autograded": None,
                    "feedback": feedback.plain_page(name, 0.0, mx, folder_notes + notes),
                    "grades": {},
                    "comments": {},
                    "score": 0.0,
                    "max_score": mx,
                    "notes": notes,
                    "instructor": [],
                }
                continue
            try:
                result["notebooks"][name] = grade_notebook(item, spec, task.student)
            except Exception as e:  # noqa: BLE001 - one notebook's failure is reported, not fatal
                mx = _max_points(spec, name)
                msg = f"the grader failed on this notebook ({type(e).__name__}: {e})"
                result["notebooks"][name] = {
                    "state": "error",
                    "file": item.filename,
                    "problem": msg,
                    "short": [msg],
                    "repairs": [],
                    "attempted": True,
                    "autograded": None,
                    "feedback": feedback.plain_page(
                        name, 0.0, mx, [f"This notebook could not be graded: {msg}."]
                    ),
                    "grades": {},
                    "comments": {},
                    "score": 0.0,
                    "max_score": mx,
                    "notes": [msg],
                    "instructor": [traceback.format_exc()],
                }
        timestamp = folder / "timestamp.txt"
        result["timestamp"] = (
            timestamp.read_text(errors="replace").strip() if timestamp.is_file() else None
        )
    except Exception as e:  # noqa: BLE001
        result["error"] = f"{type(e).__name__}: {e}"
        result["traceback"] = traceback.format_exc()
    result["seconds"] = time.perf_counter() - t0
    return result


def ready() -> bool:
    """A no-op task: submitting one per worker starts the workers early."""
    return True


def work(task: Task, spec: Spec) -> dict:
    """Entry point for the process pool."""
    return grade_task(task, spec)
