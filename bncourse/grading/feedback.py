"""Learner feedback: nbgrader's feedback HTML, without hidden-test source, plus the grading log.

nbgrader's own feedback shows the graded notebook as run, hidden tests included (by design,
nbgrader#917). Here each test cell shows the source the learner was given (the released
one), its printed messages and scores, and errors raised by hidden tests are cut to their
last line (``AssertionError: your variance uses N-1 ...``): the message, never the code. A
final check searches the rendered page's text for every hidden-test line and refuses to
publish a page that contains one.
"""

from __future__ import annotations

import copy
import html
import re

from nbformat import NotebookNode

from .execute import is_grade

_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
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
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    last = _ANSI.sub("", f"{out.get('ename', '')}: {out.get('evalue', '')}")
                    out["traceback"] = [last]
        if gid in scores:
            score, points = scores[gid]
            meta["score"], meta["points"] = score, points
        if meta.get("solution") or meta.get("task"):
            meta["comment"] = comments.get(gid)
    return nb, hidden


def _notes_block(notes: list[str]) -> str:
    if not notes:
        return ""
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
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
    body, _ = _html_exporter().from_notebook_node(nb, resources=resources)
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
