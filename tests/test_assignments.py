"""Every assignment, graded through the real ``python -m bncourse.grade`` (issue 10).

Assignments are discovered from ``solutions/`` (a folder holding a notebook). For each, in
ONE grading batch in a temporary course root: the solution gets full marks, the blank
release gets 0, and every submission of ``tests/corpus/<assignment>/*.py`` gets what it
declares (format: ``CONTRIBUTING.md`` and the README's "Adding an
assignment"). Each corpus file is a parametrised test of its own, so a failure names it.
"""

from __future__ import annotations

import copy
import csv
import functools
import html
import importlib
import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from bncourse import release

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::nbformat.validator.MissingIDFieldWarning"),
]

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
ASSIGNMENTS = release.assignments(ROOT)
# what must never reach a learner's feedback
INTERNALS = ("Traceback", "bncourse/checks", "_Problem", "_Stop", "site-packages")


def _gid(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _notebook(assignment: str) -> str:
    names = sorted(p.name for p in (ROOT / "solutions" / assignment).glob("*.ipynb"))
    assert len(names) == 1, f"{assignment}: one notebook per assignment expected, got {names}"
    return names[0]


def _solution_answers(assignment: str) -> dict[str, str]:
    nb = nbformat.read(ROOT / "solutions" / assignment / _notebook(assignment), as_version=4)
    return {
        _gid(c): "\n".join(ln for ln in c.source.splitlines() if "SOLUTION" not in ln)
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }


@functools.cache
def corpus(assignment: str) -> dict[str, dict]:
    """Corpus submissions by student id (file stem): the file's upper-case names."""
    folder = CORPUS / assignment
    out = {}
    for path in sorted(folder.glob("*.py")) if folder.is_dir() else []:
        if path.name.startswith("_") or path.stem == "expected":
            continue
        names = runpy.run_path(str(path))
        data = {k: v for k, v in names.items() if k.isupper()}
        data["doc"] = (names.get("__doc__") or "").strip()
        out[path.stem] = data
    return out


def build(release_nb, assignment: str, spec: dict):
    """The release with answer cells filled as ``spec`` says (see the module docstring)."""
    nb = copy.deepcopy(release_nb)
    answers = {**_solution_answers(assignment), **spec.get("ANSWERS", {})}
    for gid, edits in spec.get("REPLACE", {}).items():
        for old, new in edits:
            assert answers[gid].count(old) == 1, f"{old!r} is not once in {gid}"
            answers[gid] = answers[gid].replace(old, new)
    stub = set(spec.get("STUB", []))
    for cell in nb.cells:
        gid = _gid(cell)
        if cell.metadata.get("nbgrader", {}).get("solution") and gid not in stub:
            cell.source = answers[gid]
    for gid in spec.get("DUPLICATE", []):  # Jupyter's copy keeps the metadata
        i = next(i for i, c in enumerate(nb.cells) if _gid(c) == gid)
        dup = copy.deepcopy(nb.cells[i])
        dup["id"] = f"dup-{gid}"[:64]
        nb.cells.insert(i + 1, dup)
    for after, source in spec.get("ADDED", []):
        i = next(i for i, c in enumerate(nb.cells) if _gid(c) == after)
        nb.cells.insert(i + 1, nbformat.v4.new_code_cell(source))
    return nb


def _text(path: Path) -> str:
    raw = path.read_text(encoding="utf-8")
    raw = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", raw, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", raw)).split())


class Graded:
    """One assignment's batch: grades.csv rows, feedback text and cell scores by student."""

    def __init__(self, root: Path, assignment: str, students):
        from nbgrader.utils import determine_grade

        self.root, self.assignment = root, assignment
        with open(root / "grades.csv", newline="", encoding="utf-8") as f:
            self.rows = {r["student"]: r for r in csv.DictReader(f)}
        nb_name = _notebook(assignment)
        self.feedback, self.cells = {}, {}
        for s in students:
            page = root / "feedback" / s / assignment / nb_name.replace(".ipynb", ".html")
            log = root / "feedback" / s / assignment / "grading_log.txt"
            text = _text(page) if page.is_file() else ""
            if log.is_file():
                text += " " + " ".join(log.read_text(encoding="utf-8").split())
            self.feedback[s] = text
            auto = root / "autograded" / s / assignment / nb_name
            scores = {}
            if auto.is_file():
                for cell in nbformat.read(auto, as_version=4).cells:
                    if cell.metadata.get("nbgrader", {}).get("grade"):
                        scores.setdefault(_gid(cell), determine_grade(cell)[0])
            self.cells[s] = scores


_graded: dict[str, Graded] = {}


