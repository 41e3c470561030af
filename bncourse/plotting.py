"""The course's one plotting style: figure size, font sizes, colours, a line style per series.

Every figure of the book goes through this module, so that text stays legible on the
page that shows it. The arithmetic behind the numbers:

* The book's text column shows an image at most :data:`COLUMN_PX` CSS pixels wide at a
  1280 px window (measured: 672 px in sphinx-book-theme); a narrower image is shown at
  its natural size, and on a phone a figure keeps its natural size and scrolls sideways
  inside its own box (``book/_static/course.css``).
* Figures are saved at :data:`DPI` = 100 dots per inch, so a figure at most
  :data:`MAX_WIDTH_IN` inches wide is never shrunk, and a font of ``f`` points shows as
  ``f * DPI / 96`` CSS points: :data:`MIN_FONT_PT` = 9 pt stays at least 9 pt.
* The base font is :data:`FONT_PT` = 11 pt, so that matplotlib's ``"small"`` (0.833x) is
  still 9.2 pt; ``"x-small"`` and smaller are refused by :func:`check_legible`.

Public API::

    use_house_style()                     # rcParams: sizes, dpi, colours x line styles
    fig, ax = figure()                    # one Axes, 4.8 x 3.2 in
    fig, axes = figure(ncols=3, height=2.6)  # a row of panels, never wider than MAX_WIDTH_IN
    fig, ax = figure(ax=ax)               # draw on a given Axes (the plot_*(..., ax=None) rule)
    style = series(i)                     # {"color", "linestyle", "marker"} of the i-th series
    COLORS, LINESTYLES, MARKERS           # the same, as lists
    finish(fig)                           # check_legible(fig), then return fig
    check_legible(fig)                    # ValueError naming every text below 9 pt as shown

matplotlib is imported only when a function is called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "COLORS",
    "COLUMN_PX",
    "DPI",
    "FONT_PT",
    "LINESTYLES",
    "MARKERS",
    "MAX_WIDTH_IN",
    "MIN_FONT_PT",
    "check_legible",
    "figure",
    "finish",
    "series",
    "use_house_style",
]

#: Widest image the text column shows unshrunk, CSS px (sphinx-book-theme, 1280 px window).
COLUMN_PX = 672
#: Dots per inch of every saved figure (inline backend and widget pictures alike).
DPI = 100
#: The widest figure, in inches: a 16 px margin under COLUMN_PX, for ``bbox_inches="tight"``.
MAX_WIDTH_IN = 6.5
#: The smallest font any figure may show, in points at the size the page shows it.
MIN_FONT_PT = 9.0
#: The base font size (titles, labels); ticks and legends are ``FONT_PT - 1``.
FONT_PT = 11.0
#: Okabe & Ito's colour-blind-safe palette, without its yellow (too faint on white).
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
#: One line style per series, so that series differ in grey-scale print too.
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (1, 1)), (0, (8, 2))]
#: One marker per series (for dots and sparse lines).
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]

DEFAULT_WIDTH_IN = 4.8
DEFAULT_HEIGHT_IN = 3.2


def use_house_style() -> None:
    """Set matplotlib's rcParams to the house style (idempotent, process-wide)."""
    import matplotlib as mpl
    from cycler import cycler

    small = FONT_PT - 1
    mpl.rcParams.update(
        {
            "figure.dpi": DPI,
            "savefig.dpi": DPI,
            "figure.figsize": (DEFAULT_WIDTH_IN, DEFAULT_HEIGHT_IN),
            "font.size": FONT_PT,
            "axes.titlesize": FONT_PT,
            "axes.labelsize": FONT_PT,
            "xtick.labelsize": small,
            "ytick.labelsize": small,
            "legend.fontsize": small,
            "legend.title_fontsize": small,
            "figure.titlesize": FONT_PT + 1,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.prop_cycle": cycler(color=COLORS) + cycler(linestyle=LINESTYLES),
            "lines.linewidth": 1.6,
            "legend.frameon": False,
            "image.cmap": "viridis",
        }
    )


