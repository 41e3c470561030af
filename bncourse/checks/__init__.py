"""The course's exercise checks: one module per assignment, sharing :mod:`.core`.

A notebook imports its assignment's module under a short, stable name::

    from bncourse.checks import bn03_mechanics as checks

``cmp`` (print how close two arrays are) is public and may be used by anyone, anywhere:
``from bncourse.checks import cmp``. How to add an assignment: the README's section
"Adding an assignment" and ``tests/test_assignments.py``.
"""

from .core import Score, cmp

__all__ = ["Score", "cmp"]
