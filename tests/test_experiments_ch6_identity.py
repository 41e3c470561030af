"""Chapter 6, the identity bias (De & Smith 2020): the claims of ``ch6_de_smith``.

Claims are asserted on seeds 0-2 (``BNREF_SEEDS=0,1,2,3`` checks others).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import has_data as _has_data  # noqa: E402

from bncourse.experiments import ch6_de_smith as e6  # noqa: E402

SEEDS = [int(s) for s in os.environ.get("BNREF_SEEDS", "0,1,2").split(",")]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.claim("ch6-de-smith-signal")
def test_signal_propagation_linear_with_bn_doubling_without_constant_with_skipinit(seed):
    """Signal-propagation plots: skip variance ~ linear (BN), ~2^l (none), constant (SkipInit)."""
    r = e6.run_signal_propagation(seed)
    slope, branch = r.linear_slope("BN"), float(np.mean(r.branch_var["BN"]))
    assert abs(slope - branch) <= 0.25 * branch, (slope, branch)  # measured within 5 %
    assert r.log2_slope("BN") < 0.15  # measured 0.072
    assert r.branch_to_skip("BN")[-1] < 0.05  # about 1/l: measured 0.019-0.021
    assert 0.8 <= r.log2_slope("no norm") <= 1.2  # measured 0.90-0.98
    assert r.branch_to_skip("no norm")[-1] > 0.3  # measured 0.67-1.26
    v = r.skip_var["SkipInit"]
    np.testing.assert_allclose(v, v[0], rtol=1e-6)
    small = r.skip_var["SkipInit 1/sqrt(d)"]
    assert small[-1] / small[0] < 4  # bounded growth: measured 2.0-2.2


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.claim("ch6-de-smith-skipinit")
def test_skipinit_trains_a_deep_residual_net_that_diverges_without_bn(seed):
    """SkipInit (alpha = 0) trains the 50-block net to the BN net's accuracy; plain NaNs."""
    r = e6.run_skipinit(seed)
    assert r.diverged["no norm"] and not math.isfinite(r.loss["no norm"][-1])
    # measured after 100 steps, seeds 0-5: BN 0.932-0.941, SkipInit 0.932-0.941
    assert r.test_acc["BN"] >= 0.9 and not r.diverged["BN"]
    assert r.test_acc["SkipInit"] >= 0.9 and not r.diverged["SkipInit"]


@pytest.mark.claim("ch6-de-smith-skipinit")
def test_no_norm_residual_net_diverges_even_at_a_tiny_learning_rate():
    """The unnormalised net's gradients are so large that lr 1e-5 still gives NaN."""
    for seed in SEEDS:
        r = e6.run_skipinit(seed, variants=("no norm",), lr=1e-5, steps=3)
        assert r.diverged["no norm"], r.loss
        assert r.loss["no norm"][0] > 1e3  # the loss at initialisation, before any step


@pytest.mark.machinery
def test_bad_arguments_raise_clear_errors():
    """Unknown names and impossible sizes raise ValueError naming the problem."""
    with pytest.raises(ValueError, match="unknown variants"):
        e6.run_signal_propagation(0, variants=("LayerNorm",))
    with pytest.raises(ValueError, match="norm must be"):
        e6.residual_mlp(4, norm="layer")
    with pytest.raises(ValueError, match="alpha"):
        e6.residual_mlp(4, alpha="zero")


PLOTS = {
    "signal": lambda: e6.plot_signal_propagation(e6.run_signal_propagation(0, depth=10)),
    "skipinit": lambda: e6.plot_skipinit(e6.run_skipinit(0, depth=10, steps=10)),
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
def test_experiments_registry_lists_callable_runs():
    """EXPERIMENTS maps short names to the module's run_* functions (for the benchmark)."""
    assert e6.EXPERIMENTS
    for name, run in e6.EXPERIMENTS.items():
        assert isinstance(name, str) and callable(run)
        assert run.__name__.startswith("run_") and getattr(e6, run.__name__) is run
