"""Every wolfe2021 claim on synthetic truths: a world where it holds, one where it fails, and
one where the data cannot decide."""

import math

import numpy as np
import pytest

from launch.configs import wolfe2021 as configs
from pruning_theory.papers.wolfe2021 import claims, experiment
from tests.papers.wolfe2021.synthetic import full_sweep, scratch_sweep


@pytest.fixture(scope="module")
def config():
    return configs.get_config("cpu")


def test_joint_test_is_one_bonferroni_family(config):
    rng = np.random.default_rng(0)
    # Mean 1, standard error ~0.2 over 4 seeds: a single 95% t-interval excludes 0, but
    # the 20 Bonferroni intervals of the family (confidence 1 - 0.05/20) do not.
    values = 1 + 0.4 * rng.standard_normal(4)
    values = 1 + (values - values.mean()) / values.std(ddof=1) * 0.4
    alone, _ = claims.joint_test([(values, 0.0, math.inf)])
    family, results = claims.joint_test([(values, 0.0, math.inf)] * 20)
    assert alone == "holds" and family == "inconclusive"
    assert results[0][1][0] < 0 < results[0][0]
    assert claims.joint_test([(values, 0.0, math.inf), (-values, 0.0, math.inf)])[0] == "fails"
    assert claims.joint_test([])[0] == "inconclusive"


def test_c1a_improvement_and_saturation(config):
    assert claims.check_improvement("C1a", full_sweep(config), config).verdict == "holds"
    rising = full_sweep(config)
    loss = rising.final["greedy_loss"][..., ::-1, :]  # gets worse with pre-training
    worse = full_sweep(config, greedy_loss=loss.copy())
    assert claims.check_improvement("C1a", worse, config).verdict == "fails"
    one_seed = full_sweep(config, seeds=1)
    assert claims.check_improvement("C1a", one_seed, config).verdict == "inconclusive"


def test_c1a_fails_when_the_last_doubling_still_gives_most_of_the_drop(config):
    steps = np.asarray(config.train.snapshot_steps, dtype=float)
    base = full_sweep(config)
    linear = 0.45 - 0.4 * steps / steps[-1]  # still improving at the same rate at t = T
    loss = np.broadcast_to(linear[None, None, :, None], base.final["greedy_loss"].shape)
    noise = 1 + 0.01 * np.random.default_rng(1).standard_normal(loss.shape)
    claim = claims.check_improvement("C1a", full_sweep(config, greedy_loss=loss * noise), config)
    assert claim.verdict == "fails", claim.statement


def test_c2_poor_before_good_after_and_the_gap_falls_with_k(config):
    assert claims.check_below_above(full_sweep(config), config).verdict == "holds"
    never_good = full_sweep(config)
    loss = np.maximum(never_good.final["greedy_loss"], 0.3)
    claim = claims.check_below_above(full_sweep(config, greedy_loss=loss), config)
    assert claim.verdict == "fails", claim.statement
    assert claims.check_below_above(full_sweep(config, seeds=1), config).verdict == "inconclusive"


def test_c3a_geometric_against_power_law_decay(config):
    assert claims.check_geometric(full_sweep(config), config, []).verdict == "holds"
    steps = np.asarray(config.train.snapshot_steps, dtype=float)
    base = full_sweep(config)
    power = 0.5 * (1 + steps) ** -0.7
    noise = 1 + 0.01 * np.random.default_rng(2).standard_normal(base.final["dense_loss"].shape)
    claim = claims.check_geometric(full_sweep(config, dense_loss=power * noise), config, [])
    assert claim.verdict == "fails", claim.statement
    assert claims.check_geometric(full_sweep(config, seeds=1), config, []).verdict == (
        "inconclusive"
    )


def test_c4abc_greedy_against_baselines(config):
    result = full_sweep(config)
    losses = claims.baseline_losses(result, None)
    assert claims.check_baseline("C4a", "random", losses, config).verdict == "holds"
    better_random = dict(losses, random=losses["greedy"] - 0.05)
    assert claims.check_baseline("C4a", "random", better_random, config).verdict == "fails"
    noise = 0.05 * np.random.default_rng(3).standard_normal(losses["greedy"].shape)
    tie = dict(losses, random=losses["greedy"] + noise - noise.mean(axis=0))  # mean gap 0
    assert claims.check_baseline("C4a", "random", tie, config).verdict == "inconclusive"


@pytest.mark.parametrize(
    "scratch_excess, verdict",
    [
        (lambda ks: 0.05 * ks**-0.3, "holds"),  # greedy's excess 0.5/k falls faster
        (lambda ks: 50.0 * ks**-2.0, "fails"),  # the scratch nets' falls faster
        (lambda ks: 0.01 - 1e-4 * ks, "inconclusive"),  # a scratch net beats the dense net
    ],
)
def test_c4d_slopes_of_the_excess_loss(config, scratch_excess, verdict):
    result = full_sweep(config)
    dense = result.final["dense_loss"][:, -1, -1]
    ks = np.asarray(config.greedy.ks, dtype=float)
    noise = 1 + 0.01 * np.random.default_rng(4).standard_normal((len(dense), len(ks)))
    scratch = scratch_sweep(config, scratch_excess(ks) * noise, dense)
    claim = claims.check_excess_slope(result, claims.baseline_losses(result, scratch), config)
    assert claim.verdict == verdict, claim.statement
    slopes = claims.excess_slopes(claims.baseline_losses(result, None)["greedy"], dense, ks)
    np.testing.assert_allclose(slopes, -1, atol=0.02)  # the O(1/k) of the greedy bound


def test_analyze_runs_on_any_seed_subset_and_every_claim_is_decided_or_explained():
    """The whole analysis on synthetic sweeps of the tiny config; with one seed every claim is
    inconclusive, and nothing crashes (split-half replication analyzes subsets)."""
    config = configs.get_config("tiny")
    config.theory.max_gram_size = 200
    sweep_configs = experiment.sweep_configs(config)
    for seeds, all_inconclusive in ((3, False), (1, True)):
        sweeps = {name: full_sweep(c, seeds=seeds) for name, c in sweep_configs.items()}
        dense = sweeps["metrics"].final["dense_loss"][:, -1, -1]
        ks = np.asarray(config.greedy.ks, dtype=float)
        sweeps["scratch"] = scratch_sweep(config, np.tile(0.05 * ks**-0.3, (seeds, 1)), dense)
        found, figures = experiment.analyze(config, sweeps)
        ids = [claim.id for claim in found]
        assert len(ids) == len(set(ids))
        assert {"C1-loss", "C1-accuracy-1d", "P1b-loss", "C4d"} <= set(ids)
        assert "C3b" not in ids  # L_sum(0) = m L_mean(0): true by construction, not checked
        assert all(claim.verdict in ("holds", "fails", "inconclusive") for claim in found)
        if all_inconclusive:
            assert {claim.verdict for claim in found} == {"inconclusive"}
        assert set(figures) == {
            "wolfe2021_pretraining", "wolfe2021_threshold", "wolfe2021_loss_vs_k"
        }  # fmt: skip
