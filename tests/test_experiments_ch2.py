"""Chapter 2: the claims of ``bncourse.experiments.ch2_ioffe_fig1`` (Ioffe & Szegedy, Fig. 1).

Each claim is asserted for seeds 0, 1 and 2 with a margin (the margins were checked on
seeds 0-7 while the experiments were calibrated). Every experiment runs once per seed: a
cached helper keeps its result, and the tests of one experiment share an ``xdist_group``.
"""

from __future__ import annotations

import functools

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

torch = pytest.importorskip("torch")

from helpers import has_data as _has_data  # noqa: E402

from bncourse.experiments import (  # noqa: E402
    ch2_ioffe_fig1,
)

SEEDS = [0, 1, 2]


# ------------------------------------------------------------------------ E2 I&S Fig. 1

E2_STEPS = 800


@functools.cache
def _e2(seed):
    return ch2_ioffe_fig1.run_fig1(seed, steps=E2_STEPS)


@pytest.mark.xdist_group("experiments_a_e2")
@pytest.mark.parametrize("seed", SEEDS)
def test_e2_bn_reaches_high_accuracy_sooner(seed):
    """Fig. 1(a): after 500 steps the BN net is above 80 %, the plain sigmoid net near chance.

    Stronger than the paper's curves: our plain net is stuck at chance for the first few
    hundred steps (default init, 3 sigmoid layers); it starts learning later.
    """
    r = _e2(seed)
    assert r.bn.acc_at(500) >= 0.8
    assert r.plain.acc_at(500) <= 0.3
    assert r.bn.test_acc[-1] >= r.plain.test_acc[-1] + 0.3


@pytest.mark.xdist_group("experiments_a_e2")
@pytest.mark.parametrize("seed", SEEDS)
def test_e2_bn_keeps_the_sigmoid_input_distribution_stable(seed):
    """Fig. 1(b, c): the p15-p85 width of the last layer's sigmoid inputs drifts >= 5x more
    without BN (it grows many-fold) than with BN."""
    r = _e2(seed)
    plain, bn = r.plain.width_drift().mean(), r.bn.width_drift().mean()
    assert plain >= 5 * bn
    assert r.plain.percentiles.shape == (E2_STEPS // 100, 3, 100)
    p = r.bn.percentiles
    assert np.all(p[:, 0] <= p[:, 1]) and np.all(p[:, 1] <= p[:, 2])


@pytest.mark.xdist_group("experiments_a_e2")
def test_e2_is_deterministic_and_plots():
    """Same seed, identical curves and percentiles; the plot draws three panels with data."""
    a = ch2_ioffe_fig1.run_fig1(4, steps=100, every=50, width=20)
    b = ch2_ioffe_fig1.run_fig1(4, steps=100, every=50, width=20)
    assert a.bn.test_acc == b.bn.test_acc and a.plain.loss == b.plain.loss
    assert np.array_equal(a.bn.percentiles, b.bn.percentiles)
    fig = ch2_ioffe_fig1.plot_fig1(_e2(0))
    assert len(fig.axes) == 3 and _has_data(fig)
