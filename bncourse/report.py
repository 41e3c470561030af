"""What the class got wrong: ``class_report.html`` beside ``grades.csv``.

Written after every grading run (``bncourse.grade`` calls :func:`write`) from every row of
``grades.csv``, the gradebook (per-test scores, manual grades included) and the autograded
notebooks (the named mistakes the checks recognised). One static page: inline CSS and SVG,
no script, nothing fetched, so it opens offline and can be mailed around.

For each assignment it shows

* the score distribution (a histogram of score / max score, with mean, median, statuses);
* the pass rate of each test, named by its claim (the first line of the test's docstring);
* how many students made each named mistake, with a bar chart.

Named mistakes reach the grader through one line per check call that the checks print while
autograding (``NBGRADER_EXECUTION=autograde``)::

    bncourse-check: {"check": "check_forward", "score": 1.5, "points": 2,
                     "mistakes": ["unbiased_variance"]}

(one line of JSON after the prefix). The feedback page never shows these lines. Labels for
the mistake keys come from a ``MISTAKES`` dict (key -> message) in the assignment's checks
module ``bncourse.checks.<assignment>`` or in ``bncourse.checks.core``, when there is one.
"""

from __future__ import annotations

import html
import importlib
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import nbformat

from .config import course_dir
from .grading.feedback import check_records, claim

FILENAME = "class_report.html"


# --- reading what the grader left ---------------------------------------------------------


def _stdout(cell) -> str:
    return "".join(
        o.get("text", "")
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )


def notebook_mistakes(nb) -> dict[str, list[str]]:
    """Mistake key -> grade ids of the test cells that reported it, for one graded notebook."""
    found: dict[str, list[str]] = defaultdict(list)
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade") or cell.get("cell_type") != "code":
            continue
        for rec in check_records(_stdout(cell)):
            for key in rec.get("mistakes") or []:
                if isinstance(key, str) and meta.get("grade_id") not in found[key]:
                    found[key].append(meta.get("grade_id"))
    return dict(found)


def mistake_labels(assignment: str) -> tuple[dict[str, str], dict[str, str]]:
    """Readable labels of the keys the checks report: the assignment's named mistakes
    (``bncourse.checks.<assignment>.MISTAKES``) and the problems every check can report
    (``bncourse.checks.core.MESSAGES``: not implemented, raised, wrong shape ...)."""
    found = []
    for module, attr in (
        (f"bncourse.checks.{assignment}", "MISTAKES"),
        ("bncourse.checks.core", "MESSAGES"),
    ):
        try:
            table = getattr(importlib.import_module(module), attr, None)
        except Exception:  # noqa: BLE001 - no checks module: keys are shown as they are
            table = None
        found.append({str(k): str(v) for k, v in table.items()} if isinstance(table, dict) else {})
    return found[0], found[1]


def _release_tests(root: Path, cfg, assignment: str) -> list[tuple[str, str, str]]:
    """``(notebook, grade_id, claim)`` of each test cell, in the released notebooks' order."""
    folder = root / course_dir(cfg, "release_directory", "release") / assignment
    tests = []
    for path in sorted(folder.glob("*.ipynb")):
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:  # noqa: BLE001
            continue
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") and meta.get("grade_id"):
                tests.append((path.stem, meta["grade_id"], claim(cell.source, meta["grade_id"])))
    return tests


def _cell_scores(root: Path, cfg, rows) -> dict[tuple[str, str], dict[str, tuple]]:
    """(student, assignment) -> {grade_id: (score, max_score)} as the gradebook has it."""
    from .grading import gradebook as gbmod

    url = str(cfg.CourseDirectory.db_url)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        return {}
    gb = gbmod.open_gradebook(url, cfg.CourseDirectory.get("course_id"))
    try:
        out = {}
        for r in rows:
            got = gbmod.scores(gb, r.assignment, r.student)
            cells = {}
            for nb in got.values():
                cells.update(nb["cells"])
            out[(r.student, r.assignment)] = cells
        return out
    finally:
        gb.close()


