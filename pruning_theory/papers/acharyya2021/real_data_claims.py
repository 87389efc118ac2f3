"""The real-data claims C7 of docs/papers/acharyya2021.md, in the paper's direction.

What the paper reports (Section 5.2, Fig. 3): importance edge + reweighting beats DIVNET on
both datasets at every kept fraction; random edge + reweighting beats DIVNET on CIFAR-10 at
every fraction; on MNIST DIVNET is better at small fractions and random edge once more than
~40% is kept. The fraction here is the edge keep fraction p (k_e = floor(p N) incoming
weights per unit; the official code's sweep variable), and rules are compared paired by seed
(every rule prunes the same trained network) on the test error:

* C7a / C7b (MNIST): DIVNET minus random edge + reweighting, one paired test of the mean over
  the fractions at or below / above the paper's crossover ``checks.real_crossover``
  (`claims.range_mean_test`; C7a holds if that mean's CI lies below 0, C7b if above);
* C7c (MNIST): the crossover itself, the first p where the seed-mean difference turns from
  negative to non-negative (linear interpolation), with a 95% bootstrap interval over seeds;
  holds if the interval lies within +-``checks.real_crossover_tol`` of the paper's value,
  fails if it lies outside, inconclusive otherwise;
* C7a (CIFAR-10): random edge + reweighting minus DIVNET over every fraction, below 0;
* C7d (both): importance edge + reweighting minus DIVNET over every fraction, below 0.

A 1000-image test set resolves about 0.3 percentage points per fraction, and MNIST's
differences are a fraction of one, so single fractions are not tested alone.
"""

from __future__ import annotations

import math

import numpy as np

from pruning_theory.claims import Claim, range_mean_test
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.acharyya2021.claims import Cells, joint_claim

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def crossover(fractions: np.ndarray, difference: np.ndarray) -> float:
    """The first p where a curve turns from < 0 to >= 0, linearly interpolated.

    -inf if the curve is >= 0 at the first fraction (the crossover lies below the range),
    +inf if it stays < 0 (above the range).
    """
    if difference[0] >= 0:
        return -math.inf
    for i in range(1, len(difference)):
        if difference[i] >= 0:
            low, high = difference[i - 1], difference[i]
            step = fractions[i] - fractions[i - 1]
            return float(fractions[i - 1] + step * (-low) / (high - low))
    return math.inf


def bootstrap_crossover(fractions, difference: np.ndarray) -> tuple[float, tuple[float, float]]:
    """The crossover of the seed-mean curve and its 95% percentile bootstrap over seeds.

    ``difference`` is ``[seed, fraction]``; resamples are fixed (``BOOTSTRAP_SEED``).
    """
    fractions = np.asarray(fractions, np.float64)
    estimate = crossover(fractions, difference.mean(axis=0))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    picks = rng.integers(0, len(difference), size=(BOOTSTRAP_RESAMPLES, len(difference)))
    draws = np.asarray([crossover(fractions, difference[p].mean(axis=0)) for p in picks])
    low, high = np.quantile(draws, [0.025, 0.975], method="inverted_cdf")
    return estimate, (float(low), float(high))


def _fraction_cells(difference: np.ndarray, fractions, keep) -> Cells:
    cells = Cells(len(difference))
    for index in np.flatnonzero(keep):
        cells.add(f"p={fractions[index]:g}", difference[:, index])
    return cells


def _context(real: SweepResult, config) -> str:
    settings = config.real_data
    dense = float(np.mean(real.final["test_error_dense"]))
    return (
        f"({settings.dataset}, {settings.source}, layers {tuple(settings.layer_sizes)}, "
        f"{len(real.axes['seed'])} seeds, dense test error {dense:.4f})"
    )


