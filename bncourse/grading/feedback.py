"""Learner feedback: nbgrader's feedback HTML, without hidden-test source, plus the grading log.

nbgrader's own feedback shows the graded notebook as run, hidden tests included (by design,
nbgrader#917). Here each test cell shows the source the learner was given (the released
one), its printed messages and scores, and errors raised by hidden tests are cut to their
last line (``AssertionError: your variance uses N-1 ...``): the message, never the code. A
final check searches the rendered page's text for every hidden-test line and refuses to
publish a page that contains one.

The page is also made fit to read offline: each test is named by its claim (the first line
of its docstring) instead of nbgrader's "Test cell"; math (``$...$``, ``$$...$$``) is
rendered to MathML when the page is written (no MathJax, nothing fetched when it is read);
machine paths in tracebacks and messages are shortened (``numpy/linalg/_linalg.py``, not the
grader's site-packages); and the checks' machine-readable ``bncourse-check:`` lines (read by
the class report, :mod:`bncourse.report`) are removed.
"""

from __future__ import annotations

import ast
import copy
import html
import json
import re
from pathlib import Path

from nbformat import NotebookNode

from .execute import is_grade

_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
# One line per check call, printed by the checks while autograding (see bncourse.report).
CHECK_RECORD = re.compile(r"^bncourse-check: (\{.*\})[ \t]*(?:\n|$)", re.M)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
HIDDEN_NOTE = "# (hidden tests ran here; their code is not shown)"

_exporter = None


def _html_exporter():
    """One nbconvert exporter per process, set up as ``nbgrader generate_feedback`` does."""
    global _exporter
    if _exporter is None:
        from nbconvert.exporters import HTMLExporter
        from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
        from nbgrader.converters.generate_feedback import GenerateFeedback

        cfg = GenerateFeedback().config
        _exporter = HTMLExporter(config=cfg)
        _exporter.register_preprocessor(CSSHTMLHeaderPreprocessor(), enabled=True)
    return _exporter


def hidden_lines(graded_source: str, released_source: str) -> list[str]:
    """Lines of a test cell that the learner was never shown (its hidden tests)."""
    shown = {ln.strip() for ln in released_source.splitlines()}
    out = []
    for ln in graded_source.splitlines():
        s = ln.strip()
        if len(s) >= 12 and s not in shown and not s.startswith("#"):
            if not any(m in s for m in _MARKERS):
                out.append(s)
    return out


def page_text(page: str) -> str:
    """The visible text of an HTML page (tags dropped, entities decoded)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def leaked(page: str, hidden: list[str]) -> list[str]:
    text = page_text(page)
    squeezed = re.sub(r"\s+", "", text)
    return [ln for ln in hidden if ln in text or re.sub(r"\s+", "", ln) in squeezed]


def check_records(text: str) -> list[dict]:
    """The ``bncourse-check`` records in printed output (malformed lines are skipped)."""
    out = []
    for m in CHECK_RECORD.finditer(text):
        try:
            rec = json.loads(m.group(1))
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def claim(source: str, fallback: str) -> str:
    """A test's claim: the first line of its docstring (else ``fallback``, its grade id)."""
    doc = None
    try:
        tree = ast.parse(source)
        doc = ast.get_docstring(tree) if tree.body else None
    except SyntaxError:
        m = re.match(r'\s*[rRuU]?("""|\'\'\')(.*?)(\1|$)', source, re.S)
        doc = m.group(2) if m else None
    lines = (doc or "").strip().splitlines()
    return lines[0].strip() if lines else fallback


# --- machine paths ---------------------------------------------------------------------

_PATH = re.compile(r"(?<![\w.~/:-])/(?:[\w.@+~-]+/)+[\w.@+~-]+")
_REPO = Path(__file__).resolve().parents[2]


def short_path(path: str) -> str:
    """A path a learner may see: inside a package, relative to site-packages or the course's
    repository; the standard library from ``pythonX.Y/``; anything else, its file name."""
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return path.split(marker, 1)[1]
    m = re.search(r"/lib/(python3\.\d+/.*)$", path)
    if m:
        return m.group(1)
    for base in (str(_REPO),):
        if path.startswith(base + "/"):
            return path[len(base) + 1 :]
    return path.rsplit("/", 1)[-1]


def scrub_paths(text: str) -> str:
    """``text`` with every absolute path shortened by :func:`short_path`."""
    if "/" not in text:
        return text
    parts = re.split(r"(\x1b\[[0-9;]*[A-Za-z])", text)  # colour codes stay, paths between
    for i in range(0, len(parts), 2):
        parts[i] = _PATH.sub(lambda m: short_path(m.group(0)), parts[i])
    return "".join(parts)


def _scrub_outputs(cell) -> None:
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            out["text"] = scrub_paths(CHECK_RECORD.sub("", out.get("text", "")))
        elif kind == "error":
            out["evalue"] = scrub_paths(str(out.get("evalue", "")))
            out["traceback"] = [scrub_paths(t) for t in out.get("traceback", [])]
        elif kind in ("display_data", "execute_result"):
            data = out.get("data", {})
            if isinstance(data.get("text/plain"), str):
                data["text/plain"] = scrub_paths(data["text/plain"])
    cell["outputs"] = [
        o for o in cell.get("outputs", []) if o.get("output_type") != "stream" or o.get("text")
    ]


