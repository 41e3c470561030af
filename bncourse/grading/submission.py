"""Find, read and repair a learner's notebooks before nbgrader sees them.

Every function here works on copies: the raw submission is only ever read.
Every repair leaves a note written for the learner (``notes``), which ends up in
``feedback/<student>/<assignment>/grading_log.txt`` and at the top of the feedback HTML.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

# What browsers and file managers append to a downloaded or copied file name.
_COPY_SUFFIX = re.compile(
    r"(\s*\(\d+\)|\s*-\s*copy\d*(\s*\(\d+\))?|[-_ ]copy\d*|-checkpoint)$", re.IGNORECASE
)
# A notebook larger than this is refused rather than read (outputs are cleared anyway).
MAX_NOTEBOOK_BYTES = 64 * 2**20
# Files a learner may leave next to the notebook that are never graded.
_IGNORED_DIRS = {".ipynb_checkpoints", "__pycache__", ".git"}


@dataclass
class LoadedNotebook:
    """One released notebook, as found in a submission."""

    name: str  # the released notebook's name, without .ipynb
    state: str  # "ok", "missing" or "unreadable"
    nb: nbformat.NotebookNode | None = None
    filename: str | None = None  # the learner's file that was used
    problem: str = ""  # short reason when state is not "ok"
    notes: list[str] = field(default_factory=list)
    attempted: bool = True  # False when no answer cell differs from the release


def normalize_name(stem: str) -> str:
    """``'BatchNorm_Mechanics (1)'`` -> ``'batchnorm_mechanics'``."""
    name = stem.strip()
    while True:
        shorter = _COPY_SUFFIX.sub("", name).strip()
        if shorter == name or not shorter:
            break
        name = shorter
    return re.sub(r"[\s\-]+", "_", name).lower()


def list_notebook_files(folder: Path) -> list[Path]:
    """The ``*.ipynb`` files of a submission folder (any case, any depth, no checkpoints)."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in _IGNORED_DIRS for part in rel.parts[:-1]):
            continue
        if path.is_symlink():  # could point at anything, the solutions included
            continue
        if path.is_file() and path.suffix.lower() == ".ipynb":
            found.append(path)
    return found


def match_files(files: list[Path], released: list[str], folder: Path) -> dict[str, tuple]:
    """Map each released notebook name to ``(path or None, note)``.

    Exact names win; then names equal after removing browser copy suffixes and case; then, if
    exactly one released notebook and one file are left over, they are paired.
    """
    result: dict[str, tuple] = {}
    left = list(files)
    for name in released:  # exact names
        for path in left:
            if path.name == f"{name}.ipynb" and path.parent == folder:
                result[name] = (path, "")
                left.remove(path)
                break
    for name in released:  # same name up to case and copy suffixes; newest copy wins
        if name in result:
            continue
        same = [p for p in left if normalize_name(p.stem) == normalize_name(name)]
        if same:
            same.sort(key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
            path = same[0]
            note = (
                f"Your notebook was saved as '{path.relative_to(folder)}' instead of "
                f"'{name}.ipynb'. The grader used it as '{name}.ipynb'."
            )
            if len(same) > 1:
                others = ", ".join(f"'{p.relative_to(folder)}'" for p in same[1:])
                note += f" Other copies were ignored (the newest file was used): {others}."
            result[name] = (path, note)
            for p in same:
                left.remove(p)
    missing = [n for n in released if n not in result]
    if len(missing) == 1 and len(left) == 1:
        path = left.pop()
        result[missing[0]] = (
            path,
            f"No file named '{missing[0]}.ipynb' was found; the only other notebook, "
            f"'{path.relative_to(folder)}', was graded in its place.",
        )
    for name in released:
        result.setdefault(name, (None, ""))
    return result


def read_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, str, list[str]]:
    """Read a notebook leniently. Returns ``(nb or None, problem, notes)``."""
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        return None, f"the file '{path.name}' is too large ({size / 2**20:.0f} MiB)", []
    data = path.read_bytes()
    if not data.strip():
        return None, f"the file '{path.name}' is empty ({len(data)} bytes)", []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, f"the file '{path.name}' is not a text file (not UTF-8)", []
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        return (
            None,
            f"the file '{path.name}' is damaged: it is not valid notebook JSON "
            f"(error at line {e.lineno}, column {e.colno}: {e.msg})",
            [],
        )
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", raw.get("worksheets")), list):
        return None, f"the file '{path.name}' is JSON but not a Jupyter notebook", []
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
        return nb, "", []
    except Exception:  # noqa: BLE001 - any structural damage: rebuild from the cells
        pass
    nb = _rebuild(raw)
    if nb is None:
        return None, f"the file '{path.name}' is a damaged notebook that could not be read", []
    return nb, "", ["Your notebook file was slightly damaged; it was rebuilt from its cells."]


