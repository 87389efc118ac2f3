"""The yang2023 verdict rules on synthetic arrays where the truth is known.

For every claim: a world where it holds gives "holds", one where it is violated gives
"fails", and an underpowered one (few seeds, large spread) gives "inconclusive" and names the
smallest effect it could resolve. Plus the mechanics the rules rely on (the seed split of C3,
the simultaneous intervals of the joint tests, the availability strata).
"""

import numpy as np
import pytest

from pruning_theory.papers.yang2023 import mechanism, rules

RATES = np.array([0.0, 0.5, 0.9, 0.95, 0.99, 0.995])
MILD = np.array([True, True, True, True, False, False])
BOUND = 1 - ((1 + RATES) / 2) ** 40 / 2


def noisy(rng, means, seeds, spread=0.02):
    """[seeds, len(means)] values around ``means``, clipped to [0, 1]."""
    means = np.atleast_1d(np.asarray(means, dtype=float))
    return np.clip(means + spread * rng.standard_normal((seeds, means.size)), 0, 1)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ------------------------------------------------------------------------------ mechanics


def test_simultaneous_intervals_widen_with_the_number_of_rates(rng):
    values = rng.standard_normal((16, 1))
    _, low1, high1 = rules.simultaneous_ci(values)
    _, low5, high5 = rules.simultaneous_ci(np.repeat(values, 5, axis=1))
    assert (high5 - low5)[0] > (high1 - low1)[0] * 1.3


def test_split_positions_are_disjoint_and_cover_the_seeds():
    select, evaluate = rules.split_positions(7)
    np.testing.assert_array_equal(select, [0, 2, 4, 6])
    np.testing.assert_array_equal(evaluate, [1, 3, 5])


def test_strata_and_per_seed_means_by_hand():
    effective = np.array([[[2, 0], [0, 0]], [[1, 3], [0, 1]]])  # [seed, rate, class]
    masks = mechanism.strata(effective)
    np.testing.assert_array_equal(masks["lacking"], [[[0, 1], [0, 0]], [[0, 0], [1, 0]]])
    np.testing.assert_array_equal(masks["neither"], [[[0, 0], [1, 1]], [[0, 0], [0, 0]]])
    accuracy = np.array([[[0.9, 0.6], [0.4, 0.7]], [[1.0, 1.0], [0.8, 0.95]]])
    np.testing.assert_allclose(
        mechanism.per_seed_means(accuracy, masks["effective"]), [0.9, (1.0 + 1.0 + 0.95) / 3]
    )
    np.testing.assert_allclose(mechanism.per_seed_means(accuracy, masks["lacking"]), [0.6, 0.8])
    np.testing.assert_allclose(mechanism.per_seed_means(accuracy, masks["neither"]), [0.55])


def test_mechanism_table_counts_and_theory():
    effective = np.array([[[2, 0], [0, 0]], [[1, 3], [0, 1]]])
    accuracy = np.full((2, 2, 2), 0.5)
    rows = mechanism.mechanism_table(np.array([0.5, 0.9]), 4, effective, accuracy, accuracy)
    assert rows[0]["effective_per_class"] == 1.5 and rows[0]["effective_per_class_theory"] == 1.0
    assert rows[1]["classes_without"] == 0.75
    assert np.isclose(rows[1]["classes_without_theory"], 0.95**4)
    assert rows[0]["lacking"][2] == 1 and rows[1]["neither"][2] == 1
    header, cells = mechanism.table_text(rows)
    assert len(cells) == 2 and len(cells[0]) == len(header)


# ------------------------------------------------------------------------------------ C1, C2


def test_c1_fit(rng):
    ones, small = np.ones((8, 3)), np.full((8, 3), 1e-4)
    assert rules.fits_training_set(ones, small, RATES[:3], 0.01).verdict == "holds"
    unfit = ones.copy()
    unfit[3, 1] = 0.95
    assert rules.fits_training_set(unfit, small, RATES[:3], 0.01).verdict == "fails"
    assert rules.fits_training_set(ones, np.full((8, 3), 0.1), RATES[:3], 0.01).verdict == "fails"
    assert rules.fits_training_set(ones[:1], small[:1], RATES[:3], 0.01).verdict == "inconclusive"
    assert (
        rules.fits_training_set(ones[:, :0], small[:, :0], RATES[:0], 0.01).verdict
        == "inconclusive"
    )