# --- math -------------------------------------------------------------------------------

_CODE = re.compile(r"(^```.*?^```[ \t]*$|^~~~.*?^~~~[ \t]*$|`[^`\n]*`)", re.M | re.S)
_DISPLAY = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$])\$(?![\s$])([^$\n]+?)(?<![\s\\])\$(?!\d)")


def _mathml(tex: str, display: bool) -> str | None:
    try:
        from latex2mathml.converter import convert

        return convert(tex.strip(), display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - TeX it cannot read stays as TeX, as written
        return None


def math_to_placeholders(source: str, store: dict[str, str]) -> str:
    """Markdown with its math replaced by plain-word placeholders (kept safe from the
    Markdown renderer); ``store`` maps each placeholder to its MathML."""

    def keep(display: bool):
        def sub(m: re.Match) -> str:
            ml = _mathml(m.group(1), display)
            if ml is None:
                return m.group(0)
            key = f"BNMATH{len(store)}X"
            store[key] = ml
            return key

        return sub

    parts = _CODE.split(source)
    for i in range(0, len(parts), 2):  # even parts are outside code
        parts[i] = _INLINE.sub(keep(False), _DISPLAY.sub(keep(True), parts[i]))
    return "".join(parts)


_MATHJAX = re.compile(
    r"(?:<!-- Loading mathjax macro -->\s*)?<!-- Load mathjax -->.*?"
    r"<!-- End of mathjax configuration -->",
    re.S,
)


def for_learner(
    graded: NotebookNode,
    released: NotebookNode,
    scores: dict[str, tuple[float | None, float]],
    comments: dict[str, str | None],
) -> tuple[NotebookNode, list[str]]:
    """A copy of the graded notebook fit to show the learner, and its hidden-test lines."""
    nb = copy.deepcopy(graded)
    shown = {}
    for cell in released.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid:
            shown[gid] = cell.source
    hidden: list[str] = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if not gid:
            continue
        if is_grade(cell) and gid in shown and cell.source != shown[gid]:
            hidden += hidden_lines(cell.source, shown[gid])
            cell.source = shown[gid].rstrip() + "\n" + HIDDEN_NOTE
        if is_grade(cell):
            # a test cell's error (a function the learner renamed or deleted: NameError) in
            # one line; its traceback would show only the test's own call
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    last = _ANSI.sub("", f"{out.get('ename', '')}: {out.get('evalue', '')}")
                    out["traceback"] = [last]
        if gid in scores:
            score, points = scores[gid]
            meta["score"], meta["points"] = score, points
        if meta.get("solution") or meta.get("task"):
            meta["comment"] = comments.get(gid)
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            _scrub_outputs(cell)
    return nb, hidden


def _notes_block(notes: list[str]) -> str:
    if not notes:
        return ""
    items = "".join(f"<li>{html.escape(scrub_paths(n))}</li>" for n in notes)
    return (
        '<div class="alert alert-info" id="grading-log" style="margin:1em 0">'
        "<h4>Notes from the grader</h4>"
        f"<ul>{items}</ul></div>"
    )


def render(
    nb: NotebookNode,
    name: str,
    score: float,
    max_score: float,
    late_penalty: float,
    notes: list[str],
    hidden: list[str],
) -> str:
    """The feedback page. Raises RuntimeError if hidden-test code would reach the page."""
    resources = {
        "nbgrader": {
            "notebook": name,
            "score": score - late_penalty,
            "max_score": max_score,
            "late_penalty": late_penalty,
        }
    }
    nb = copy.deepcopy(nb)
    math: dict[str, str] = {}
    claims = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "markdown":
            cell.source = math_to_placeholders(cell.source, math)
        elif meta.get("grade") and meta.get("grade_id"):
            claims[meta["grade_id"]] = claim(cell.source, meta["grade_id"])
    body, _ = _html_exporter().from_notebook_node(nb, resources=resources)
    body = _MATHJAX.sub("", body)
    for key in sorted(math, key=len, reverse=True):  # BNMATH12X before BNMATH1X
        body = body.replace(key, math[key])
    for gid, text in claims.items():
        g, t = html.escape(gid), html.escape(text)
        body = body.replace(f'<a href="#{gid}">Test cell</a>', f'<a href="#{g}">{t}</a>')
        body = body.replace(
            f"Grade cell: <code>{gid}</code>", f'Test: {t} <code class="grade-id">{g}</code>'
        )
    anchor = '<a name="top"></a>'
    block = _notes_block(notes)
    body = body.replace(anchor, anchor + block, 1) if anchor in body else block + body
    bad = leaked(body, hidden)
    if bad:
        raise RuntimeError(f"feedback for {name} would show hidden-test code: {bad[0]!r}")
    return body


def plain_page(title: str, score: float, max_score: float, notes: list[str]) -> str:
    """A feedback page for a notebook that could not be run (missing or damaged)."""
    t = html.escape(title)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>'
        f'{t}</title></head><body style="font-family:sans-serif;max-width:50em;margin:2em auto">'
        f"<h2>{t} (Score: {score:g} / {max_score:g})</h2>"
        f"{_notes_block(notes)}</body></html>\n"
    )