def check_crossover(real: SweepResult, config) -> Claim:
    """C7c: where random edge + reweighting overtakes DIVNET on MNIST."""
    fractions = np.asarray(config.real_data.edge_fractions, np.float64)
    difference = real.final["test_error_divnet"] - real.final["test_error_random_edge_reweighted"]
    reference, tolerance = config.checks.real_crossover, config.checks.real_crossover_tol
    statement = (
        f"C7c {_context(real, config)}: the edge keep fraction p where DIVNET minus random "
        "edge + reweighting (seed mean) turns from negative to non-negative, the paper's "
        f"crossover ~{reference:g}; holds if its 95% bootstrap interval over seeds "
        f"({BOOTSTRAP_RESAMPLES} resamples) lies within {reference:g} +- {tolerance:g}, fails if "
        "outside (-inf / +inf: the crossover lies below / above the measured range)."
    )
    if len(difference) < 3:
        return Claim("C7c", statement + " Inconclusive: fewer than 3 seeds.", "inconclusive",
                     math.nan)  # fmt: skip
    estimate, (low, high) = bootstrap_crossover(fractions, difference)
    if reference - tolerance <= low and high <= reference + tolerance:
        verdict = "holds"
    elif high < reference - tolerance or low > reference + tolerance:
        verdict = "fails"
    else:
        verdict = "inconclusive"
    text = f"{statement} Measured {estimate:.3g} [{low:.3g}, {high:.3g}]."
    if verdict == "inconclusive":
        text += " Inconclusive: the interval is wider than the tolerance band or straddles it."
    return Claim("C7c", text, verdict, estimate, (low, high), reference)


def check_mnist_side(claim_id: str, real: SweepResult, config, above: bool) -> Claim:
    """C7a (below the crossover, DIVNET better) / C7b (above it, random edge better)."""
    fractions = np.asarray(config.real_data.edge_fractions, np.float64)
    difference = real.final["test_error_divnet"] - real.final["test_error_random_edge_reweighted"]
    reference = config.checks.real_crossover
    keep = fractions > reference if above else fractions <= reference
    cells = _fraction_cells(difference, fractions, keep)
    side = f"p > {reference:g}" if above else f"p <= {reference:g}"
    winner = "random edge + reweighting beats DIVNET" if above else "DIVNET beats random edge"
    statement = (
        f"{claim_id} {_context(real, config)}: {winner} at {side}: DIVNET minus random edge + "
        "reweighting test error, paired, one test of the mean over those fractions; holds if "
        f"its CI lies {'above' if above else 'below'} 0, fails if on the other side."
    )
    test = range_mean_test(cells.values, **({"low": 0.0} if above else {"high": 0.0}))
    return joint_claim(claim_id, statement, cells, test)


def check_edge_beats_divnet(claim_id: str, rule: str, real: SweepResult, config) -> Claim:
    """C7d (importance) / CIFAR-10 C7a (random): edge + reweighting beats DIVNET everywhere."""
    fractions = np.asarray(config.real_data.edge_fractions, np.float64)
    difference = real.final[f"test_error_{rule}_edge_reweighted"] - real.final["test_error_divnet"]
    cells = _fraction_cells(difference, fractions, np.ones(len(fractions), bool))
    statement = (
        f"{claim_id} {_context(real, config)}: {rule} edge + reweighting beats DIVNET at every "
        f"kept fraction: {rule} edge + reweighting minus DIVNET test error, paired, one test "
        "of the mean over all fractions; holds if its CI lies below 0, fails if above."
    )
    return joint_claim(claim_id, statement, cells, range_mean_test(cells.values, high=0.0))


def real_data_claims(real: SweepResult, config) -> list[Claim]:
    """C7 in the paper's direction for the config's dataset."""
    if config.real_data.dataset == "cifar10":
        return [
            check_edge_beats_divnet("C7a", "random", real, config),
            check_edge_beats_divnet("C7d", "importance", real, config),
        ]
    return [
        check_mnist_side("C7a", real, config, above=False),
        check_mnist_side("C7b", real, config, above=True),
        check_crossover(real, config),
        check_edge_beats_divnet("C7d", "importance", real, config),
    ]
