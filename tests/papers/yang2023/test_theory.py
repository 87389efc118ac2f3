"""The reconstruction's thresholds of Yang et al. 2023, against hand-computed values."""

import numpy as np

from pruning_theory.papers.yang2023 import theory


def test_benign_threshold_hand_computed():
    # n = 8, q = 3: n^{2/3} = 4; 4 * ||mu||^2 / (sigma_p^2 d) = 4 * 25 / 1000 = 0.1.
    assert np.isclose(theory.benign_threshold(8, 5.0, 1.0, 1000, 3.0), 0.9)
    # A larger constant C moves p_lo up (a harder race for the signal): C^{2/3} = 4 for C = 8.
    assert np.isclose(theory.benign_threshold(8, 5.0, 1.0, 1000, 3.0, constant=8.0), 0.975)
    # Huge signal: the dense net is already benign.
    assert theory.benign_threshold(8, 500.0, 1.0, 1000, 3.0) == 0.0


def test_signal_availability():
    assert theory.over_pruning_threshold(20) == 0.95
    np.testing.assert_allclose(
        theory.probability_class_without_effective_filter([0.0, 1.0, 0.5], 2), [0.25, 1.0, 0.5625]
    )
    np.testing.assert_allclose(theory.signal_availability_bound([0.0, 1.0], 2), [0.875, 0.5])
    # a0 = 1/2 is the spec's bound; a0 = 1 (a lacking class still recognized) is 1 - P0^2/2;
    # by hand at P0 = 0.25: (0.75^2) + 0.25 * 0.75 * 1.8 + 0.25^2 / 2 = 0.93125.
    rates = [0.0, 1.0, 0.5]
    np.testing.assert_allclose(
        theory.availability_accuracy(rates, 2, 0.5), theory.signal_availability_bound(rates, 2)
    )
    p0 = theory.probability_class_without_effective_filter(rates, 2)
    np.testing.assert_allclose(theory.availability_accuracy(rates, 2, 1.0), 1 - p0**2 / 2)
    np.testing.assert_allclose(theory.availability_accuracy(0.0, 2, 0.8), 0.93125)


def test_memorization_and_bound_shape():
    np.testing.assert_array_equal(
        theory.memorization_possible([0.0, 0.8, 0.95], 1000, 10), [True, True, False]
    )
    shape = theory.error_bound_shape([0.0, 0.5, 0.9], 10, 2.0, 1.0, 1000)
    np.testing.assert_allclose(shape, np.exp(-np.array([0.16, 0.32, 1.6])))
