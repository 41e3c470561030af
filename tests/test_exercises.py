"""The nbgrader exercise bn03_mechanics: its release, and what ``make lab`` gives learners.

Grading (solution, release, a corpus of submissions) is tests/test_assignments.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from bncourse import lab, release
from bncourse.checks.bn03_mechanics import MISTAKES as _MISTAKES
from bncourse.checks.core import MESSAGES

MISTAKES = {**MESSAGES, **_MISTAKES}

pytestmark = [
    pytest.mark.xdist_group("exercises"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Object of type:Warning"),
    pytest.mark.filterwarnings("ignore:.*Kernel is running over TCP:Warning"),
    pytest.mark.filterwarnings("ignore::nbformat.validator.MissingIDFieldWarning"),
]

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "bn03_mechanics"
NOTEBOOK = "batchnorm_mechanics.ipynb"
SOLUTION_NB = ROOT / "solutions" / ASSIGNMENT / NOTEBOOK
MARKERS = {"SOLUTION": ("BEGIN SOLUTION", "END SOLUTION"),
           "HIDDEN": ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")}  # fmt: skip

# Files a careless instructor could leave next to the source notebook: none may be released.
DECOYS = {
    "batchnorm_mechanics.md": "---\njupytext: {}\n---\n# paired MyST copy with solutions\n",
    "solution_helpers.py": "def batchnorm_forward(x, gamma, beta, eps):\n    ...\n",
    "notes.txt": "grading notes\n",
    ".instructor_notes": "private\n",
}


# ---------------------------------------------------------------------------------------
# building submissions
# ---------------------------------------------------------------------------------------
def _between(source: str, begin: str, end: str) -> list[str]:
    """The lines strictly between each ``begin`` and ``end`` marker line."""
    lines, inside = [], False
    for line in source.splitlines():
        if end in line:
            inside = False
        elif begin in line:
            inside = True
        elif inside:
            lines.append(line)
    return lines


def _gid(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _solution_answers() -> dict[str, str]:
    """Answer cells of the instructor notebook with the solution markers dropped."""
    nb = nbformat.read(SOLUTION_NB, as_version=4)
    answers = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            answers[meta["grade_id"]] = "\n".join(
                line for line in cell.source.splitlines() if "SOLUTION" not in line
            )
    return answers


def _mutate(answers: dict[str, str], grade_id: str, old: str, new: str) -> dict[str, str]:
    assert answers[grade_id].count(old) == 1, f"{old!r} no longer appears once in {grade_id}"
    return {**answers, grade_id: answers[grade_id].replace(old, new)}


def _submissions() -> dict[str, dict[str, str] | None]:
    """student id -> answer cell sources, for the Validate button test."""
    ok = _solution_answers()
    return {
        "correct": ok,
        "unbiased_variance": _mutate(
            ok, "batchnorm_forward", "x.var(axis=0)", "x.var(axis=0, ddof=1)"
        ),
    }


def _fill(release_nb, answers: dict[str, str] | None):
    nb = nbformat.from_dict(json.loads(json.dumps(release_nb)))  # a deep copy
    for cell in nb.cells:
        if answers is not None and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = answers[_gid(cell)]
    return nb


# ---------------------------------------------------------------------------------------
# the temporary course, graded once
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def course(tmp_path_factory):
    """A course root with the assignment released (and decoys beside its source)."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions", root / "solutions")
    for name, text in DECOYS.items():
        (root / "solutions" / ASSIGNMENT / name).write_text(text)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("BN_COURSE_DB_URL", raising=False)  # never touch a real gradebook
        release.release(root, [ASSIGNMENT])
    return root


# ---------------------------------------------------------------------------------------
# the release
# ---------------------------------------------------------------------------------------
def test_exercises_are_exactly_what_nbgrader_generates_from_solutions():
    """Nobody hand-edits exercises/: a fresh generate_assignment reproduces it."""
    problems = release.check(ROOT)
    assert not problems, "\n".join(problems)


def test_no_solution_or_hidden_test_line_reaches_exercises():
    released_lines = set()
    files = [p for p in (ROOT / "exercises").rglob("*") if p.is_file()]
    assert files, "exercises/ is empty: run `make exercises`"
    for path in files:
        assert path.suffix == ".ipynb", f"a non-notebook file was released: {path}"
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            released_lines |= {line.strip() for line in cell.source.splitlines()}
            for out in cell.get("outputs", []):
                released_lines |= {line.strip() for line in str(out.get("text", "")).splitlines()}
    for source in (ROOT / "solutions").rglob("*.ipynb"):
        nb = nbformat.read(source, as_version=4)
        secret = []
        for cell in nb.cells:
            for begin, end in MARKERS.values():
                secret += [s.strip() for s in _between(cell.source, begin, end) if s.strip()]
        assert secret, f"{source} has no solution or hidden-test lines to check"
        leaked = [line for line in secret if line in released_lines]
        assert not leaked, f"lines of {source.name} leaked into exercises/: {leaked}"


def test_only_notebooks_are_released(course):
    released = sorted(p.name for p in (course / "exercises" / ASSIGNMENT).rglob("*"))
    assert released == [NOTEBOOK], f"released {released}; the decoys {sorted(DECOYS)} must not be"


