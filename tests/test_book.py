"""The book: it builds strictly from a clean tree, and it reads right in a real browser.

The build runs once per session (fixture ``built_book``) in a copy of the tracked and
untracked-but-not-ignored files, with the same strict flags as ``make book``. The
browser tests drive Debian's Chromium through Playwright over a local http.server; every
request that leaves 127.0.0.1 is blocked and reported, so a page that needs a CDN fails.

Set ``BOOK_HTML=_build/html`` to run the browser tests against an existing build instead
of building (handy while writing a chapter).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from conftest import IN_CI, ROOT

STRICT_FLAGS = ["--warningiserror", "--nitpick", "--keep-going"]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHAPTER = "book/03_mechanics"
SCREENSHOTS = ROOT / "_build" / "screenshots"  # <width>px/<page>.png, for a person to look at
SCREENSHOT = SCREENSHOTS / "03_mechanics_widgets.png"
WIDTHS = [1280, 390]  # a laptop and a phone

pytestmark = [pytest.mark.xdist_group("book")]


def toc_pages(toc_file: Path) -> list[str]:
    """The docnames of _toc.yml in reading order (root first)."""
    toc = yaml.safe_load(toc_file.read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [re.sub(r"\.(md|ipynb)$", "", p) for p in pages]


def copy_clean_tree(dst: Path) -> None:
    """Copy what a fresh clone plus the uncommitted work would hold: no ignored files."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        src = ROOT / os.fsdecode(name)
        if src.is_file():  # tracked files deleted in the work tree are still listed
            target = dst / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """Path of the HTML of a strict build of a clean copy of the repository."""
    if os.environ.get("BOOK_HTML"):
        return (ROOT / os.environ["BOOK_HTML"]).resolve()
    src = tmp_path_factory.mktemp("book") / "src"
    copy_clean_tree(src)
    bindir = Path(sys.executable).parent
    env = dict(os.environ)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(src)  # the chapters import the copy's bnref, not the work tree's
    result = subprocess.run(
        [str(bindir / "jupyter-book"), "build", ".", *STRICT_FLAGS],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = result.stdout + result.stderr
    (src / "_build").mkdir(exist_ok=True)
    (src / "_build" / "build.log").write_text(log)
    assert result.returncode == 0, f"strict book build failed:\n{log[-6000:]}"
    return src / "_build" / "html"


# --------------------------------------------------------------------------------------
# the build
# --------------------------------------------------------------------------------------
def test_make_book_uses_the_strict_flags():
    """`make book` builds with warnings as errors, nitpicky, keep-going (as the test does)."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^book:.*\n((?:\t.*\n)+)", makefile, flags=re.M)
    assert recipe, "the Makefile has no `book:` target"
    build_line = next(line for line in recipe.group(1).splitlines() if "jupyter-book build" in line)
    for flag in STRICT_FLAGS:
        assert flag in build_line, f"`make book` does not pass {flag}: {build_line.strip()}"


@pytest.mark.slow
def test_book_builds_strictly_and_every_toc_page_has_html(built_book):
    """The strict build succeeded (fixture) and wrote one HTML file per _toc.yml entry."""
    missing = [p for p in toc_pages(ROOT / "_toc.yml") if not (built_book / f"{p}.html").is_file()]
    assert not missing, f"no HTML for these toc pages: {missing}"
    reports = built_book / "reports"
    failed = sorted(p.name for p in reports.glob("*")) if reports.is_dir() else []
    assert not failed, f"notebook execution reports (failed cells): {failed}"


@pytest.mark.slow
def test_book_serves_mathjax_and_the_widget_manager_locally(built_book):
    """MathJax and the ipywidgets manager are copied into _static, and pages load them there."""
    static = built_book / "_static"
    assert (static / "mathjax" / "tex-chtml.js").is_file(), "MathJax was not copied into _static"
    fonts = list((static / "mathjax" / "output" / "chtml" / "fonts").rglob("*.woff"))
    assert fonts, "MathJax's CHTML fonts were not copied"
    assert (static / "vendor" / "html-manager" / "embed.js").is_file()
    chapter = (built_book / f"{CHAPTER}.html").read_text()
    scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', chapter)
    remote = [s for s in scripts if urlparse(s).scheme in ("http", "https")]
    assert not remote, f"the chapter loads scripts from the network: {remote}"


@pytest.mark.slow
def test_chapter_has_the_labels_the_package_docstrings_cite(built_book):
    """bnref's docstrings point readers at these sections; they must exist as anchors."""
    chapter = (built_book / f"{CHAPTER}.html").read_text()
    for label in ("bn-transform", "bn-backward", "bn-conv", "bn-folding"):
        assert f'id="{label}"' in chapter, f"section label ({label})= is missing"
    notation = (built_book / "book" / "notation.html").read_text()
    assert 'id="notation"' in notation, "the notation page lost its (notation)= label"


def _source_tree(built_book: Path) -> Path:
    """The tree the book was built from (a clean copy, or the work tree with BOOK_HTML)."""
    return ROOT if os.environ.get("BOOK_HTML") else built_book.parent.parent


def _html_pages(built_book: Path) -> list[Path]:
    return [built_book / f"{doc}.html" for doc in toc_pages(ROOT / "_toc.yml")]


def launch_targets(href: str, config: dict) -> str | None:
    """The repository path a Binder / Colab / repository link opens, or None if none."""
    from urllib.parse import parse_qs, unquote

    repo = config["repository"]["url"].rstrip("/")
    slug = urlparse(repo).path.strip("/")
    services = config["sphinx"]["config"]["course_launch"]
    binder, colab = (urlparse(services[k]).hostname for k in ("binderhub_url", "colab_url"))
    url = urlparse(href)
    if href.startswith(f"{repo}/blob/"):
        return href[len(f"{repo}/blob/") :].split("/", 1)[1]
    if url.hostname == colab:
        tail = url.path.split(f"/github/{slug}/blob/", 1)
        assert len(tail) == 2, f"a Colab link to another repository: {href}"
        return tail[1].split("/", 1)[1]
    if url.hostname == binder:
        assert url.path.startswith(f"/v2/gh/{slug}/"), f"Binder link to another repo: {href}"
        path = unquote(parse_qs(url.query).get("urlpath", [""])[0])
        assert path.startswith(("lab/tree/", "tree/")), f"Binder link opens no file: {href}"
        return path.split("tree/", 1)[1]
    return None


@pytest.mark.slow
def test_every_launch_link_opens_a_notebook_that_exists(built_book):
    """Binder, Colab and source links name files of the tree the book was built from;
    Binder and Colab open .ipynb notebooks (Colab cannot open the chapters' .md)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    tree, checked = _source_tree(built_book), 0
    for html in _html_pages(built_book):
        for href in re.findall(r'href="([^"]+)"', html.read_text()):
            href = href.replace("&amp;", "&")
            target = launch_targets(href, config)
            if target is None:
                continue
            checked += 1
            assert (tree / target).is_file(), f"{html.name}: {href} -> {target} does not exist"
            if not href.startswith(config["repository"]["url"]):
                assert target.endswith(".ipynb"), f"{html.name}: launches a non-notebook {href}"
    assert checked >= 3, "expected Binder, Colab and source links on the chapter page"


@pytest.mark.slow
def test_no_output_shows_the_build_machines_paths(built_book):
    """No page holds a path of the machine that built it (tracebacks, warnings, reprs)."""
    tree = _source_tree(built_book)
    needles = {str(tree), str(ROOT), str(Path(sys.executable).parent.parent), "site-packages"}
    for html in _html_pages(built_book):
        text = html.read_text()
        found = sorted(n for n in needles if n and n in text)
        assert not found, f"{html.name} shows build-machine paths: {found}"


@pytest.mark.slow
def test_docs_labels_exist_in_the_built_book(built_book):
    """Every label a page or a docstring cites is an anchor of a built page, or planned."""
    from test_docs_refs import book_references, docstring_references, planned_labels

    ids = set()
    for html in _html_pages(built_book):
        ids |= set(re.findall(r'id="([^"]+)"', html.read_text()))
    planned = planned_labels()
    cited = {t for _, role, t in book_references() if role in ("ref", "numref")}
    cited |= {label for _, label in docstring_references()}
    missing = sorted(label for label in cited if label not in ids and label not in planned)
    assert not missing, f"labels cited but not in the built book nor planned: {missing}"


@pytest.mark.slow
def test_api_reference_has_an_anchor_per_public_name_and_chapters_link_it(built_book):
    """Each public bnref name has its anchor in the built API reference (test_api_docs
    checks the directives), and chapter 3's prose links its bnref functions there."""
    from test_api_docs import api_entries

    ids: dict[str, set[str]] = {}
    missing = []
    for name, page in api_entries().items():
        if page not in ids:
            html = (built_book / "book" / page.replace(".md", ".html")).read_text()
            ids[page] = set(re.findall(r'id="([^"]+)"', html))
        if name not in ids[page] and f"module-{name}" not in ids[page]:
            missing.append(f"{name} ({page})")
    assert not missing, f"API entries without an anchor in the built HTML: {missing}"
    chapter = (built_book / f"{CHAPTER}.html").read_text()
    for name in ("batchnorm_forward", "batchnorm_backward"):
        href = f'href="api_numpy.html#bnref.numpy.{name}"'
        assert href in chapter, f"{CHAPTER} does not link bnref.numpy.{name}: no {href}"


@pytest.mark.slow
def test_ledger_page_lists_every_claim_and_the_bibliography_is_author_year(built_book):
    from bncourse import ledger

    page = (built_book / "book" / "ledger.html").read_text()
    for chapter in ledger.load(ROOT):
        for claim in chapter.claims:
            assert (
                f'<code class="docutils literal notranslate"><span class="pre">{claim.id}</span>'
                in page
            ), f"ledger page lacks {claim.id}"
    bib = (built_book / "book" / "bibliography.html").read_text()
    labels = re.findall(
        r'<span class="label"><span class="fn-bracket">\[</span>(?:<a[^>]*>)?([^<]+)<', bib
    )
    assert labels and all(re.search(r"[A-Z][a-z].* \d{4}$", lab) for lab in labels), labels


# --------------------------------------------------------------------------------------
# the browser
# --------------------------------------------------------------------------------------
def _unavailable(reason: str):
    message = f"browser test needs {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI must run it; install Debian's chromium and the pins)")
    pytest.skip(f"{message}; skipped on this machine")


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright's Python package (pinned in requirements.lock)")
    if not CHROMIUM.is_file():
        _unavailable(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def site(built_book):
    """Base URL of the built HTML, served over http on 127.0.0.1."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class PageProblems:
    """Console errors, uncaught exceptions, failed and off-machine requests of one tab."""

    def __init__(self, page):
        self.items: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda err: self.items.append(f"uncaught: {err}"))
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)
        page.route("**/*", self._route)

    def _request_failed(self, request):
        # ERR_ABORTED is the browser cancelling a fetch because the tab navigated away
        # (a font still loading when "next" is clicked): not a fault of the page. A 404
        # is caught by _response, an unreachable host by the error text kept here.
        if "ERR_ABORTED" not in (request.failure or ""):
            self.items.append(f"request failed: {request.url} ({request.failure})")

    def _console(self, msg):
        if msg.type == "error":
            self.items.append(f"console error: {msg.text}")

    def _response(self, response):
        # A 404 for a stylesheet or script does not always reach the console.
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            self.items.append(f"HTTP {response.status}: {response.url}")

    def _route(self, route):
        host = urlparse(route.request.url).hostname
        if host not in (None, "127.0.0.1"):
            self.items.append(f"off-machine request: {route.request.url}")
            route.abort()
        else:
            route.continue_()


def open_page(browser, url, width=1280):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_default_timeout(90_000)  # generous: the machine may be busy with other tests
    problems = PageProblems(page)
    page.goto(url, wait_until="load")
    # MathJax typesets asynchronously: wait until its startup promise has resolved.
    page.wait_for_function(
        "() => !window.MathJax || (MathJax.startup && MathJax.startup.promise"
        " && (MathJax.startup.promise.then(() => { window.__typeset = true; }), window.__typeset))"
    )
    # Saved widget views are rendered by the widget manager after the load event.
    if page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count():
        page.locator(".widget-subarea .jupyter-widgets").first.wait_for()
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('article img')).every(img => img.complete)"
    )
    return page, problems


RAW_MATH_JS = """() => {
  const body = document.querySelector('article') || document.body;
  const copy = body.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, .highlight, mjx-container')
      .forEach(e => e.remove());
  const text = copy.textContent;
  return ['$$', '\\\\(', '\\\\[', '\\\\frac', '\\\\hat'].filter(s => text.includes(s));
}"""

IMAGES_JS = """() => Array.from(document.querySelectorAll('article img')).map(img => {
  const box = img.getBoundingClientRect();
  return {src: img.currentSrc.slice(0, 80), natural: img.naturalWidth, complete: img.complete,
          width: box.width, height: box.height, visible: img.checkVisibility(),
          inFigure: img.closest('figure') !== null};
})"""


LAYOUT_JS = """() => {
  const W = window.innerWidth;
  const eqs = Array.from(document.querySelectorAll('article mjx-container[display="true"]'));
  const clipped = eqs.filter(e => {
    const r = e.getBoundingClientRect(), style = getComputedStyle(e);
    const scrolls = ['auto', 'scroll'].includes(style.overflowX);
    const tooWide = e.scrollWidth > e.clientWidth + 1 && !scrolls;
    const tooTall = e.scrollHeight > e.clientHeight + 2 && style.overflowY !== 'visible';
    return r.right > W + 1 || tooWide || tooTall;
  }).map(e => e.textContent.slice(0, 40));
  // an equation number drawn over its equation hides part of it
  for (const d of document.querySelectorAll('article div.math')) {
    const n = d.querySelector('.eqno'), m = d.querySelector('mjx-container');
    if (!n || !m) continue;
    const a = n.getBoundingClientRect(), b = m.getBoundingClientRect();
    const overlap = a.left < b.right - 1 && b.left < a.right - 1
                    && a.top < b.bottom - 1 && b.top < a.bottom - 1;
    if (overlap) clipped.push('number over ' + m.textContent.slice(0, 40));
  }
  const figures = Array.from(document.querySelectorAll('article figure img')).map(img => ({
    src: img.getAttribute('src').slice(-20), natural: img.naturalWidth,
    shown: img.getBoundingClientRect().width, box: img.closest('figure').clientWidth}));
  const headerSearch = Array.from(document.querySelectorAll('.bd-header .search-button-field'))
    .filter(e => e.checkVisibility()).length;
  const sliders = Array.from(document.querySelectorAll('.widget-slider')).map(
    s => (s.querySelector('.widget-label') || {}).textContent || '');
  return {page: document.documentElement.scrollWidth, width: W, clipped, figures,
          headerSearch, sliders};
}"""


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_reads_right_on_a_laptop_and_a_phone(browser, site, built_book, width):
    """At 1280 and 390 px: no console errors or network, math typeset and never clipped,
    the page no wider than the screen, every image drawn, figures never shrunk (their text
    is >= 9 pt at natural size), one search field, labelled sliders, launch links that
    exist. Full-page screenshots go to _build/screenshots/<width>px/."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    tree = _source_tree(built_book)
    problems_by_page, math_pages = {}, 0
    for doc in toc_pages(ROOT / "_toc.yml"):
        page, problems = open_page(browser, f"{site}/{doc}.html", width=width)
        raw = page.evaluate(RAW_MATH_JS)
        assert not raw, f"{doc}: math left untypeset (raw {raw} in the text)"
        if page.locator("span.math, div.math").count():
            math_pages += 1
            assert page.locator("mjx-container").count() > 0, f"{doc}: MathJax rendered nothing"
        for img in page.evaluate(IMAGES_JS):
            assert img["complete"] and img["natural"] > 0, f"{doc}: image did not load: {img}"
            if img["inFigure"] or img["visible"]:
                assert img["width"] > 0 and img["height"] > 0, f"{doc}: image has no size: {img}"
        layout = page.evaluate(LAYOUT_JS)
        assert layout["page"] <= width, f"{doc} at {width} px: the page is {layout['page']} px wide"
        assert not layout["clipped"], f"{doc} at {width} px: clipped equations {layout['clipped']}"
        for fig in layout["figures"]:
            # never shrunk (bncourse.plotting keeps text >= 9 pt at natural size) ...
            assert fig["shown"] >= 0.95 * fig["natural"], f"{doc} at {width} px: shrunk {fig}"
            # ... and on a laptop no sideways scrolling: the figure fits the column
            if width >= 1280:
                assert fig["natural"] <= fig["box"] + 1, (
                    f"{doc}: figure wider than the column ({fig}); keep it <= "
                    "bncourse.plotting.MAX_WIDTH_IN"
                )
        assert layout["headerSearch"] <= 1, f"{doc}: {layout['headerSearch']} header search fields"
        assert all(label.strip() for label in layout["sliders"]), f"{doc}: unlabelled slider"
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            target = launch_targets(href, config)
            assert target is None or (tree / target).is_file(), f"{doc}: {href} goes nowhere"
        shot = SCREENSHOTS / f"{width}px" / f"{doc.rsplit('/', 1)[-1]}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        if problems.items:
            problems_by_page[doc] = problems.items
        page.close()
    assert not problems_by_page, f"pages with problems at {width} px: {problems_by_page}"
    assert math_pages >= 2, "expected typeset math on the notation page and the chapter"


@pytest.mark.slow
@pytest.mark.browser
def test_chapter_widgets_render_and_respond_without_a_kernel(browser, site):
    """The saved widget state renders offline, and a slider changes the picture (jslink)."""
    page, problems = open_page(browser, f"{site}/{CHAPTER}.html")
    sliders = page.locator(".widget-slider")
    sliders.first.wait_for()
    assert sliders.count() >= 3, "expected the gamma, beta and gain sliders"
    figures = page.locator("figure img")
    assert figures.count() >= 4, "the static figures that teach without a kernel are missing"

    def shown_picture():
        return page.evaluate(
            """() => Array.from(document.querySelectorAll('.widget-image'))
                 .filter(img => img.checkVisibility())
                 .map(img => img.src.slice(-60))"""
        )

    before = shown_picture()
    assert before, "no widget picture is visible"
    handle = page.locator(".widget-slider .noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    page.wait_for_timeout(300)
    assert shown_picture() != before, "moving the gamma slider did not change the picture"
    page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
    page.wait_for_timeout(200)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert not problems.items, f"chapter page problems: {problems.items}"
    page.close()


@pytest.mark.slow
@pytest.mark.browser
def test_next_and_previous_links_walk_the_toc(browser, site):
    """From the landing page, "next" opens the second toc page and "previous" comes back."""
    pages = toc_pages(ROOT / "_toc.yml")
    page, problems = open_page(browser, f"{site}/{pages[0]}.html")
    page.locator("a.right-next").first.click()
    page.wait_for_load_state("load")
    assert urlparse(page.url).path == f"/{pages[1]}.html", f"next led to {page.url}"
    page.locator("a.left-prev").first.click()
    page.wait_for_load_state("load")
    assert urlparse(page.url).path == f"/{pages[0]}.html", f"previous led to {page.url}"
    assert not problems.items, f"problems while navigating: {problems.items}"
    page.close()
