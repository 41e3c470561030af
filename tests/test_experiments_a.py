"""The claims that experiments 1, 2, 3, 7, 8 and 9 of ``bnref.experiments`` reproduce.

Each claim is asserted for seeds 0, 1 and 2 with a margin (the margins were checked on
seeds 0-7 while the experiments were calibrated). Where a paper's claim does not
reproduce at this scale, the test asserts what does happen and its docstring says what
the chapter must say instead.

Every experiment runs once per seed: a cached helper keeps its result, and the tests of one
experiment share an ``xdist_group`` so that they run in the same worker and reuse it.
"""

from __future__ import annotations

import functools

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

torch = pytest.importorskip("torch")

from bnref.experiments import (  # noqa: E402
    _common,
    e1_standardize,
    e2_ioffe_fig1,
    e3_lr_scaling,
    e7_placement,
    e8_train_inference,
    e9_benefits,
)

SEEDS = [0, 1, 2]


def _has_data(fig) -> bool:
    """True if some axes of ``fig`` drew lines, collections, patches or images."""
    return any(ax.lines or ax.collections or ax.patches or ax.images for ax in fig.axes)


# ------------------------------------------------------------------------ _common


def test_mlp_layer_order_follows_bn_placement():
    """bn='before' gives Linear, BN, act; 'after' gives Linear, act, BN; logits have no BN."""
    before = _common.mlp((6, 5, 4, 3), "sigmoid", bn="before")
    after = _common.mlp((6, 5, 4, 3), "relu", bn="after", affine=False)
    names = [type(m).__name__ for m in before]
    assert names == ["Linear", "BatchNorm1d", "Sigmoid"] * 2 + ["Linear"]
    names = [type(m).__name__ for m in after]
    assert names == ["Linear", "ReLU", "BatchNorm1d"] * 2 + ["Linear"]
    assert all(bn.weight is None for bn in _common.bn_layers(after))


def test_mlp_uses_bnref_batch_norm():
    """The experiments normalize with bnref's own BatchNorm1d, not torch.nn's."""
    import bnref.torch

    layers = _common.bn_layers(_common.mlp((4, 3, 2), bn="before"))
    assert len(layers) == 1 and isinstance(layers[0], bnref.torch.BatchNorm1d)


def test_mlp_init_matches_its_definition():
    """He init has std sqrt(2/fan_in) and zero bias; 'default' is bounded by 1/sqrt(fan_in)."""
    gen = torch.Generator().manual_seed(0)
    he = _common.mlp((400, 300, 10), init="he", generator=gen)[0]
    assert abs(float(he.weight.detach().std()) - np.sqrt(2 / 400)) < 0.02 * np.sqrt(2 / 400)
    assert float(he.bias.detach().abs().max()) == 0.0
    default = _common.mlp((400, 300, 10), init="default", generator=gen)[0]
    assert float(default.weight.detach().abs().max()) <= 1 / np.sqrt(400)
    assert float(default.bias.detach().abs().max()) > 0.0


def test_mlp_rejects_bad_arguments():
    """Unknown placement, activation or a too-short width list name the problem."""
    with pytest.raises(ValueError, match="bn must be"):
        _common.mlp((4, 2), bn="middle")
    with pytest.raises(ValueError, match="activation"):
        _common.mlp((4, 2), activation="gelu")
    with pytest.raises(ValueError, match="widths"):
        _common.mlp((4,))


def test_mnist_tensors_are_standardized_on_train():
    """Standardized training pixels have mean 0 and std 1; raw ones lie in [0, 1]."""
    data = _common.mnist_tensors()
    assert abs(float(data.x_train.mean())) < 1e-4
    assert abs(float(data.x_train.std()) - 1) < 1e-3
    raw = _common.mnist_tensors(standardize=False)
    assert float(raw.x_train.min()) >= 0 and float(raw.x_train.max()) <= 1
    assert raw.x_train.shape == (4000, 784) and raw.x_test.shape == (1000, 784)


def test_diverged_flags_nan_inf_and_huge_losses():
    """diverged() is true for NaN, inf and losses above the threshold, false otherwise."""
    assert _common.diverged(float("nan")) and _common.diverged([1.0, float("inf")])
    assert _common.diverged(2e4) and not _common.diverged([2.3, 0.1])


def test_train_is_deterministic_for_a_seed():
    """Two training runs from the same seed give identical losses and accuracies."""
    data = _common.mnist_tensors()

    def run():
        gen, _ = _common.seeded(3)
        model = _common.mlp((784, 32, 10), bn="before", generator=gen)
        return _common.train(model, data, steps=30, lr=0.1, eval_every=10, generator=gen)

    a, b = run(), run()
    assert a.loss == b.loss and a.test_acc == b.test_acc


