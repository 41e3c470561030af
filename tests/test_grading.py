"""Grading a whole class: bad submissions, integrity, parallel workers, leak-free feedback,
honest export (issue 5). Tests ``bncourse.grade``.

Most cases are graded in ONE batch (the ``batch`` fixture: one course, ~30 submissions, two
workers); each test then checks what one kind of submission got. The course is a tiny
two-part assignment built here with nbgrader metadata, so these tests do not depend on the
real exercises; ``test_real_assignment_*`` grade the real one when it exists.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from bncourse import grade as G
from bncourse.grading import feedback

pytestmark = [
    pytest.mark.xdist_group("grading"),
    pytest.mark.filterwarnings("ignore:.*not in session.*"),
    pytest.mark.filterwarnings("ignore:.*running over TCP without encryption.*"),
    pytest.mark.filterwarnings("ignore:.*Attribute 'checksum'.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*MissingIDFieldWarning.*"),
]

REPO = Path(__file__).resolve().parent.parent
A = "tiny"
NB = "tiny"
TIMEOUT = 4  # seconds per cell in the batch
SECRET = "BN_TEST_GRADER_SECRET"

# --- a tiny assignment: Part A (mean, 1 point), Part B (variance, 2 points) ---------------

MEAN_STUB = "def batch_mean(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
MEAN_OK = "def batch_mean(x):\n    return x.mean(axis=0)"
VAR_OK = "def batch_var(x):\n    return x.var(axis=0)"
TEST_MEAN = (
    '"""batch_mean matches numpy."""\n'
    "rng = np.random.default_rng(0)\n"
    "x = rng.normal(size=(4, 3))\n"
    "np.testing.assert_allclose(batch_mean(x), x.mean(axis=0))\n"
    "### BEGIN HIDDEN TESTS\n"
    "np.testing.assert_allclose(batch_mean(x[:1]), x[0], err_msg='hidden-mean-check')\n"
    "### END HIDDEN TESTS"
)
TEST_VAR = (
    '"""batch_var divides by N."""\n'
    "rng = np.random.default_rng(1)\n"
    "x = rng.normal(size=(5, 2))\n"
    "ok = np.allclose(batch_var(x), x.var(axis=0))\n"
    'print("variance ok" if ok else "your variance divides by N-1; batch statistics use N")\n'
    "if not ok:  # what bncourse.checks print while autograding, for the class report\n"
    '    print(\'bncourse\' + \'-check: {"check": "var", "mistakes": ["unbiased_variance"]}\')\n'
    "score = 1.0 * ok\n"
    "### BEGIN HIDDEN TESTS\n"
    "score += 1.0 * np.allclose(batch_var(x[:2]), x[:2].var(axis=0))  # hidden-two-rows\n"
    "### END HIDDEN TESTS\n"
    "float(min(max(score, 0), 2))"
)
HIDDEN = ["hidden-mean-check", "hidden-two-rows", "x[:2].var(axis=0)"]
MATH = (
    r"The batch variance is $\sigma^2 = \frac{1}{N}\sum_i (x_i - \mu)^2$, and $$\hat x = x - \mu.$$"
)


def _cell(kind, source, **nbg):
    cell = new_code_cell(source) if kind == "code" else new_markdown_cell(source)
    meta = {"schema_version": 3, "grade": False, "locked": False, "solution": False}
    meta.update(nbg)
    cell.metadata["nbgrader"] = meta
    return cell


def make_course(root: Path) -> Path:
    """A course root with the tiny assignment released (nbgrader generate_assignment)."""
    from nbgrader.apps import NbGraderAPI

    G.ensure_alembic()
    (root / "solutions" / A).mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.source_directory = 'solutions'\n"
        "c.CourseDirectory.release_directory = 'exercises'\n"
        "c.CourseDirectory.course_id = 'tiny-course'\n"
    )
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    sol = "    ### BEGIN SOLUTION\n    return x.{}(axis=0)\n    ### END SOLUTION"
    nb.cells = [
        _cell("markdown", "# Tiny\n## Part A: mean (1 point)", grade_id="intro", locked=True),
        _cell("code", "import numpy as np", grade_id="setup", locked=True),
        _cell("code", "def batch_mean(x):\n" + sol.format("mean"), grade_id="mean", solution=True),
        _cell("code", TEST_MEAN, grade_id="test_mean", grade=True, locked=True, points=1),
        _cell(
            "markdown", "## Part B: variance (2 points)\n" + MATH, grade_id="part_b", locked=True
        ),
        _cell("code", "def batch_var(x):\n" + sol.format("var"), grade_id="var", solution=True),
        _cell("code", TEST_VAR, grade_id="test_var", grade=True, locked=True, points=2),
    ]
    nbformat.write(nb, root / "solutions" / A / f"{NB}.ipynb")
    cfg = G.load_config(root)
    res = NbGraderAPI(config=cfg).generate_assignment(A)
    assert res["success"], res.get("error")
    return root


def release(root: Path) -> nbformat.NotebookNode:
    return nbformat.read(root / "exercises" / A / f"{NB}.ipynb", as_version=4)


def answered(root: Path, mean: str = MEAN_OK, var: str = VAR_OK) -> nbformat.NotebookNode:
    nb = release(root)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "mean":
            cell.source = mean
        elif gid == "var":
            cell.source = var
    return nb


def by_gid(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def put(root: Path, student: str, nb=None, name: str = f"{NB}.ipynb", raw: bytes | None = None):
    folder = root / "submitted" / student / A
    folder.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        (folder / name).write_bytes(raw)
    elif nb is not None:
        nbformat.write(nb, folder / name)
    return folder


def tree_hashes(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --- the submissions of the batch: student -> (status, score, words in the reason) ------

WEIRD = {
    "José Ñúñez": "correct",
    'o\'brien, jr. "the 2nd"': "blank",
    "=1+1": "correct",
    "@SUM(A1)": "blank",
    "+danger -x": "correct",
}

EXPECTED = {
    "correct": ("graded", 3, "all tests ran"),
    "blank": ("graded", 0, "not attempted"),
    "partial": ("graded", 1, "all tests ran"),
    "invalid_json": ("not gradable", 0, "not valid notebook JSON"),
    "zero_bytes": ("not gradable", 0, "is empty"),
    "renamed": ("graded", 3, "renamed file used"),
    "other_case": ("graded", 3, "renamed file used"),
    "missing_notebook": ("not gradable", 0, "not handed in"),
    "empty_folder": ("not gradable", 0, "empty submission folder"),
    "stripped": ("graded", 3, "metadata re-attached"),
    "deleted_test": ("graded", 3, "deleted cell restored"),
    "markdown_answer": ("graded", 3, "cell type restored"),
    "edited_test": ("graded", 2, "edited locked cell restored"),
    "infinite_loop": ("partly graded", 2, "time limit hit in 'test_mean'"),
    "os_exit": ("partly graded", 2, "kernel died in 'test_mean'"),
    "segfault": ("partly graded", 1, "kernel died in 'test_var'"),
    "memory": ("graded", 1, "all tests ran"),
    "flood": ("graded", 3, "all tests ran"),
    "input_call": ("graded", 3, "all tests ran"),
    "warning": ("graded", 3, "all tests ran"),
    "wrong_kernel": ("graded", 3, "kernel replaced"),
    "no_kernelspec": ("graded", 3, "kernel replaced"),
    "uses_bnref": ("graded", 3, "all tests ran"),  # importing is no evidence (issue 10)
    "monkeypatch": ("partly graded", 0, "tests tampered with"),
    "sneaky_patch": ("partly graded", 0, "tests tampered with"),
    "probe": ("graded", 3, "all tests ran"),
    "changing": ("graded", 0, "not attempted"),
    "symlinked": ("not gradable", 0, "not handed in"),
    "bad_timestamp": ("graded", 3, "all tests ran"),
    "deep_error": ("graded", 3, "all tests ran"),
}
for _sid, _kind in WEIRD.items():
    EXPECTED[_sid] = EXPECTED[_kind]

PROBE = r"""
import json, os
def _up(n, name):
    return os.path.exists(os.path.join(*([".."] * n), name))
