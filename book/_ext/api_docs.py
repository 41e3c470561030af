"""How bnref's docstrings read in the book's API reference (``book/api*.md``, autodoc).

* A docstring names the book section that explains it ("Book: chapter 3
  (``book/03_mechanics.md``), section ``bn-transform``"): in the reference that section
  becomes a link (``:ref:``), and the file name, there for readers of the code, is
  dropped. A label of a chapter still listed in ``book/planned.yml`` stays plain text (it
  has no page yet); any other label must exist, or the strict build fails.
  ``tests/test_docs_refs.py`` reads the same docstrings with the same patterns.
* An autograd ``Function`` (``bnref.torch.BatchNormFunction``) is used through
  ``.apply(...)``, never called: its entry shows no ``(*args, **kwargs)`` signature.

The source stays plain: only the rendered reference changes.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from sphinx.application import Sphinx

# "Book: ... ``bn-transform`` ..." up to a blank line: a double-ticked name with a
# hyphen is a section label (a bare word such as ``training`` is an argument).
BOOK_BLOCK = re.compile(r"Book:(.*?)(?=\n\s*\n|\Z)", re.S)
LABEL = re.compile(r"``([a-z0-9]+(?:-[a-z0-9]+)+)``")
# "section ``notation-conventions``" anywhere in a docstring
SECTION = re.compile(r"(sections?\s+)``([a-z0-9][a-z0-9-]*)``")
FILE_NOTE = re.compile(r"\s*\(``book/[\w./-]+\.md``\)")


def planned_labels(srcdir: Path) -> set[str]:
    path = srcdir / "book" / "planned.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    chapters = (data or {}).get("chapters") or {}
    return {label for chapter in chapters.values() for label in chapter.get("labels") or []}


def link_sections(text: str, planned: set[str]) -> str:
    """``text`` with the section labels it cites as ``:ref:`` links (planned ones kept)."""

    def ref(label: str, original: str) -> str:
        return original if label in planned else f":ref:`{label}`"

    def book(m: re.Match) -> str:
        block = FILE_NOTE.sub("", m.group(1))
        return "Book:" + LABEL.sub(lambda n: ref(n.group(1), n.group(0)), block)

    text = BOOK_BLOCK.sub(book, text)
    return SECTION.sub(lambda m: m.group(1) + ref(m.group(2), m.group(0)[len(m.group(1)) :]), text)


def _process_docstring(app: Sphinx, what, name, obj, options, lines: list[str]) -> None:
    if not name.startswith("bnref") or not lines:
        return
    new = link_sections("\n".join(lines), app.env.bnref_planned_labels).split("\n")
    lines[:] = new


def _process_signature(app: Sphinx, what, name, obj, options, signature, return_annotation):
    if what == "class" and name.startswith("bnref") and _is_autograd_function(obj):
        return "", None
    return None


def _is_autograd_function(obj) -> bool:
    return any(
        f"{c.__module__}.{c.__qualname__}" == "torch.autograd.function.Function"
        for c in getattr(obj, "__mro__", ())
    )


def _builder_inited(app: Sphinx) -> None:
    app.env.bnref_planned_labels = planned_labels(Path(app.srcdir))


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("builder-inited", _builder_inited)
    app.connect("autodoc-process-docstring", _process_docstring)
    app.connect("autodoc-process-signature", _process_signature)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
