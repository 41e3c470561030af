"""Every cross-reference points somewhere: {ref}/{numref}/{eq}/{doc} in the book, section
names in the packages' docstrings, and the book's {launch} links.

A target must be defined in a page of ``_toc.yml`` (the strict build catches a missing
{ref} in the book, but not a label a docstring cites), or belong to a chapter listed in
``book/planned.yml``. Static: reads the sources, needs no build. ``test_book.py`` checks
the same labels against the built HTML.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from test_book import toc_pages

ROLE = re.compile(r"\{(ref|numref|eq|doc)\}`([^`]+)`")
LAUNCH = re.compile(r"\{launch\}`([^`]+)`")
LABEL_LINE = re.compile(r"^\(([\w-]+)\)=\s*$", re.M)
FIGURE_NAME = re.compile(r"^\s*(?:name|:name):\s*([\w-]+)\s*$", re.M)
EQUATION = re.compile(r"^\$\$\s*\(([\w-]+)\)\s*$", re.M)
BOOK_BLOCK = re.compile(r"Book:(.*?)(?:\n\s*\n|\"\"\"|$)", re.S)
SECTION_NAME = re.compile(r"sections?\s+``([a-z0-9][a-z0-9-]*)``")
# In a "Book:" paragraph, a section label is a double-ticked name with a hyphen
# ("bn-transform"); a bare word such as ``hidden`` is an argument, not a label.
DOUBLE_TICKED = re.compile(r"``([a-z0-9]+(?:-[a-z0-9]+)+)``")


def pages() -> dict[str, Path]:
    return {doc: ROOT / f"{doc}.md" for doc in toc_pages(ROOT / "_toc.yml")}


def defined_labels() -> dict[str, str]:
    """label -> docname, for every label of the toc's pages (sections, figures, equations)."""
    labels: dict[str, str] = {}
    for doc, path in pages().items():
        text = path.read_text(encoding="utf-8")
        for pattern in (LABEL_LINE, FIGURE_NAME, EQUATION):
            for label in pattern.findall(text):
                labels[label] = doc
    return labels


def planned_labels() -> dict[str, int]:
    data = yaml.safe_load((ROOT / "book" / "planned.yml").read_text(encoding="utf-8"))
    out = {}
    for number, chapter in (data.get("chapters") or {}).items():
        for label in chapter.get("labels") or []:
            out[label] = int(number)
    return out


def _target(text: str) -> str:
    m = re.search(r"<([^>]+)>\s*$", text)
    return (m.group(1) if m else text).strip()


def book_references() -> list[tuple[str, str, str]]:
    """(page, role, target) for every cross-reference role in the toc's pages."""
    refs = []
    for doc, path in pages().items():
        for role, text in ROLE.findall(path.read_text(encoding="utf-8")):
            refs.append((doc, role, _target(text)))
    return refs


def docstring_references() -> list[tuple[str, str]]:
    """(file:line, label) for every section label cited in bnref/ and bncourse/ sources."""
    refs = []
    for path in sorted([*ROOT.glob("bnref/**/*.py"), *ROOT.glob("bncourse/**/*.py")]):
        text = path.read_text(encoding="utf-8")
        found: dict[int, str] = {}
        for block in BOOK_BLOCK.finditer(text):
            for m in DOUBLE_TICKED.finditer(block.group(1)):
                found[block.start(1) + m.start(1)] = m.group(1)
        for m in SECTION_NAME.finditer(text):
            found[m.start(1)] = m.group(1)
        for pos, label in sorted(found.items()):
            line = text.count("\n", 0, pos) + 1
            refs.append((f"{path.relative_to(ROOT)}:{line}", label))
    return refs


def test_planned_chapters_are_not_in_the_toc():
    """A chapter is either written (in _toc.yml) or planned, never both."""
    planned = yaml.safe_load((ROOT / "book" / "planned.yml").read_text())["chapters"]
    written = {int(m.group(1)) for d in pages() if (m := re.match(r"book/(\d+)_", d))}
    assert not written & set(planned), (
        f"chapters both written and planned: {written & set(planned)}"
    )


def test_book_references_have_targets():
    """Every {ref}/{numref}/{eq} target is a label of a toc page; every {doc} a toc page."""
    labels, docs = defined_labels(), set(pages())
    missing = []
    for doc, role, target in book_references():
        if role == "doc":
            resolved = str((Path(doc).parent / target).as_posix()).lstrip("/")
            resolved = re.sub(r"\.md$", "", resolved)
            if target.startswith("/"):
                resolved = target.lstrip("/")
            if resolved not in docs:
                missing.append(f"{doc}: {{doc}}`{target}`")
        elif target not in labels:
            missing.append(f"{doc}: {{{role}}}`{target}`")
    assert not missing, "references without a target in the book:\n" + "\n".join(missing)


def test_docstring_section_names_exist_or_are_planned():
    """Every section a docstring cites ("Book: chapter 5, section ``x``") exists or is planned."""
    labels, planned = defined_labels(), planned_labels()
    refs = docstring_references()
    assert len(refs) >= 10, "the docstring scanner found almost nothing: is the pattern stale?"
    missing = [
        f"{where}: ``{label}``"
        for where, label in refs
        if label not in labels and label not in planned
    ]
    assert not missing, (
        "docstrings cite sections the book does not have (add the label, or list its chapter"
        " in book/planned.yml):\n" + "\n".join(missing)
    )


def test_planned_labels_are_not_already_defined():
    """A planned label that now exists belongs to a written chapter: drop it from planned.yml."""
    both = sorted(set(planned_labels()) & set(defined_labels()))
    assert not both, f"labels both defined and planned: {both}"


@pytest.mark.parametrize("bad", ["{ref}`nowhere`", "{numref}`Figure {number} <fig-nowhere>`"])
def test_the_scanner_sees_a_broken_reference(bad):
    """The role pattern extracts the target of both spellings (so the test can fail)."""
    role, text = ROLE.findall(bad)[0]
    assert _target(text) not in defined_labels()


def test_launch_links_open_notebooks_that_exist():
    """Every {launch}`path` names a .ipynb file of the repository."""
    found = []
    for doc, path in pages().items():
        for target in LAUNCH.findall(path.read_text(encoding="utf-8")):
            found.append(target)
            assert target.endswith(".ipynb"), f"{doc}: {{launch}} of a non-notebook {target}"
            assert (ROOT / target).is_file(), f"{doc}: {{launch}}`{target}` does not exist"
    assert found, "no chapter links its exercise with {launch}"


def test_repository_url_is_named_only_in_config():
    """The repository URL appears in _config.yml and nowhere else the reader meets it."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"].rstrip("/")
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), url
    offenders = []
    for path in [
        *ROOT.glob("book/**/*.md"),
        *ROOT.glob("book/**/*.py"),
        ROOT / "README.md",
        *ROOT.glob("exercises/**/*.ipynb"),
        *ROOT.glob("solutions/**/*.ipynb"),
    ]:
        if url.split("://", 1)[1] in path.read_text(encoding="utf-8"):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"the repository URL is written out in {offenders}: derive it"