# ------------------------------------------------------------------------ E1 standardize


@functools.cache
def _e1(seed):
    return e1_standardize.run_standardize(seed), e1_standardize.run_contours(seed)


def test_e1_quadratic_matches_the_mean_squared_error():
    """The (H, b, c) form of the loss equals mean((X w - y)**2) / 2 at random weights."""
    x, y = e1_standardize.make_features(0)
    h, b, c = e1_standardize._quadratic(x, y, bias=True)
    design = np.column_stack([x, np.ones(len(x))])
    for w in np.random.default_rng(0).normal(size=(5, 3)):
        direct = np.mean((design @ w - y) ** 2) / 2
        assert np.isclose(w @ h @ w / 2 - b @ w + c, direct, rtol=1e-10)


def test_e1_preprocessings_do_what_they_say():
    """min-max spans [0, 1]; standardize gives mean 0, std 1; whiten gives identity covariance."""
    x, _ = e1_standardize.make_features(0)
    mm = e1_standardize.preprocess(x, "minmax")
    assert np.allclose(mm.min(0), 0) and np.allclose(mm.max(0), 1)
    st = e1_standardize.preprocess(x, "standardize")
    assert np.allclose(st.mean(0), 0) and np.allclose(st.std(0), 1)
    wh = e1_standardize.preprocess(x, "whiten")
    assert np.allclose(np.cov(wh.T, bias=True), np.eye(2), atol=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
def test_e1_standardizing_conditions_the_hessian(seed):
    """Raw features: kappa ~1e6; min-max ~1e2; standardized ~4 (the correlation); whitened 1."""
    r, _ = _e1(seed)
    assert r.condition["raw"] > 1e5
    assert 10 < r.condition["minmax"] < 1e3
    assert r.condition["standardize"] < 10
    assert r.condition["whiten"] < 1 + 1e-6


@pytest.mark.parametrize("seed", SEEDS)
def test_e1_largest_stable_lr_follows_two_over_lambda_max(seed):
    """The sweep's largest stable lr is below 2/lambda_max and within one grid step of it."""
    r, _ = _e1(seed)
    grid_step = r.lrs[1] / r.lrs[0]
    for how in e1_standardize.PREPROCESSINGS:
        assert r.lr_theory[how] / grid_step < r.lr_max_stable[how] <= r.lr_theory[how]
    assert r.lr_max_stable["standardize"] > 1e4 * r.lr_max_stable["raw"]


@pytest.mark.parametrize("seed", SEEDS)
def test_e1_standardized_features_need_far_fewer_steps(seed):
    """Raw: not within 5,000 steps; min-max: tens of steps; standardized: a few."""
    r, _ = _e1(seed)
    assert r.steps_to_target["raw"] is None and r.final_gap["raw"] > 0.02
    assert r.steps_to_target["minmax"] >= 10 * r.steps_to_target["standardize"]
    assert r.steps_to_target["whiten"] <= r.steps_to_target["standardize"] <= 5


@pytest.mark.parametrize("seed", SEEDS)
def test_e1_contours_are_elongated_for_raw_and_round_when_whitened(seed):
    """The two-weight Hessian's kappa falls from ~1e5 (raw) to 1 (whitened); minimum at w*."""
    _, c = _e1(seed)
    k = c.condition
    assert k["raw"] > 1e4 > k["minmax"] > k["standardize"] > k["whiten"] - 1e-9
    assert k["whiten"] < 1 + 1e-6
    for how, loss in c.loss.items():
        assert loss.min() >= -1e-9 and loss.max() > 1.0, how
        assert loss[loss.shape[0] // 2, loss.shape[1] // 2] < 1e-9  # w* at the centre


def test_e1_is_deterministic_and_plots():
    """Same seed, same numbers; both plots draw data."""
    a = e1_standardize.run_standardize(5, max_steps=200)
    b = e1_standardize.run_standardize(5, max_steps=200)
    assert a.condition == b.condition and a.steps_to_target == b.steps_to_target
    r, c = _e1(0)
    assert _has_data(e1_standardize.plot_standardize(r))
    assert _has_data(e1_standardize.plot_contours(c))


# ------------------------------------------------------------------------ E2 I&S Fig. 1

E2_STEPS = 800


@functools.cache
def _e2(seed):
    return e2_ioffe_fig1.run_fig1(seed, steps=E2_STEPS)


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
    a = e2_ioffe_fig1.run_fig1(4, steps=100, every=50, width=20)
    b = e2_ioffe_fig1.run_fig1(4, steps=100, every=50, width=20)
    assert a.bn.test_acc == b.bn.test_acc and a.plain.loss == b.plain.loss
    assert np.array_equal(a.bn.percentiles, b.bn.percentiles)
    fig = e2_ioffe_fig1.plot_fig1(_e2(0))
    assert len(fig.axes) == 3 and _has_data(fig)


# ------------------------------------------------------------------------ E3 lr scaling

E3_MAX_STEPS = 600


@functools.cache
def _e3(seed):
    return e3_lr_scaling.run_lr_scaling(seed, max_steps=E3_MAX_STEPS)


@pytest.mark.xdist_group("experiments_a_e3")
@pytest.mark.parametrize("seed", SEEDS)
def test_e3_bn_baseline_reaches_the_target_sooner_than_plain(seed):
    """BN-Baseline reaches 90 % in at most 0.9x the plain net's steps (same lr).

    The chapter must say: about 1.2-2x faster here, not the paper's 31.0M -> 13.3M steps,
    and the paper's 14x (BN-x5) needs its other Sec. 4.2.1 changes.
    """
    r = _e3(seed)
    assert r.steps_to_target["plain"] is not None
    assert r.steps_to_target["BN-Baseline"] <= 0.9 * r.steps_to_target["plain"]


@pytest.mark.xdist_group("experiments_a_e3")
def test_e3_median_speedup_over_seeds():
    """Over seeds 0-2 the median of BN-Baseline steps / plain steps is below 0.85."""
    ratios = [1 / _e3(seed).speedup("BN-Baseline") for seed in SEEDS]
    assert np.median(ratios) < 0.85


@pytest.mark.xdist_group("experiments_a_e3")
@pytest.mark.parametrize("seed", SEEDS)
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
def test_e3_bn_makes_the_deep_sigmoid_net_trainable(seed):
    """BN-x5-Sigmoid reaches 90 %; the same net without BN stays near chance (paper: 1/1000)."""
    r = _e3(seed)
    assert r.steps_to_target["BN-x5-Sigmoid"] is not None
    assert r.max_acc["plain-Sigmoid"] < 0.25


@pytest.mark.xdist_group("experiments_a_e3")
def test_e3_plot_and_bad_variant():
    """The plot draws one curve per variant; an unknown variant is a ValueError."""
    r = _e3(0)
    fig = e3_lr_scaling.plot_lr_scaling(r)
    assert len(fig.axes[0].lines) >= len(r.curves) and _has_data(fig)
    with pytest.raises(ValueError, match="unknown variants"):
        e3_lr_scaling.run_lr_scaling(0, variants=("BN-x100",))


# ------------------------------------------------------------------------ E7 placement


@functools.cache
def _e7(seed):
    return e7_placement.run_placement(seed, n_seeds=1)


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
    t = e7_placement.CAFFENET_PLACEMENT
    assert t["after"][0] > t["before + scale&bias"][0] > t["before"][0] > t["no BN"][0]
    g = e7_placement.GOOGLENET128_PLACEMENT
    assert g["before + scale&bias"][0] > g["after"][0]


@pytest.mark.xdist_group("experiments_a_e7")
def test_e7_plot():
    """The plot shows our dots and the benchmark's bars."""
    fig = e7_placement.plot_placement(_e7(0))
    assert len(fig.axes) == 2 and fig.axes[0].lines and fig.axes[1].patches


# ------------------------------------------------------------------------ E8 train vs eval


@pytest.mark.parametrize("seed", SEEDS)
def test_e8_running_statistics_converge_as_momentum_predicts(seed):
    """Small momentum: slow (still far off after 100 batches); large: fast but noisy;
    cumulative (None): the plain average of the batch means, the least noisy."""
    r = e8_train_inference.run_running_stats(seed)
    assert r.momenta == [0.01, 0.1, 0.5, None]
    slow, base, fast, cumulative = range(4)
    assert r.mean_error[slow, 99] > 5 * r.mean_error[base, 99]
    floor = r.floor()
    assert floor[fast] > 1.5 * floor[base]
    assert floor[cumulative] < 0.5 * floor[base]
    assert np.allclose(r.final_running_mean[cumulative], r.mean_of_batch_means, atol=1e-5)


@functools.cache
def _e8_gap(seed):
    return e8_train_inference.run_mode_gap(seed)


@pytest.mark.xdist_group("experiments_a_e8")
@pytest.mark.parametrize("seed", SEEDS)
def test_e8_train_mode_outputs_approach_eval_mode_as_batches_grow(seed):
    """Train-mode test accuracy with N = 2 is >= 30 points below eval mode, within 2 points
    at N = 256, and the logits' relative difference shrinks with every doubling of N."""
    r = _e8_gap(seed)
    assert r.batch_sizes[0] == 2 and r.batch_sizes[-1] == 256
    assert r.train_acc[0] <= r.eval_acc - 0.3
    assert abs(r.train_acc[-1] - r.eval_acc) <= 0.02
    assert all(a > b for a, b in zip(r.rel_diff, r.rel_diff[1:], strict=False))


@functools.cache
def _e8_stale(seed):
    return e8_train_inference.run_stale(seed)


@pytest.mark.xdist_group("experiments_a_e8")
@pytest.mark.parametrize("seed", SEEDS)
def test_e8_stale_running_statistics_hurt_eval_mode_only(seed):
    """With momentum 0.001 eval mode trails train mode by >= 4 points on average; with 0.1
    by < 1 point; re-estimating the statistics after training closes the gap."""
    r = _e8_stale(seed)
    gap = (r.train_acc - r.eval_acc).mean(axis=1)  # (momenta,)
    base, stale = r.momenta.index(0.1), r.momenta.index(0.001)
    assert gap[stale] >= 0.04
    assert abs(gap[base]) < 0.01
    assert r.recalibrated_acc[stale] >= r.eval_acc[stale, -1] + 0.03
    assert r.recalibrated_acc[stale] >= r.train_acc[stale, -1] - 0.01


@pytest.mark.xdist_group("experiments_a_e8")
def test_e8_momentum_does_not_change_training():
    """Training mode ignores the running statistics: both momenta train the same weights."""
    r = _e8_stale(0)
    assert np.array_equal(r.train_acc[0], r.train_acc[1])
    assert r.recalibrated_acc[0] == r.recalibrated_acc[1]


def test_e8_batch_of_one():
    """(1, C) and (1, C, 1, 1) cannot train ("more than 1 value per channel"); eval mode,
    (1, C, L) and one image (1, C, H, W) can, the image normalized over its H*W values."""
    r = e8_train_inference.run_batch_of_one()
    for case in ("1d train (1, C)", "2d train (1, C, 1, 1)"):
        assert "more than 1 value per channel" in r.outcomes[case]
    for case in (
        "1d eval (1, C)",
        "1d train (1, C, L)",
        "2d train (1, C, H, W)",
        "1d train (2, C)",
    ):
        assert r.outcomes[case] == "ok"
    assert r.spatial_out_mean < 1e-5 and abs(r.spatial_out_var - 1) < 1e-3


@pytest.mark.xdist_group("experiments_a_e8")
def test_e8_plots():
    """Each plotting helper draws data."""
    assert _has_data(e8_train_inference.plot_running_stats(e8_train_inference.run_running_stats()))
    assert _has_data(e8_train_inference.plot_mode_gap(_e8_gap(0)))
    assert _has_data(e8_train_inference.plot_stale(_e8_stale(0)))


# ------------------------------------------------------------------------ E9 benefits


@pytest.mark.parametrize("seed", SEEDS)
def test_e9_scaling_the_weights_before_bn(seed):
    """BN(aWu) = BN(Wu) and dL/d(aW) = dL/dW / a (same direction); the gradient is
    orthogonal to W. For a = 0.1, eps makes it approximate (1 % tolerance)."""
    r = e9_benefits.run_scale_invariance(seed)
    for a, diff, ratio, cos in zip(
        r.scales, r.out_maxdiff, r.grad_ratio, r.grad_cosine, strict=True
    ):
        tol = 1e-2 if a < 0.5 else 1e-3
        assert diff < tol, a
        assert abs(ratio * a - 1) < tol, a
        assert cos > 1 - 1e-6, a
    assert r.orthogonality < 1e-5


@pytest.mark.parametrize("seed", SEEDS)
def test_e9_batch_noise_falls_like_one_over_sqrt_n(seed):
    """The spread of an example's BN output across random batches falls with N; the
    log-log slope is -0.5 +/- 0.1."""
    r = e9_benefits.run_noise(seed)
    assert np.all(np.diff(r.spread) < 0)
    assert -0.6 <= r.slope <= -0.4


def test_e9_noise_is_deterministic_and_plots():
    """Same seed, same spreads; both plots draw data."""
    a = e9_benefits.run_noise(7, batch_sizes=(4, 16), draws=20)
    b = e9_benefits.run_noise(7, batch_sizes=(4, 16), draws=20)
    assert np.array_equal(a.spread, b.spread)
    assert _has_data(e9_benefits.plot_noise(a))
    assert _has_data(e9_benefits.plot_scale_invariance(e9_benefits.run_scale_invariance()))
