"""Regenerate exercises/ from solutions/: ``python -m bncourse.release`` (``make exercises``).

For every assignment in ``solutions/`` (a folder holding at least one notebook) this runs
nbgrader's ``generate_assignment`` in-process, with the course's ``nbgrader_config.py``:
answers become stubs, hidden tests disappear, outputs are cleared, and the gradebook
learns the assignment's cells (``autograde`` needs them). The generated notebooks are
then rewritten in nbformat's canonical form, so that regenerating from unchanged
sources gives byte-identical files and ``git diff`` shows only real changes.

``--check`` generates into a temporary folder instead (no gradebook writes) and exits
with status 1, listing the differences, when ``exercises/`` is not exactly what the
current ``solutions/`` produce: someone edited a release by hand, or forgot to run
``make exercises`` after changing a solution.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

from .config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


class ReleaseError(RuntimeError):
    """nbgrader could not generate an assignment (the message holds its error)."""


REGISTERED = Path(".grading") / "registered.json"


def assignments(root: Path = ROOT) -> list[str]:
    """Names of the assignments in ``solutions/``: folders that hold a notebook."""
    source = Path(root) / "solutions"
    if not source.is_dir():
        return []
    return sorted(d.name for d in source.iterdir() if d.is_dir() and any(d.glob("*.ipynb")))


def canonical(path: Path) -> None:
    """Rewrite a notebook in nbformat's canonical JSON (sorted keys, one-space indent)."""
    import nbformat

    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    text = nbformat.writes(nb) + "\n"
    if path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def generate(
    root: Path,
    assignment: str,
    release_dir: Path | None = None,
    *,
    db: bool | None = None,
    db_url: str | None = None,
) -> Path:
    """Run ``generate_assignment`` for one assignment; return the folder it wrote.

    Without ``release_dir`` the release goes into ``root/exercises/<assignment>``; with it,
    there. ``db`` (default: only without ``release_dir``) also writes the assignment's cells,
    hidden tests included, into the gradebook (``db_url``, default as
    :func:`bncourse.config.load_config` settles it), which is what grading reads.
    """
    from nbgrader.apps import NbGraderAPI

    root = Path(root).resolve()
    db = release_dir is None if db is None else db
    overrides = {}
    if release_dir is not None:
        overrides["CourseDirectory.release_directory"] = str(Path(release_dir).resolve())
    if not db:
        overrides["GenerateAssignment.no_database"] = True
        overrides["SaveCells.enabled"] = False
    try:
        cfg = load_config(root, db_url, **overrides)
    except ConfigError as e:
        raise ReleaseError(str(e)) from None
    api = NbGraderAPI(config=cfg)
    result = api.generate_assignment(assignment, force=True)
    if not result["success"]:
        raise ReleaseError(
            f"nbgrader generate_assignment {assignment} failed:\n"
            f"{result.get('error') or result.get('log', '')}"
        )
    out = Path(api.coursedir.format_path(api.coursedir.release_directory, ".", assignment))
    for nb in sorted(out.rglob("*.ipynb")):
        canonical(nb)
    if db:
        _remember(root, assignment, str(cfg.CourseDirectory.db_url), source_hash(root, assignment))
    return out.resolve()


# --- which gradebook holds which version of an assignment's source ------------------------


