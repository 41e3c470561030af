"""The learners' copy of the course: ``python -m bncourse.pack`` (``make student-pack``).

The instructor/learner split of real nbgrader courses: the instructor's tree holds the
solutions (``solutions/``: nbgrader's source, with hidden tests), the hidden case
parameters of the checks (``bncourse/checks/hidden/``), the test corpus (``tests/``: correct
and wrong answers) and the grading machinery; learners get the released notebooks and what
the book and the visible checks need. This module builds that copy from an ALLOW-list of the
repository's tracked files (so nothing generated, cached or uncommitted slips in):

* the book (``book/``, ``_config.yml``, ``_toc.yml``) and ``exercises/`` (nbgrader's release:
  no solutions, no hidden tests);
* ``bnref`` (the reference package) and ``bncourse`` without ``checks/hidden/`` and without
  the instructor's tools (``grading/``, ``grade.py``, ``release.py``, ``pack.py``): the
  visible checks run as in the notebooks (hidden cases are used only when grading);
* ``pyproject.toml``, ``requirements.lock``, ``environment.yml``, ``postBuild``,
  ``nbgrader_config.py`` (for Validate), and a short learners' ``README.md`` and
  ``Makefile`` (``make book``, ``make lab``).

Then :func:`check_pack` reads the result and refuses it (exit 1, pack removed) if it holds any
solution block or hidden test of ``solutions/`` or any hidden case module. Writes
``_build/student-pack/`` and ``_build/student-pack.tar.gz`` (``--dest`` to change).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEST = ROOT / "_build" / "student-pack"

INCLUDE_TOP = (
    "book/",
    "exercises/",
    "bnref/",
    "bncourse/",
    "_config.yml",
    "_toc.yml",
    "pyproject.toml",
    "requirements.lock",
    "environment.yml",
    "postBuild",
    "nbgrader_config.py",
)
EXCLUDE = (
    "bncourse/checks/hidden/",
    "bncourse/grading/",
    "bncourse/grade.py",
    "bncourse/release.py",
    "bncourse/pack.py",
)
FORBIDDEN_PARTS = ("solutions", "hidden", "submitted", "autograded", "feedback", "tests")
_BLOCK = re.compile(
    r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.DOTALL
)  # fmt: skip

README = """\
# Batch Normalization, by running it — learners' copy

The book, the exercises and the reference package `bnref`, without the instructor's
solutions, hidden test cases or grading tools.

```bash
make book   # creates .venv from requirements.lock, builds the book into _build/html
make lab    # JupyterLab on exercises/, with nbgrader's Validate button
```

The visible checks in each exercise compare your code with `bnref` and say what is wrong;
when your notebook is graded, the same checks also run on hidden cases (other shapes, edge
cases) that are not in this copy.
"""

MAKEFILE = """\
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
BIN := $(CURDIR)/.venv/bin
export PATH := $(BIN):$(PATH)
export MPLBACKEND := Agg

.PHONY: venv book lab

.venv/.installed: requirements.lock pyproject.toml
\t@test -x .venv/bin/python || $(PYTHON) -m venv .venv
\t.venv/bin/python -m pip install --quiet -r requirements.lock
\t.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
\t@touch $@

venv: .venv/.installed

book: .venv/.installed
\t$(BIN)/jupyter-book build . --keep-going

lab: .venv/.installed
\t$(BIN)/python -m bncourse.lab
"""


class LeakError(RuntimeError):
    """The pack would show learners something of the instructor's."""


def tracked_files(root: Path = ROOT) -> list[str]:
    """The repository's tracked files (relative POSIX paths); every file if not a git tree."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z"],
            capture_output=True,
            check=True,
        ).stdout
        return [p for p in out.decode().split("\0") if p and (root / p).is_file()]
    except (OSError, subprocess.CalledProcessError):
        return [
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and not {".git", ".venv", "_build"} & set(p.relative_to(root).parts)
        ]


def selected(files: list[str]) -> list[str]:
    """The files that go into the pack (allow-list, then exclusions, never caches)."""
    keep = []
    for rel in files:
        if not any(rel == t or (t.endswith("/") and rel.startswith(t)) for t in INCLUDE_TOP):
            continue
        if any(rel == x or (x.endswith("/") and rel.startswith(x)) for x in EXCLUDE):
            continue
        if "__pycache__" in rel or rel.endswith((".pyc", ".db")) or "/_build/" in rel:
            continue
        keep.append(rel)
    return sorted(keep)


def secret_blocks(root: Path = ROOT) -> list[str]:
    """Every solution block and hidden test of ``solutions/`` (normalized text), and every
    hidden case module, as the strings that must not appear in the pack."""
    blocks = []
    for nb_path in sorted((root / "solutions").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in nb_path.parts:
            continue
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else src
            for _, body in _BLOCK.findall(src):
                lines = [ln.strip() for ln in body.splitlines() if _meaningful(ln)]
                if lines:
                    blocks.append("\n".join(lines))
    hidden = root / "bncourse" / "checks" / "hidden"
    for path in sorted(hidden.glob("*.py")) if hidden.is_dir() else []:
        if path.name == "__init__.py":
            continue
        lines = [ln.strip() for ln in path.read_text().splitlines() if _meaningful(ln)]
        body = [ln for ln in lines if not ln.startswith(("import ", "from ", '"""'))]
        if body:
            blocks.append("\n".join(body))
    return blocks


