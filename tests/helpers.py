"""Small helpers shared by several test modules (importable: ``tests/`` is on sys.path)."""

from __future__ import annotations


def has_data(fig) -> bool:
    """True if some axes of ``fig`` drew lines, collections, patches or images."""
    return any(ax.lines or ax.collections or ax.patches or ax.images for ax in fig.axes)


def assert_draws_a_figure(make, what: str = "") -> None:
    """``make()`` returns a matplotlib Figure (Agg backend) with something drawn; closed after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    fig = make()
    try:
        assert isinstance(fig, Figure), (what, type(fig))
        assert has_data(fig), what
    finally:
        plt.close(fig)