def graded(assignment: str, tmp_path_factory) -> Graded:
    """Grade the solution, the blank release and the corpus in one batch (once per run)."""
    if assignment in _graded:
        return _graded[assignment]
    root = tmp_path_factory.mktemp(f"course-{assignment}")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions" / assignment, root / "solutions" / assignment)
    env = {k: v for k, v in os.environ.items() if k != "BN_COURSE_DB_URL"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    run = subprocess.run(
        [sys.executable, "-m", "bncourse.release", "--root", str(root), assignment],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    nb_name = _notebook(assignment)
    release_nb = nbformat.read(root / "exercises" / assignment / nb_name, as_version=4)
    subs = {"_solution": {}, "_release": {"STUB": list(_solution_answers(assignment))}}
    subs.update(corpus(assignment))
    for student, spec in subs.items():
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(build(release_nb, assignment, spec), folder / nb_name)
    run = subprocess.run(
        [sys.executable, "-m", "bncourse.grade", "--root", str(root), "--assignment",
         assignment, "--jobs", "2", "--quiet"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    _graded[assignment] = Graded(root, assignment, subs)
    return _graded[assignment]


def _messages(assignment: str) -> dict[str, str]:
    from bncourse.checks.core import MESSAGES

    module = importlib.import_module(f"bncourse.checks.{assignment}")
    return {**MESSAGES, **getattr(module, "MISTAKES", {})}


def _flat(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------
# the tests
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_points_are_written_once_and_agree(assignment):
    """Each test cell's ``points=`` in code equals its nbgrader points (or it has none)."""
    nb = nbformat.read(ROOT / "solutions" / assignment / _notebook(assignment), as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert tests, f"{assignment} has no test cells"
    for cell in tests:
        written = re.findall(r"points=([0-9.]+)", cell.source)
        assert len(written) <= 1, f"{_gid(cell)}: points written {len(written)} times"
        if written:
            assert float(written[0]) == cell.metadata.nbgrader["points"], _gid(cell)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_corpus_is_complete(assignment):
    """>= 5 correct alternatives, >= 8 named mistakes, the degenerate set, a mutation."""
    subs = corpus(assignment)
    assert subs, f"no corpus in tests/corpus/{assignment}/"
    kinds = {}
    for sid, spec in subs.items():
        kinds.setdefault(spec.get("KIND", "?"), []).append(sid)
    assert len(kinds.get("correct", [])) >= 5, kinds
    assert len(kinds.get("mistake", [])) >= 8, kinds
    named = {k for sid in kinds["mistake"] for k in subs[sid].get("MISTAKES", [])}
    assert len(named) >= 8, f"the wrong submissions name only {sorted(named)}"
    degenerate = {subs[sid].get("DEGENERATE") for sid in kinds.get("degenerate", [])}
    assert {"no-op", "zeros", "pasted", "wrong type", "endless loop"} <= degenerate, degenerate
    assert kinds.get("mutation"), "no submission that changes its inputs in place"


def _group(assignment: str):
    """One xdist group per assignment: its batch is graded once, in one worker."""
    return pytest.mark.xdist_group(f"assignment-{assignment}")


@pytest.mark.slow
@pytest.mark.parametrize("assignment", [pytest.param(a, marks=_group(a)) for a in ASSIGNMENTS])
def test_solution_full_marks_release_zero(assignment, tmp_path_factory):
    g = graded(assignment, tmp_path_factory)
    sol, blank = g.rows["_solution"], g.rows["_release"]
    assert sol["status"] == "graded", sol
    # manually graded cells (grade and solution: a written answer) score 0 until a person
    # grades them
    nb = nbformat.read(ROOT / "solutions" / assignment / _notebook(assignment), as_version=4)
    manual = sum(
        c.metadata.nbgrader.get("points", 0)
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade") and c.metadata.nbgrader.get("solution")
    )
    assert float(sol["score"]) == float(sol["max_score"]) - manual > 0, sol
    assert float(blank["score"]) == 0, blank
    for s in ("_solution", "_release"):
        assert not [w for w in INTERNALS if w in g.feedback[s]], s


CASES = [(a, sid) for a in ASSIGNMENTS for sid in corpus(a)]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("assignment", "student"),
    [pytest.param(a, s, marks=_group(a), id=f"{a}/{s}") for a, s in CASES],
)
def test_corpus_submission_gets_what_it_should(assignment, student, tmp_path_factory):
    spec = corpus(assignment)[student]
    g = graded(assignment, tmp_path_factory)
    row, text, cells = g.rows[student], g.feedback[student], g.cells[student]
    where = f"{assignment}/{student} ({spec['doc']}): {row}"
    assert row["status"] == spec.get("STATUS", "graded"), where
    score, total = float(row["score"]), float(row["max_score"])
    lo, hi = spec["SCORE"]
    assert lo - 1e-6 <= score <= hi + 1e-6, where
    if spec.get("KIND") == "degenerate":
        assert score <= 0.1 * total + 1e-6, where
    for gid, (clo, chi) in spec.get("CELLS", {}).items():
        assert clo - 1e-6 <= (cells.get(gid) or 0) <= chi + 1e-6, f"{where}: {gid} {cells}"
    messages = _messages(assignment)
    for key in spec.get("MISTAKES", []):
        assert _flat(messages[key]) in text, f"{where}: no message {key!r} in the feedback"
    for key in spec.get("ABSENT", []):
        assert _flat(messages[key]) not in text, f"{where}: message {key!r} in the feedback"
    for words in spec.get("FEEDBACK", []):
        assert _flat(words) in text, f"{where}: {words!r} not in the feedback"
    assert not [w for w in INTERNALS if w in text], f"{where}: checker internals in the feedback"
