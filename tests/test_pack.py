"""The learners' copy (``make student-pack``, ``bncourse.pack``): exercises and book in, no
solution, no hidden test, no hidden case, and a planted leak is refused (issue 18)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bncourse import pack

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def student_pack(tmp_path_factory) -> Path:
    return pack.build(tmp_path_factory.mktemp("pack") / "student-pack")


def _files(dest: Path) -> set[str]:
    return {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}


def test_pack_has_no_instructor_paths(student_pack):
    files = _files(student_pack)
    for bad in ("solutions/", "tests/", "bncourse/checks/hidden/", "bncourse/grading/"):
        assert not any(f.startswith(bad) for f in files), bad
    assert not any(f.endswith(".db") or "__pycache__" in f for f in files)
    assert (student_pack.parent / "student-pack.tar.gz").is_file()


def test_pack_has_what_learners_need(student_pack):
    files = _files(student_pack)
    released = {
        p.relative_to(REPO).as_posix()
        for p in (REPO / "exercises").rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
    }
    tracked = set(pack.tracked_files(REPO))
    assert released & tracked and (released & tracked) <= files
    for nb in released & tracked:
        assert (student_pack / nb).read_bytes() == (REPO / nb).read_bytes()
    for need in ("book/index.md", "_toc.yml", "bnref/__init__.py", "bnref/numpy.py", "README.md"):
        assert need in files, need
    assert any(f.startswith("bncourse/checks/") for f in files)  # the visible checks


def test_pack_holds_no_solution_block_and_no_hidden_case(student_pack):
    blocks = pack.secret_blocks(REPO)
    assert blocks, "nothing to look for: solutions/ has no solution blocks?"
    pack.check_pack(student_pack, REPO)  # raises LeakError on any hit


def test_visible_checks_import_in_the_pack_and_hidden_cases_do_not(student_pack):
    code = (
        "import importlib, pkgutil, bncourse, bncourse.checks as c\n"
        "print(bncourse.__file__)\n"
        "for m in pkgutil.iter_modules(c.__path__):\n"
        "    importlib.import_module('bncourse.checks.' + m.name)\n"
        "try:\n"
        "    importlib.import_module('bncourse.checks.hidden')\n"
        "    print('hidden-found')\n"
        "except ImportError:\n"
        "    print('no-hidden')\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=student_pack, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.split()
    assert lines[0].startswith(str(student_pack)), lines  # the pack's copy, not the repo's
    assert lines[-1] == "no-hidden", res.stdout


def _block_to_leak(kind: str) -> str:
    """A solution block or hidden test of solutions/ that counts as a leak (not in bnref)."""
    reference = pack.reference_text(REPO)
    for nb_path in sorted((REPO / "solutions").rglob("*.ipynb")):
        for cell in json.loads(nb_path.read_text())["cells"]:
            src = "".join(cell["source"])
            if f"### BEGIN {kind}" not in src:
                continue
            body = src.split(f"### BEGIN {kind}")[1].split(f"### END {kind}")[0]
            norm = "\n".join(ln.strip() for ln in body.splitlines() if pack._meaningful(ln))
            if pack.leaking_windows(norm, reference):
                return body
    pytest.fail(f"no {kind} block in solutions/ that is not also in bnref")


@pytest.mark.parametrize("leak", ["solution", "hidden_test", "hidden_case"])
def test_a_planted_leak_is_refused(student_pack, tmp_path, leak):
    """check_pack finds a solution pasted into a page, a hidden test, or a hidden case."""
    copy = tmp_path / "student-pack"
    shutil.copytree(student_pack, copy)
    if leak == "hidden_case":
        src = next(p for p in (REPO / "bncourse/checks/hidden").glob("bn*.py"))
        (copy / "bnref" / "notes.py").write_text(src.read_text())
    else:
        body = _block_to_leak("SOLUTION" if leak == "solution" else "HIDDEN TESTS")
        (copy / "book" / "leaked.md").write_text("Here is how:\n\n```python\n" + body + "```\n")
    with pytest.raises(pack.LeakError, match="instructor-only code"):
        pack.check_pack(copy, REPO)


def test_make_student_pack_target_exists():
    res = subprocess.run(
        ["make", "-n", "-C", str(REPO), "student-pack"], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert "bncourse.pack" in res.stdout
