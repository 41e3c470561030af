"""Chapter 5: the claims of ``bncourse.experiments.ch5_train_inference``.

Each claim is checked twice: on the committed run (``results/ch5_train_inference.json``,
seeds 0-9 or 0-19, the decision rules of the module docstring, written before that run)
and on a held-out seed (500, used neither for tuning nor in the committed run), which must
land inside the committed distribution. Every experiment runs once per seed: cached
helpers keep the results, and the tests that share them share an ``xdist_group``.
"""

from __future__ import annotations

import functools

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

torch = pytest.importorskip("torch")

from helpers import has_data as _has_data  # noqa: E402
from helpers import held_out_seeds  # noqa: E402

from bncourse.experiments import ch5_train_inference as ch5  # noqa: E402
from bncourse.experiments.stats import mean_ci, median_ci, paired_diff_ci  # noqa: E402

HELD_OUTS = held_out_seeds(ch5.HELD_OUT_SEEDS)  # BNREF_SEEDS=7,8 picks others
HELD_OUT = HELD_OUTS[0]


@functools.cache
def _results():
    return ch5.load_results()


def _inside(value, committed, slack):
    """``value`` lies in the committed per-seed range widened by ``slack`` on both sides."""
    committed = np.asarray(committed, dtype=float)
    return committed.min() - slack <= value <= committed.max() + slack


# ------------------------------------------------------------------ running statistics


@pytest.mark.claim("ch5-running-momentum")
def test_running_statistics_converge_as_momentum_predicts():
    """Committed (10 seeds, medians): momentum 0.01 still > 5x as far off as 0.1 after 100
    batches; floor at 0.5 > 1.5x that at 0.1, the cumulative average's < 0.5x. Held-out
    seed: the same relations, and the cumulative average equals the mean of batch means."""
    rows = _results()["running"]["rows"]
    assert len(rows) >= 10 and rows[0]["momenta"] == ["0.01", "0.1", "0.5", "None"]
    at100 = np.array([r["error_at_100"] for r in rows])  # (seeds, momenta)
    floor = np.array([r["floor"] for r in rows])
    assert median_ci(at100[:, 0] / at100[:, 1])[0] > 5
    assert median_ci(floor[:, 2] / floor[:, 1])[0] > 1.5
    assert median_ci(floor[:, 3] / floor[:, 1])[0] < 0.5
    for seed in HELD_OUTS:
        r = ch5.run_running_stats(seed)
        assert r.mean_error[0, 99] > 5 * r.mean_error[1, 99]
        assert r.floor()[2] > 1.5 * r.floor()[1] and r.floor()[3] < 0.5 * r.floor()[1]
        assert np.allclose(r.final_running_mean[3], r.mean_of_batch_means, atol=1e-5)


# ------------------------------------------------------------------ forgetting model.eval()


@functools.cache
def _gap(seed):
    return ch5.run_mode_gap(seed)


@pytest.mark.xdist_group("ch5_held_out")
@pytest.mark.claim("ch5-small-batch-gap")
def test_forgetting_eval_costs_accuracy_at_small_and_sorted_batches():
    """Committed (10 seeds): eval minus train-mode accuracy, CI above 30 points at N = 2,
    mean falling with each N up to 32, CI below 4 points at N = 32; class-sorted batches of
    32 cost > 50 points (CI); eval mode gives a digit alone its in-batch logits. Held-out
    seeds 500, 501: inside the committed range (+-5 points)."""
    res = _results()
    ci = ch5.gap_ci(res)
    assert ci["2"][1] > 0.30
    means = [ci[str(n)][0] for n in (2, 4, 8, 16, 32)]
    assert all(a > b for a, b in zip(means, means[1:], strict=False))
    assert ci["32"][2] < 0.04
    assert ci["sorted 32"][1] > 0.50
    assert max(r["eval_single_diff"] for r in res["gap"]["rows"]) < 1e-4
    rows = res["gap"]["rows"]
    for seed in HELD_OUTS:
        _check_held_out_gap(_gap(seed), rows)


def _check_held_out_gap(r, rows):
    """A held-out run's gap at N = 2 and on sorted batches within the committed range."""
    j = r.batch_sizes.index(2)
    assert _inside(r.eval_acc - r.train_acc[j], [x["eval_acc"] - x["train_acc"][j] for x in rows],
                   0.05)  # fmt: skip
    assert _inside(r.eval_acc - r.sorted_acc, [x["eval_acc"] - x["sorted_acc"] for x in rows], 0.05)
    assert r.eval_single_diff < 1e-4


@pytest.mark.claim("ch5-batch-of-one")
def test_batch_of_one():
    """(1, C) and (1, C, 1, 1) cannot train ("more than 1 value per channel"); eval mode,
    (1, C, L) and one image (1, C, H, W) can, the image normalized over its H*W values."""
    r = ch5.run_batch_of_one()
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


# ------------------------------------------------------------------ stale statistics


@functools.cache
def _stale(seed):
    return ch5.run_stale(seed)


