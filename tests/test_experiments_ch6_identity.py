"""Chapter 6.4, the identity bias (De & Smith 2020): the claims of ``ch6_de_smith``.

The claims were fixed in the module docstring before the full runs. Each is asserted on
the committed records (``results/ch6_identity_depth.json``, ``ch6_identity_tuned.json``:
medians with 95 % CIs, paired t-intervals), and a few settings are re-run on the held-out
seeds ``e6.HELD_OUT_SEEDS``, which must land inside the committed distribution
(``BNREF_SEEDS=7,8`` re-runs other seeds instead).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import assert_draws_a_figure, held_out_seeds  # noqa: E402

from bncourse.experiments import ch6_de_smith as e6  # noqa: E402
from bncourse.experiments.stats import median_ci, paired_diff_ci  # noqa: E402

HELD_OUT = held_out_seeds(e6.HELD_OUT_SEEDS)
SLACK = 0.03  # a re-run seed may fall this far outside the committed range (1,000 test digits)


@pytest.fixture(scope="module")
def depth_results():
    return e6.load_results("depth")


@pytest.fixture(scope="module")
def tuned_results():
    return e6.load_results("tuned")


def _inside(value: float, committed: np.ndarray, slack: float = SLACK) -> bool:
    return committed.min() - slack <= value <= committed.max() + slack


# ------------------------------------------------------------------ signal propagation


@pytest.mark.claim("ch6-identity-signal")
def test_signal_committed_linear_with_bn_doubling_plain(depth_results):
    """12 seeds: BN slope / branch variance and l * branch share at l = 64 in [0.8, 1.2];
    plain log2 slope in [0.8, 1.2] and median branch share in [0.5, 1.5] (median CIs)."""
    sig = depth_results["signal"]
    assert len(sig) >= 10
    bounds = {
        "bn_slope_over_branch": (0.8, 1.2),
        "bn_last_share_times_l": (0.8, 1.2),
        "plain_log2_slope": (0.8, 1.2),
        "plain_median_share": (0.5, 1.5),
    }
    for key, (low, high) in bounds.items():
        _, lo, hi = median_ci([s[key] for s in sig])
        assert low <= lo and hi <= high, (key, lo, hi)
    for s in sig:  # SkipInit: the branch is exactly zero, the skip path never changes
        assert max(s["branch_var"]["SkipInit"]) == 0.0
        v = np.array(s["skip_var"]["SkipInit"])
        np.testing.assert_allclose(v, v[0], rtol=1e-6)


@pytest.mark.parametrize("seed", HELD_OUT)
@pytest.mark.claim("ch6-identity-signal")
def test_signal_held_out_seed_inside_committed_range(seed, depth_results):
    """A seed the committed run did not use gives numbers inside its range (5 % slack)."""
    r = e6.run_signal_propagation(seed)
    for key, value in r.summary().items():
        committed = np.array([s[key] for s in depth_results["signal"]])
        assert _inside(value, committed, 0.05 * float(np.median(committed))), (key, value)
    v = r.skip_var["SkipInit"]
    np.testing.assert_allclose(v, v[0], rtol=1e-6)
    small = r.skip_var["SkipInit 1/sqrt(d)"]
    assert small[-1] / small[0] < 4  # bounded growth with alpha = 1/sqrt(depth)


# ------------------------------------------------------------ depth sweep at lr 0.05


@pytest.mark.claim("ch6-identity-depth")
def test_depth_committed_plain_fails_from_depth_8_bn_and_skipinit_train(depth_results):
    """Plain: median >= 0.85 at depths 1, 2; CI upper end <= 0.2 from depth 8. BN and
    SkipInit: CI lower end >= 0.85 at every depth."""
    for depth in depth_results["design"]["depths"]:
        med, lo, hi = median_ci(e6.accuracies(depth_results, "plain", depth))
        if depth <= 2:
            assert med >= 0.85, (depth, med)
        elif depth >= 8:
            assert hi <= 0.2, (depth, hi)
        for arm in ("BN", "SkipInit"):
            _, lo, _ = median_ci(e6.accuracies(depth_results, arm, depth))
            assert lo >= 0.85, (arm, depth, lo)
    assert max(depth_results["design"]["depths"]) >= 64
    assert len(depth_results["design"]["seeds"]) >= 10


SPOT_CHECKS = [("plain", 2), ("plain", 16), ("BN", 16), ("SkipInit", 16)]


@pytest.mark.parametrize("seed", HELD_OUT)
@pytest.mark.claim("ch6-identity-depth")
def test_depth_held_out_seed_inside_committed_distribution(seed, depth_results):
    """Held-out seeds at depths 2 and 16 (lr 0.05) land inside the committed range."""
    lr = depth_results["design"]["lr"]
    for arm, depth in SPOT_CHECKS:
        acc = e6.train_one(arm, depth, lr, seed)["acc"]
        committed = e6.accuracies(depth_results, arm, depth)
        assert _inside(acc, committed), (arm, depth, acc, committed.min(), committed.max())


# ------------------------------------------------------------ each arm at its best lr


@pytest.mark.claim("ch6-identity-tuned")
def test_tuned_committed_bn_and_skipinit_train_plain_does_not(tuned_results):
    """BN, SkipInit (tuned at depths 8, 16): CI lower end >= 0.85; BN - plain t-interval
    above +0.05 there; plain (tuned at 8-64) median <= 0.25 at depths 32 and 64."""
    design = tuned_results["design"]
    assert len(design["eval_seeds"]) >= 10
    assert not set(design["eval_seeds"]) & set(design["tuning_seeds"])
    assert design["plan"]["plain"] == [8, 16, 32, 64]
    assert design["plan"]["BN"] == design["plan"]["SkipInit"] == [8, 16]
    for depth in design["plan"]["BN"]:
        for arm in ("BN", "SkipInit"):
            _, lo, _ = median_ci(e6.accuracies(tuned_results, arm, depth))
            assert lo >= 0.85, (arm, depth, lo)
        plain = e6.accuracies(tuned_results, "plain", depth)
        d = paired_diff_ci(e6.accuracies(tuned_results, "BN", depth), plain)
        assert d["lo"] > 0.05, (depth, d)
    for depth in (32, 64):
        plain = e6.accuracies(tuned_results, "plain", depth)
        assert np.median(plain) <= 0.25, (depth, np.median(plain))


@pytest.mark.parametrize("seed", HELD_OUT)
@pytest.mark.claim("ch6-identity-tuned")
def test_tuned_held_out_seed_inside_committed_distribution(seed, tuned_results):
    """Held-out seeds of the plain net at its tuned lr (depths 8 and 32) land inside the
    committed range."""
    for depth in (8, 32):
        lr = tuned_results["chosen_lr"][f"plain@{depth}"]
        acc = e6.train_one("plain", depth, lr, seed)["acc"]
        committed = e6.accuracies(tuned_results, "plain", depth)
        assert _inside(acc, committed), (depth, lr, acc, committed.min(), committed.max())


# ------------------------------------------------------------------------ machinery


@pytest.mark.machinery
def test_committed_records_match_the_design(depth_results, tuned_results):
    """The committed records were made with this module's design, seeds and versions."""
    assert depth_results["design"]["seeds"] == list(e6.EVAL_SEEDS)
    assert depth_results["design"]["depths"] == list(e6.DEPTHS)
    assert depth_results["design"]["lr"] == e6.FIXED_LR
    assert len(depth_results["runs"]) == len(e6.DEPTHS) * len(e6.ARMS) * len(e6.EVAL_SEEDS)
    assert tuned_results["design"]["lr_grids"] == {a: list(g) for a, g in e6.LR_GRIDS.items()}
    for key, lr in tuned_results["chosen_lr"].items():
        assert lr in e6.LR_GRIDS[key.split("@")[0]]
    for res in (depth_results, tuned_results):
        assert {"python", "torch", "numpy"} <= set(res["versions"])
        assert res["timing"]["cpu_s"] > 0
        assert not set(res["design"]["held_out_seeds"]) & set(e6.EVAL_SEEDS)


