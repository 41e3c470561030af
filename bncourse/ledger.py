"""The claims ledger: every claim the course makes about BN, where it is made, what checks it.

Data: one YAML file per chapter, ``book/claims/chN.yml``, or one per section page,
``chN-part.yml`` (format in CONTRIBUTING.md, "The claims ledger", and :func:`load_chapter`).
The book page ``book/ledger.md`` is generated from these files at build time
(``book/_ext/ledger_page.py`` calls :func:`render`), and ``tests/test_ledger.py``
cross-checks them against the code with :func:`problems`:

* every claim's experiment (a dotted path to a top-level function or class) and test
  (``tests/file.py::test_name``) exist, and that test carries ``@pytest.mark.claim("<id>")``;
* every ``@pytest.mark.claim("<id>")`` anywhere under ``tests/`` names a claim of the ledger;
* every test function in ``tests/test_experiments_*.py`` carries a ``claim`` marker or a
  ``machinery`` marker (it tests the experiment code, not a claim about BN);
* every label a claim cites exists in its chapter's source (or the chapter is planned);
* every citation key exists in ``book/references.bib``.

``python -m bncourse.ledger`` prints the problems (exit 1 if any) and ``--render`` prints
the generated page body. Markers are read from the source (``ast``), so checking the ledger
never imports torch or runs a test.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = [
    "STATUSES",
    "Claim",
    "Chapter",
    "LedgerError",
    "load_chapter",
    "load",
    "ledger_files",
    "markers_in_tests",
    "problems",
    "render",
    "render_table",
]

ROOT = Path(__file__).resolve().parent.parent
CLAIMS_DIR = Path("book") / "claims"
#: status -> how the page says it
STATUSES = {
    "reproduced": "reproduced here",
    "not reproduced": "not reproduced here",
    "cited only": "cited only",
}
# Symbols every common text font has (DejaVu, Liberation): emoji render as boxes without one.
_ICONS = {"reproduced": "✓", "not reproduced": "✗", "cited only": "◇"}
_CLAIM_KEYS = {
    "id",
    "claim",
    "label",
    "source",
    "experiment",
    "test",
    "status",
    "measured",
    "seeds",
    "reason",
}
_CHAPTER_KEYS = {"chapter", "title", "doc", "claims"}
# chN.yml, or chN-part.yml for a chapter whose sections are pages of their own (each file
# names its own doc: the section's page)
_FILE = re.compile(r"ch(\d+)(?:-[a-z0-9]+(?:-[a-z0-9]+)*)?\.yml")
_ID = re.compile(r"^ch(\d+)-[a-z0-9]+(?:-[a-z0-9]+)*$")
_TEST = re.compile(r"^tests/[\w/]+\.py::test_\w+$")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$")


class LedgerError(ValueError):
    """A ledger file that does not follow the format; the message names file and claim."""


@dataclass(frozen=True)
class Claim:
    """One claim: see ``CONTRIBUTING.md ("The claims ledger")`` for each field."""

    id: str
    claim: str
    status: str
    label: str | None = None
    source: tuple[str, ...] = ()
    experiment: str | None = None
    tests: tuple[str, ...] = ()
    measured: str | None = None
    seeds: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Chapter:
    """One chapter's ledger file."""

    number: int
    title: str
    doc: str | None  # docname of the written chapter ("book/03_mechanics"), None if planned
    path: Path
    claims: tuple[Claim, ...] = field(default_factory=tuple)


def _text(value, where: str, name: str, required: bool) -> str | None:
    if value is None:
        if required:
            raise LedgerError(f"{where}: '{name}' is missing")
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise LedgerError(f"{where}: '{name}' must be text, got {type(value).__name__}")
    value = str(value).strip()
    if required and not value:
        raise LedgerError(f"{where}: '{name}' is empty")
    if "\n" in value:
        raise LedgerError(f"{where}: '{name}' must be one line")
    return value or None


def _names(value, where: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v.strip() for v in items):
        raise LedgerError(f"{where}: '{name}' must be a string or a list of strings")
    return tuple(v.strip() for v in items)