print("PROBE" + json.dumps({
    "cwd": os.getcwd(),
    "home": os.environ.get("HOME"),
    "secret": os.environ.get("BN_TEST_GRADER_SECRET"),
    "db_env": os.environ.get("BN_COURSE_DB_URL"),
    "solutions": [n for n in range(8) if _up(n, "solutions")],
    "gradebook": [n for n in range(8) if _up(n, "gradebook.db")],
    "submitted": [n for n in range(8) if _up(n, "submitted")],
    "files": sorted(os.listdir(".")),
}))
import numpy
print("NUMPY", numpy.__file__)
"""


def write_batch(root: Path) -> None:
    ok = answered(root)
    put(root, "correct", ok)
    put(root, "blank", release(root))
    put(root, "partial", answered(root, var="def batch_var(x):\n    return x.var(axis=0, ddof=1)"))
    put(root, "invalid_json", raw=b'{"cells": [ {"cell_type": "code", "source": "x = 1"')
    put(root, "zero_bytes", raw=b"")
    put(root, "renamed", ok, name=f"{NB} (1).ipynb")
    put(root, "other_case", ok, name=f"{NB.upper()}.IPYNB")
    (put(root, "missing_notebook") / "notes.txt").write_text("I ran out of time\n")
    put(root, "empty_folder")
    stripped = copy.deepcopy(ok)  # what nbstripout --extra-keys / jupytext / Colab leave
    for cell in stripped.cells:
        cell.metadata.pop("nbgrader", None)
        cell.metadata.pop("deletable", None)
        cell.metadata.pop("editable", None)
        cell.pop("id", None)
    stripped.nbformat_minor = 4
    put(root, "stripped", stripped)
    deleted = copy.deepcopy(ok)
    deleted.cells = [c for c in deleted.cells if c.metadata["nbgrader"]["grade_id"] != "test_var"]
    put(root, "deleted_test", deleted)
    md = copy.deepcopy(ok)
    var = by_gid(md, "var")
    var.cell_type = "markdown"
    del var["outputs"], var["execution_count"]
    put(root, "markdown_answer", md)
    edited = answered(root, mean="def batch_mean(x):\n    return 0 * x[0]")
    test = by_gid(edited, "test_mean")
    test.source, test.metadata["nbgrader"]["points"] = "pass", 100
    put(root, "edited_test", edited)
    put(
        root,
        "infinite_loop",
        answered(root, mean="def batch_mean(x):\n    while True:\n        pass"),
    )
    put(root, "os_exit", answered(root, mean="import os\ndef batch_mean(x):\n    os._exit(3)"))
    segv = "import ctypes\ndef batch_var(x):\n    return ctypes.string_at(0)"
    put(root, "segfault", answered(root, var=segv))
    grow = "def batch_var(x):\n    b = []\n    while True:\n        b.append(bytearray(2**27))"
    put(root, "memory", answered(root, var=grow))
    put(root, "flood", answered(root, mean=MEAN_OK + "\nprint('spam ' * 1_000_000)"))
    put(root, "input_call", answered(root, mean=MEAN_OK + "\nname = input('your name? ')"))
    warn = (
        "import warnings\ndef batch_var(x):\n    warnings.warn('careful')\n    return x.var(axis=0)"
    )
    put(root, "warning", answered(root, var=warn))
    julia = copy.deepcopy(ok)
    julia.metadata["kernelspec"] = {
        "name": "julia-1.9",
        "display_name": "Julia",
        "language": "julia",
    }
    put(root, "wrong_kernel", julia)
    nospec = copy.deepcopy(ok)
    del nospec.metadata["kernelspec"]
    put(root, "no_kernelspec", nospec)
    put(root, "uses_bnref", answered(root, mean="import bnref\n" + MEAN_OK))
    patch = "import numpy as np\nnp.testing.assert_allclose = lambda *a, **k: None\n"
    put(root, "monkeypatch", answered(root, mean=patch + "def batch_mean(x):\n    return 0 * x[0]"))
    sneaky = "t = np.testing\nsetattr(t, 'assert_' + 'allclose', lambda *a, **k: None)\n"
    put(root, "sneaky_patch", answered(root, mean=sneaky + "def batch_mean(x):\n    return 0 * x"))
    probe = put(root, "probe", answered(root, mean=MEAN_OK + "\n" + PROBE))
    (probe / "numpy.py").write_text("raise SystemExit('a learner file shadowed numpy')\n")
    put(root, "changing", release(root))
    link = put(root, "symlinked")  # a link to the instructor's solution is not a submission
    (link / f"{NB}.ipynb").symlink_to(root / "solutions" / A / f"{NB}.ipynb")
    deep = MEAN_OK + "\nimport json\njson.loads('{')"  # an error raised deep in the stdlib
    put(root, "deep_error", answered(root, mean=deep))
    stamped = put(root, "bad_timestamp", ok)
    (stamped / "timestamp.txt").write_text("the day before yesterday\n")
    for sid, kind in WEIRD.items():
        put(root, sid, ok if kind == "correct" else release(root))


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """One course, every bad submission, graded once with two workers."""
    root = make_course(tmp_path_factory.mktemp("course"))
    write_batch(root)
    before = tree_hashes(root / "submitted")
    os.environ[SECRET] = "do-not-leak"
    try:
        report = G.grade(root, jobs=2, timeout=TIMEOUT, memory_limit=1.5)
    finally:
        del os.environ[SECRET]
    return root, report, before


def read_csv(root: Path) -> list[dict]:
    with open(root / "grades.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def csv_id(student: str) -> str:
    return "'" + student if student[:1] in "=+-@" else student


def autograded(root: Path, student: str) -> nbformat.NotebookNode:
    return nbformat.read(root / "autograded" / student / A / f"{NB}.ipynb", as_version=4)


def outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts.append(out.get("ename", "") + ": " + out.get("evalue", ""))
        parts += [str(v) for v in out.get("data", {}).values()]
    return "\n".join(parts)


# --- one row per submission, honest statuses -------------------------------------------


def test_one_row_per_submission(batch):
    root, report, _ = batch
    folders = {(p.parent.name, p.name) for p in (root / "submitted").glob("*/*") if p.is_dir()}
    assert {(r.student, r.assignment) for r in report.rows} == folders
    assert len(report.rows) == len(folders)
    rows = read_csv(root)
    assert list(rows[0]) == list(G.CSV_COLUMNS)
    assert sorted(r["student"] for r in rows) == sorted(csv_id(s) for s, _ in folders)


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_bad_submission_outcome(batch, student):
    _, report, _ = batch
    status, score, words = EXPECTED[student]
    row = report.row(student, A)
    assert row.status == status, row.reason
    assert row.score == pytest.approx(score), row.reason
    assert row.max_score == pytest.approx(3)
    assert words in row.reason


def test_csv_is_well_formed_with_weird_ids(batch):
    root, report, _ = batch
    rows = {r["student"]: r for r in read_csv(root)}
    for sid in WEIRD:
        row = rows[csv_id(sid)]
        assert float(row["score"]) == report.row(sid).score
        assert row["status"] == report.row(sid).status
    # nothing a spreadsheet would execute: no cell starts with a formula character
    with open(root / "grades.csv", newline="", encoding="utf-8") as fh:
        cells = [c for line in csv.reader(fh) for c in line]
    assert not [c for c in cells if c[:1] in ("=", "+", "@") or (c[:1] == "-" and c[1:2].isalpha())]


def test_gradebook_agrees_with_csv_and_is_not_corrupted(batch):
    from nbgrader.api import Gradebook

    root, report, _ = batch
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        subs = gb.assignment_submissions(A)
        assert sorted(s.student.id for s in subs) == sorted(r.student for r in report.rows)
        for row in report.rows:
            sub = gb.find_submission(A, row.student)
            assert sub.score == pytest.approx(row.score)
            assert all(g.auto_score is not None for nb in sub.notebooks for g in nb.grades)
        ok = gb.db.execute(__import__("sqlalchemy").text("PRAGMA integrity_check")).scalar()
    assert ok == "ok"


def test_raw_submissions_are_never_modified(batch):
    root, _, before = batch
    assert tree_hashes(root / "submitted") == before


# --- repairs and refusals, explained to the learner --------------------------------------


def log(root: Path, student: str) -> str:
    return (root / "feedback" / student / A / "grading_log.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("student", "words"),
    [
        ("invalid_json", "damaged"),
        ("zero_bytes", "empty (0 bytes)"),
        ("renamed", f"saved as '{NB} (1).ipynb'"),
        ("missing_notebook", "was not handed in"),
        ("empty_folder", "folder is empty"),
        ("stripped", "matched your cells to the released notebook"),
        ("deleted_test", "was missing (deleted?)"),
        ("markdown_answer", "turned back into a code cell"),
        ("edited_test", "Locked cells cannot be changed"),
        ("infinite_loop", "ran past the 4 s limit"),
        ("os_exit", "exit status 3"),
        ("segfault", "segmentation fault"),
        ("flood", "the rest of its output was cut"),
        ("warning", "Warnings printed while these tests ran were ignored"),
        ("wrong_kernel", "'julia-1.9'"),
        ("uses_bnref", "Graded normally"),
        ("monkeypatch", "np.testing.assert_allclose"),
        ("sneaky_patch", "numpy.testing.assert_allclose"),
        ("blank", "No answer cell was changed"),
        ("partial", "Test 'test_var' (batch_var divides by N.): 0 / 2"),
    ],
)
def test_grading_log_explains(batch, student, words):
    root, _, _ = batch
    assert words in log(root, student)


def test_feedback_pages_exist_and_show_messages(batch):
    root, report, _ = batch
    for row in report.rows:
        page = root / "feedback" / row.student / A / f"{NB}.html"
        assert page.is_file(), row.student
    text = feedback.page_text((root / "feedback" / "partial" / A / f"{NB}.html").read_text())
    assert "batch statistics use N" in text  # the printed message of the failing check
    assert "Notes from the grader" in feedback.page_text(
        (root / "feedback" / "stripped" / A / f"{NB}.html").read_text()
    )


def test_no_hidden_test_reaches_a_learner(batch):
    root, _, _ = batch
    learner_files = list((root / "feedback").rglob("*.*")) + list((root / "exercises").rglob("*"))
    assert len(learner_files) > 30
    for path in learner_files:
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            text = feedback.page_text(text) if path.suffix == ".html" else text
            for secret in HIDDEN + ["BEGIN HIDDEN", "BEGIN SOLUTION"]:
                assert secret not in text, (path, secret)
    # ... while the instructor's autograded copy did run them
    assert "hidden-mean-check" in by_gid(autograded(root, "correct"), "test_mean").source


def test_no_solution_reaches_a_learner_who_did_not_write_it(batch):
    root, _, _ = batch
    release = (root / "exercises" / A / f"{NB}.ipynb").read_text(encoding="utf-8")
    blank = feedback.page_text((root / "feedback" / "blank" / A / f"{NB}.html").read_text())
    for text in (release, blank):
        assert "return x.mean(axis=0)" not in text
        assert "return x.var(axis=0)" not in text


def page(root: Path, student: str) -> str:
    return (root / "feedback" / student / A / f"{NB}.html").read_text(encoding="utf-8")


def test_feedback_renders_math_offline(batch):
    root, _, _ = batch
    html = page(root, "partial")
    assert html.count("<math") == 2  # one inline, one display formula, as MathML
    assert 'display="block"' in html
    assert "\\frac" not in feedback.page_text(html) and "$" not in feedback.page_text(html)
    assert "mathjax" not in html.lower()  # nothing to fetch when the page is read
    assert "<script src" not in html and "<link" not in html


def test_feedback_names_each_test_by_its_claim(batch):
    root, _, _ = batch
    html = page(root, "partial")
    assert "Test cell" not in html and "Grade cell:" not in html
    assert '<a href="#test_mean">batch_mean matches numpy.</a>' in html
    assert "Test: batch_var divides by N." in html


def test_feedback_shows_no_machine_paths(batch):
    root, _, _ = batch
    html = page(root, "deep_error")
    assert "JSONDecodeError" in html  # the learner still sees what went wrong, and where
    text = feedback.page_text(html)
    assert "python3.11/json/decoder.py" in text
    machine = (str(root), sys.prefix, sys.base_prefix, tempfile.gettempdir() + "/", str(REPO))
    for path in (*machine, "site-packages"):
        assert path not in text, path


def test_scrub_paths():
    site = f"{sys.prefix}/lib/python3.11/site-packages/numpy/linalg/_linalg.py:641"
    assert feedback.scrub_paths(f"\x1b[0;32m{site}\x1b[0m in inv") == (
        "\x1b[0;32mnumpy/linalg/_linalg.py:641\x1b[0m in inv"
    )
    assert feedback.scrub_paths("File /tmp/bngrade-x1/work/ipykernel_7/123.py:3") == "File 123.py:3"
    assert (
        feedback.scrub_paths(f"{REPO}/bncourse/checks/core.py:12") == "bncourse/checks/core.py:12"
    )
    for kept in ("x/y", "N/A", "see https://example.org/a/b", "shape (N, D) / 2"):
        assert feedback.scrub_paths(kept) == kept


def test_feedback_hides_the_check_records(batch):
    root, _, _ = batch
    assert "bncourse-check" not in page(root, "partial")
    graded = by_gid(autograded(root, "partial"), "test_var")
    assert "bncourse-check" in outputs_text(graded)  # the instructor's copy keeps them


def test_infinite_loop_gets_time_limit_then_rest_graded(batch):
    root, _, _ = batch
    nb = autograded(root, "infinite_loop")
    assert "TimeoutError" in outputs_text(by_gid(nb, "test_mean"))
    assert "variance ok" in outputs_text(by_gid(nb, "test_var"))


@pytest.mark.parametrize(
    ("student", "dead", "alive"),
    [
        ("os_exit", "test_mean", "test_var"),
        ("segfault", "test_var", "test_mean"),
    ],
)
def test_dying_kernel_keeps_credit_for_the_rest(batch, student, dead, alive):
    root, _, _ = batch
    nb = autograded(root, student)
    assert "KernelDied" in outputs_text(by_gid(nb, dead))
    assert "Error" not in outputs_text(by_gid(nb, alive))


def test_memory_blowup_hits_the_kernel_limit(batch):
    root, _, _ = batch
    assert "MemoryError" in outputs_text(by_gid(autograded(root, "memory"), "test_var"))


def test_output_flood_is_capped_in_bytes(batch):
    root, _, _ = batch
    cell = by_gid(autograded(root, "flood"), "mean")
    text = outputs_text(cell)
    assert "output cut by the grader" in text
    assert len(text.encode()) < 250_000  # the cell printed 5 MB


def test_input_call_fails_alone(batch):
    root, _, _ = batch
    assert "StdinNotImplementedError" in outputs_text(
        by_gid(autograded(root, "input_call"), "mean")
    )


def test_kernel_is_sandboxed(batch):
    root, _, _ = batch
    out = outputs_text(by_gid(autograded(root, "probe"), "mean"))
    probe = json.loads(out.split("PROBE", 1)[1].splitlines()[0])
    assert not probe["cwd"].startswith(str(root))
    assert probe["home"] != os.environ.get("HOME") and probe["home"].startswith(probe["cwd"][:-4])
    assert probe["secret"] is None and probe["db_env"] is None
    assert probe["solutions"] == [] and probe["gradebook"] == [] and probe["submitted"] == []
    assert probe["files"] == [f"{NB}.ipynb"] or probe["files"] == []  # no learner extras
    numpy_file = out.split("NUMPY", 1)[1].split()[0]
    assert "site-packages" in numpy_file  # the learner's numpy.py did not shadow numpy


def test_integrity_refusals_are_marked_in_the_notebook(batch):
    root, _, _ = batch
    for student in ("monkeypatch", "sneaky_patch"):
        text = outputs_text(by_gid(autograded(root, student), "test_mean"))
        assert "GradingRefused" in text, student


# --- what the class got wrong ---------------------------------------------------------


def test_class_report_beside_grades_csv(batch):
    from bncourse import report

    root, rep, _ = batch
    html = (root / "class_report.html").read_text(encoding="utf-8")
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # offline
    assert html.count("<svg") == 2  # score histogram, bar chart of named mistakes
    data = report.collect(root, G.load_config(root), G.read_csv(root / "grades.csv"))[A]
    assert data["n"] == len(rep.rows) and len(data["fractions"]) == len(rep.rows)
    gradable = [r for r in rep.rows if r.status in ("graded", "partly graded")]
    tests = {t["grade_id"]: t for t in data["tests"]}
    assert list(tests) == ["test_mean", "test_var"]  # in the notebook's order
    assert tests["test_var"]["claim"] == "batch_var divides by N."
    for t in tests.values():
        assert t["n"] == len(gradable) == t["passed"] + t["partial"] + t["zero"]
    # 'partial' (ddof=1) is the one submission whose check reported the named mistake
    assert data["mistakes"] == [{"key": "unbiased_variance", "students": 1, "tests": ["test_var"]}]
    assert "unbiased variance" in html and f"1 / {len(gradable)}" in html


# --- the static integrity scan, on its own --------------------------------------------

CHECKS = "bncourse.checks.bn03_mechanics"
PROTECTED = {"np": "numpy", "checks": CHECKS, "check_forward": f"{CHECKS}.check_forward"}


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("import bnref", None),  # an import is no evidence: only calls to what is forbidden
        ("from bnref.numpy import batchnorm_forward as f", None),
        ("f = __import__('bnref.numpy')", "tamper"),
        ("np.testing.assert_allclose = lambda *a, **k: None", "tamper"),
        ("checks.check_forward = print", "tamper"),
        ("def check_forward(*a):\n    return 2", "tamper"),
        ("get_ipython().events.register('pre_run_cell', print)", "tamper"),
        ("exec('x = 1')", "tamper"),
        ("def f(model):\n    model.eval()\n    return model", None),  # a method, not eval
        ("import re\npat = re.compile('a+')", None),
        ("import sys\nsys.modules['numpy'] = None", "tamper"),
        ("import builtins", "tamper"),
        ("x = np.zeros(3)\ny = x.mean()", None),
        ("import numpy as np\n%timeit np.ones(3)", None),
        ("def f(np):\n    np = 2 * np\n    return np", None),
        ("class Net:\n    def __init__(self):\n        setattr(self, 'w', 1)", None),
    ],
)
def test_static_scan(source, kind):
    from bncourse.grading.integrity import scan_source

    kinds = {f.kind for f in scan_source(source, PROTECTED)}
    assert kinds == set(kind.split() if kind else []), scan_source(source, PROTECTED)


# --- CLI --------------------------------------------------------------------------------


def cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "bncourse.grade", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_cli_exits_2_without_config(tmp_path):
    res = cli("--root", str(tmp_path))
    assert res.returncode == 2
    assert "nbgrader_config.py" in res.stderr


def test_cli_exits_0_when_nothing_was_handed_in(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    res = cli("--root", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "no submissions found" in res.stdout
    assert read_csv(tmp_path) == []
    assert not (tmp_path / "gradebook.db").exists()  # nothing to grade: nothing created


def test_cli_exits_2_for_unknown_assignment_and_lists_the_assignments(batch):
    root, _, _ = batch
    before = (root / "grades.csv").read_bytes()
    res = cli("--root", str(root), "--assignment", "no_such_assignment")
    assert res.returncode == 2
    assert "no assignment 'no_such_assignment'" in res.stderr
    assert "the assignments are: 'tiny'" in res.stderr
    assert "make exercises" not in res.stderr
    assert (root / "grades.csv").read_bytes() == before


def test_cli_exits_2_for_unknown_student_and_lists_the_students(batch):
    root, _, _ = batch
    before = (root / "grades.csv").read_bytes()
    res = cli("--root", str(root), "--students", "correct,corect")
    assert res.returncode == 2
    assert "'corect'" in res.stderr and "'correct'" in res.stderr  # the typo, and who exists
    assert (root / "grades.csv").read_bytes() == before  # never rewritten header-only


def test_cli_exits_2_when_gradebook_unreachable(batch):
    root, _, _ = batch
    res = cli("--root", str(root), "--db-url", f"postgresql://nobody@127.0.0.1:{free_port()}/x")
    assert res.returncode == 2
    assert "cannot open the gradebook" in res.stderr


def test_cli_exits_0_with_ungradable_submissions_and_merges_grades_csv(batch):
    root, report, _ = batch
    everyone = {r["student"]: r for r in read_csv(root)}
    assert len(everyone) == len(report.rows)
    picked = "invalid_json,empty_folder,correct"
    res = cli(
        "--root", str(root), "--students", picked, "--timeout", str(TIMEOUT), "--memory-gb", "1.5"
    )
    assert res.returncode == 0, res.stderr
    assert "Ran 0," in res.stdout  # same settings as the batch: everything came from the cache
    rows = {r["student"]: r for r in read_csv(root)}
    assert rows == everyone  # the three rows were replaced by the same grades; the rest kept
    assert {rows[s]["status"] for s in ("invalid_json", "empty_folder")} == {"not gradable"}
    res = cli("--root", str(root), "--assignment", A, "--students", "partial", "--timeout",
              str(TIMEOUT), "--memory-gb", "1.5")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert {r["student"]: r for r in read_csv(root)} == everyone


def test_nothing_handed_in_keeps_grades_csv(batch, tmp_path):
    root, _, _ = batch
    shutil.copy(root / "nbgrader_config.py", tmp_path)
    shutil.copy(root / "grades.csv", tmp_path)
    (tmp_path / "submitted").mkdir()
    res = cli("--root", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "nothing handed in" in res.stderr and "left as it was" in res.stderr
    assert (tmp_path / "grades.csv").read_bytes() == (root / "grades.csv").read_bytes()


def test_grades_csv_merge_and_read_back():
    rows = [
        G.Row("=1+1", A, "graded", 3.0, 3.0, "all tests ran"),
        G.Row("b", A, "graded", 1, 3, "x"),
    ]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "grades.csv"
        G.write_csv(path, rows)
        back = G.read_csv(path)
        assert [(r.student, r.score, r.reason) for r in back] == [
            ("=1+1", 3.0, "all tests ran"),
            ("b", 1.0, "x"),
        ]
        new = [G.Row("b", A, "graded", 2.0, 3.0, "again"), G.Row("c", "other", "graded", 0, 1, "")]
        merged = G.merge_rows(back, new)
        assert [(r.student, r.assignment, r.score) for r in merged] == [
            ("c", "other", 0), ("=1+1", A, 3), ("b", A, 2)
        ]  # fmt: skip
        path.write_text("name,grade\nana,3\n")
        with pytest.raises(G.GradingError, match="not written by this grader"):
            G.read_csv(path)


# --- idempotence and regrading (last: it changes a submission) ---------------------------


def test_rerun_is_idempotent_then_regrades_a_changed_submission(batch):
    from nbgrader.api import Gradebook

    root, first, _ = batch
    again = G.grade(root, jobs=2, timeout=TIMEOUT, memory_limit=1.5)
    csv_once = (root / "grades.csv").read_bytes()
    assert again.executed == 0  # nothing re-ran
    assert [(r.student, r.status, r.score, r.reason) for r in again.rows] == [
        (r.student, r.status, r.score, r.reason) for r in first.rows
    ]
    G.grade(root, jobs=2, timeout=TIMEOUT, memory_limit=1.5)
    assert (root / "grades.csv").read_bytes() == csv_once
    put(root, "changing", answered(root))  # the learner hands in again
    third = G.grade(root, jobs=2, timeout=TIMEOUT, memory_limit=1.5)
    assert third.executed == 1
    assert third.row("changing").score == 3 and third.row("changing").status == "graded"
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assert len(gb.assignment_submissions(A)) == len(first.rows)
        assert gb.find_submission(A, "changing").score == 3


# --- a fresh clone: release committed, no gradebook; the cache key covers every input ----


def test_fresh_clone_grades_and_regrades_when_checks_or_tests_change(tmp_path, monkeypatch):
    made = make_course(tmp_path / "made")
    root = tmp_path / "clone"  # what `git clone` gives: config, solutions/, exercises/
    root.mkdir()
    shutil.copy(made / "nbgrader_config.py", root)
    shutil.copytree(made / "solutions", root / "solutions")
    shutil.copytree(made / "exercises", root / "exercises")
    put(root, "ada", answered(root))
    put(root, "bob", answered(root, var="def batch_var(x):\n    return x.var(axis=0, ddof=1)"))

    def run(expect_ran, ada=3, bob=1):
        rep = G.grade(root, jobs=2, timeout=TIMEOUT)
        assert rep.executed == expect_ran
        assert [(r.student, r.status, r.score) for r in rep.rows] == [
            ("ada", "graded", ada),
            ("bob", "graded", bob),
        ]

    run(2)  # registered in a new gradebook on its own: no `make exercises`
    assert (root / "gradebook.db").is_file() and (root / "class_report.html").is_file()
    run(0)
    checks = tmp_path / "checks"  # stands for bncourse/checks/ (a check's source changes)
    checks.mkdir()
    (checks / "core.py").write_text("TOL = 1e-7\n")
    monkeypatch.setitem(G.SOURCE_TREES, "bncourse/checks", checks)
    run(2)
    run(0)
    (checks / "core.py").write_text("TOL = 1e-6\n")
    run(2)
    (checks / "bn99_new.py").write_text("")  # whatever file appears
    run(2)
    # a hidden test fixed in solutions/ (the release does not change): it is what grades now
    src = root / "solutions" / A / f"{NB}.ipynb"
    text = src.read_text(encoding="utf-8")
    src.write_text(text.replace("x[:1]), x[0]", "x[:1]), -x[0]"), encoding="utf-8")
    run(2, ada=2, bob=0)


def test_cache_key_covers_the_checks_and_bnref():
    hashed = {path.resolve() for _, path in G.hashed_sources()}
    pkg = REPO / "bncourse"
    wanted = [*pkg.joinpath("checks").rglob("*.py"), *REPO.joinpath("bnref").rglob("*.py")]
    wanted += [*pkg.joinpath("grading").rglob("*.py"), pkg / "grade.py"]
    assert wanted and not [p for p in wanted if p.resolve() not in hashed]


def test_validate_prints_long_messages_whole(tmp_path):
    from nbgrader.utils import compute_checksum

    shutil.copy(REPO / "nbgrader_config.py", tmp_path)
    long = "your variance divides by N-1 " * 8 + "(the end of a long message)"
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    src = f"import sys\nprint({long!r}, file=sys.stderr)\nassert False"
    nb.cells = [_cell("code", src, grade_id="t", grade=True, locked=True, points=1)]
    nb.cells[0].metadata.nbgrader["checksum"] = compute_checksum(nb.cells[0])
    nbformat.write(nb, tmp_path / "v.ipynb")
    res = subprocess.run(
        [sys.executable, "-m", "nbgrader", "validate", "v.ipynb"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "The following cell failed" in res.stdout, res.stdout + res.stderr
    assert long in res.stdout


# --- the real assignment ---------------------------------------------------------------

REAL = REPO / "solutions" / "bn03_mechanics"


@pytest.mark.slow
@pytest.mark.skipif(not REAL.is_dir(), reason="solutions/bn03_mechanics does not exist yet")
def test_real_assignment_from_a_fresh_clone(tmp_path):
    """What a fresh clone has (config, solutions/, the committed exercises/), no gradebook:
    the solution gets full marks, the release 0, a named mistake less, and every page is fit
    for a learner."""
    from bncourse import report

    shutil.copy(REPO / "nbgrader_config.py", tmp_path)
    shutil.copytree(REAL, tmp_path / "solutions" / REAL.name)
    shutil.copytree(REPO / "exercises" / REAL.name, tmp_path / "exercises" / REAL.name)
    name = next((tmp_path / "exercises" / REAL.name).glob("*.ipynb")).name
    sol = nbformat.read(REAL / name, as_version=4)
    rel = nbformat.read(tmp_path / "exercises" / REAL.name / name, as_version=4)
    mine = copy.deepcopy(rel)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in sol.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for c in mine.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            c.source = "\n".join(ln for ln in answers[gid].splitlines() if "SOLUTION" not in ln)
    # a backward-only mistake: the forward's points stay, so it scores between 0 and full
    # marks (a forward mistake also fails the backward, which works from its cache)
    wrong = copy.deepcopy(mine)
    back = next(c for c in wrong.cells if "return dx, dgamma, dbeta" in c.source)
    back.source = back.source.replace("return dx, dgamma, dbeta", "return dx, dbeta, dgamma")
    for sid, nb in (("sol", mine), ("blank", rel), ("wrong", wrong)):
        d = tmp_path / "submitted" / sid / REAL.name
        d.mkdir(parents=True)
        nbformat.write(nb, d / name)
    rep = G.grade(tmp_path, jobs=2)
    sol_row, blank_row, wrong_row = (rep.row(s) for s in ("sol", "blank", "wrong"))
    assert sol_row.status == "graded" and sol_row.score == sol_row.max_score > 0
    assert blank_row.score == 0
    assert 0 < wrong_row.score <= sol_row.score - 1
    for sid in ("sol", "blank", "wrong"):
        html = (tmp_path / "feedback" / sid / REAL.name).joinpath(name[:-6] + ".html").read_text()
        text = feedback.page_text(html)
        assert "BEGIN HIDDEN TESTS" not in html and "Test cell" not in html
        assert "<math" in html and "mathjax" not in html.lower()
        assert "bncourse-check" not in html
        assert str(tmp_path) not in text and "site-packages" not in text
    data = report.collect(tmp_path, G.load_config(tmp_path), rep.all_rows)[REAL.name]
    assert data["n"] == 3 and len(data["tests"]) >= 4
    graded = nbformat.read(tmp_path / "autograded" / "wrong" / REAL.name / name, as_version=4)
    if report.notebook_mistakes(graded):  # the checks print their records while autograding
        assert "dgamma_dbeta_swapped" in {m["key"] for m in data["mistakes"]}


# --- PostgreSQL (several graders, one gradebook) -----------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A throwaway PostgreSQL server on 127.0.0.1 (as an unprivileged user when root)."""
    bindir = _pg_bin()
    if bindir is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("PostgreSQL binaries are missing in CI (.ci/run installs postgresql)")
        pytest.skip(
            "PostgreSQL binaries not found under /usr/lib/postgresql (apt install postgresql)"
        )
    data = Path(tempfile.mkdtemp(prefix="bn-pg-"))  # not under pytest's root-only tmp dir
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        user = next((u for u in ("postgres", "nobody") if _has_user(u)), None)
        if user is None or shutil.which("runuser") is None:
            pytest.skip("running as root without a 'postgres'/'nobody' user or runuser")
        shutil.chown(data, user)
        os.chmod(data, 0o700)
        prefix = ["runuser", "-u", user, "--"]
    port = free_port()
    pgdata = data / "db"
    subprocess.run(
        prefix
        + [str(bindir / "initdb"), "-D", str(pgdata), "-U", "grader", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    sock = data  # unix socket dir must be writable by the server user
    subprocess.run(
        prefix
        + [
            str(bindir / "pg_ctl"),
            "-D",
            str(pgdata),
            "-l",
            str(data / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-h 127.0.0.1 -p {port} -k {sock} -F",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        prefix
        + [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "grader", "bn"],
        check=True,
        capture_output=True,
    )
    yield f"postgresql://grader@127.0.0.1:{port}/bn"
    subprocess.run(
        prefix + [str(bindir / "pg_ctl"), "-D", str(pgdata), "-m", "immediate", "stop"],
        capture_output=True,
    )
    shutil.rmtree(data, ignore_errors=True)


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.mark.postgres
def test_postgres_gradebook(postgres, tmp_path):
    from nbgrader.api import Gradebook

    root = make_course(tmp_path)  # released into the course's sqlite gradebook ...
    from nbgrader.apps import NbGraderAPI

    cfg = G.load_config(root, db_url=postgres)  # ... and into PostgreSQL, as a real course would
    assert NbGraderAPI(config=cfg).generate_assignment(A)["success"]
    put(root, "ada", answered(root))
    put(root, "bob", answered(root, var="def batch_var(x):\n    return x.var(axis=0, ddof=1)"))
    report = G.grade(root, jobs=2, timeout=TIMEOUT, db_url=postgres)
    assert [(r.student, r.status, r.score) for r in report.rows] == [
        ("ada", "graded", 3),
        ("bob", "graded", 1),
    ]
    from bncourse.grading.gradebook import normalize_url

    with Gradebook(normalize_url(postgres)) as gb:
        assert gb.find_submission(A, "ada").score == 3
        assert gb.find_submission(A, "bob").score == 1
    os.environ[G.DB_ENV] = postgres
    try:
        again = G.grade(root, jobs=1, timeout=TIMEOUT)  # URL from $BN_COURSE_DB_URL
    finally:
        del os.environ[G.DB_ENV]
    assert again.executed == 0 and again.db_url.startswith("postgresql")
    assert [r.score for r in again.rows] == [3, 1]
