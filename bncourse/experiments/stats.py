"""Statistics every experiment reports: intervals over seeds and the equivalence verdict.

One home for these, so that every chapter's "95% CI" means the same thing:

- :func:`mean_ci`: mean and Student-t interval over seeds;
- :func:`median_ci`: median and the distribution-free order-statistic interval;
- :func:`paired_diff_ci`: mean of ``a - b`` over paired seeds with its t interval;
- :func:`verdict`: the pre-registered rule for a "no difference" claim (an equivalence
  margin fixed before the run, never "the test did not fail").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _sample(values, what: str = "values") -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"need a 1-D sample of at least 2 {what}, got shape {v.shape}")
    return v


def _t_half_width(v: np.ndarray, level: float) -> float:
    from scipy import stats

    se = float(v.std(ddof=1) / math.sqrt(v.size))
    return float(stats.t.ppf(0.5 + level / 2, v.size - 1)) * se


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval ``(mean, low, high)`` of ``values`` (n >= 2)."""
    v = _sample(values)
    m, half = float(v.mean()), _t_half_width(v, level)
    return m, m - half, m + half


def median_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """The median of ``values`` and a distribution-free confidence interval for it.

    The interval is the pair of order statistics ``(x_(l), x_(u))`` whose binomial
    coverage is at least ``level`` (for 10 values: the 2nd smallest and the 2nd
    largest, 97.9 %); with too few values it is the full range.

    Returns
    -------
    median, low, high : float
    """
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n = len(v)
    if n == 0:
        raise ValueError("median_ci needs at least one value")

    def cdf(k: int) -> float:  # P(Binomial(n, 1/2) <= k), exact (no scipy import: the
        return sum(math.comb(n, i) for i in range(k + 1)) / 2**n  # book's pages stay fast)

    lo, hi = 0, n - 1
    for k in range(n // 2, -1, -1):  # widest-first search for the narrowest valid pair
        if cdf(n - k - 1) - cdf(k - 1) >= level:
            lo, hi = k, n - k - 1
            break
    return float(np.median(v)), float(v[lo]), float(v[hi])


def paired_diff_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict:
    """Mean of ``a - b`` over seeds with a two-sided t confidence interval.

    Parameters
    ----------
    a, b : array_like, shape (n_seeds,)
        Paired values (the same seeds in the same order), n_seeds >= 2.

    Returns
    -------
    dict with ``mean``, ``lo``, ``hi`` (floats) and ``n`` (int).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples must have the same shape, got {a.shape} and {b.shape}")
    d = _sample(a - b, "paired differences")
    mean, half = float(d.mean()), _t_half_width(d, level)
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": int(d.size)}


def verdict(diff: dict, margin: float) -> str:
    """The pre-registered rule: "equivalent", "different" or "inconclusive".

    ``diff`` has ``lo`` and ``hi`` (an interval for a difference, e.g. from
    :func:`paired_diff_ci`); ``margin`` > 0 is the equivalence margin fixed before the run.
    Equivalent: the whole interval lies inside (-margin, margin). Different: the interval
    excludes 0. Otherwise inconclusive (report it as such).
    """
    if not margin > 0:
        raise ValueError(f"the equivalence margin must be > 0, got {margin!r}")
    if -margin < diff["lo"] and diff["hi"] < margin:
        return "equivalent"
    if diff["lo"] > 0 or diff["hi"] < 0:
        return "different"
    return "inconclusive"
