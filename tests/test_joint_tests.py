"""The joint rules over a family of cells: `range_mean_test` and `family_test`."""

import math

import numpy as np
import pytest

from pruning_theory.claims import family_test, range_mean_test


def world(means, seeds: int = 8, scale: float = 0.1, seed: int = 0) -> np.ndarray:
    """``[seed, cell]`` values: the given cell means plus Gaussian noise of ``scale``."""
    rng = np.random.default_rng(seed)
    return np.asarray(means, float)[None, :] + scale * rng.normal(size=(seeds, len(means)))


@pytest.mark.parametrize(
    "means, verdict",
    [
        ([-1.0, -0.5, -0.8], "holds"),  # below the bound everywhere
        ([1.0, 0.6, 0.9], "fails"),  # above it everywhere
        ([0.0, 0.0, 0.0], "inconclusive"),  # at the bound: the interval straddles it
        ([-0.6, -0.6, 0.3], "holds"),  # one cell against the claim does not decide alone
    ],
)
def test_range_mean_test_decides_on_the_mean_over_the_range(means, verdict):
    test = range_mean_test(world(means), high=0.0)
    assert test.verdict == verdict
    assert test.cell is None
    assert test.statistic == pytest.approx(world(means).mean(), abs=1e-12)


def test_range_mean_test_is_symmetric_and_needs_two_replicates():
    values = world([0.5, 0.7])
    assert range_mean_test(values, low=0.0).verdict == "holds"
    assert range_mean_test(-values, low=0.0).verdict == "fails"
    assert range_mean_test(values[:1], low=0.0).verdict == "inconclusive"
    empty = range_mean_test(np.zeros((5, 0)), high=0.0)
    assert empty.verdict == "inconclusive" and math.isnan(empty.statistic)


@pytest.mark.parametrize(
    "means, verdict, cell",
    [
        ([0.01, -0.02, 0.0], "holds", None),  # every cell inside +-0.2
        ([0.0, 0.0, 1.0], "fails", 2),  # one cell far outside, even after Bonferroni
        ([0.0, 0.0, 0.2], "inconclusive", 2),  # a cell at the edge: neither in nor out
    ],
)
def test_family_test_every_cell_within_with_family_wise_control(means, verdict, cell):
    test = family_test(world(means, scale=0.02), -0.2, 0.2)
    assert test.verdict == verdict
    if cell is not None:
        assert test.cell == cell


def test_family_test_fails_only_beyond_the_bonferroni_interval():
    # Cell 1 sits just outside: its plain 95% interval misses the band, the Bonferroni one
    # (level 1 - 0.05 / 20) does not, so the family is inconclusive rather than failed.
    rng = np.random.default_rng(3)
    noise = rng.normal(size=(6, 20))
    noise = (noise - noise.mean(axis=0)) / noise.std(axis=0, ddof=1)  # unit sample sd
    values = 0.1 * noise
    values[:, 1] += 0.33  # band edge 0.2 + 3.2 sem (sem = 0.1 / sqrt 6; t: 2.57, Bonf. ~5.0)
    assert family_test(values, -0.2, 0.2).verdict == "inconclusive"
    values[:, 1] += 0.3
    assert family_test(values, -0.2, 0.2).verdict == "fails"
    assert family_test(values[:1], -0.2, 0.2).verdict == "inconclusive"
