"""The claims ledger page, generated at build time from ``book/claims/chN.yml``.

``book/ledger.md`` holds the page's introduction and the line ``{LEDGER_MARKER}``; this
extension replaces that line with :func:`bncourse.ledger.render` of all chapters' ledgers
before MyST parses the page, and records the YAML files as dependencies of the page, so an
edited ledger rebuilds it. A ledger file that breaks the format is a warning naming the
problem (an error under the strict build) and is left off the page.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

LEDGER_DOC = "book/ledger"
LEDGER_MARKER = "<!-- the ledger is generated here from book/claims/*.yml -->"
# A page may also show the one-row-per-claim table (chapter 6 closes the book with it).
TABLE_DOCS = ("book/06_theory",)
TABLE_MARKER = "<!-- the claims table is generated here from book/claims/*.yml -->"


def _source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname not in (LEDGER_DOC, *TABLE_DOCS):
        return
    root = Path(app.srcdir)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from bncourse import ledger

    chapters = []
    for path in ledger.ledger_files(root):
        app.env.note_dependency(str(path))
        try:
            chapters.append(ledger.load_chapter(path))
        except ledger.LedgerError as err:
            # a warning, so that --keep-going still builds the rest (-W fails the build)
            logger.warning(f"claims ledger: {err}", location=LEDGER_DOC)
    marker, render = (
        (LEDGER_MARKER, ledger.render)
        if docname == LEDGER_DOC
        else (TABLE_MARKER, ledger.render_table)
    )
    if marker not in source[0]:
        raise ExtensionError(f"{docname}.md lacks the line {marker!r}")
    source[0] = source[0].replace(marker, render(chapters))


def _outdated(app, env, added, changed, removed):
    # A new chapter file is not yet a dependency: rebuild the (small) page every time.
    return [d for d in (LEDGER_DOC, *TABLE_DOCS) if d in env.found_docs]


def setup(app: Sphinx) -> dict:
    app.connect("source-read", _source_read)
    app.connect("env-get-outdated", _outdated)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
