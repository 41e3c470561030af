"""Chapter 4: the claims of ``bncourse.experiments.ch4_placement``.

Each claim is asserted for seeds 0, 1 and 2 with a margin (the margins were checked on
seeds 0-7 while the experiments were calibrated). Every experiment runs once per seed: a
cached helper keeps its result, and the tests of one experiment share an ``xdist_group``.
"""

from __future__ import annotations

import functools

import matplotlib
import pytest

matplotlib.use("Agg")

torch = pytest.importorskip("torch")

from bncourse.experiments import (  # noqa: E402
    ch4_placement,
)

SEEDS = [0, 1, 2]


# ------------------------------------------------------------------------ E7 placement


@functools.cache
def _e7(seed):
    return ch4_placement.run_placement(seed, n_seeds=1)


@pytest.mark.xdist_group("experiments_a_e7")
@pytest.mark.parametrize("seed", SEEDS)
def test_e7_all_placements_train_to_similar_accuracy(seed):
    """All four BN variants reach >= 90 % and lie within 3 points of each other.

    The chapter must say: no consistent winner at this scale (the best variant changes
    from seed to seed); the caffenet-benchmark's 2.5-point "after" advantage on CaffeNet is
    a single run per variant and flips on GoogLeNet128.
    """
    r = _e7(seed)
    assert r.variants == ["before", "before + scale&bias", "after", "after + scale&bias"]
    assert r.acc.shape == (1, 4)
    assert r.acc.min() >= 0.90
    assert r.spread_across_variants()[0] <= 0.03


def test_e7_published_table_is_the_benchmarks():
    """The quoted caffenet-benchmark rows keep their published order: after > before."""
    t = ch4_placement.CAFFENET_PLACEMENT
    assert t["after"][0] > t["before + scale&bias"][0] > t["before"][0] > t["no BN"][0]
    g = ch4_placement.GOOGLENET128_PLACEMENT
    assert g["before + scale&bias"][0] > g["after"][0]


@pytest.mark.xdist_group("experiments_a_e7")
def test_e7_plot():
    """The plot shows our dots and the benchmark's bars."""
    fig = ch4_placement.plot_placement(_e7(0))
    assert len(fig.axes) == 2 and fig.axes[0].lines and fig.axes[1].patches
