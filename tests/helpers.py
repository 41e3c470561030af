"""Small helpers shared by several test modules (importable: ``tests/`` is on sys.path)."""

from __future__ import annotations


def has_data(fig) -> bool:
    """True if some axes of ``fig`` drew lines, collections, patches or images."""
    return any(ax.lines or ax.collections or ax.patches or ax.images for ax in fig.axes)
