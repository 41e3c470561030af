"""The house plotting style (bncourse.plotting): legible at the size the book shows it."""

from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")

from bncourse import plotting  # noqa: E402


def test_default_figure_is_legible_and_fits_the_column():
    fig, axes = plotting.figure(ncols=3, height=2.4)
    for i, ax in enumerate(axes):
        ax.plot([0, 1], [0, i], label=f"series {i}")
        ax.set(title="title", xlabel="x", ylabel="y")
    axes[0].legend(fontsize="small")
    assert fig.get_figwidth() <= plotting.MAX_WIDTH_IN
    assert plotting.finish(fig) is fig


def test_too_small_text_is_named():
    fig, ax = plotting.figure()
    ax.plot([0, 1], [0, 1], label="tiny")
    ax.legend(fontsize="x-small")
    ax.set_title("small title", fontsize=6)
    with pytest.raises(ValueError) as err:
        plotting.check_legible(fig)
    assert "'tiny' (8.0 pt)" in str(err.value) and "'small title' (6.2 pt)" in str(err.value)


def test_a_figure_wider_than_the_column_is_refused_or_checked_shrunk():
    with pytest.raises(ValueError, match="use more rows"):
        plotting.figure(width=9)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(13, 3))  # made outside the helper: shown at half size
    ax.set(title="eleven points", xticks=[], yticks=[])
    with pytest.raises(ValueError, match="eleven points"):
        plotting.check_legible(fig)


def test_series_styles_differ_in_colour_and_line_style():
    styles = [plotting.series(i) for i in range(7)]
    assert len({s["color"] for s in styles}) == 7
    assert len({str(s["linestyle"]) for s in styles}) == 7
    assert plotting.series(7) == plotting.series(0)
    with pytest.raises(ValueError):
        plotting.series(-1)


def test_figure_on_given_axes_returns_them():
    fig, ax = plotting.figure()
    assert plotting.figure(ax) == (fig, ax)
    fig2, axes = plotting.figure(ncols=2)
    assert plotting.figure(axes)[0] is fig2


def test_experiments_new_axes_uses_the_house_style():
    pytest.importorskip("torch")
    from bncourse.experiments._common import new_axes

    fig, axes = new_axes(ncols=2, width=4.2)
    assert fig.get_figwidth() == plotting.MAX_WIDTH_IN
    assert matplotlib.rcParams["font.size"] == plotting.FONT_PT