def test_c2_dense_overfits(rng):
    train = np.ones(16)
    assert rules.dense_overfits(noisy(rng, 0.5, 16)[:, 0], train, 0.1).verdict == "holds"
    assert rules.dense_overfits(noisy(rng, 0.9, 16)[:, 0], train, 0.1).verdict == "fails"
    claim = rules.dense_overfits(np.array([0.3, 0.75, 0.5]), train[:3], 0.1)
    assert claim.verdict == "inconclusive" and "half-width" in claim.statement
    unfit = train.copy()
    unfit[0] = 0.9
    assert rules.dense_overfits(noisy(rng, 0.5, 16)[:, 0], unfit, 0.1).verdict == "fails"


# ---------------------------------------------------------------------------------------- C3


def c3_world(rng, seeds, peak, spread=0.02):
    """Accuracy rising from 0.5 at p = 0 to ``peak`` at p = 0.95, then back to 0.5."""
    means = [0.5, 0.5 + (peak - 0.5) / 3, 0.5 + 2 * (peak - 0.5) / 3, peak, 0.5, 0.5]
    return noisy(rng, means, seeds, spread)


def test_c3_holds_fails_inconclusive(rng):
    best, claim = rules.mild_pruning_helps(c3_world(rng, 16, 0.9), RATES, MILD, 0.2, BOUND)
    assert claim.verdict == "holds" and RATES[best] == 0.95
    assert claim.theory == pytest.approx(BOUND[best] - 0.5)
    assert "exceeds what the spec's theory allows" in claim.statement  # 0.4 > ceiling 0.318
    _, claim = rules.mild_pruning_helps(c3_world(rng, 16, 0.55), RATES, MILD, 0.2, BOUND)
    assert claim.verdict == "fails"  # a real but small gain is not a wide margin
    assert "falls short of the spec's ceiling" in claim.statement
    _, claim = rules.mild_pruning_helps(c3_world(rng, 4, 0.8, spread=0.3), RATES, MILD, 0.2, BOUND)
    assert claim.verdict == "inconclusive" and "half-width" in claim.statement
    _, claim = rules.mild_pruning_helps(c3_world(rng, 3, 0.9), RATES, MILD, 0.2, BOUND)
    assert claim.verdict == "inconclusive" and "Not evaluated" in claim.statement


def test_c3_a_wide_gain_without_a_rise_up_to_p_star_fails(rng):
    """Held-out seeds gain 0.25 at p* but their accuracy falls from p = 0.2 on: no rise."""
    rates = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 0.9])
    accuracy = np.empty((16, rates.size))
    accuracy[0::2] = noisy(rng, [0.5, 0.6, 0.65, 0.7, 0.8, 0.9], 8, spread=0.01)  # choose 0.9
    accuracy[1::2] = noisy(rng, [0.5, 0.99, 0.98, 0.97, 0.96, 0.75], 8, spread=0.005)
    best, claim = rules.mild_pruning_helps(accuracy, rates, rates < 1, 0.2, np.ones(6))
    assert rates[best] == 0.9 and claim.statistic == pytest.approx(0.25, abs=0.02)
    assert claim.verdict == "fails" and "Kendall tau over p <= p* -0." in claim.statement


def test_c3_chooses_p_star_on_even_positions_and_judges_on_odd_ones():
    seeds = 8
    accuracy = np.full((seeds, RATES.size), 0.5)
    accuracy[0::2, 2] = 0.9  # selection seeds prefer p = 0.9
    accuracy[1::2, 3] = 0.9  # evaluation seeds prefer p = 0.95 (ignored by the choice)
    accuracy[1::2, 2] = [0.7, 0.8, 0.75, 0.85]
    best, claim = rules.mild_pruning_helps(accuracy, RATES, MILD, 0.1, BOUND)
    assert RATES[best] == 0.9
    assert claim.statistic == pytest.approx(np.mean([0.7, 0.8, 0.75, 0.85]) - 0.5)


# ---------------------------------------------------------------------------------------- C4


def c4_inputs(rng, seeds, means, spread=0.02):
    rates = np.array([0.99, 0.995, 0.999])
    test = noisy(rng, means, seeds, spread)
    effective = np.zeros((seeds, 3, 2), dtype=int)
    bound = 1 - ((1 + rates) / 2) ** 40 / 2
    return test, np.ones_like(test), rates, effective, bound


