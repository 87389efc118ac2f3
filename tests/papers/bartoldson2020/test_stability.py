"""Stability, best accuracy after pruning and correlations on hand-made sequences."""

import math

import numpy as np
import pytest
from scipy import stats

from pruning_theory.papers.bartoldson2020 import stability

# Five epochs; prunes at the ends of epochs 1 and 3 (0-based).
PRE = np.array([0.50, 0.60, 0.70, 0.80, 0.82])
POST = np.array([0.50, 0.30, 0.70, 0.60, 0.82])
TRAIN = np.array([0.55, 0.70, 0.80, 0.90, 0.95])
PRUNED = np.array([False, True, False, True, False])


def test_instability_and_stability_of_single_events():
    np.testing.assert_allclose(stability.instability(PRE, POST)[[1, 3]], [0.5, 0.25])
    np.testing.assert_allclose(stability.stability(PRE, POST)[[1, 3]], [50.0, 75.0])
    # A prune that raises the accuracy is "more than stable".
    assert stability.stability(0.5, 0.6) == pytest.approx(120.0)


def test_mean_stability_averages_the_pruning_epochs_only():
    assert stability.mean_stability(PRE, POST, PRUNED) == pytest.approx(62.5)
    never = np.zeros(5, bool)
    assert stability.mean_stability(PRE, POST, never) == 100.0
    runs = stability.mean_stability(np.stack([PRE, PRE]), np.stack([POST, PRE]), PRUNED)
    np.testing.assert_allclose(runs, [62.5, 100.0])


def test_best_accuracy_counts_from_the_last_pruning_epoch_on():
    best, gap, epoch = stability.best_after_last_prune(POST, TRAIN, PRUNED)
    # Epochs >= 3: post accuracies 0.60 and 0.82; the best is at epoch 4.
    assert (best, epoch) == (0.82, 4)
    assert gap == pytest.approx(0.95 - 0.82)
    earlier = POST.copy()
    earlier[2] = 0.99  # before the last prune: ignored
    assert stability.best_after_last_prune(earlier, TRAIN, PRUNED)[0] == 0.82
    at_last_prune = POST.copy()
    at_last_prune[3] = 0.9  # the last pruning epoch itself counts (post-prune accuracy)
    best, _, epoch = stability.best_after_last_prune(at_last_prune, TRAIN, PRUNED)
    assert (best, epoch) == (0.9, 3)
    # Without pruning every epoch counts, and ties go to the first best epoch.
    best, gap, epoch = stability.best_after_last_prune(earlier, TRAIN, np.zeros(5, bool))
    assert (best, epoch) == (0.99, 2) and gap == pytest.approx(0.80 - 0.99)
    # ... unless a window is given for runs without pruning (the pruned runs' window).
    never = np.zeros(5, bool)
    best, _, epoch = stability.best_after_last_prune(earlier, TRAIN, never, start_without_prune=3)
    assert (best, epoch) == (0.82, 4)
    assert stability.best_after_last_prune(earlier, TRAIN, PRUNED, start_without_prune=4)[0] == 0.82


def test_pearson_interval_is_fishers_z():
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    y = 2 * x + rng.normal(size=30)
    measured = stability.correlation(x, y)
    r = stats.pearsonr(x, y).statistic
    half = 1.959963984540054 / math.sqrt(27)
    assert measured.pearson == pytest.approx(r)
    np.testing.assert_allclose(
        measured.pearson_ci, [math.tanh(math.atanh(r) - half), math.tanh(math.atanh(r) + half)]
    )
    assert measured.kendall == pytest.approx(stats.kendalltau(x, y).statistic)
    tau_half = 1.959963984540054 * math.sqrt(0.437 / 26)
    np.testing.assert_allclose(
        measured.kendall_ci,
        [math.tanh(math.atanh(measured.kendall) - tau_half),
         math.tanh(math.atanh(measured.kendall) + tau_half)],
    )  # fmt: skip
    assert measured.pearson_ci[0] > 0 and measured.count == 30


def test_intervals_shrink_with_more_runs_and_flag_the_sign():
    rng = np.random.default_rng(1)
    x = rng.normal(size=400)
    y = -x + rng.normal(size=400)
    small, large = stability.correlation(x[:20], y[:20]), stability.correlation(x, y)
    assert np.diff(large.pearson_ci) < np.diff(small.pearson_ci)
    assert large.pearson_ci[1] < 0 and large.kendall_ci[1] < 0


def test_degenerate_samples_have_no_correlation():
    constant = stability.correlation(np.full(10, 100.0), np.arange(10.0))
    assert math.isnan(constant.pearson) and constant.pearson_ci == (-math.inf, math.inf)
    tiny = stability.correlation([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0])
    assert tiny.kendall_ci == (-math.inf, math.inf)
    with pytest.raises(ValueError, match="differ in size: 3 and 2"):
        stability.correlation([1, 2, 3], [1, 2])


def test_within_seed_correlation_is_pearson_of_seed_centered_samples():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 9))
    y = -x + rng.normal(size=(4, 9))
    shifted = stability.within_seed_correlation(
        x + [[10], [-5], [0], [30]], y + [[-40], [3], [8], [1]]
    )
    measured = stability.within_seed_correlation(x, y)
    centered = lambda v: (v - v.mean(axis=1, keepdims=True)).ravel()  # noqa: E731
    assert measured.r == pytest.approx(stats.pearsonr(centered(x), centered(y)).statistic)
    assert shifted.r == pytest.approx(measured.r)  # seed offsets do not matter
    half = 1.959963984540054 / math.sqrt(36 - 4 - 2)
    expected = [math.tanh(math.atanh(measured.r) - half), math.tanh(math.atanh(measured.r) + half)]
    np.testing.assert_allclose(measured.ci, expected)
    assert (measured.count, measured.seeds) == (36, 4)
    power = math.tanh((1.959963984540054 + 0.8416212335729143) / math.sqrt(30))
    assert measured.detectable == pytest.approx(power)
    assert measured.ci[1] < 0


def test_within_seed_correlation_ignores_seed_effects_that_a_pooled_one_sees():
    offsets = np.arange(5.0)[:, None] * 10
    x = offsets + np.tile(np.arange(6.0), (5, 1))
    y = offsets - np.tile(np.arange(6.0), (5, 1)) + np.random.default_rng(0).normal(0, 0.1, (5, 6))
    assert stability.correlation(x, y).pearson > 0.9
    assert stability.within_seed_correlation(x, y).r < -0.99


def test_within_seed_correlation_of_degenerate_samples_is_undefined():
    flat = stability.within_seed_correlation(np.ones((3, 4)), np.arange(12.0).reshape(3, 4))
    assert math.isnan(flat.r) and flat.ci == (-math.inf, math.inf)
    few = stability.within_seed_correlation(np.arange(4.0).reshape(2, 2), np.ones((2, 2)) * [1, 2])
    assert math.isnan(few.r)  # 4 runs of 2 seeds leave no degree of freedom
    with pytest.raises(ValueError, match="one shape"):
        stability.within_seed_correlation(np.ones((2, 3)), np.ones((3, 2)))
