"""Chapter 6: BN's headline results (``ch6_lr_scaling``) and benefits (``ch6_benefits``).

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
    ch6_benefits,
    ch6_lr_scaling,
)

SEEDS = [0, 1, 2]


# ------------------------------------------------------------------------ E3 lr scaling

E3_MAX_STEPS = 600


@functools.cache
def _e3(seed):
    return ch6_lr_scaling.run_lr_scaling(seed, max_steps=E3_MAX_STEPS)


@pytest.mark.xdist_group("experiments_a_e3")
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.claim("ch6-ioffe-fewer-steps")
def test_e3_bn_baseline_reaches_the_target_sooner_than_plain(seed):
    """BN-Baseline reaches 90 % in at most 0.9x the plain net's steps (same lr).

    The chapter must say: about 1.2-2x faster here, not the paper's 31.0M -> 13.3M steps,
    and the paper's 14x (BN-x5) needs its other Sec. 4.2.1 changes.
    """
    r = _e3(seed)
    assert r.steps_to_target["plain"] is not None
    assert r.steps_to_target["BN-Baseline"] <= 0.9 * r.steps_to_target["plain"]


@pytest.mark.xdist_group("experiments_a_e3")
@pytest.mark.claim("ch6-ioffe-fewer-steps")
def test_e3_median_speedup_over_seeds():
    """Over seeds 0-2 the median of BN-Baseline steps / plain steps is below 0.85."""
    ratios = [1 / _e3(seed).speedup("BN-Baseline") for seed in SEEDS]
    assert np.median(ratios) < 0.85


@pytest.mark.xdist_group("experiments_a_e3")
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.claim("ch6-ioffe-higher-lr", "ch6-ioffe-higher-lr-faster")
def test_e3_bn_tolerates_30x_the_learning_rate(seed):
    """At 30x the base rate the plain net diverges while BN-x30 still reaches 90 %, but
    "somewhat slower initially" than BN-Baseline, as in the paper.

    The chapter must say: BN-x5 and BN-x30 are not faster than BN-Baseline here.
    """
    r = _e3(seed)
    assert r.diverged["plain-x30"] and r.steps_to_target["plain-x30"] is None
    assert not r.diverged["BN-x30"] and r.steps_to_target["BN-x30"] is not None
    assert r.steps_to_target["BN-x30"] > r.steps_to_target["BN-Baseline"]


@pytest.mark.xdist_group("experiments_a_e3")
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.claim("ch6-ioffe-sigmoid")
def test_e3_bn_makes_the_deep_sigmoid_net_trainable(seed):
    """BN-x5-Sigmoid reaches 90 %; the same net without BN stays near chance (paper: 1/1000)."""
    r = _e3(seed)
    assert r.steps_to_target["BN-x5-Sigmoid"] is not None
    assert r.max_acc["plain-Sigmoid"] < 0.25


@pytest.mark.xdist_group("experiments_a_e3")
@pytest.mark.machinery
def test_e3_plot_and_bad_variant():
    """The plot draws one curve per variant; an unknown variant is a ValueError."""
    r = _e3(0)
    fig = ch6_lr_scaling.plot_lr_scaling(r)
    assert len(fig.axes[0].lines) >= len(r.curves) and _has_data(fig)
    with pytest.raises(ValueError, match="unknown variants"):
        ch6_lr_scaling.run_lr_scaling(0, variants=("BN-x100",))


# ------------------------------------------------------------------------ E9 benefits


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.claim("ch6-weight-scale-invariance")
def test_e9_scaling_the_weights_before_bn(seed):
    """BN(aWu) = BN(Wu) and dL/d(aW) = dL/dW / a (same direction); the gradient is
    orthogonal to W. For a = 0.1, eps makes it approximate (1 % tolerance)."""
    r = ch6_benefits.run_scale_invariance(seed)
    for a, diff, ratio, cos in zip(
        r.scales, r.out_maxdiff, r.grad_ratio, r.grad_cosine, strict=True
    ):
        tol = 1e-2 if a < 0.5 else 1e-3
        assert diff < tol, a
        assert abs(ratio * a - 1) < tol, a
        assert cos > 1 - 1e-6, a
    assert r.orthogonality < 1e-5


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.claim("ch6-batch-noise")
def test_e9_batch_noise_falls_like_one_over_sqrt_n(seed):
    """The spread of an example's BN output across random batches falls with N; the
    log-log slope is -0.5 +/- 0.1."""
    r = ch6_benefits.run_noise(seed)
    assert np.all(np.diff(r.spread) < 0)
    assert -0.6 <= r.slope <= -0.4


@pytest.mark.machinery
def test_e9_noise_is_deterministic_and_plots():
    """Same seed, same spreads; both plots draw data."""
    a = ch6_benefits.run_noise(7, batch_sizes=(4, 16), draws=20)
    b = ch6_benefits.run_noise(7, batch_sizes=(4, 16), draws=20)
    assert np.array_equal(a.spread, b.spread)
    assert _has_data(ch6_benefits.plot_noise(a))
    assert _has_data(ch6_benefits.plot_scale_invariance(ch6_benefits.run_scale_invariance()))
