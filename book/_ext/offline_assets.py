"""Serve the scripts the book's pages load from the book itself, never from a CDN.

A reader offline (or a browser test in CI) must see typeset math and the widgets'
saved state, so two things that Sphinx and MyST-NB fetch from CDNs by default come
from local copies:

* MathJax 3 (``mathjax_path``): the ``sphinx-mathjax-offline`` wheel, pinned in
  requirements.lock, ships MathJax 3.2.2. This extension copies the parts a TeX page
  needs (``tex-chtml.js``, its lazily loaded TeX extensions, the CHTML fonts, the
  menu and accessibility components) into ``_build/html/_static/mathjax``.
* The ipywidgets HTML manager (``nb_ipywidgets_js``): ``embed.js`` of
  ``@jupyter-widgets/html-manager`` 1.0.15 lives in ``book/_static/vendor/html-manager``
  (see the README there); it needs no require.js and renders the built-in widgets. A
  small shim before it gives MathJax 3 the ``MathJax.Hub.Queue`` the manager calls.

Both settings are made here, so ``_config.yml`` only has to load the extension. The
extension also drops sphinx-thebe's scripts from the pages: the book does not use thebe
(``launch_buttons.thebe: false``), and its inline configuration is emitted twice, which
the browser reports as an error.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError
from sphinx.util import logging
from sphinx.util.fileutil import copy_asset

logger = logging.getLogger(__name__)

MATHJAX_DIST = "sphinx-mathjax-offline"
MATHJAX_DIR = "sphinx-mathjax-offline/static/mathjax"
MATHJAX_ENTRY = "tex-chtml.js"
# What tex-chtml.js loads at run time, relative to its own folder.
MATHJAX_PARTS = (MATHJAX_ENTRY, "input", "output/chtml", "ui", "a11y", "sre", "adaptors")
WIDGETS_JS = "vendor/html-manager/embed.js"
WIDGETS_SHIM_JS = "vendor/html-manager/mathjax2-shim.js"


def mathjax_source() -> Path:
    """The folder of the installed MathJax 3 files.

    Raises
    ------
    ExtensionError
        When the ``sphinx-mathjax-offline`` wheel is missing or lacks ``tex-chtml.js``.
    """
    try:
        dist = metadata.distribution(MATHJAX_DIST)
    except metadata.PackageNotFoundError:
        raise ExtensionError(
            f"the book serves MathJax from the '{MATHJAX_DIST}' package, which is not "
            "installed; run `make venv` (it is pinned in requirements.lock)"
        ) from None
    root = Path(dist.locate_file(MATHJAX_DIR))
    if not (root / MATHJAX_ENTRY).is_file():
        raise ExtensionError(f"{MATHJAX_DIST} is installed but {root / MATHJAX_ENTRY} is missing")
    return root


def _configure(app: Sphinx, config: Config) -> None:
    mathjax_source()  # fail early, before any notebook runs
    config.mathjax_path = f"mathjax/{MATHJAX_ENTRY}"  # relative to _static
    config.nb_ipywidgets_js = {WIDGETS_SHIM_JS: {}, WIDGETS_JS: {}}  # in this order


def _is_thebe(script) -> bool:
    name = str(getattr(script, "filename", "") or "")
    body = getattr(script, "attributes", {}).get("body", "")
    return "sphinx-thebe" in name or "THEBE_JS_URL" in body or "/thebe@" in name


def _drop_thebe(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    scripts = context.get("script_files")
    if isinstance(scripts, list):
        scripts[:] = [s for s in scripts if not _is_thebe(s)]


def _copy_mathjax(app: Sphinx, exc: Exception | None) -> None:
    if exc is not None or app.builder.format != "html":
        return
    source, target = mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        src = source / part
        dst = target / part
        if src.is_dir():
            copy_asset(str(src), str(dst))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            copy_asset(str(src), str(dst.parent))
    widgets = Path(app.outdir) / "_static" / WIDGETS_JS
    if not widgets.is_file():
        logger.warning("the widget manager %s was not copied into _static", WIDGETS_JS)


def setup(app: Sphinx) -> dict:
    # After the extensions that define these settings (sphinx.ext.mathjax, myst_nb).
    app.connect("config-inited", _configure, priority=900)
    app.connect("html-page-context", _drop_thebe)
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