def _meaningful(line: str) -> bool:
    s = line.strip()
    return bool(s) and not s.startswith("#") and s not in ("pass", '"""', "'''")


def _windows(block: str, size: int = 3) -> list[str]:
    lines = block.splitlines()
    if len(lines) <= size:
        return ["\n".join(lines)] if sum(map(len, lines)) >= 20 else []
    return ["\n".join(lines[k : k + size]) for k in range(len(lines) - size + 1)]


# Files whose code is public by design although it computes what an exercise asks for: the
# checks compute their references in the learner's kernel, and the book runs its experiments
# in the open. Their lines do not count as leaks; the README ("What learners can see") says
# which exercises' answers a learner can therefore read in the pack. Keep this list short.
OPEN_BY_DESIGN = {
    "bncourse/checks/bn01_standardize.py": "bn01's reference statistics and condition number",
    "bncourse/checks/bn05_inference.py": "bn05's reference BatchNorm running statistics",
    "bncourse/experiments/ch2_ioffe_fig1.py": "chapter 2's percentile hook (bn02)",
    "bncourse/experiments/ch2_santurkar.py": "chapter 2's noisy BN and ICS probes (bn02)",
}


def reference_text(root: Path = ROOT) -> str:
    """bnref's source and the OPEN_BY_DESIGN files, normalized as for :func:`check_pack`."""
    paths = sorted((root / "bnref").rglob("*.py")) + [root / f for f in OPEN_BY_DESIGN]
    return "\n".join(
        "\n".join(ln.strip() for ln in p.read_text().splitlines() if _meaningful(ln))
        for p in paths
        if p.is_file()
    )


def leaking_windows(block: str, reference: str) -> list[str]:
    """The 3-line windows of ``block`` that count as a leak (those not in bnref)."""
    return [w for w in _windows(block) if w not in reference]


def check_pack(dest: Path, root: Path = ROOT) -> None:
    """Raise LeakError if the pack at ``dest`` holds a solution, a hidden test or a hidden
    case: by path (no ``solutions/``, ``checks/hidden/``, ``tests/``, gradebook) and by
    content (no 3 consecutive meaningful lines of any such block, in any file, unless the
    same lines are in ``bnref``, the public reference)."""
    problems = []
    texts: dict[str, str] = {}
    for path in sorted(p for p in dest.rglob("*") if p.is_file()):
        rel = path.relative_to(dest)
        if set(rel.parts[:-1]) & set(FORBIDDEN_PARTS) or path.suffix == ".db":
            problems.append(f"{rel}: an instructor-only path")
            continue
        try:
            raw = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if path.suffix == ".ipynb":  # compare cell sources, not JSON-escaped text
            try:
                cells = json.loads(raw).get("cells", [])
                raw = "\n".join(
                    "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                    for c in cells
                )
            except (ValueError, KeyError, TypeError):
                pass
        texts[str(rel)] = "\n".join(ln.strip() for ln in raw.splitlines() if _meaningful(ln))
    # bnref is the reference the learners compare with: the same formulas in the open, by
    # design. Lines that are also in bnref's source are not counted as leaks, anywhere.
    reference = reference_text(root)
    for block in secret_blocks(root):
        for window in leaking_windows(block, reference):
            hits = [rel for rel, text in texts.items() if window in text]
            if hits:
                first = window.splitlines()[0]
                problems.append(f"{hits[0]}: holds instructor-only code ({first[:60]!r} ...)")
                break
    if problems:
        raise LeakError("the student pack would leak:\n  " + "\n  ".join(problems[:20]))


def build(dest: Path = DEFAULT_DEST, root: Path = ROOT, archive: bool = True) -> Path:
    """Write the pack to ``dest`` (replaced) and ``dest.tar.gz``; return ``dest``."""
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for rel in selected(tracked_files(root)):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
    (dest / "README.md").write_text(README)
    (dest / "Makefile").write_text(MAKEFILE)
    try:
        check_pack(dest, root)
    except LeakError:
        shutil.rmtree(dest)
        raise
    if archive:
        with tarfile.open(dest.with_name(dest.name + ".tar.gz"), "w:gz") as tar:
            tar.add(dest, arcname=dest.name)
    return dest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bncourse.pack", description=__doc__.split("\n")[0])
    p.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="output folder")
    args = p.parse_args(argv)
    try:
        dest = build(args.dest)
    except LeakError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    n = sum(1 for p in dest.rglob("*") if p.is_file())
    print(f"Wrote {dest} ({n} files) and {dest.name}.tar.gz: no solutions, no hidden cases.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