def collect(root: Path, cfg, rows) -> dict:
    """Everything the page shows, as plain data (tests use it directly)."""
    root = Path(root)
    ag = root / course_dir(cfg, "autograded_directory", "autograded")
    gradable = [r for r in rows if r.status in ("graded", "partly graded")]
    cells = _cell_scores(root, cfg, gradable)
    data = {}
    for a in sorted({r.assignment for r in rows}):
        mine = [r for r in rows if r.assignment == a]
        fracs = [r.score / r.max_score for r in mine if r.max_score > 0]
        tests = []
        for nb_name, gid, text in _release_tests(root, cfg, a):
            got = [cells.get((r.student, a), {}).get(gid) for r in mine if r in gradable]
            got = [g for g in got if g and g[1]]
            full = sum(1 for s, m in got if s is not None and s >= m - 1e-9)
            zero = sum(1 for s, m in got if not s)
            tests.append(
                {
                    "notebook": nb_name,
                    "grade_id": gid,
                    "claim": text,
                    "n": len(got),
                    "passed": full,
                    "partial": len(got) - full - zero,
                    "zero": zero,
                }
            )
        mistakes: Counter = Counter()
        where: dict[str, set] = defaultdict(set)
        for r in mine:
            seen: set[str] = set()
            for path in sorted((ag / r.student / a).glob("*.ipynb")):
                try:
                    nb = nbformat.read(path, as_version=4)
                except Exception:  # noqa: BLE001
                    continue
                for key, gids in notebook_mistakes(nb).items():
                    seen.add(key)
                    where[key].update(gids)
            mistakes.update(seen)
        data[a] = {
            "n": len(mine),
            "statuses": dict(Counter(r.status for r in mine)),
            "fractions": fracs,
            "mean": statistics.fmean(fracs) if fracs else None,
            "median": statistics.median(fracs) if fracs else None,
            "max_score": max((r.max_score for r in mine), default=0.0),
            "tests": tests,
        }
        named, problems = mistake_labels(a) if mistakes else ({}, {})
        counted = [
            {"key": k, "students": n, "tests": sorted(where[k])}
            for k, n in sorted(mistakes.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        # a key the assignment names is a mistake; one of core's shared keys is a problem
        # (not implemented, raised, wrong type ...); a key in neither counts as a mistake
        is_problem = [m["key"] in problems and m["key"] not in named for m in counted]
        data[a]["mistakes"] = [m for m, p in zip(counted, is_problem, strict=True) if not p]
        data[a]["problems"] = [m for m, p in zip(counted, is_problem, strict=True) if p]
        data[a]["labels"] = {**problems, **named}
    return data


# --- drawing ----------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{padding:.25em .6em;text-align:left;
border-bottom:1px solid #eee;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#666}svg text{font-family:system-ui,sans-serif;font-size:12px}
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def histogram_svg(fractions: list[float], bins: int = 10) -> str:
    """Counts of score / max score in ``bins`` equal bins (the last one includes 100%)."""
    counts = [0] * bins
    for f in fractions:
        counts[min(int(max(f, 0.0) * bins), bins - 1)] += 1
    top = max(counts) or 1
    w, h, pad, bw = 520, 180, 30, 46
    bars = []
    for i, c in enumerate(counts):
        bh = (h - 2 * pad) * c / top
        x, y = pad + i * (bw + 2), h - pad - bh
        bars.append(
            f'<rect x="{x}" y="{y:.1f}" width="{bw}" height="{bh:.1f}" fill="#4a7ebb">'
            f"<title>{i * 100 // bins}-{(i + 1) * 100 // bins}%: {c}</title></rect>"
            f'<text x="{x + bw / 2}" y="{y - 4:.1f}" text-anchor="middle">{c or ""}</text>'
            f'<text x="{x + bw / 2}" y="{h - pad + 14}" text-anchor="middle">'
            f"{i * 100 // bins}%</text>"
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
        f'aria-label="histogram of scores">{"".join(bars)}'
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - 10}" y2="{h - pad}" stroke="#999"/></svg>'
    )


def bar_chart_svg(items: list[tuple[str, int]], total: int) -> str:
    """Horizontal bars: ``(label, count)`` out of ``total``."""
    if not items:
        return ""
    row, label_w, bar_w = 22, 340, 300  # a 44-character label fits in 340 px at 12 px
    h = row * len(items) + 10
    parts = []
    for i, (label, n) in enumerate(items):
        y = 5 + i * row
        short = label if len(label) <= 44 else label[:43] + "…"
        width = bar_w * n / total if total else 0
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{_e(short)}</text>'
            f'<rect x="{label_w}" y="{y + 2}" width="{width:.1f}" height="{row - 6}" '
            f'fill="#c0504d"><title>{_e(label)}: {n} of {total}</title></rect>'
            f'<text x="{label_w + width + 4:.1f}" y="{y + 14}">{n}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 50}" height="{h}" '
        f'role="img" aria-label="students per named mistake">{"".join(parts)}</svg>'
    )


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def render(data: dict) -> str:
    """The report page."""
    out = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        "<title>Class report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Class report</h1>",
        '<p class="muted">Written by <code>make grade</code> from grades.csv, the gradebook '
        "and the autograded notebooks; regenerated on every run.</p>",
    ]
    if not data:
        out.append("<p>No graded submission yet.</p>")
    for a, d in data.items():
        statuses = ", ".join(f"{n} {_e(s)}" for s, n in sorted(d["statuses"].items()))
        out += [
            f'<h2 id="{_e(a)}">{_e(a)}</h2>',
            f"<p>{d['n']} submission(s): {statuses}. Mean score {_pct(d['mean'])}, "
            f"median {_pct(d['median'])} of {d['max_score']:g} points.</p>",
            "<h3>Score distribution</h3>",
            histogram_svg(d["fractions"]),
            "<h3>Tests</h3>",
            "<table><tr><th>test</th><th>full marks</th><th>partial</th><th>zero</th></tr>",
        ]
        for t in d["tests"]:
            rate = t["passed"] / t["n"] if t["n"] else None
            out.append(
                f'<tr><td>{_e(t["claim"])}<br><span class="muted">{_e(t["grade_id"])}</span></td>'
                f'<td class="n">{t["passed"]} / {t["n"]} ({_pct(rate)})</td>'
                f'<td class="n">{t["partial"]}</td><td class="n">{t["zero"]}</td></tr>'
            )
        out.append("</table><h3>Named mistakes</h3>")
        graded = sum(n for s, n in d["statuses"].items() if s in ("graded", "partly graded"))
        labels = d["labels"]
        if not d["mistakes"]:
            out.append("<p>No named mistake was recognised in any submission.</p>")
        else:
            items = [
                (labels.get(m["key"], m["key"].replace("_", " ")), m["students"])
                for m in d["mistakes"]
            ]
            out.append(bar_chart_svg(items, graded))
            out.append("<table><tr><th>mistake</th><th>students</th><th>seen in</th></tr>")
            for m, (label, _) in zip(d["mistakes"], items, strict=True):
                out.append(
                    f'<tr><td>{_e(label)}<br><span class="muted">{_e(m["key"])}</span></td>'
                    f'<td class="n">{m["students"]} / {graded}</td>'
                    f"<td>{_e(', '.join(m['tests']))}</td></tr>"
                )
            out.append("</table>")
        if d.get("problems"):
            out.append("<h3>Other problems the checks reported</h3>")
            out.append("<table><tr><th>problem</th><th>students</th><th>seen in</th></tr>")
            for m in d["problems"]:
                out.append(
                    f"<tr><td>{_e(labels.get(m['key'], m['key']))}<br>"
                    f'<span class="muted">{_e(m["key"])}</span></td>'
                    f'<td class="n">{m["students"]} / {graded}</td>'
                    f"<td>{_e(', '.join(m['tests']))}</td></tr>"
                )
            out.append("</table>")
    out.append("</body></html>\n")
    return "\n".join(out)


def write(root, cfg, rows) -> Path:
    """Write ``class_report.html`` beside grades.csv from ``rows`` (all of grades.csv)."""
    path = Path(root) / FILENAME
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(collect(root, cfg, rows)), encoding="utf-8")
    tmp.replace(path)
    return path
