"""The book's bnref API reference covers the public API, and the chapters name only what exists.

* Every name that ``bnref``, ``bnref.numpy``, ``bnref.torch`` and ``bnref.data`` export
  (``__all__``) has an entry (an autodoc or ``py:`` directive) in ``book/api*.md``, and
  those pages document nothing else (no private helper, no stale name).
* Every ``bnref.…`` name a page of the book mentions in its prose, in a code span or a
  ``{py:…}`` role, is a real public object (imported and looked up), so a rename in
  bnref breaks this test, not a reader's link. A prose mention of a public function or
  class is a link to its entry, at least the first one in each section.
* The docstrings the reference renders have a one-line summary and their sections.

Static: reads the sources and imports bnref, builds nothing. ``test_book.py`` checks the
built HTML (the anchors exist and a chapter links to them).
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import io
import re
import sys

import pytest
from conftest import ROOT
from test_docs_refs import pages as book_pages

PUBLIC_MODULES = ("bnref", "bnref.numpy", "bnref.torch", "bnref.data")
API_PAGES = sorted(ROOT.glob("book/api*.md"))
# ".. autofunction:: bnref.numpy.batch_norm" or ".. py:function:: convert_momentum(...)"
DIRECTIVE = re.compile(
    r"^\s*\.\. (auto\w+|py:\w+):: ([\w.]+)(?:\(.*\))?\s*$((?:\n\s+:[\w-]+:.*$)*)", re.M
)
MODULE_OPTION = re.compile(r":module:\s*([\w.]+)")
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
# a name in a code span (`bnref.numpy.batch_norm`, `bnref.numpy.convert_momentum(0.99, ...)`)
# or in a role ({py:func}`~bnref.numpy.batch_norm`, {py:mod}`title <bnref.torch>`)
CODE_SPAN = re.compile(r"(?<![`}])`(bnref(?:\.\w+)*)[^`]*`")
ROLE = re.compile(r"\{py:(\w+)\}`(?:[^`<]*<)?~?(bnref(?:\.\w+)*)>?`")
HEADING = re.compile(r"^#{1,6} ", re.M)


def public_names() -> set[str]:
    """Full names of everything the public modules export, plus the modules themselves."""
    names = set(PUBLIC_MODULES)
    for modname in PUBLIC_MODULES:
        module = importlib.import_module(modname)
        names |= {f"{modname}.{name}" for name in module.__all__}
    return names


def api_entries() -> dict[str, str]:
    """full name -> page, for every object the API pages document."""
    entries = {}
    for page in API_PAGES:
        for _directive, name, options in DIRECTIVE.findall(page.read_text(encoding="utf-8")):
            module = MODULE_OPTION.search(options)
            full = f"{module.group(1)}.{name}" if module else name
            assert full not in entries, f"{full} is documented twice ({entries[full]}, {page})"
            entries[full] = page.name
    return entries


def prose(text: str) -> str:
    """``text`` with its fenced blocks (code cells, code, eval-rst) blanked out."""
    out, fence = [], None
    for line in text.split("\n"):
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
            out.append("")
        elif fence is not None:
            if (
                line.strip()
                and line.strip() == fence[0] * len(line.strip())
                and (len(line.strip()) >= len(fence))
            ):
                fence = None
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def mentions() -> list[tuple[str, int, str, str | None]]:
    """(page, line, name, role or None) for every bnref name in the prose of the book."""
    found = []
    for doc, path in book_pages().items():
        text = prose(path.read_text(encoding="utf-8"))
        for m in ROLE.finditer(text):
            found.append((doc, text.count("\n", 0, m.start()) + 1, m.group(2), m.group(1)))
        for m in CODE_SPAN.finditer(text):
            found.append((doc, text.count("\n", 0, m.start()) + 1, m.group(1), None))
    return found


def resolve(name: str) -> str | None:
    """None if ``name`` is a public bnref object, else what is wrong with it."""
    parts = name.split(".")
    if any(p.startswith("_") and not (p.startswith("__") and p.endswith("__")) for p in parts):
        return "a private name"
    for cut in range(len(parts), 0, -1):
        modname = ".".join(parts[:cut])
        try:
            obj = importlib.import_module(modname)
        except ImportError:
            continue
        break
    else:
        return "no such module"
    rest = parts[cut:]
    if modname not in PUBLIC_MODULES:
        return f"{modname} is not a public module (one of {', '.join(PUBLIC_MODULES)})"
    if rest and rest[0] not in obj.__all__:
        return f"{modname} does not export {rest[0]!r} (its __all__)"
    for attr in rest:
        if not hasattr(obj, attr):
            return f"{type(obj).__name__} {obj!r:.40} has no attribute {attr!r}"
        obj = getattr(obj, attr)
    return None


# --------------------------------------------------------------------------------------
# the reference covers the public API
# --------------------------------------------------------------------------------------
def test_api_pages_are_in_the_toc():
    """The reference pages are built (only _toc.yml pages are) and have the autodoc entries."""
    docs = set(book_pages())
    assert API_PAGES, "no book/api*.md pages"
    missing = [p.name for p in API_PAGES if f"book/{p.stem}" not in docs]
    assert not missing, f"API pages not in _toc.yml: {missing}"


def test_every_public_bnref_name_has_an_api_entry():
    """Each name in the public modules' __all__ (and each module) is documented."""
    entries = api_entries()
    missing = sorted(public_names() - set(entries))
    assert not missing, f"public bnref names without an entry in book/api*.md: {missing}"