def test_c4_joint_over_every_over_pruned_rate(rng):
    test, train, rates, effective, bound = c4_inputs(rng, 16, [0.5, 0.5, 0.5])
    assert rules.over_pruned_at_chance(test, train, rates, effective, 0.1, bound).verdict == "holds"
    test, train, rates, effective, bound = c4_inputs(rng, 16, [0.75, 0.5, 0.5])
    claim = rules.over_pruned_at_chance(test, train, rates, effective, 0.1, bound)
    assert claim.verdict == "fails" and claim.statistic == pytest.approx(test[:, 0].mean())
    test, train, rates, effective, bound = c4_inputs(rng, 6, [0.6, 0.5, 0.5], spread=0.15)
    claim = rules.over_pruned_at_chance(test, train, rates, effective, 0.1, bound)
    assert claim.verdict == "inconclusive" and "half-width" in claim.statement
    test, train, rates, effective, bound = c4_inputs(rng, 16, [0.5, 0.5, 0.5])
    train[2, 1] = 0.9
    assert rules.over_pruned_at_chance(test, train, rates, effective, 0.1, bound).verdict == "fails"
    empty = rules.over_pruned_at_chance(
        test[:, :0], train[:, :0], rates[:0], effective[:, :0], 0.1, bound[:0]
    )
    assert empty.verdict == "inconclusive"


def test_c4_states_the_mechanism_numbers(rng):
    test, train, rates, effective, bound = c4_inputs(rng, 8, [0.5, 0.5, 0.5])
    effective[:4, 0, 0] = 1  # half the seeds keep an effective filter in class +1 at p = 0.99
    test[:4, 0] = 0.75
    claim = rules.over_pruned_at_chance(test, train, rates, effective, 0.1, bound)
    assert "classes with an effective filter 0.25" in claim.statement
    assert "neither class keeps an effective filter test at" in claim.statement
    assert "Above chance for the mechanism's reason: at p = 0.99 0.25" in claim.statement
    test, train, rates, effective, bound = c4_inputs(rng, 8, [0.75, 0.5, 0.5])
    claim = rules.over_pruned_at_chance(test, train, rates, effective, 0.1, bound)
    assert claim.verdict == "fails" and "mechanism's reason" not in claim.statement


# ---------------------------------------------------------------------------------------- C5


def test_c5_signal_dominates(rng):
    both = np.ones(12, dtype=bool)
    share_best, share_dense = noisy(rng, 0.9, 12)[:, 0], noisy(rng, 0.1, 12)[:, 0]
    assert rules.signal_dominates(share_best, both, share_dense, 0.0, 0.95).verdict == "holds"
    assert rules.signal_dominates(share_best, both, share_dense, 1e-3, 0.95).verdict == "fails"
    assert rules.signal_dominates(share_dense, both, share_dense, None, 0.95).verdict == "fails"
    wide = np.array([0.2, 0.9, 0.6])
    assert rules.signal_dominates(wide, both[:3], share_dense, 0.0, 0.95).verdict == "inconclusive"
    assert (
        rules.signal_dominates(share_best, ~both, share_dense, 0.0, 0.95).verdict == "inconclusive"
    )


# ---------------------------------------------------------------------------------------- C6


def test_no_gain_holds_fails_and_refuses_a_ceiling(rng):
    flat = noisy(rng, [0.7] * 6, 16)
    claim = rules.no_gain("C6b", "relu", flat, RATES, 0.1)
    assert claim.verdict == "holds" and "had room to show" in claim.statement
    gaining = flat.copy()
    gaining[:, 3] += 0.25
    claim = rules.no_gain("C6b", "relu", gaining, RATES, 0.1)
    assert claim.verdict == "fails" and claim.statistic == pytest.approx(0.25, abs=0.02)
    ceiling = np.ones((16, 6))
    claim = rules.no_gain("C6b", "relu", ceiling, RATES, 0.1)
    assert claim.verdict == "inconclusive" and "ceiling" in claim.statement
    few = noisy(rng, [0.7] * 6, 3, spread=0.2)
    assert rules.no_gain("C6b", "relu", few, RATES, 0.1).verdict == "inconclusive"