def _rebuild(raw: dict) -> nbformat.NotebookNode | None:
    """A valid v4 notebook from whatever cells a damaged file still has."""
    cells = raw.get("cells")
    if cells is None and raw.get("worksheets"):
        cells = raw["worksheets"][0].get("cells", [])
    if not isinstance(cells, list):
        return None
    nb = new_notebook()
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        src = cell.get("source", cell.get("input", ""))
        if isinstance(src, list):
            src = "".join(str(s) for s in src)
        make = {"code": new_code_cell, "markdown": new_markdown_cell}.get(
            cell.get("cell_type"), new_raw_cell
        )
        new = make(str(src))
        meta = cell.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("nbgrader"), dict):
            new.metadata["nbgrader"] = meta["nbgrader"]
        if isinstance(cell.get("id"), str):
            new["id"] = cell["id"]
        nb.cells.append(new)
    return nb


def _ratio(a: str, b: str) -> float:
    m = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return m.ratio() if m.real_quick_ratio() > 0.3 and m.quick_ratio() > 0.3 else 0.0


def _gid(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta.get("grade_id") if isinstance(meta, dict) else None


def _role(meta: dict) -> str:
    if meta.get("solution"):
        return "answer cell"
    if meta.get("grade"):
        return "test cell"
    if meta.get("task"):
        return "task cell"
    return "locked cell"


def _bounds(i: int, match: dict[int, int], n_release: int, n_student: int) -> tuple[int, int]:
    """Student index range strictly between the matches of release cells around ``i``."""
    lo = max((match[k] for k in match if k < i), default=-1)
    hi = min((match[k] for k in match if k > i), default=n_student)
    return lo, hi


def repair(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> tuple[list[str], bool]:
    """Make ``nb`` gradable against ``release``, in place. Returns ``(notes, attempted)``.

    Cells are matched to the released ones by nbgrader ``grade_id``, then by cell ``id``,
    then (locked cells) by source similarity inside the gap left by their matched
    neighbours, then (answer cells) by position and similarity to the stub. Matched cells get
    the release's nbgrader metadata back; locked cells get their released source and type
    back; released cells with no match are put back where they belong.
    """
    notes: list[str] = []
    rel = release.cells
    graded = [i for i, c in enumerate(rel) if _gid(c)]
    by_gid = {_gid(rel[i]): i for i in graded}
    stu = nb.cells
    match: dict[int, int] = {}
    used: set[int] = set()
    stripped = 0
    for j, cell in enumerate(stu):  # 1. metadata intact
        gid = _gid(cell)
        if gid is None:
            if "nbgrader" in cell.get("metadata", {}):
                del cell.metadata["nbgrader"]
            continue
        i = by_gid.get(gid)
        if i is not None and i not in match:
            match[i] = j
            used.add(j)
        else:  # unknown id (another notebook?) or a copy of a cell already matched
            del cell.metadata["nbgrader"]
            stripped += 1
    if stripped:
        notes.append(
            f"{stripped} cell(s) carried grading information that does not belong to this "
            "notebook (copied cells?); they were run but not graded."
        )
    lost = [i for i in graded if i not in match]
    ids = {c.get("id"): j for j, c in enumerate(stu) if j not in used and c.get("id")}
    for i in lost:  # 2. same cell id
        j = ids.get(rel[i].get("id"))
        if j is not None and j not in used:
            match[i] = j
            used.add(j)
    for i in lost:  # 3. locked cells by source similarity, in order
        if i in match or rel[i].metadata.nbgrader.get("solution"):
            continue
        lo, hi = _bounds(i, match, len(rel), len(stu))
        best, score = None, 0.79
        for j in range(lo + 1, hi):
            if j not in used and "nbgrader" not in stu[j].metadata:
                r = 1.0 if stu[j].source == rel[i].source else _ratio(stu[j].source, rel[i].source)
                if r > score:
                    best, score = j, r
        if best is not None:
            match[i] = best
            used.add(best)
    for i in lost:  # 4. answer cells by position, then similarity to the stub
        if i in match or not rel[i].metadata.nbgrader.get("solution"):
            continue
        lo, hi = _bounds(i, match, len(rel), len(stu))
        cands = [
            j
            for j in range(lo + 1, hi)
            if j not in used and "nbgrader" not in stu[j].metadata and stu[j].cell_type != "raw"
        ]
        if cands:
            same_type = [j for j in cands if stu[j].cell_type == rel[i].cell_type] or cands
            best = max(same_type, key=lambda j: (_ratio(stu[j].source, rel[i].source), -j))
            match[i] = best
            used.add(best)
    reattached = [i for i in lost if i in match]
    if reattached:
        notes.append(
            f"Your notebook had lost the grading information of {len(reattached)} cell(s) "
            "(another tool probably removed it when saving). The grader matched your cells to "
            "the released notebook and restored it, so your work was graded normally."
        )
    for i, j in sorted(match.items()):  # 5. restore metadata, type and locked sources
        r, s = rel[i], stu[j]
        meta = r.metadata.nbgrader
        gid = meta["grade_id"]
        if s.cell_type != r.cell_type:
            notes.append(
                f"Your {_role(meta)} '{gid}' had been turned into a {s.cell_type} cell; "
                f"it was turned back into a {r.cell_type} cell."
            )
            _set_type(s, r.cell_type)
        s.metadata["nbgrader"] = copy.deepcopy(meta)
        for key in ("deletable", "editable"):
            if key in r.metadata:
                s.metadata[key] = r.metadata[key]
        if meta.get("locked") and s.source != r.source:
            notes.append(
                f"The {_role(meta)} '{gid}' had been edited. Locked cells cannot be "
                "changed: the original was put back and used for grading."
            )
            s.source = r.source
    inserted = 0
    for i in graded:  # 6. put back released cells that have no match
        if i in match:
            continue
        meta = rel[i].metadata.nbgrader
        before = [match[k] for k in match if k < i]
        pos = max(before) + 1 if before else 0
        cell = copy.deepcopy(rel[i])
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        stu.insert(pos, cell)
        for k in match:
            if match[k] >= pos:
                match[k] += 1
        match[i] = pos
        inserted += 1
        if meta.get("solution"):
            notes.append(
                f"Your answer cell '{meta['grade_id']}' was missing (deleted?). The empty "
                "starting cell was put back, so this part scores 0."
            )
        else:
            notes.append(
                f"The {_role(meta)} '{meta['grade_id']}' was missing (deleted?). It was put "
                "back and run as released."
            )
    ks_rel = release.metadata.get("kernelspec", {})
    ks = nb.metadata.get("kernelspec")
    if not isinstance(ks, dict) or ks.get("name") != ks_rel.get("name"):
        name = ks.get("name") if isinstance(ks, dict) else None
        notes.append(
            f"Your notebook asked for the kernel {name!r}; it was graded with "
            f"{ks_rel.get('name', 'python3')!r}, the course's kernel."
        )
    if ks_rel:
        nb.metadata["kernelspec"] = copy.deepcopy(ks_rel)
    _fix_ids(nb)
    attempted = any(
        stu[j].source != rel[i].source
        for i, j in match.items()
        if rel[i].metadata.nbgrader.get("solution")
    ) or any("nbgrader" not in c.metadata and c.cell_type == "code" for c in stu)
    return notes, attempted


def _set_type(cell, cell_type: str) -> None:
    cell.cell_type = cell_type
    if cell_type == "code":
        cell.outputs, cell.execution_count = [], None
        cell.pop("attachments", None)
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def _fix_ids(nb: nbformat.NotebookNode) -> None:
    """Unique, valid cell ids (nbformat 4.5), stable from run to run."""
    nb.nbformat, nb.nbformat_minor = 4, max(5, nb.get("nbformat_minor", 5))
    seen: set[str] = set()
    for k, cell in enumerate(nb.cells):
        cid = cell.get("id")
        if not isinstance(cid, str) or not re.fullmatch(r"[a-zA-Z0-9-_]{1,64}", cid) or cid in seen:
            cid = f"cell-{k}"
            while cid in seen:
                cid += "x"
            cell["id"] = cid
        seen.add(cid)


def load_submission(
    folder: Path, releases: dict[str, nbformat.NotebookNode]
) -> tuple[dict[str, LoadedNotebook], list[str]]:
    """Load and repair every released notebook of one submission folder.

    Returns the notebooks by released name, and notes about the folder as a whole.
    """
    notes: list[str] = []
    files = list_notebook_files(folder)
    if not folder.is_dir() or not any(folder.iterdir()):
        notes.append("Your submission folder is empty: nothing was handed in.")
    matched = match_files(files, list(releases), folder)
    used = {p for p, _ in matched.values() if p is not None}
    extra = [p for p in files if p not in used]
    if extra:
        names = ", ".join(f"'{p.relative_to(folder)}'" for p in extra)
        notes.append(f"These notebooks are not part of the assignment and were ignored: {names}.")
    loaded: dict[str, LoadedNotebook] = {}
    for name, release in releases.items():
        path, note = matched[name]
        if path is None:
            loaded[name] = LoadedNotebook(
                name, "missing", problem=f"'{name}.ipynb' was not handed in"
            )
            continue
        nb, problem, read_notes = read_notebook(path)
        item = LoadedNotebook(name, "ok" if nb is not None else "unreadable", nb, path.name)
        item.notes += [note] if note else []
        item.notes += read_notes
        if nb is None:
            item.problem = problem
        else:
            rep_notes, item.attempted = repair(nb, release)
            item.notes += rep_notes
        loaded[name] = item
    return loaded, notes