def source_hash(root: Path, assignment: str) -> str:
    """Digest of ``solutions/<assignment>/`` (names and bytes): the tests, hidden ones included."""
    folder = Path(root) / "solutions" / assignment
    h = hashlib.sha256()
    for rel, path in _files(folder).items() if folder.is_dir() else ():
        if "__pycache__" not in Path(rel).parts:
            h.update(rel.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _records(root: Path) -> dict:
    try:
        return json.loads((Path(root) / REGISTERED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _remember(root: Path, assignment: str, db_url: str, digest: str) -> None:
    from .grading.gradebook import safe_url

    path = Path(root) / REGISTERED
    records = _records(root)
    records[assignment] = {"db": safe_url(db_url), "source": digest}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(records, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:  # a read-only course: grading registers again next time, nothing worse
        pass


def registered(root: Path, assignment: str, db_url: str) -> bool:
    """True when the gradebook at ``db_url`` was last given the current ``solutions/`` source."""
    from .grading.gradebook import safe_url

    rec = _records(root).get(assignment) or {}
    return rec.get("db") == safe_url(db_url) and rec.get("source") == source_hash(root, assignment)


def register(root: Path, assignment: str, db_url: str | None = None) -> list[str]:
    """Give the gradebook ``assignment``'s cells from ``solutions/`` without touching
    ``exercises/``: generate into a temporary folder (writing the gradebook), then compare with
    the committed release. Returns the differences (empty when the release is current)."""
    root = Path(root).resolve()
    with tempfile.TemporaryDirectory(prefix="bn-register-") as tmp:
        fresh = generate(root, assignment, release_dir=Path(tmp), db=True, db_url=db_url)
        return compare(fresh, root / "exercises" / assignment)


def release(root: Path = ROOT, names: list[str] | None = None) -> list[Path]:
    """Regenerate ``exercises/<name>`` for the given (default: all) assignments."""
    names = names or assignments(root)
    if not names:
        raise ReleaseError(f"no assignment (a folder with a notebook) in {root}/solutions")
    return [generate(root, name) for name in names]


def _files(folder: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(folder)): p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".ipynb_checkpoints" not in p.parts
    }


def _as_text(path: Path) -> str:
    """Comparable text: notebooks as canonical JSON, other files as they are."""
    if path.suffix == ".ipynb":
        return json.dumps(json.loads(path.read_text(encoding="utf-8")), sort_keys=True, indent=1)
    return path.read_bytes().decode("utf-8", errors="replace")


def compare(expected: Path, actual: Path) -> list[str]:
    """Differences between two release folders, as readable lines (empty when equal)."""
    want, have = _files(expected), _files(actual)
    problems = [f"missing: {actual / name}" for name in sorted(set(want) - set(have))]
    problems += [
        f"not generated by nbgrader: {actual / name}" for name in sorted(set(have) - set(want))
    ]
    for name in sorted(set(want) & set(have)):
        a, b = _as_text(want[name]), _as_text(have[name])
        if a != b:
            diff = difflib.unified_diff(
                a.splitlines(), b.splitlines(), "generated", str(actual / name), n=1, lineterm=""
            )
            problems.append(f"differs: {actual / name}\n" + "\n".join(list(diff)[:40]))
    return problems


def check(root: Path = ROOT, names: list[str] | None = None) -> list[str]:
    """Regenerate into a temporary folder and compare with ``exercises/``."""
    root = Path(root).resolve()
    names = names or assignments(root)
    problems = []
    with tempfile.TemporaryDirectory(prefix="bn-release-") as tmp:
        for name in names:
            fresh = generate(root, name, release_dir=Path(tmp))
            problems += compare(fresh, root / "exercises" / name)
    released = root / "exercises"
    if released.is_dir():
        for d in sorted(released.iterdir()):
            if d.is_dir() and d.name not in assignments(root):
                problems.append(f"no source in solutions/ for {d}")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bncourse.release", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("assignment", nargs="*", help="assignments to release (default: all)")
    p.add_argument("--root", type=Path, default=ROOT, help="course root (default: the repo)")
    p.add_argument(
        "--check",
        action="store_true",
        help="compare exercises/ with a fresh release; change nothing",
    )
    a = p.parse_args(argv)
    try:
        if a.check:
            problems = check(a.root, a.assignment)
            for line in problems:
                print(line)
            if problems:
                print("exercises/ is out of date: run `make exercises`", file=sys.stderr)
                return 1
            print("exercises/ is exactly what solutions/ generate")
            return 0
        for out in release(a.root, a.assignment):
            print(f"released {out}")
    except ReleaseError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
