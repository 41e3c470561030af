"""Chapter 3: the claims of ``bncourse.experiments.ch3_mechanics`` (ledger: book/claims/ch3.yml).

NumPy only and quick: every claim is measured on the ledger's ten seeds (0-9), each
experiment once (cached). Assertions are on the worst seed where the claim is exact
arithmetic, and on the median where it is a statistical statement.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import bnref.numpy as bn
from bncourse.experiments import ch3_mechanics as ch3

pytestmark = [pytest.mark.xdist_group("experiments_ch3")]


@functools.cache
def _depth():
    return ch3.run_depth()


@functools.cache
def _identity():
    return ch3.run_identity()


@pytest.mark.claim("ch3-identity-population")
def test_identity_with_population_statistics():
    """gamma = sqrt(Var + eps), beta = E over all 4,000 digits: eval-mode BN is the identity."""
    assert _identity()["population"].max() < 1e-13


@pytest.mark.claim("ch3-identity-not-per-batch")
def test_identity_holds_for_the_own_batch_only():
    """Fitted to one batch: identity there (rounding); on another batch off by > 10% of std."""
    r = _identity()
    assert r["own"].max() < 1e-13
    assert r["other"].min() > 0.1


@pytest.mark.claim("ch3-eps-constant-channel")
def test_constant_channel_comes_out_as_beta():
    """With eps, constant pixels give exactly beta; without eps they give NaN."""
    r = ch3.run_constant_channel()
    assert (r["n_constant"] > 100).all()
    assert (r["nan_without_eps"] == r["n_constant"]).all()
    assert (r["nan_with_eps"] == 0).all()
    assert r["max_dev_from_beta"].max() == 0.0


@pytest.mark.claim("ch3-eps-breaks-scale-invariance")
def test_eps_breaks_scale_invariance_only_for_small_variance():
    """Output std follows sqrt(a^2 s^2 / (a^2 s^2 + eps)); the output is scale invariant
    (relative change < 1e-3) from a = 0.3 up, and changes by > 30% at a = 0.01."""
    r = ch3.run_eps_scale()
    np.testing.assert_allclose(r["out_std"], r["predicted"], rtol=1e-6)
    change = np.median(r["change"], axis=0)
    scales = r["scales"]
    assert (change[scales >= 0.3] < 1e-3).all()
    assert change[np.isclose(scales, 0.01)][0] > 0.3


@pytest.mark.claim("ch3-bias-cancels")
def test_bias_before_bn_changes_nothing_and_gets_no_gradient():
    """max |BN(xW+b) - BN(xW)| and |dL/db| are rounding errors (< 1e-10) on every seed."""
    r = ch3.run_bias()
    assert r["output_change"].max() < 1e-10
    assert r["bias_gradient"].max() < 1e-10


@pytest.mark.claim("ch3-backward-numerical")
def test_compact_backward_matches_centred_differences():
    """Normwise relative error below 1e-8 for dx, dgamma, dbeta on every seed."""
    r = ch3.run_backward()
    for key in ("rel_dx", "rel_dgamma", "rel_dbeta"):
        assert r[key].max() < 1e-8, key
    # elementwise, entries of dx near zero inflate the ratio: it is not the measure to use
    assert r["rel_dx_elementwise"].max() > 10 * r["rel_dx"].max()


@pytest.mark.claim("ch3-backward-consequences")
def test_dx_sums_to_zero_and_vanishes_for_constant_upstream_gradient():
    """Staged and compact backward agree; sum of dx over the batch and dx(dout=1) are ~0."""
    r = ch3.run_backward()
    assert r["rel_graph"].max() < 1e-12
    assert r["dx_sum"].max() < 1e-12
    assert r["dx_const"].max() < 1e-12


@pytest.mark.claim("ch3-batch-of-one")
def test_training_mode_refuses_one_value_per_channel_only():
    """(1, C) and (1, C, 1, 1) are refused in training mode; (1, C, H, W) with H*W > 1 is
    normalized (std 1 per channel), as in PyTorch; evaluation mode accepts a batch of one."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 4))
    for bad in (x[:, :, 0, 0], x[:, :, :1, :1]):
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            bn.batch_norm(bad, None, None, training=True)
        with pytest.raises(ValueError):
            torch.nn.functional.batch_norm(torch.tensor(bad), None, None, training=True)
    out = bn.batch_norm(x, None, None, training=True)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1.0, atol=1e-4)
    ref = torch.nn.functional.batch_norm(torch.tensor(x), None, None, training=True)
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-10)
    ev = bn.batch_norm(x[:, :, 0, 0], np.zeros(3), np.ones(3), training=False)
    assert np.isfinite(ev).all()


@pytest.mark.claim("ch3-depth-bn-gain-free")
def test_bn_makes_the_layers_independent_of_the_gain():
    """BN nets with gains 0.25 ... 3 differ from the gain-1 BN net by < 2e-3 in every layer,
    every seed; their layer-10 std is the same (0.63) to 0.01."""
    r = _depth()
    for g in (0.25, 0.5, 5 / 3, 3.0):
        assert r.gap[g].max() < 2e-3, g
        assert abs(np.median(r.std[True, g][:, -1]) - np.median(r.std[True, 1.0][:, -1])) < 0.01


@pytest.mark.claim("ch3-depth-eps-limit")
def test_bn_gain_invariance_fails_when_eps_dominates():
    """At gain 0.01 the BN net's activations differ from gain 1 by > 0.3; at gain 0.001
    layer 10 collapses (median std < 0.01), as without BN."""
    r = _depth()
    assert np.median(r.gap[0.01]) > 0.3
    assert np.median(r.std[True, 0.001][:, -1]) < 0.01


@pytest.mark.claim("ch3-depth-without-bn")
def test_without_bn_the_gain_decides():
    """No BN: gain 0.5 shrinks layer 10's std below 0.01; gain 3 saturates > 30 % of it."""
    r = _depth()
    assert np.median(r.std[False, 0.5][:, -1]) < 0.01
    assert np.median(r.saturated[False, 3.0]) > 0.3


@pytest.mark.claim("ch3-folding")
def test_folded_layer_equals_eval_mode_bn_only():
    """Folded: equal to evaluation-mode BN (< 1e-12) and far from training mode (> 0.5)."""
    r = ch3.run_folding()
    assert r["vs_eval"].max() < 1e-12
    assert r["vs_train"].min() > 0.5


@pytest.mark.machinery
def test_bad_seeds_are_refused_with_a_clear_error():
    """Seeds must be a non-empty list of non-negative ints."""
    for bad in ([], [-1], [1.5], [True]):
        with pytest.raises(ValueError, match="seeds"):
            ch3.run_bias(bad)


@pytest.mark.machinery
def test_plot_depth_is_legible_house_style():
    """plot_depth draws one histogram per layer and passes the legibility check."""
    import matplotlib

    matplotlib.use("Agg")
    from bncourse import plotting

    acts = ch3.tanh_net(np.random.default_rng(0).standard_normal((64, 20)), 1.0, True, depth=4)
    fig = ch3.plot_depth(acts, "test", legend="lower center")
    assert len(fig.axes[0].patches) == 4
    plotting.check_legible(fig)
