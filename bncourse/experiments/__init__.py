"""Small CPU reproductions of the claims the course's sources make about Batch Normalization.

Each module ``chN_<topic>.py``, named by the chapter it serves, reproduces one claim (or
one figure) at a scale that runs in seconds on a laptop CPU, and says plainly where the
small result differs from the paper.
Every module offers

* one or more ``run_*(seed=0, ...)`` functions that return a dataclass of plain data
  (lists, NumPy arrays, floats); the same seed gives the same numbers on CPU;
* ``plot_*(result, ax=None)`` helpers that draw the result with matplotlib and return the
  figure;
* ``EXPERIMENTS``: a dict ``{"short name": callable}`` of the runs with their defaults,
  used by ``benchmarks/bench_experiments.py``.

The book's chapters call these functions; ``tests/test_experiments_*.py`` assert each claim.
Shared machinery (data, MLP builder, training loop) lives in :mod:`bncourse.experiments._common`.

This package imports torch; ``import bnref`` does not import it.
"""

__all__: list[str] = []
