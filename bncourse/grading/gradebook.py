"""The single writer: the only code that touches the course gradebook during a grading run.

nbgrader's sqlite gradebook is not safe for concurrent writers (nbgrader FAQ, #174). Workers
therefore read a private sqlite copy of the assignment's entries (``export_assignment``) and
return their results as data; this process applies them one at a time (``apply``). The same
code writes to PostgreSQL when ``db_url`` points there (several graders, one gradebook).
"""

from __future__ import annotations

import hashlib
import json
import re

from nbgrader.api import Gradebook, MissingEntry


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def normalize_url(url: str) -> str:
    """``postgresql://`` with the driver that is installed.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3; the course pins psycopg2, so
    the bare form is rewritten to ``postgresql+psycopg2://`` when only psycopg2 is present.
    """
    import importlib.util

    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2"):
                return "postgresql+psycopg2://" + url[len(bare) :]
            return "postgresql://" + url[len(bare) :]
    return url


def open_gradebook(url: str, course_id: str | None = None) -> Gradebook:
    """Open the gradebook or raise RuntimeError with a clear message."""
    try:
        gb = Gradebook(url, course_id) if course_id else Gradebook(url)
        gb.db.execute(__import__("sqlalchemy").text("SELECT 1"))
        return gb
    except Exception as e:  # noqa: BLE001 - any driver error means the same to the user
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RuntimeError(f"cannot open the gradebook at {safe_url(url)}: {first}") from None


def assignment_info(gb: Gradebook, assignment: str) -> dict | None:
    """Everything graded about an assignment, as plain data (None if not in the gradebook)."""
    try:
        a = gb.find_assignment(assignment)
    except MissingEntry:
        return None
    notebooks = {}
    for nb in a.notebooks:
        notebooks[nb.name] = {
            "kernelspec": nb.kernelspec,
            "grade_cells": {c.name: [c.max_score, c.cell_type] for c in nb.grade_cells},
            "solution_cells": sorted(c.name for c in nb.solution_cells),
            "task_cells": {c.name: [c.max_score, c.cell_type] for c in nb.task_cells},
            "source_cells": {
                c.name: [c.cell_type, bool(c.locked), c.source, c.checksum] for c in nb.source_cells
            },
        }
    return {
        "name": a.name,
        "duedate": str(a.duedate) if a.duedate else None,
        "notebooks": notebooks,
    }


def info_hash(info: dict) -> str:
    """Digest of what grading depends on (the due date only affects the late penalty)."""
    graded = {k: v for k, v in info.items() if k != "duedate"}
    return hashlib.sha256(json.dumps(graded, sort_keys=True).encode()).hexdigest()


def export_assignment(info: dict, url: str) -> None:
    """Write one assignment's entries into a fresh gradebook at ``url`` (the workers' copy)."""
    from nbgrader.api import Base
    from sqlalchemy import create_engine

    # Tables first: a Gradebook opened on an empty database runs the `alembic` command to
    # stamp it (seconds); this private copy needs no migration history.
    engine = create_engine(url)
    Base.metadata.create_all(bind=engine)
    engine.dispose()
    name = info["name"]
    with Gradebook(url) as t:
        t.update_or_create_assignment(name)
        for nb_name, nb in info["notebooks"].items():
            t.update_or_create_notebook(nb_name, name, kernelspec=nb["kernelspec"])
            for cell, (points, ctype) in nb["grade_cells"].items():
                t.update_or_create_grade_cell(
                    cell, nb_name, name, max_score=points, cell_type=ctype
                )
            for cell in nb["solution_cells"]:
                t.update_or_create_solution_cell(cell, nb_name, name)
            for cell, (points, ctype) in nb["task_cells"].items():
                t.update_or_create_task_cell(cell, nb_name, name, max_score=points, cell_type=ctype)
            for cell, (ctype, locked, source, checksum) in nb["source_cells"].items():
                t.update_or_create_source_cell(
                    cell,
                    nb_name,
                    name,
                    cell_type=ctype,
                    locked=locked,
                    source=source,
                    checksum=checksum,
                )


def matches(gb: Gradebook, result: dict) -> bool:
    """True if the gradebook already holds exactly these automatic scores."""
    try:
        for nb_name, nb in result["notebooks"].items():
            sub = gb.find_submission_notebook(nb_name, result["assignment"], result["student"])
            have = {g.name: g.auto_score for g in sub.grades}
            want = _wanted_scores(nb, have)
            if any(have.get(k) != v for k, v in want.items()):
                return False
        return True
    except MissingEntry:
        return False


def _wanted_scores(nb: dict, have: dict) -> dict:
    if nb["state"] in ("graded", "partial"):
        return {gid: auto for gid, (auto, _) in nb["grades"].items()}
    return dict.fromkeys(have, 0.0)  # missing, damaged or failed: every cell 0


def apply(gb: Gradebook, result: dict, late_plugin) -> None:
    """Write one worker result into the gradebook (as nbgrader's SaveAutoGrades would)."""
    student, assignment = result["student"], result["assignment"]
    from nbgrader.utils import parse_utc

    gb.update_or_create_student(student)
    kw = {}
    if result.get("timestamp"):
        try:  # a damaged timestamp.txt is ignored, not fatal
            kw["timestamp"] = parse_utc(result["timestamp"])
        except (ValueError, OverflowError, TypeError):
            pass
    submission = gb.update_or_create_submission(assignment, student, **kw)
    for nb_name, nb in result["notebooks"].items():
        sub = gb.find_submission_notebook(nb_name, assignment, student)
        have = {g.name: g for g in sub.grades}
        want = _wanted_scores(nb, {k: g.auto_score for k, g in have.items()})
        for gid, grade in have.items():
            if gid not in want:
                continue
            grade.auto_score = want[gid]
            if nb["state"] in ("graded", "partial"):
                grade.needs_manual_grade = grade.manual_score is not None or want[gid] is None
            else:
                grade.needs_manual_grade = False
        for comment in sub.comments:
            if comment.name in nb["comments"]:
                comment.auto_comment = nb["comments"][comment.name]
        sub.flagged = False
        gb.db.commit()
    _late_penalties(gb, submission, late_plugin)


def _late_penalties(gb: Gradebook, submission, plugin) -> None:
    for nb in submission.notebooks:
        nb.late_submission_penalty = None
        if submission.total_seconds_late > 0 and plugin is not None:
            penalty = plugin.late_submission_penalty(
                submission.student.id, nb.score, submission.total_seconds_late
            )
            if penalty is not None:
                nb.late_submission_penalty = min(max(penalty, 0), nb.score)
    gb.db.commit()


def scores(gb: Gradebook, assignment: str, student: str) -> dict:
    """Score as the gradebook has it (manual grades win over automatic ones), per notebook."""
    try:
        sub = gb.find_submission(assignment, student)
    except MissingEntry:
        return {}
    out = {}
    for nb in sub.notebooks:
        manual = any(g.manual_score is not None for g in nb.grades)
        out[nb.name] = {
            "score": float(nb.score),
            "max_score": float(nb.max_score),
            "late_penalty": float(nb.late_submission_penalty or 0.0),
            "manual": manual,
            "cells": {g.name: (g.score, g.max_score) for g in nb.grades},
        }
    return out
