"""Chapter 6, section 6.2 (Santurkar et al. 2018, Sec. 3 / Fig. 4): the claims of ``ch6_santurkar``.

The claims are asserted on the committed full runs (``results/ch6_smoothness_{mlp,cnn}.json``,
seeds 0-9: the 95 % CI of the median ratio standard/BN). A cheap re-run of held-out seeds
(``BNREF_SEEDS``, default 10,11; the first 50 steps) must land inside the committed
distribution.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import assert_draws_a_figure, held_out_seeds  # noqa: E402
from torch import nn  # noqa: E402

from bncourse.experiments import ch6_santurkar as e  # noqa: E402
from bncourse.experiments._common import mnist_tensors, seeded, train  # noqa: E402

HELD_OUT = held_out_seeds([10, 11])


@pytest.fixture(scope="module")
def rows():
    """Summary rows of both committed results: {(arch, setting, measure): row}."""
    out = {}
    for arch in e.ARCHS:
        for row in e.summarize(e.load_results(arch)):
            out[arch, row["setting"], row["measure"]] = row
    return out


#: Where the plain net trains and the paper's claim holds for (a) and (b): every fixed lr
#: but 0.5 (the plain MLP diverges there; the plain CNN collapses on some seeds), and the
#: tuned lrs of the MLP (the CNN's tuned lrs are 0.5 for both nets).
SMOOTHER = {
    "mlp": ("lr 0.02", "lr 0.05", "lr 0.2", "tuned"),
    "cnn": ("lr 0.02", "lr 0.05", "lr 0.2"),
}


# --------------------------------------------------------------------------- the claims


@pytest.mark.claim("ch6-smoothness-loss-range")
@pytest.mark.parametrize("arch", e.ARCHS)
def test_loss_range_is_smaller_with_bn(rows, arch):
    """Fig. 4a: at lr 0.02, 0.05 and 0.2 (and the MLP's tuned lrs) the 95 % CI of the
    median ratio standard/BN of the loss range lies above 1."""
    for s in SMOOTHER[arch]:
        r = rows[arch, s, "loss_range"]
        assert r["lo"] > 1, (s, r["median"], r["lo"], r["hi"])


@pytest.mark.claim("ch6-smoothness-predictiveness")
@pytest.mark.parametrize("arch", e.ARCHS)
def test_gradient_changes_less_with_bn(rows, arch):
    """Fig. 4b: the same for the largest gradient change along -g."""
    for s in SMOOTHER[arch]:
        r = rows[arch, s, "grad_change"]
        assert r["lo"] > 1, (s, r["median"], r["lo"], r["hi"])


@pytest.mark.claim("ch6-smoothness-beta-small-lr")
@pytest.mark.parametrize("arch", e.ARCHS)
def test_beta_eff_is_smaller_with_bn_at_small_lr(rows, arch):
    """Fig. 4c at lr 0.02 and 0.05: the CI of the beta_eff ratio lies above 1."""
    for s in ("lr 0.02", "lr 0.05"):
        r = rows[arch, s, "beta_eff"]
        assert r["lo"] > 1, (s, r["median"], r["lo"], r["hi"])


@pytest.mark.claim("ch6-smoothness-beta-large-lr")
def test_beta_eff_is_not_smaller_with_bn_at_large_lr(rows):
    """Not reproduced: on the MLP at lr 0.2 the beta_eff ratio's CI contains 1 (or lies
    below it) and its median is below 1.2 (the paper: clearly smaller with BN)."""
    r = rows["mlp", "lr 0.2", "beta_eff"]
    assert r["lo"] <= 1 and r["median"] < 1.2, (r["median"], r["lo"], r["hi"])
    assert rows["mlp", "lr 0.2", "grad_change"]["lo"] > 1  # while (b) still holds there


@pytest.mark.claim("ch6-smoothness-cnn-large-lr")
def test_cnn_at_lr_half_shows_no_clear_difference(rows):
    """Not reproduced: the CNN at lr 0.5 (both nets' tuned lr): no measure's CI lies above
    1, because on some seeds the plain CNN collapses (test accuracy < 0.5) to a flat,
    untrained landscape while on the others the ratios are near 1."""
    for measure in e.MEASURES:
        r = rows["cnn", "lr 0.5", measure]
        assert r["lo"] <= 1 <= r["hi"], (measure, r["median"], r["lo"], r["hi"])
    per_seed = e.load_results("cnn")["runs"]["lr 0.5"]["per_seed"]
    assert any(row["test_acc"]["standard"] < 0.5 for row in per_seed)
    assert all(row["test_acc"]["BN"] > 0.9 for row in per_seed)


@pytest.mark.claim(
    "ch6-smoothness-loss-range",
    "ch6-smoothness-predictiveness",
    "ch6-smoothness-beta-small-lr",
    "ch6-smoothness-beta-large-lr",
    "ch6-smoothness-cnn-large-lr",
)
@pytest.mark.slow
@pytest.mark.parametrize("seed", HELD_OUT)
def test_held_out_seeds_fall_inside_the_committed_distribution(seed):
    """Re-run a held-out seed for 50 steps (probes at 0, 25, 50): every probe value lies
    within a factor 2 of the committed seeds' range at the same step, and the two
    measures that hold everywhere are smaller with BN on the mean over these probes."""
    for arch, setting in (("mlp", "lr 0.2"), ("cnn", "lr 0.05")):
        committed = e.load_results(arch)
        lr = committed["runs"][setting]["lr"]
        r = e.run_landscape(seed, lr, arch, steps=50)
        for name in e.NETS:
            for k, step in enumerate(r.steps[name]):
                for measure in e.MEASURES:
                    ref = []
                    for row in committed["runs"][setting]["per_seed"]:
                        c = e.result_of(committed, setting, row["seed"])
                        ref.append(c.series(name, measure)[c.steps[name].index(step)])
                    value = r.series(name, measure)[k]
                    where = (arch, setting, name, measure, step, value, min(ref), max(ref))
                    assert min(ref) / 2 <= value <= 2 * max(ref), where
        for measure in ("loss_range", "grad_change"):
            std, bn = (r.series(n, measure).mean() for n in e.NETS)
            assert std > bn, (arch, setting, measure, std, bn)


# -------------------------------------------------------------------------- machinery


@pytest.mark.machinery
def test_probe_matches_a_quadratic_by_hand():
    """For least squares on a linear model the Hessian H is constant: the gradient change
    at step eta is eta * ||H g||, beta_eff = ||H g|| / ||g||, and L(w - eta g) is exact."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(32, 1, generator=gen, dtype=torch.float64)
    model = nn.Linear(3, 1, bias=False).double()

    def loss_fn(out, target):
        return ((out - target) ** 2).mean()

    w = model.weight.detach().clone().reshape(3, 1)
    hess = 2 * x.T @ x / 32  # (3, 3)
    g = 2 * x.T @ (x @ w - y) / 32  # (3, 1)
    etas = (0.1, 0.3)
    p = e.probe_along_gradient(model, loss_fn, x, y, etas)
    hg = float((hess @ g).norm())
    np.testing.assert_allclose(p["grad_change"], [eta * hg for eta in etas], rtol=1e-10)
    np.testing.assert_allclose(p["beta_eff"], hg / float(g.norm()), rtol=1e-10)
    expect = [float(loss_fn(x @ (w - eta * g), y)) for eta in (0.0,) + etas]
    np.testing.assert_allclose(p["loss"], expect, rtol=1e-10)


@pytest.mark.machinery
def test_probe_restores_the_model():
    """Weights, .grad, BN running statistics and the mode are as before the probe."""
    gen, _ = seeded(0)
    model = e.make_net("cnn", "BN", gen)
    data = mnist_tensors()
    x, y = data.x_train[:16], data.y_train[:16]
    nn.functional.cross_entropy(model(x), y).backward()
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grads = [p.grad.clone() for p in model.parameters()]
    model.train()
    e.probe_along_gradient(model, nn.functional.cross_entropy, x, y)
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    for p, g in zip(model.parameters(), grads, strict=True):
        assert torch.equal(p.grad, g)


@pytest.mark.machinery
def test_runs_are_deterministic_for_a_seed():
    """The same seed gives identical numbers (batches and probes included)."""
    c, d = (e.run_landscape(1, steps=10, every=5) for _ in range(2))
    np.testing.assert_array_equal(c.beta_eff["BN"], d.beta_eff["BN"])
    g = e.run_landscape(2, steps=10, every=5)
    assert not np.array_equal(g.beta_eff["BN"], c.beta_eff["BN"])  # another seed, other numbers


@pytest.mark.machinery
@pytest.mark.parametrize("arch", e.ARCHS)
def test_probes_leave_training_unchanged(arch):
    """Training with probes gives the test accuracies of the same run without them."""
    land = e.run_landscape(0, 0.05, arch, steps=10, every=5)
    for name in e.NETS:
        gen, _ = seeded(0)
        hist = train(
            e.make_net(arch, name, gen), mnist_tensors(), steps=10, lr=0.05, batch_size=e.BATCH,
            eval_every=5, eval_at_start=True, generator=gen,
        )  # fmt: skip
        assert land.test_acc[name] == hist.test_acc, name


@pytest.mark.machinery
def test_bad_arguments_raise_clear_errors():
    """Unknown names and impossible values raise ValueError naming the problem."""
    r = e.run_landscape(0, steps=0)
    with pytest.raises(ValueError, match="measure must be"):
        r.ratio("curvature")
    with pytest.raises(ValueError, match="arch must be"):
        e.run_landscape(0, arch="resnet")
    with pytest.raises(ValueError, match="lr must be positive"):
        e.run_landscape(0, lr=-0.1)
    with pytest.raises(ValueError, match="step_sizes must be positive"):
        e.probe_along_gradient(nn.Linear(2, 1), nn.functional.mse_loss, torch.ones(2, 2),
                               torch.ones(2, 1), [0.0])  # fmt: skip
    with pytest.raises(ValueError, match="net must be"):
        e.make_net("mlp", "LayerNorm")


@pytest.mark.machinery
def test_committed_results_record_design_and_provenance():
    """Each results file has >= 10 seeds per setting, the claims, versions and timings."""
    for arch in e.ARCHS:
        res = e.load_results(arch)
        assert res["claims"] == e.CLAIMS
        assert res["timing"]["cpu_s"] > 0 and "torch" in res["versions"]
        for setting, run in res["runs"].items():
            assert len(run["per_seed"]) >= 10, setting
        assert set(res["chosen_lr"]) == set(e.NETS)


PLOTS = {
    "landscape_from_results": lambda: e.plot_landscape(
        e.result_of(e.load_results("cnn"), "lr 0.05", 0)
    ),
    "ratios": lambda: e.plot_ratios([e.load_results(a) for a in e.ARCHS]),
}


@pytest.mark.parametrize("name", sorted(PLOTS))
@pytest.mark.machinery
def test_plot_helpers_return_a_figure_with_data(name):
    """Each plot_* draws on a new figure (Agg) and returns it with something drawn."""
    assert_draws_a_figure(PLOTS[name], name)


@pytest.mark.machinery
def test_experiments_registry_lists_callable_runs():
    """EXPERIMENTS maps short names to the module's run_* functions (for the benchmark)."""
    assert e.EXPERIMENTS
    for name, run in e.EXPERIMENTS.items():
        assert isinstance(name, str) and callable(run)
        assert run.__name__.startswith("run_") and getattr(e, run.__name__) is run
