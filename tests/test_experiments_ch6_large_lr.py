"""Chapter 6, large learning rates (Bjorck et al. 2018): the claims of ``ch6_bjorck``.

Claims are asserted on seeds 0-2 (``BNREF_SEEDS=0,1,2,3`` checks others).
"""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")

from helpers import has_data as _has_data  # noqa: E402

from bncourse.experiments import ch6_bjorck as e5  # noqa: E402

SEEDS = [int(s) for s in os.environ.get("BNREF_SEEDS", "0,1,2").split(",")]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.claim("ch6-bjorck-higher-lr")
def test_bn_trains_at_learning_rates_where_the_plain_net_diverges(seed):
    """Sec. 2 / Fig. 1: BN's usable learning rates reach 10x higher; plain diverges there."""
    r = e5.run_lr_sweep(seed)
    lrs = r.lrs
    # measured: plain good up to 0.03-0.1, diverged at >= 0.3; BN good up to 1.0
    assert r.largest_good_lr("BN MLP") >= 1.0, r.test_acc
    assert r.largest_good_lr("MLP") <= 0.1, r.test_acc
    assert all(d for lr, d in zip(lrs, r.diverged["MLP"], strict=True) if lr >= 0.3)
    assert not any(d for lr, d in zip(lrs, r.diverged["BN MLP"], strict=True) if lr <= 1.0)
    # at the smallest rate both train about equally (measured gap <= 0.007)
    assert abs(r.test_acc["MLP"][0] - r.test_acc["BN MLP"][0]) <= 0.03


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.claim("ch6-bjorck-one-step")
def test_one_step_from_init_diverges_without_bn(seed):
    """Sec. 3: relative loss after one step passes 1e3 without BN already at eta = 0.1."""
    r = e5.run_relative_loss(seed)
    at = dict(zip(r.etas, r.relative_loss["ResMLP"], strict=True))
    # measured: 1e17 and more (or NaN) at 0.1; 1.8e4-5e7 at 0.01
    assert not at[0.1] <= 1e3, at
    for name in ("BN MLP", "BN ResMLP"):  # measured max 5.3
        assert max(r.relative_loss[name]) <= 20, (name, r.relative_loss[name])
    assert r.largest_safe_eta("BN ResMLP") >= 100 * r.largest_safe_eta("ResMLP")
    # the plain 6-layer MLP is safe up to eta = 1: the explosion needs depth
    assert r.largest_safe_eta("MLP") >= 1.0


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.claim("ch6-bjorck-gradients")
def test_gradients_at_init_are_large_heavy_tailed_and_aligned_without_bn(seed):
    """Sec. 4 / Table 1: gradient size, kurtosis and cross-example alignment."""
    r = e5.run_init_gradients(seed)
    plain, bn = "ResMLP", "BN ResMLP"
    # measured ratios over seeds 0-4: norm 1,500-3,500; kurtosis 4.1-7.5; alignment 1.9-3.0
    assert r.mean_grad_norm[plain] >= 100 * r.mean_grad_norm[bn]
    assert r.kurtosis[plain] >= 2 * r.kurtosis[bn]
    assert r.alignment[plain] >= 1.5 * r.alignment[bn]


@pytest.mark.machinery
def test_runs_are_deterministic_for_a_seed():
    """The same seed gives identical numbers."""
    e, f = (e5.run_init_gradients(1) for _ in range(2))
    assert e.kurtosis == f.kurtosis


@pytest.mark.machinery
def test_bad_arguments_raise_clear_errors():
    """Unknown names raise ValueError naming the problem."""
    with pytest.raises(ValueError, match="unknown net"):
        e5.run_relative_loss(0, nets=("VGG",))
    with pytest.raises(ValueError, match="residual"):
        e5.run_init_gradients(0, nets=("MLP",))


PLOTS = {
    "lr_sweep": lambda: e5.plot_lr_sweep(e5.run_lr_sweep(0, lrs=(0.1, 3.0), steps=10)),
    "relative_loss": lambda: e5.plot_relative_loss(e5.run_relative_loss(0)),
    "init_gradients": lambda: e5.plot_init_gradients(e5.run_init_gradients(0, n=8)),
}


@pytest.mark.parametrize("name", sorted(PLOTS))
@pytest.mark.machinery
def test_plot_helpers_return_a_figure_with_data(name):
    """Each plot_* draws on a new figure (Agg) and returns it with something drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    fig = PLOTS[name]()
    try:
        assert isinstance(fig, Figure)
        assert _has_data(fig), name
    finally:
        plt.close(fig)


@pytest.mark.machinery
def test_plot_helpers_draw_on_given_axes():
    """With ``ax`` given, a plot helper draws there and returns that axes' figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    try:
        out = e5.plot_relative_loss(e5.run_relative_loss(0, nets=("BN MLP",)), ax=ax)
        assert out is fig and ax.lines
    finally:
        plt.close(fig)


@pytest.mark.machinery
def test_experiments_registry_lists_callable_runs():
    """EXPERIMENTS maps short names to the module's run_* functions (for the benchmark)."""
    assert e5.EXPERIMENTS
    for name, run in e5.EXPERIMENTS.items():
        assert isinstance(name, str) and callable(run)
        assert run.__name__.startswith("run_") and getattr(e5, run.__name__) is run