@pytest.mark.machinery
def test_train_one_reproduces_a_committed_run(depth_results):
    """A committed seed re-run gives its committed numbers (the records were assembled
    from several processes, so this is what makes them one run); plain data only."""
    a = e6.train_one("SkipInit", 2, depth_results["design"]["lr"], 0)
    rec = next(
        r for r in depth_results["runs"] if (r["arm"], r["depth"], r["seed"]) == ("SkipInit", 2, 0)
    )
    assert abs(a["acc"] - rec["acc"]) <= 0.003  # a digit or so across CPUs
    assert a["loss0"] == pytest.approx(rec["loss0"], rel=1e-4)
    assert e6.initial_loss("SkipInit", 2, 0) == pytest.approx(a["loss0"], rel=1e-5)
    assert all(isinstance(v, int | float | str | bool) for v in a.values())


@pytest.mark.machinery
def test_bad_arguments_raise_clear_errors():
    """Unknown names and impossible sizes raise ValueError naming the problem."""
    with pytest.raises(ValueError, match="unknown variants"):
        e6.run_signal_propagation(0, variants=("LayerNorm",))
    with pytest.raises(ValueError, match="unknown arms"):
        e6.train_one("LayerNorm", 2, 0.05, 0)
    with pytest.raises(ValueError, match="norm must be"):
        e6.residual_mlp(4, norm="layer")
    with pytest.raises(ValueError, match="bn_impl"):
        e6.residual_mlp(4, bn_impl="keras")
    with pytest.raises(ValueError, match="alpha"):
        e6.residual_mlp(4, alpha="zero")
    with pytest.raises(ValueError, match="overlap"):
        e6.run_tuned(tuning_seeds=(0,), eval_seeds=(0, 1))
    with pytest.raises(ValueError, match="which"):
        e6.load_results("ch4")


PLOTS = {
    "signal": lambda: e6.plot_signal_propagation(e6.run_signal_propagation(0, depth=10)),
    "depth": lambda: e6.plot_depth_sweep(e6.load_results("depth")),
    "tuned": lambda: e6.plot_tuned(e6.load_results("tuned")),
}


@pytest.mark.parametrize("name", sorted(PLOTS))
@pytest.mark.machinery
def test_plot_helpers_return_a_figure_with_data(name):
    """Each plot_* draws on a new figure (Agg) and returns it with something drawn."""
    assert_draws_a_figure(PLOTS[name], name)


@pytest.mark.machinery
def test_experiments_registry_lists_callables():
    """EXPERIMENTS maps short names to cheap callables (for the benchmark)."""
    assert e6.EXPERIMENTS
    for name, run in e6.EXPERIMENTS.items():
        assert isinstance(name, str) and callable(run)