@pytest.mark.xdist_group("ch5_held_out")
@pytest.mark.claim("ch5-stale-statistics")
def test_stale_running_statistics_hurt_eval_mode_only():
    """Committed (10 seeds): momentum 0.001 trails train mode by > 4 points on average over
    training (CI), momentum 0.1 by < 1 point (CI inside +-1); recalibration lifts momentum
    0.001's final eval accuracy (CI above 0). Held-out seed: inside the committed range."""
    rows = _results()["stale"]["rows"]
    base, stale = rows[0]["momenta"].index(0.1), rows[0]["momenta"].index(0.001)
    gap = np.array([(np.array(r["train_acc"]) - np.array(r["eval_acc"])).mean(1) for r in rows])
    assert mean_ci(gap[:, stale])[1] > 0.04
    _, lo, hi = mean_ci(gap[:, base])
    assert -0.01 < lo and hi < 0.01
    lift = paired_diff_ci([r["recalibrated_acc"][stale] for r in rows],
                          [r["eval_acc"][stale][-1] for r in rows])  # fmt: skip
    assert lift["lo"] > 0
    r = _stale(HELD_OUT)
    held = (r.train_acc - r.eval_acc).mean(axis=1)
    assert _inside(held[stale], gap[:, stale], 0.03) and abs(held[base]) < 0.02


@pytest.mark.xdist_group("ch5_held_out")
@pytest.mark.claim("ch5-momentum-no-training-effect")
def test_momentum_does_not_change_training():
    """Training mode ignores the running statistics: both momenta train the same weights
    (identical training-mode accuracy at every step, committed seeds and held-out seed)."""
    for row in _results()["stale"]["rows"]:
        assert row["train_acc"][0] == row["train_acc"][1]
    r = _stale(HELD_OUT)
    assert np.array_equal(r.train_acc[0], r.train_acc[1])
    assert r.recalibrated_acc[0] == r.recalibrated_acc[1]


# ------------------------------------------------------------------ recalibration


@functools.cache
def _recal(seed):
    return ch5.run_recalibration(seed)


@pytest.mark.xdist_group("ch5_held_out")
@pytest.mark.claim(
    "ch5-recalibrate-never-updated",
    "ch5-recalibrate-pruned",
    "ch5-recalibrate-shift",
    "ch5-recalibrate-averaged",
)
def test_recalibration_repairs_statistics_after_weights_or_data_change():
    """Committed (20 seeds), after - before recalibration, paired 95 % CIs: never-updated
    statistics above 0 and after - trained within +-1 point; pruned above 0; washed-out
    data above 20 points; averaged weights above -0.5 points. Held-out seed: each
    difference inside the committed range (+-3 points)."""
    res = _results()
    rows = res["recalibration"]["rows"]
    assert len(rows) >= 20
    assert ch5.recal_effect(res, "never updated")["lo"] > 0
    same = paired_diff_ci([r["never updated"]["after"] for r in rows],
                          [r["base_acc"] for r in rows])  # fmt: skip
    assert -0.01 < same["lo"] and same["hi"] < 0.01
    assert ch5.recal_effect(res, "pruned")["lo"] > 0
    assert ch5.recal_effect(res, "washed out")["lo"] > 0.20
    assert ch5.recal_effect(res, "averaged")["lo"] > -0.005
    held = _recal(HELD_OUT)
    for scenario in ("never updated", "pruned", "averaged", "washed out"):
        d = held[scenario]["after"] - held[scenario]["before"]
        committed = [r[scenario]["after"] - r[scenario]["before"] for r in rows]
        assert _inside(d, committed, 0.03), scenario


# ------------------------------------------------------------------ fine-tuning on batches of 2


@pytest.mark.xdist_group("ch5_held_out")
@pytest.mark.claim("ch5-frozen-bn-finetune")
def test_frozen_bn_beats_train_mode_bn_when_fine_tuning_on_tiny_batches():
    """Committed (10 seeds, lr tuned per arm): BN eval() minus BN train mode and BN eval()
    minus gamma/beta-fixed-only, paired CIs above 10 points. Held-out seed, at the tuned
    rates: eval() minus train mode inside the committed range (+-5 points)."""
    res = _results()
    assert ch5.paired(res, "finetune", "BN eval()", "BN train mode")["lo"] > 0.10
    assert ch5.paired(res, "finetune", "BN eval()", "gamma, beta fixed only")["lo"] > 0.10
    lr = res["finetune"]["chosen_lr"]
    acc = {(r["arm"], r["seed"]): r["acc"] for r in res["finetune"]["rows"]}
    committed = [acc["BN eval()", s] - acc["BN train mode", s] for s in res["finetune"]["seeds"]]
    d = ch5.run_finetune(HELD_OUT, "BN eval()", lr["BN eval()"]) - ch5.run_finetune(
        HELD_OUT, "BN train mode", lr["BN train mode"]
    )
    assert _inside(d, committed, 0.05)


# ------------------------------------------------------------------ GroupNorm, LayerNorm at batch 2