def _claim(raw, number: int, where: str) -> Claim:
    if not isinstance(raw, dict):
        raise LedgerError(f"{where}: each claim must be a mapping, got {type(raw).__name__}")
    cid = _text(raw.get("id"), where, "id", True)
    where = f"{where}, claim {cid}"
    unknown = sorted(set(raw) - _CLAIM_KEYS)
    if unknown:
        raise LedgerError(f"{where}: unknown keys {unknown} (allowed: {sorted(_CLAIM_KEYS)})")
    m = _ID.match(cid)
    if not m or int(m.group(1)) != number:
        raise LedgerError(f"{where}: id must look like 'ch{number}-short-name' (lower case)")
    status = _text(raw.get("status"), where, "status", True)
    if status not in STATUSES:
        raise LedgerError(f"{where}: status {status!r} is not one of {list(STATUSES)}")
    claim = Claim(
        id=cid,
        claim=_text(raw.get("claim"), where, "claim", True),
        status=status,
        label=_text(raw.get("label"), where, "label", False),
        source=_names(raw.get("source"), where, "source"),
        experiment=_text(raw.get("experiment"), where, "experiment", False),
        tests=_names(raw.get("test"), where, "test"),
        measured=_text(raw.get("measured"), where, "measured", False),
        seeds=_text(raw.get("seeds"), where, "seeds", False),
        reason=_text(raw.get("reason"), where, "reason", False),
    )
    if len(claim.claim) > 200:
        raise LedgerError(f"{where}: 'claim' is {len(claim.claim)} characters; one line, <= 200")
    if status == "cited only":
        if not claim.reason:
            raise LedgerError(f"{where}: a 'cited only' claim needs a 'reason'")
        if not claim.source:
            raise LedgerError(f"{where}: a 'cited only' claim needs a 'source' (bibtex key)")
    else:
        for name in ("experiment", "measured", "seeds"):
            if not getattr(claim, name):
                raise LedgerError(f"{where}: a '{status}' claim needs '{name}'")
        if not claim.tests:
            raise LedgerError(f"{where}: a '{status}' claim needs 'test'")
    if claim.experiment and not _DOTTED.match(claim.experiment):
        raise LedgerError(f"{where}: experiment {claim.experiment!r} is not a dotted path")
    for test in claim.tests:
        if not _TEST.match(test):
            raise LedgerError(f"{where}: test {test!r} is not 'tests/file.py::test_name'")
    return claim


