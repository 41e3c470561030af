"""Chapter 6, smoothness (Santurkar et al. 2018, Sec. 3): the claims of ``ch6_santurkar``.

Claims are asserted on seeds 0-2 (``BNREF_SEEDS=0,1,2,3`` checks others).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import has_data as _has_data  # noqa: E402

from bncourse.experiments import ch6_santurkar as e4  # noqa: E402
from bncourse.experiments._common import mlp, mnist_tensors, seeded, train  # noqa: E402

SEEDS = [int(s) for s in os.environ.get("BNREF_SEEDS", "0,1,2").split(",")]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.claim("ch6-santurkar-landscape")
def test_loss_landscape_is_smoother_with_bn(seed):
    """Sec. 3.1 / Fig. 4: loss range, gradient change and effective beta all smaller with BN."""
    r = e4.run_landscape(seed)
    # measured ratios (standard / BN, medians over probes), seeds 0-5: 17-36, 14-26, 1.7-2.3
    assert r.ratio("loss_range") >= 5, r.ratio("loss_range")
    assert r.ratio("grad_change") >= 5, r.ratio("grad_change")
    assert r.ratio("beta_eff") >= 1.2, r.ratio("beta_eff")


@pytest.mark.machinery
def test_runs_are_deterministic_for_a_seed():
    """The same seed gives identical numbers (noise, batches, probes included)."""
    c, d = (e4.run_landscape(1, steps=20, every=10) for _ in range(2))
    np.testing.assert_array_equal(c.beta_eff["BN"], d.beta_eff["BN"])
    g = e4.run_landscape(2, steps=20, every=10)
    assert not np.array_equal(g.beta_eff["BN"], c.beta_eff["BN"])  # another seed, other numbers


@pytest.mark.machinery
def test_probes_leave_training_unchanged():
    """The landscape probe restores weights and BN statistics: training is as unprobed."""
    land = e4.run_landscape(0, steps=40, every=10)
    for name, bn in e4.NETS.items():
        gen, _ = seeded(0)
        model = mlp((784,) + (128,) * 6 + (10,), bn=bn, generator=gen)
        hist = train(
            model, mnist_tensors(), steps=40, lr=0.05, batch_size=128, eval_every=10,
            eval_at_start=True, generator=gen,
        )  # fmt: skip
        assert land.test_acc[name] == hist.test_acc, name


@pytest.mark.machinery
def test_bad_arguments_raise_clear_errors():
    """Unknown names and impossible sizes raise ValueError naming the problem."""
    with pytest.raises(ValueError, match="measure must be"):
        e4.run_landscape(0, steps=0).ratio("curvature")


PLOTS = {
    "landscape": lambda: e4.plot_landscape(e4.run_landscape(0, steps=20, every=10)),
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
    assert e4.EXPERIMENTS
    for name, run in e4.EXPERIMENTS.items():
        assert isinstance(name, str) and callable(run)
        assert run.__name__.startswith("run_") and getattr(e4, run.__name__) is run