def test_c6c_availability_bound(rng):
    below = np.clip(BOUND - 0.05, 0, 1)
    assert (
        rules.below_availability_bound(noisy(rng, below, 16), RATES, BOUND, 0.05).verdict == "holds"
    )
    above = below.copy()
    above[3] = BOUND[3] + 0.2
    assert (
        rules.below_availability_bound(noisy(rng, above, 16), RATES, BOUND, 0.05).verdict == "fails"
    )
    wide = noisy(rng, below + 0.05, 4, spread=0.15)
    assert rules.below_availability_bound(wide, RATES, BOUND, 0.05).verdict == "inconclusive"


# ------------------------------------------------------------------------------------ M1, M2


def mechanism_world(rng, seeds, lacking_accuracy, default, spread=0.02):
    """Two rates; class -1 lacks an effective filter at the second rate in every seed."""
    effective = np.ones((seeds, 2, 2), dtype=int)
    effective[:, 1, 1] = 0
    accuracy = np.clip(1 - 0.01 * rng.random((seeds, 2, 2)), 0, 1)
    accuracy[:, 1, 1] = np.clip(lacking_accuracy + spread * rng.standard_normal(seeds), 0, 1)
    noise_default = np.full((seeds, 2, 2), 0.5)
    noise_default[:, 1, 1] = np.clip(default + spread * rng.standard_normal(seeds), 0, 1)
    return accuracy, noise_default, effective


def test_m1_lacking_class_at_chance(rng):
    world = mechanism_world(rng, 16, 0.5, 0.5)
    assert rules.lacking_class_at_chance(*world, 0.1).verdict == "holds"
    world = mechanism_world(rng, 16, 0.8, 0.8)
    claim = rules.lacking_class_at_chance(*world, 0.1)
    assert claim.verdict == "fails" and claim.theory == 0.5
    assert "noise-only inputs to that class" in claim.statement
    world = mechanism_world(rng, 3, 0.62, 0.6, spread=0.15)
    assert rules.lacking_class_at_chance(*world, 0.1).verdict == "inconclusive"
    accuracy, default, effective = mechanism_world(rng, 16, 0.5, 0.5)
    assert (
        rules.lacking_class_at_chance(accuracy, default, np.ones_like(effective), 0.1).verdict
        == "inconclusive"
    )


def test_m2_lacking_class_follows_the_noise_default(rng):
    world = mechanism_world(rng, 16, 0.8, 0.8)
    claim = rules.lacking_class_follows_default(*world, 0.1)
    assert claim.verdict == "holds" and claim.kind == "exploratory"
    world = mechanism_world(rng, 16, 0.8, 0.4)
    assert rules.lacking_class_follows_default(*world, 0.1).verdict == "fails"
    world = mechanism_world(rng, 3, 0.8, 0.7, spread=0.2)
    assert rules.lacking_class_follows_default(*world, 0.1).verdict == "inconclusive"


# ------------------------------------------------------------------------------------ R1, R2


def test_r1_some_mild_rate_helps_without_selection_bias(rng):
    rates = np.array([0.0, 0.3, 0.5, 0.99])
    helping = noisy(rng, [0.90, 0.92, 0.91, 0.5], 8, spread=0.003)
    assert rules.some_mild_rate_helps(helping, rates, 0.5, "s").verdict == "holds"
    hurting = noisy(rng, [0.90, 0.85, 0.84, 0.5], 8, spread=0.003)
    assert rules.some_mild_rate_helps(hurting, rates, 0.5, "s").verdict == "fails"
    same = noisy(rng, [0.90, 0.90, 0.90, 0.5], 4, spread=0.01)
    assert rules.some_mild_rate_helps(same, rates, 0.5, "s").verdict == "inconclusive"


def test_r2_over_pruning_hurts(rng):
    rates = np.array([0.0, 0.3, 0.99])
    assert (
        rules.over_pruning_hurts(noisy(rng, [0.9, 0.9, 0.6], 4), rates, 0.05, "s").verdict
        == "holds"
    )
    assert (
        rules.over_pruning_hurts(noisy(rng, [0.9, 0.9, 0.9], 8), rates, 0.05, "s").verdict
        == "fails"
    )
    wide = noisy(rng, [0.9, 0.9, 0.84], 3, spread=0.05)
    assert rules.over_pruning_hurts(wide, rates, 0.05, "s").verdict == "inconclusive"