def load_chapter(path: Path) -> Chapter:
    """Read and validate one ``chN.yml``; raises :class:`LedgerError` naming the problem."""
    path = Path(path)
    m = _FILE.fullmatch(path.name)
    if not m:
        raise LedgerError(f"{path}: ledger files are named chN.yml or chN-part.yml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise LedgerError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise LedgerError(f"{path}: the top level must be a mapping")
    unknown = sorted(set(raw) - _CHAPTER_KEYS)
    if unknown:
        raise LedgerError(f"{path}: unknown keys {unknown} (allowed: {sorted(_CHAPTER_KEYS)})")
    number = raw.get("chapter")
    if number != int(m.group(1)):
        raise LedgerError(f"{path}: 'chapter' must be {int(m.group(1))}, got {number!r}")
    title = _text(raw.get("title"), str(path), "title", True)
    doc = _text(raw.get("doc"), str(path), "doc", True)
    doc = None if doc == "planned" else re.sub(r"\.md$", "", doc)
    items = raw.get("claims") or []
    if not isinstance(items, list):
        raise LedgerError(f"{path}: 'claims' must be a list")
    claims = tuple(_claim(c, number, str(path)) for c in items)
    seen: set[str] = set()
    for c in claims:
        if c.id in seen:
            raise LedgerError(f"{path}: claim id {c.id} appears twice")
        seen.add(c.id)
    return Chapter(number, title, doc, path, claims)


def ledger_files(root: Path) -> list[Path]:
    """The ledger files under ``root``, by chapter number."""
    files = (Path(root) / CLAIMS_DIR).glob("ch*.yml")

    def order(p: Path) -> tuple[int, str]:  # chapter number, then chN.yml before its parts
        m = re.match(r"ch(\d+)", p.stem)
        return (int(m.group(1)) if m else 0, p.stem)

    return sorted(files, key=order)


def load(root: Path = ROOT) -> list[Chapter]:
    """All chapters' ledgers under ``root/book/claims``, by chapter number."""
    return [load_chapter(p) for p in ledger_files(root)]


# ------------------------------------------------------------------------ code cross-checks


def _marker_args(node: ast.expr, name: str) -> list | None:
    """``pytest.mark.<name>(...)`` -> its string arguments; ``pytest.mark.<name>`` -> []."""
    call = node if isinstance(node, ast.Call) else None
    target = call.func if call else node
    if not (
        isinstance(target, ast.Attribute)
        and target.attr == name
        and isinstance(target.value, ast.Attribute)
        and target.value.attr == "mark"
    ):
        return None
    if not call:
        return []
    return [a.value for a in call.args if isinstance(a, ast.Constant)]


def _markers(nodes: list[ast.expr]) -> tuple[set[str], bool]:
    claims, machinery = set(), False
    for node in nodes:
        args = _marker_args(node, "claim")
        if args is not None:
            claims.update(a for a in args if isinstance(a, str))
        if _marker_args(node, "machinery") is not None:
            machinery = True
    return claims, machinery


def markers_in_tests(root: Path = ROOT) -> dict[str, tuple[set[str], bool]]:
    """``{"tests/f.py::test_x": (claim ids, has machinery marker)}`` for every test function.

    Module-level ``pytestmark`` (a marker or a list of them) applies to every test of the
    module, as in pytest.
    """
    found: dict[str, tuple[set[str], bool]] = {}
    for path in sorted((Path(root) / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        module_marks: list[ast.expr] = []
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
            ):
                value = node.value
                is_list = isinstance(value, ast.List | ast.Tuple)
                module_marks += list(value.elts) if is_list else [value]
        mod_claims, mod_machinery = _markers(module_marks)
        rel = path.relative_to(root).as_posix()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                claims, machinery = _markers(node.decorator_list)
                found[f"{rel}::{node.name}"] = (claims | mod_claims, machinery or mod_machinery)
    return found


def _top_level_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _experiment_problem(dotted: str, root: Path) -> str | None:
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = Path(root, *parts[:cut])
        for candidate in (module.with_suffix(".py"), module / "__init__.py"):
            if candidate.is_file():
                attr = parts[cut]
                if attr in _top_level_names(candidate):
                    return None
                return f"{candidate.relative_to(root)} defines no top-level {attr!r}"
    return f"no module file for {dotted!r}"


def _labels_in(source: Path) -> set[str]:
    text = source.read_text(encoding="utf-8")
    labels = set(re.findall(r"^\(([\w-]+)\)=\s*$", text, flags=re.M))
    labels |= set(re.findall(r"^\s*name:\s*([\w-]+)\s*$", text, flags=re.M))
    return labels


def _bib_keys(root: Path) -> set[str]:
    bib = Path(root) / "book" / "references.bib"
    if not bib.is_file():
        return set()
    return set(re.findall(r"@\w+\s*\{\s*([^,\s]+)\s*,", bib.read_text(encoding="utf-8")))


def problems(root: Path = ROOT) -> list[str]:
    """Every disagreement between the ledger and the code, as sentences (empty: all good)."""
    root = Path(root)
    out: list[str] = []
    chapters = []
    for path in ledger_files(root):  # one broken file does not hide the others' problems
        try:
            chapters.append(load_chapter(path))
        except LedgerError as err:
            out.append(str(err))
    markers = markers_in_tests(root)
    bib = _bib_keys(root)
    ids: dict[str, Claim] = {}
    for chapter in chapters:
        labels: set[str] | None = None
        if chapter.doc:
            source = root / f"{chapter.doc}.md"
            toc = root / "_toc.yml"
            if toc.is_file() and f"file: {chapter.doc}" not in toc.read_text(encoding="utf-8"):
                out.append(f"{chapter.path.name}: doc {chapter.doc!r} is not in _toc.yml")
            if not source.is_file():
                out.append(f"{chapter.path.name}: doc {chapter.doc!r} has no {source.name}")
            else:
                labels = _labels_in(source)
        for c in chapter.claims:
            if c.id in ids:
                out.append(f"{c.id}: the id is used in two ledger files")
            ids[c.id] = c
            if c.label and labels is not None and c.label not in labels:
                out.append(f"{c.id}: label {c.label!r} is not defined in {chapter.doc}.md")
            for key in c.source:
                if key not in bib:
                    out.append(f"{c.id}: source {key!r} is not a key of book/references.bib")
            if c.experiment:
                problem = _experiment_problem(c.experiment, root)
                if problem:
                    out.append(f"{c.id}: experiment {c.experiment}: {problem}")
            for test in c.tests:
                if test not in markers:
                    out.append(f"{c.id}: test {test} does not exist")
                elif c.id not in markers[test][0]:
                    out.append(f'{c.id}: test {test} lacks @pytest.mark.claim("{c.id}")')
    for test, (claims, machinery) in sorted(markers.items()):
        for cid in sorted(claims - set(ids)):
            out.append(f"{test}: marked claim {cid!r}, which no book/claims/chN.yml lists")
        for cid in sorted(claims & set(ids)):
            if test not in ids[cid].tests:
                out.append(f"{test}: marked claim {cid!r}, but that claim's 'test' omits it")
        if Path(test.split("::")[0]).name.startswith("test_experiments_"):
            if not claims and not machinery:
                out.append(
                    f"{test}: an experiment test with neither @pytest.mark.claim(<id>) "
                    "nor @pytest.mark.machinery"
                )
    return out


# ------------------------------------------------------------------------------ the page


def _md(text: str) -> str:
    """Ledger text into a Markdown table cell / list item: no pipes, no line breaks."""
    return text.replace("|", "\\|").replace("\n", " ")


def render(chapters: list[Chapter]) -> str:
    """The MyST body of the ledger page: a summary table, then one list per chapter."""
    lines = [
        "| Chapter | reproduced here | not reproduced here | cited only |",
        "|---|---|---|---|",
    ]
    for ch in chapters:
        counts = {s: sum(c.status == s for c in ch.claims) for s in STATUSES}
        lines.append(
            f"| {ch.number}. {_md(ch.title)} | {counts['reproduced']} | "
            f"{counts['not reproduced']} | {counts['cited only']} |"
        )
    lines.append("")
    for ch in chapters:
        where = f"{{doc}}`{ch.title} </{ch.doc}>`" if ch.doc else f"{_md(ch.title)} (planned)"
        lines += [f"## Chapter {ch.number}: {where}", ""]
        if not ch.claims:
            lines += ["No claims recorded yet.", ""]
        for c in ch.claims:
            parts = [f"{_ICONS[c.status]} **{STATUSES[c.status]}**: {_md(c.claim)}"]
            if c.source:
                parts.append(f"Claimed by {{cite:t}}`{','.join(c.source)}`.")
            if c.label:
                made = f"{{ref}}`{c.label}`" if ch.doc else f"`{c.label}` (planned)"
                parts.append(f"Made in {made}.")
            if c.status == "cited only":
                parts.append(f"Not tested here: {_md(c.reason)}")
            else:
                what = "Measured" if c.status == "reproduced" else "What we measured instead"
                parts.append(f"{what}: {_md(c.measured)} (seeds {_md(c.seeds)}).")
                tests = ", ".join(f"`{t.split('::')[-1]}`" for t in c.tests)
                parts.append(f"Checked by `{c.experiment}` and {tests}.")
            parts.append(f"(`{c.id}`)")
            lines.append("- " + " ".join(parts))
        lines.append("")
    return "\n".join(lines)


def render_table(chapters: list[Chapter]) -> str:
    """One table row per claim of every chapter: its status, what it says, where it is made.

    For a chapter's closing summary (chapter 6 ends the book with it); the full record of
    each claim (numbers, seeds, tests) stays on the ledger page, which the table links to.
    Three narrow columns (chapter, status icon, claim with its link), so that the claim
    keeps the width on a phone.
    """
    legend = ", ".join(f"{_ICONS[s]} {STATUSES[s]}" for s in STATUSES)
    lines = [f"Status: {legend}.", "", "| Ch. | | Claim |", "|---|---|---|"]
    for ch in chapters:
        for c in ch.claims:
            if c.label and ch.doc:
                where = f" ({{ref}}`{c.label}`)"
            elif ch.doc:
                where = f" ({{doc}}`/{ch.doc}`)"
            else:
                where = " (planned)"
            lines.append(f"| {ch.number} | {_ICONS[c.status]} | {_md(c.claim)}{where} |")
    counts = {s: sum(c.status == s for ch in chapters for c in ch.claims) for s in STATUSES}
    total = ", ".join(f"{n} {STATUSES[s]}" for s, n in counts.items())
    return "\n".join([*lines, "", f"In all: {total} (details: {{ref}}`claims-ledger`).", ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bncourse.ledger", description=__doc__)
    parser.add_argument("--render", action="store_true", help="print the page body")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    if args.render:
        print(render(load(args.root)))
        return 0
    found = problems(args.root)
    for line in found:
        print(line)
    n = sum(len(c.claims) for c in load(args.root)) if not found else None
    print(f"{len(found)} problems" if found else f"ledger consistent: {n} claims")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