def test_solution_notebooks_are_clean_nbformat_4_5():
    for path in (ROOT / "solutions").rglob("*.ipynb"):
        text = path.read_text(encoding="utf-8")
        nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
        nbformat.validate(nb)
        assert (nb.nbformat, nb.nbformat_minor) == (4, 5), path
        assert all(cell.get("id") for cell in nb.cells), f"{path}: a cell has no id"
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{path}: outputs"
        assert text == nbformat.writes(nb) + "\n", f"{path} is not in canonical nbformat form"
        assert nb.metadata.kernelspec.name == "python3", path


def test_test_cells_open_with_a_docstring_and_setup_is_locked():
    nb = nbformat.read(SOLUTION_NB, as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(tests) == 7
    for cell in tests:
        first = cell.source.splitlines()[0]
        assert first.startswith('"""') and first.endswith('"""'), f"{_gid(cell)}: {first}"
        assert cell.metadata.nbgrader["locked"]
    assert sum(c.metadata.nbgrader["points"] for c in tests) == 9
    setup = next(c for c in nb.cells if _gid(c) == "setup")
    assert setup.metadata.nbgrader["locked"]
    assert "from bncourse.checks import bn03_mechanics as checks" in setup.source


# Grading the solution, the release and the corpus of submissions: tests/test_assignments.py.


# ---------------------------------------------------------------------------------------
# make lab: what a learner gets
# ---------------------------------------------------------------------------------------
def test_lab_switches_off_and_locks_the_instructor_tools_only(tmp_path):
    # an environment's existing settings survive (Binder's postBuild merges into them)
    (tmp_path / "labconfig").mkdir()
    (tmp_path / "labconfig" / "page_config.json").write_text('{"disabledExtensions": {"x": true}}')
    (tmp_path / "jupyter_server_config.json").write_text('{"ServerApp": {"port": 9999}}')
    assert lab.main(["--install-learner-config", str(tmp_path)]) == 0
    page = json.loads((tmp_path / "labconfig" / "page_config.json").read_text())
    disabled = {name for name, off in page["disabledExtensions"].items() if off}
    assert disabled == {"x", *lab.INSTRUCTOR_PLUGINS}
    assert "@jupyter/nbgrader:formgrader" in disabled and lab.LEARNER_PLUGIN not in disabled
    assert set(lab.INSTRUCTOR_PLUGINS) <= {n for n, on in page["lockedExtensions"].items() if on}
    server = json.loads((tmp_path / "jupyter_server_config.json").read_text())["ServerApp"]
    assert server["port"] == 9999
    assert server["jpserver_extensions"]["nbgrader.server_extensions.formgrader"] is False
    assert server["jpserver_extensions"][lab.LEARNER_SERVER_EXTENSION] is True
    assert f"--ServerApp.root_dir={ROOT / 'exercises'}" in lab.command(ROOT)
    env = lab.learner_env(tmp_path, {"JUPYTER_CONFIG_PATH": "/elsewhere"})
    assert env["JUPYTER_CONFIG_PATH"] == f"{tmp_path}{os.pathsep}/elsewhere"


def test_binder_postbuild_installs_the_course_and_the_learner_setup():
    script = (ROOT / "postBuild").read_text()
    assert os.access(ROOT / "postBuild", os.X_OK)
    assert "pip install --no-deps --quiet -e ." in script
    assert "python -m bncourse.lab --install-learner-config" in script


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(url: str, token: str, data: dict | None = None) -> tuple[int, str]:
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


@pytest.mark.slow
def test_make_lab_serves_exercises_with_a_working_validate_button(course, tmp_path):
    """The real server: instructor pages are gone, Validate runs and names the mistake."""
    root = tmp_path / "learner"
    folder = root / "exercises" / ASSIGNMENT
    folder.mkdir(parents=True)
    shutil.copy(course / "nbgrader_config.py", root)
    release_nb = nbformat.read(course / "exercises" / ASSIGNMENT / NOTEBOOK, as_version=4)
    subs = _submissions()
    nbformat.write(_fill(release_nb, subs["correct"]), folder / "correct.ipynb")
    nbformat.write(_fill(release_nb, subs["unbiased_variance"]), folder / "buggy.ipynb")
    port, token = _free_port(), "bn-lab-test"
    log = open(tmp_path / "lab.log", "w")  # noqa: SIM115 (closed in finally)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bncourse.lab", "--root", str(root), "--no-browser",
         f"--port={port}", f"--IdentityProvider.token={token}"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "lab.log").read_text()
            try:
                if _http(f"{base}/api", token)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "jupyter lab did not start in 120 s"
            time.sleep(0.5)
        assert _http(f"{base}/formgrader", token)[0] == 404
        status, page = _http(f"{base}/lab", token)
        assert status == 200
        data = re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S).group(1)
        disabled = set(json.loads(data)["disabledExtensions"])
        assert set(lab.INSTRUCTOR_PLUGINS) <= disabled and lab.LEARNER_PLUGIN not in disabled
        url = f"{base}/assignments/validate"
        status, body = _http(url, token, {"path": f"{ASSIGNMENT}/buggy.ipynb"})
        result = json.loads(body)
        assert status == 200 and result["success"], body
        errors = " ".join(cell["raw_error"] for cell in result["value"].get("failed", []))
        assert MISTAKES["unbiased_variance"] in " ".join(errors.split()), body
        status, body = _http(url, token, {"path": f"{ASSIGNMENT}/correct.ipynb"})
        assert json.loads(body) == {"success": True, "value": {}}, body
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