def test_the_overview_lists_every_documented_function_and_class():
    """book/api.md's "at a glance" tables (autosummary) name every callable entry."""
    text = (ROOT / "book" / "api.md").read_text(encoding="utf-8")
    listed, module = set(), None
    for line in text.split("\n"):
        if m := re.match(r"\.\. currentmodule:: ([\w.]+)", line.strip()):
            module = m.group(1)
        elif module and re.fullmatch(r"   \w+", line):
            listed.add(f"{module}.{line.strip()}")
    callables = {name for name, _ in _documented_callables()}
    assert callables, "no documented callables found"
    assert not callables - listed, f"missing from the overview: {sorted(callables - listed)}"
    assert not listed - callables, f"listed but not documented: {sorted(listed - callables)}"


def test_the_api_pages_document_only_public_names():
    """No private helper and no name that bnref no longer exports is documented."""
    entries, public = api_entries(), public_names()
    extra = sorted(f"{name} ({page})" for name, page in entries.items() if name not in public)
    assert not extra, f"documented but not public (or renamed): {extra}"
    for name in entries:
        assert resolve(name) is None, f"{name}: {resolve(name)}"


# --------------------------------------------------------------------------------------
# the chapters name real objects, and link them
# --------------------------------------------------------------------------------------
def test_bnref_names_in_the_book_resolve_to_public_objects():
    """Every bnref name in a page's prose (code span or role) imports and is public."""
    found = mentions()
    assert len(found) >= 20, "the scanner found almost no bnref names: is the pattern stale?"
    bad = [
        f"{doc}:{line}: {name}: {resolve(name)}" for doc, line, name, _ in found if resolve(name)
    ]
    assert not bad, "the book names bnref objects that do not exist:\n" + "\n".join(bad)


def test_linked_bnref_names_have_an_api_entry():
    """A {py:…} role to bnref points at a documented object (or a member of one)."""
    entries = api_entries()
    bad = []
    for doc, line, name, role in mentions():
        if role is None:
            continue
        parts = name.split(".")
        documented = any(".".join(parts[:k]) in entries for k in range(len(parts), 1, -1))
        if name not in entries and not (role in ("meth", "attr") and documented):
            bad.append(f"{doc}:{line}: {{py:{role}}}`{name}`")
    assert not bad, "links to bnref objects without an API entry:\n" + "\n".join(bad)