@pytest.mark.claim("ch5-groupnorm-batch-2")
def test_groupnorm_and_layernorm_beat_bn_at_batch_2():
    """Committed (10 seeds, lr tuned per arm): GroupNorm - BN and LayerNorm - BN, paired
    CIs above 10 points at training batch 2. Held-out seed, at the tuned rates: GroupNorm
    - BN inside the committed range (+-5 points)."""
    res = _results()
    assert ch5.paired(res, "norms", "GroupNorm", "BN")["lo"] > 0.10
    assert ch5.paired(res, "norms", "LayerNorm", "BN")["lo"] > 0.10
    lr = res["norms"]["chosen_lr"]
    acc = {(r["arm"], r["seed"]): r["acc"] for r in res["norms"]["rows"]}
    committed = [acc["GroupNorm", s] - acc["BN", s] for s in res["norms"]["seeds"]]
    d = ch5.run_small_batch_norm(HELD_OUT, "GroupNorm", lr["GroupNorm"]) - (
        ch5.run_small_batch_norm(HELD_OUT, "BN", lr["BN"])
    )
    assert _inside(d, committed, 0.05)


# ------------------------------------------------------------------ Keras against torch


@pytest.mark.claim("ch5-keras-convention")
def test_bnref_conventions_match_real_keras_and_torch_layers_step_by_step():
    """60 batches of 16 into keras.layers.BatchNormalization (Keras 3, torch backend,
    offline) with convert_momentum(0.1, "torch", "keras") = 0.9 and into torch's
    BatchNorm1d(momentum=0.1): bnref's "keras" update matches Keras's moving mean and
    biased moving variance at every step (Keras rounds its moments in float32: 1e-5), its
    "torch" update matches torch's (float64: 1e-12); Keras/torch variance -> 15/16; the
    unbiased variance in the Keras update would be off by > 0.05; Keras's trainable=False
    freezes the statistics and normalizes with them."""
    r = ch5.run_keras_comparison(seed=0, steps=60, batch_size=16, momentum=0.1)
    assert r.momentum_keras == pytest.approx(0.9, abs=1e-15)
    assert len(r.keras_mean_err) == 60
    assert r.keras_mean_err.max() < 1e-5 and r.keras_var_err.max() < 1e-5
    assert r.torch_mean_err.max() < 1e-12 and r.torch_var_err.max() < 1e-12
    np.testing.assert_allclose(r.var_ratio[-1], 15 / 16, atol=2e-3)
    assert r.biased_if_unbiased_err > 0.05
    assert r.frozen_by_trainable


# ------------------------------------------------------------------ machinery


@pytest.mark.machinery
def test_bad_arguments_are_refused_by_name():
    """Unknown arms, sections and purposes, a batch of one and a bad pruning fraction."""
    with pytest.raises(ValueError, match="arm"):
        ch5.run_finetune(0, "sideways", 0.01)
    with pytest.raises(ValueError, match="arm"):
        ch5.run_small_batch_norm(0, "InstanceNorm", 0.01)
    with pytest.raises(ValueError, match="purpose"):
        ch5.run_finetune(0, "BN eval()", 0.01, "test")
    with pytest.raises(ValueError, match="section"):
        ch5.run_section("everything")
    with pytest.raises(ValueError, match="at least 2"):
        ch5.run_mode_gap(0, batch_sizes=(1, 2))
    with pytest.raises(ValueError, match="fraction"):
        ch5.prune(torch.nn.Linear(2, 2), 1.0)


@pytest.mark.machinery
def test_prune_and_average_do_what_they_say():
    """prune zeroes the smallest weights of each hidden Linear only; average_weights
    averages parameters and running statistics."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.BatchNorm1d(20),
                              torch.nn.Linear(20, 3))  # fmt: skip
    out_w = net[2].weight.detach().clone()
    ch5.prune(net, 0.5)
    assert (net[0].weight == 0).float().mean() == 0.5
    assert torch.equal(net[2].weight, out_w)
    a, b = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    a.running_mean.fill_(2.0)
    b.weight.data.fill_(3.0)
    m = ch5.average_weights(a, b)
    assert torch.allclose(m.running_mean, torch.ones(3)) and torch.allclose(
        m.weight, 2 * torch.ones(3)
    )
    assert torch.equal(a.running_mean, 2 * torch.ones(3))  # inputs untouched


@pytest.mark.xdist_group("ch5_held_out")
@pytest.mark.machinery
def test_plots():
    """Each plotting helper draws data."""
    assert _has_data(ch5.plot_running_stats(ch5.run_running_stats()))
    assert _has_data(ch5.plot_mode_gap(_gap(HELD_OUT)))
    assert _has_data(ch5.plot_stale(_stale(HELD_OUT)))
    res = _results()
    assert _has_data(ch5.plot_stale(ch5.stale_result(res, seed=0)))
    assert len(ch5.plot_gap_summary(res).axes[0].containers) == 2  # random and sorted
    assert len(ch5.plot_recalibration(res).axes[0].containers) == 8  # 4 scenarios x 2
    for section, arms in (("finetune", ch5.FINETUNE_ARMS), ("norms", ch5.NORM_ARMS)):
        assert len(ch5.plot_arms(res, section).axes[0].lines) == 2 * len(arms)
