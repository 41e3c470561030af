"""Autograde a whole class: ``python -m bncourse.grade`` (``make grade``).

First, simple version: serial, nbgrader's in-process API. Hardened in later commits.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

STATUSES = ("graded", "partly graded", "not gradable")


class GradingError(RuntimeError):
    """Grading itself could not run (no config, assignment not released, DB unreachable)."""


@dataclass
class Row:
    student: str
    assignment: str
    status: str
    score: float
    max_score: float
    reason: str = ""


@dataclass
class GradeReport:
    rows: list[Row] = field(default_factory=list)


def _config(root: Path, db_url: str | None):
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    path = root / "nbgrader_config.py"
    if not path.is_file():
        raise GradingError(f"no nbgrader_config.py in {root}: this is not a course root")
    cfg = Config()
    cfg.merge(PyFileConfigLoader(path.name, path=str(root)).load_config())
    cfg.CourseDirectory.root = str(root)
    url = db_url or os.environ.get("BN_COURSE_DB_URL")
    if url:
        cfg.CourseDirectory.db_url = url
    elif "db_url" not in cfg.CourseDirectory:
        cfg.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    return cfg


def grade(root, assignment=None, students=None, jobs=None, db_url=None) -> GradeReport:
    """Autograde ``submitted/<student>/<assignment>/`` under ``root``."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.apps import NbGraderAPI

    root = Path(root).resolve()
    cfg = _config(root, db_url)
    api = NbGraderAPI(config=cfg)
    released = root / "exercises"
    sub = root / "submitted"
    wanted = [s.strip() for s in students.split(",")] if isinstance(students, str) else students
    pairs = []
    if sub.is_dir():
        for sdir in sorted(sub.iterdir()):
            if not sdir.is_dir() or (wanted and sdir.name not in wanted):
                continue
            for adir in sorted(sdir.iterdir()):
                if adir.is_dir() and (assignment is None or adir.name == assignment):
                    pairs.append((sdir.name, adir.name))
    if assignment and not (released / assignment).is_dir():
        raise GradingError(f"assignment {assignment!r} is not released (no exercises/{assignment})")
    report = GradeReport()
    for student, a in pairs:
        res = api.autograde(a, student, force=True)
        if res["success"]:
            api.generate_feedback(a, student, force=True)
        with Gradebook(cfg.CourseDirectory.db_url) as gb:
            try:
                s = gb.find_submission(a, student)
                score, max_score = s.score, s.max_score
            except MissingEntry:
                score, max_score = 0.0, gb.find_assignment(a).max_score
        status = "graded" if res["success"] else "not gradable"
        reason = "" if res["success"] else (res.get("error") or "").strip().splitlines()[-1:]
        report.rows.append(Row(student, a, status, score, max_score, str(reason)))
    with open(root / "grades.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["student", "assignment", "status", "score", "max_score", "reason"])
        for r in report.rows:
            w.writerow([r.student, r.assignment, r.status, r.score, r.max_score, r.reason])
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bncourse.grade", description=__doc__)
    p.add_argument("--root", default=".")
    p.add_argument("--assignment")
    p.add_argument("--students")
    p.add_argument("--jobs", type=int)
    p.add_argument("--db-url")
    a = p.parse_args(argv)
    try:
        report = grade(a.root, a.assignment, a.students, a.jobs, a.db_url)
    except GradingError as e:
        print(f"grading could not run: {e}", file=sys.stderr)
        return 2
    for r in report.rows:
        print(f"{r.student}\t{r.assignment}\t{r.status}\t{r.score}/{r.max_score}\t{r.reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