def test_each_section_links_the_bnref_functions_it_names():
    """A prose code span naming a public bnref function or class follows a link to it in
    the same section (the first mention of each name per section is a link)."""
    entries = api_entries()
    unlinked = []
    for doc, path in book_pages().items():
        if doc.startswith("book/api"):
            continue
        text = prose(path.read_text(encoding="utf-8"))
        starts = [0] + [m.start() for m in HEADING.finditer(text)] + [len(text)]
        for a, b in zip(starts, starts[1:], strict=False):
            section = text[a:b]
            linked = {m.group(2): m.start() for m in ROLE.finditer(section)}
            for m in CODE_SPAN.finditer(section):
                name = m.group(1)
                if name in PUBLIC_MODULES or name not in entries:
                    continue
                if name not in linked or linked[name] > m.start():
                    line = text.count("\n", 0, a + m.start()) + 1
                    unlinked.append(f"{doc}:{line}: `{name}` (make it a {{py:...}} role)")
    assert not unlinked, "bnref names mentioned before any link to them:\n" + "\n".join(unlinked)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("so does `bnref.numpy.batchnorm_fwd`:", "does not export"),
        ("see {py:func}`~bnref.numpy._float_array`", "private"),
        ("{py:mod}`bnref.nump`", "does not export"),
        ("`bnref.torch.BatchNorm1d.forwrd`", "no attribute"),
    ],
)
def test_the_scanner_sees_a_wrong_name(text, problem):
    """The patterns extract names from both spellings, and resolve() rejects bad ones."""
    names = [m.group(2) for m in ROLE.finditer(text)] + [
        m.group(1) for m in CODE_SPAN.finditer(text)
    ]
    assert len(names) == 1, names
    assert problem in (resolve(names[0]) or ""), resolve(names[0])


def test_the_scanner_skips_code_cells():
    """Names inside fenced code (code cells, eval-rst blocks) are not prose mentions."""
    text = "intro `bnref.numpy`\n```{code-cell} ipython3\nx = `bnref.nothing`\n```\nafter\n"
    assert [m.group(1) for m in CODE_SPAN.finditer(prose(text))] == ["bnref.numpy"]


# --------------------------------------------------------------------------------------
# the docstrings the reference renders
# --------------------------------------------------------------------------------------
def _documented_callables():
    for name in sorted(api_entries()):
        if name in PUBLIC_MODULES:
            continue
        modname, _, attr = name.rpartition(".")
        obj = getattr(importlib.import_module(modname), attr)
        if callable(obj):
            yield name, obj


def test_public_docstrings_have_a_summary_and_their_sections():
    """One-line summary; a function with parameters has a Parameters section, one that
    returns something a Returns section (numpydoc, as STYLE.md asks)."""
    problems = []
    for name, obj in _documented_callables():
        doc = inspect.getdoc(obj) or ""
        summary = doc.split("\n\n", 1)[0]
        if not doc or "\n" in summary or not summary.endswith("."):
            problems.append(f"{name}: no one-line summary ending in '.'")
        if not inspect.isfunction(obj):
            continue
        signature = inspect.signature(obj)
        if signature.parameters and "\nParameters\n----------\n" not in doc:
            problems.append(f"{name}: no Parameters section")
        returns_none = signature.return_annotation in (None, "None")
        if not returns_none and "\nReturns\n-------\n" not in doc:
            problems.append(f"{name}: no Returns section")
    assert not problems, "\n".join(problems)


def test_docstring_examples_run():
    """Every example the reference shows is true: each one runs as a doctest."""
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    seen, report, examples = set(), io.StringIO(), 0
    for name, obj in _documented_callables():
        if id(obj) in seen:  # bnref.torch.convert_momentum is bnref.numpy's
            continue
        seen.add(id(obj))
        module = inspect.getmodule(obj)
        for test in finder.find(obj, name, module=module, globs=dict(vars(module))):
            examples += len(test.examples)
            runner.run(test, out=report.write)
    assert examples >= 20, f"only {examples} examples in the public docstrings"
    assert not runner.failures, f"docstring examples fail:\n{report.getvalue()[-4000:]}"


def test_docstring_section_labels_become_links_in_the_reference():
    """book/_ext/api_docs.py turns "Book: ... section ``label``" into a :ref: link, drops
    the file name, and keeps a planned chapter's label as text."""
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        from api_docs import link_sections
    finally:
        sys.path.remove(str(ROOT / "book" / "_ext"))
    text = (
        "Book: chapter 3 (``book/03_mechanics.md``), sections ``bn-transform`` and\n"
        "``bn-conv``; chapter 9, section ``later-label``.\n\n"
        "``eps`` stays. See the notation page, section ``notation-conventions``."
    )
    out = link_sections(text, planned={"later-label"})
    assert "book/03_mechanics.md" not in out
    assert ":ref:`bn-transform`" in out and ":ref:`bn-conv`" in out
    assert "``later-label``" in out and ":ref:`later-label`" not in out
    assert "``eps`` stays" in out
    assert "section :ref:`notation-conventions`" in out