def series(i: int) -> dict[str, Any]:
    """Colour, line style and marker of the ``i``-th series (cycling after seven)."""
    if isinstance(i, bool) or not isinstance(i, int) or i < 0:
        raise ValueError(f"series index must be a non-negative integer, got {i!r}")
    k = i % len(COLORS)
    return {"color": COLORS[k], "linestyle": LINESTYLES[k], "marker": MARKERS[k]}


def figure(
    ax: Any = None,
    ncols: int = 1,
    nrows: int = 1,
    width: float | None = None,
    height: float | None = None,
    **subplots_kw: Any,
):
    """A new figure in the house style, or the figure of a given ``ax``.

    Parameters
    ----------
    ax : matplotlib Axes or sequence of Axes, optional
        Draw there instead: returns ``(ax.figure, ax)`` unchanged (the ``plot_*(result,
        ax=None)`` convention of the experiments).
    ncols, nrows : int
        Grid of panels.
    width : float, optional
        Figure width in inches; default 4.8 for one column, :data:`MAX_WIDTH_IN` for more.
        Wider than :data:`MAX_WIDTH_IN` is an error (the page would shrink its text).
    height : float, optional
        Figure height in inches; default 3.2 per row (2.6 per row when ``nrows > 1``).
    **subplots_kw
        Passed to :func:`matplotlib.pyplot.subplots` (``sharey=True``, ...).

    Returns
    -------
    fig, axes
        As :func:`matplotlib.pyplot.subplots` returns them (constrained layout).
    """
    use_house_style()
    if ax is not None:
        first = ax
        if isinstance(ax, Sequence) or hasattr(ax, "ravel"):
            first = list(ax.ravel() if hasattr(ax, "ravel") else ax)[0]
        return first.figure, ax
    import matplotlib.pyplot as plt

    for name, value in (("ncols", ncols), ("nrows", nrows)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if width is None:
        width = DEFAULT_WIDTH_IN if ncols == 1 else MAX_WIDTH_IN
    if height is None:
        height = DEFAULT_HEIGHT_IN if nrows == 1 else 2.6 * nrows
    if not 0 < width <= MAX_WIDTH_IN:
        raise ValueError(
            f"figure width {width} in is outside (0, {MAX_WIDTH_IN}]: the book's column shows "
            f"at most {MAX_WIDTH_IN} in at {DPI} dpi unshrunk; use more rows instead"
        )
    if not 0 < height <= 12:
        raise ValueError(f"figure height must be in (0, 12] inches, got {height!r}")
    subplots_kw.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, figsize=(width, height), **subplots_kw)


def _shown_scale(fig: Any) -> float:
    """How much the page shrinks the figure: 1 when it fits the column, else < 1."""
    width_px = fig.get_figwidth() * DPI
    return min(1.0, (MAX_WIDTH_IN * DPI) / width_px)


def check_legible(fig: Any) -> None:
    """Raise ``ValueError`` naming every visible text shown smaller than :data:`MIN_FONT_PT`.

    The size as shown is ``fontsize * DPI / 96 * scale``, with ``scale`` < 1 only for a
    figure wider than :data:`MAX_WIDTH_IN` (the page shrinks it to the column).
    """
    fig.draw_without_rendering()  # tick labels exist only once drawn
    scale = _shown_scale(fig) * DPI / 96
    small: dict[str, float] = {}
    for text in fig.findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text")):
        if not text.get_visible() or not str(text.get_text()).strip():
            continue
        shown = text.get_fontsize() * scale
        if shown < MIN_FONT_PT - 1e-9:
            key = repr(text.get_text())
            small[key] = min(shown, small.get(key, shown))
    if small:
        listed = ", ".join(f"{t} ({pt:.1f} pt)" for t, pt in sorted(small.items())[:8])
        raise ValueError(
            f"text below {MIN_FONT_PT:g} pt as the page shows it "
            f"(figure {fig.get_figwidth():.2g} in wide): {listed}"
        )


def finish(fig: Any):
    """Check that ``fig`` is legible (:func:`check_legible`) and return it."""
    check_legible(fig)
    return fig
