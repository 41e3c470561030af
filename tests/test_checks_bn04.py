"""bncourse.checks.bn04_placement in-process: what the review of 2026-12-04 found unfair.

Fast (no kernels); the full grade path is tests/test_assignments.py with the corpus.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bncourse.checks import bn04_placement as checks
from bncourse.checks import core

ALLOWED = ("none", "before", "after")


def _layers(sizes, placement, activation, bias):
    layers = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers.append(nn.Linear(n_in, n_out, bias=bias(placement)))
        layers += {
            "none": [activation()],
            "before": [nn.BatchNorm1d(n_out), activation()],
            "after": [activation(), nn.BatchNorm1d(n_out)],
        }[placement]
    return nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]))


class PlacementError(ValueError):
    pass


def mlp_subclass_error(sizes, placement, activation=nn.ReLU):
    if placement not in ALLOWED:
        raise PlacementError(f"placement {placement!r} is not one of {ALLOWED}")
    return _layers(sizes, placement, activation, lambda p: p != "before")


def mlp_refuses_everything(sizes, placement, activation=nn.ReLU):
    raise ValueError("'none', 'before', 'after'")


def mlp_relu_always(sizes, placement, activation=nn.ReLU):
    if placement not in ALLOWED:
        raise ValueError("'none', 'before', 'after'")
    return _layers(sizes, placement, nn.ReLU, lambda p: p != "before")


def mlp_bias_only_without_bn(sizes, placement, activation=nn.ReLU):
    if placement not in ALLOWED:
        raise ValueError("'none', 'before', 'after'")
    return _layers(sizes, placement, activation, lambda p: p == "none")


@pytest.mark.parametrize("hidden", [False, True])
def test_a_valueerror_subclass_naming_the_values_is_a_valueerror(hidden):
    assert float(checks.check_make_mlp_rejects(mlp_subclass_error, hidden=hidden)) == 1


@pytest.mark.parametrize("hidden", [False, True])
def test_refusing_every_placement_earns_nothing(hidden):
    score = checks.check_make_mlp_rejects(mlp_refuses_everything, hidden=hidden)
    assert float(score) == 0 and "placement_rejects_valid" in score.mistakes, score.report


def test_ignoring_the_activation_gets_the_hint_on_tanh_and_gelu():
    score = checks.check_make_mlp(mlp_relu_always, hidden=True)
    assert 0 < float(score) < 3
    assert checks.HINTS["activation"] in score.report


def test_bias_removed_before_the_activation_is_named_with_the_output_bias_kept():
    score = checks.check_make_mlp(mlp_bias_only_without_bn, hidden=True)
    assert "bias_removed_after" in score.mistakes
    assert "bias_removed_without_bn" not in score.mistakes
    assert float(score) <= 1.5


def test_the_fraction_the_relu_blocks_is_named():
    def blocked(gamma, beta):
        f = 1 - torch.special.ndtr(beta / gamma.abs())
        return torch.where(gamma == 0, (beta > 0).to(gamma.dtype), f)

    score = checks.check_relu_active_fraction(blocked, hidden=True)
    assert float(score) == 0 and score.mistakes == ("blocked_fraction",), score.report


def test_an_endless_generator_of_names_is_stopped_with_a_message():
    def names(model):
        while True:
            yield "0.bias"

    score = checks.check_redundant_biases(names, hidden=True)
    assert float(score) == 0 and "bad_return" in score.mistakes, score.report


def test_a_generator_that_never_yields_is_stopped_and_a_fixed_one_then_runs(monkeypatch):
    monkeypatch.setattr(core, "CALL_SECONDS", 0.5)

    def stuck(model):
        while True:
            pass
        yield "never"

    score = checks.check_redundant_biases(stuck)
    assert float(score) == 0 and "timeout" in score.mistakes, score.report

    def right(model):  # a new function in the same kernel is called as usual
        yield from ("features.0.bias", "head.0.bias")

    assert float(checks.check_redundant_biases(right)) == 2


@pytest.mark.parametrize(
    ("source", "key"),
    [
        ("return nn.Sequential()", "placement_accepted"),
        ("raise TypeError(\"'none', 'before', 'after'\")", "placement_not_valueerror"),
        ("raise ValueError('unknown placement')", "placement_message"),
    ],
)
def test_each_way_of_not_rejecting_gets_its_own_message(source, key):
    namespace = {"nn": nn}
    exec(f"def make_mlp(sizes, placement, activation=nn.ReLU):\n    {source}\n", namespace)
    score = checks.check_make_mlp_rejects(namespace["make_mlp"])
    assert float(score) == 0 and key in score.mistakes, score.report


def test_gamma_and_beta_both_zero_gets_its_hint():
    def passes_y_zero(gamma, beta):  # 1 where gamma = 0 and beta >= 0: y = 0 passes
        f = torch.special.ndtr(beta / gamma.abs())
        return torch.where(gamma == 0, (beta >= 0).to(gamma.dtype), f).to(gamma.dtype)

    score = checks.check_relu_active_fraction(passes_y_zero, hidden=True)
    assert 0 < float(score) < 2 and checks.HINTS["y_zero"] in score.report, score.report


def test_identity_placeholders_are_no_layers():
    def mlp_with_placeholders(sizes, placement, activation=nn.ReLU):
        if placement not in ALLOWED:
            raise ValueError("'none', 'before', 'after'")
        layers = []
        for n_in, n_out in zip(sizes[:-2], sizes[1:-1], strict=True):
            norm = nn.BatchNorm1d(n_out) if placement != "none" else nn.Identity()
            layers.append(nn.Linear(n_in, n_out, bias=placement != "before"))
            if placement == "before":
                layers += [norm, activation()]
            else:
                layers += [activation(), norm]
        return nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]))

    assert float(checks.check_make_mlp(mlp_with_placeholders, hidden=True)) == 3
