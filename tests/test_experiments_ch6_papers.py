"""The claims of experiments 4-6 (Santurkar et al., Bjorck et al., De & Smith), one test each.

Every claim is asserted for seeds 0, 1 and 2 with a margin measured over more seeds
(set ``BNREF_SEEDS=0,1,2,3,4,5`` to check others). Santurkar et al.'s Sec. 2 (noisy BN,
ICS by Definition 2.1) belongs to chapter 2: ``tests/test_experiments_ch2.py``.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import has_data as _has_data  # noqa: E402

from bncourse.experiments import ch6_bjorck as e5  # noqa: E402
from bncourse.experiments import ch6_de_smith as e6  # noqa: E402
from bncourse.experiments import ch6_santurkar as e4  # noqa: E402
from bncourse.experiments._common import mlp, mnist_tensors, seeded, train  # noqa: E402

SEEDS = [int(s) for s in os.environ.get("BNREF_SEEDS", "0,1,2").split(",")]


# ------------------------------------------------------------- Santurkar et al. (E4)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.claim("ch6-santurkar-landscape")
def test_loss_landscape_is_smoother_with_bn(seed):
    """Sec. 3.1 / Fig. 4: loss range, gradient change and effective beta all smaller with BN."""
    r = e4.run_landscape(seed)
    # measured ratios (standard / BN, medians over probes), seeds 0-5: 17-36, 14-26, 1.7-2.3
    assert r.ratio("loss_range") >= 5, r.ratio("loss_range")
    assert r.ratio("grad_change") >= 5, r.ratio("grad_change")
    assert r.ratio("beta_eff") >= 1.2, r.ratio("beta_eff")


# -------------------------------------------------------------- Bjorck et al. (E5)


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


# ---------------------------------------------------------------- De & Smith (E6)


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


# ----------------------------------------------------------------- implementation


@pytest.mark.machinery
def test_runs_are_deterministic_for_a_seed():
    """The same seed gives identical numbers (noise, batches, probes included)."""
    c, d = (e4.run_landscape(1, steps=20, every=10) for _ in range(2))
    np.testing.assert_array_equal(c.beta_eff["BN"], d.beta_eff["BN"])
    e, f = (e5.run_init_gradients(1) for _ in range(2))
    assert e.kurtosis == f.kurtosis
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
    with pytest.raises(ValueError, match="unknown variants"):
        e6.run_signal_propagation(0, variants=("LayerNorm",))
    with pytest.raises(ValueError, match="norm must be"):
        e6.residual_mlp(4, norm="layer")
    with pytest.raises(ValueError, match="alpha"):
        e6.residual_mlp(4, alpha="zero")
    with pytest.raises(ValueError, match="unknown net"):
        e5.run_relative_loss(0, nets=("VGG",))
    with pytest.raises(ValueError, match="residual"):
        e5.run_init_gradients(0, nets=("MLP",))
    with pytest.raises(ValueError, match="measure must be"):
        e4.run_landscape(0, steps=0).ratio("curvature")


PLOTS = {
    "landscape": lambda: e4.plot_landscape(e4.run_landscape(0, steps=20, every=10)),
    "lr_sweep": lambda: e5.plot_lr_sweep(e5.run_lr_sweep(0, lrs=(0.1, 3.0), steps=10)),
    "relative_loss": lambda: e5.plot_relative_loss(e5.run_relative_loss(0)),
    "init_gradients": lambda: e5.plot_init_gradients(e5.run_init_gradients(0, n=8)),
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


@pytest.mark.parametrize("module", [e4, e5, e6], ids=lambda m: m.__name__.rsplit(".", 1)[-1])
@pytest.mark.machinery
def test_experiments_registry_lists_callable_runs(module):
    """EXPERIMENTS maps short names to the module's run_* functions (for the benchmark)."""
    assert module.EXPERIMENTS
    for name, run in module.EXPERIMENTS.items():
        assert isinstance(name, str) and callable(run)
        assert run.__name__.startswith("run_") and getattr(module, run.__name__) is run
