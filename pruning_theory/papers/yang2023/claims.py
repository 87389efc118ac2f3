"""The checks of docs/papers/yang2023.md ("What a reproduction must show") on finished sweeps.

This module takes the arrays out of the sweeps and hands them to the verdict rules of `rules`
(pure functions of arrays, fixed before any run, unit-tested on synthetic arrays). Rows:

* sanity checks (true by construction, not counted): S1 (masks: kept counts, pruned weights
  never move), S2 (a cell without a kept signal coordinate ignores mu and tests at chance);
* claims: C1 (fit), C2 (dense harmful), C3 (mild pruning helps; p* chosen on half the seeds),
  C4 (over-pruning at chance, every over-pruned rate), C5 (signal vs noise), C6a / C6b
  (controls: no gain with a dense mu, or with ReLU), C6c (the spec's availability bound),
  M1 (the availability mechanism: a class without an effective filter tests at chance);
* exploratory (formed after seeing earlier runs, not counted): M2 (such a class follows the
  net's noise-only default).

Every function works on any subset of the seeds (split-half replication re-runs them on
halves); too few seeds give "inconclusive" with the reason.
"""

from __future__ import annotations

import ml_collections
import numpy as np
from scipy import stats

from pruning_theory.claims import Claim, binomial_ci, noted
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.yang2023 import rules, theory

# S1: a pruned weight compared with the recomputed initialization may differ by float32
# rounding (XLA can fuse the recomputation differently); a GD step would move it far more.
MAX_RECOMPUTATION_ULPS = 2
S1_FALSE_ALARM = 1e-4  # chance that S1's kept-count band fails somewhere in a correct grid
CONTROL_LABELS = {"dense_mu": ("C6a", "dense mu"), "relu": ("C6b", "q = 1 (ReLU)")}


def rates_of(result: SweepResult) -> np.ndarray:
    """The sweep's pruning rates as floats."""
    return np.asarray(result.axes["pruning_rate"], dtype=float)


def over_pruned(rates: np.ndarray, width: int) -> np.ndarray:
    """The spec's over-pruned rates (C4): m (1 - p) <= 0.5 (up to float rounding of 1 - p)."""
    return width * (1 - np.asarray(rates)) <= 0.5 + 1e-9


def availability_bound(result: SweepResult, config) -> np.ndarray:
    """[R] the spec's bound 1 - P0/2 (eq. (11)) at the sweep's rates."""
    return theory.signal_availability_bound(rates_of(result), config.model.width)


def check_masks(result: SweepResult, config) -> Claim:
    """S1 (sanity): kept counts within a binomial band; pruned weights never move or learn.

    The band is Bonferroni-wide over the cells (`S1_FALSE_ALARM` for the whole grid), so a
    large grid does not fail by chance: 4 sigmas alone would, in 3% of 448-cell grids.
    """
    rates = rates_of(result)
    total = 2 * config.model.width * config.data.dimension
    deviation = np.abs(result.final["kept_weights"] - total * (1 - rates))
    sigma = np.sqrt(total * rates * (1 - rates))
    z = np.where(sigma > 0, deviation / np.where(sigma > 0, sigma, 1), np.where(deviation, 1e9, 0))
    limit = float(stats.norm.isf(S1_FALSE_ALARM / (2 * max(z.size, 1))))
    drift = float(np.max(result.final["pruned_weight_drift_ulps"]))
    gradient = float(np.max(result.final["pruned_gradient_max"]))
    max_z = float(np.max(z))
    holds = max_z <= limit and drift <= MAX_RECOMPUTATION_ULPS and gradient == 0
    return Claim(
        "S1",
        f"Masks: kept counts within {limit:.2f} binomial sigmas of (1-p) x {total} weights in "
        f"every one of {z.size} cells (a false alarm in 1 of {1 / S1_FALSE_ALARM:.0f} grids; max "
        f"|z| = {max_z:.2f}); pruned-weight gradient max {gradient:g} (must be exactly 0); "
        f"pruned weights moved by at most {drift:g} float32 ulps of their initial value (at "
        f"most {MAX_RECOMPUTATION_ULPS}: recomputing the initialization may round differently).",
        "holds" if holds else "fails",
        max_z,
        kind="sanity",
    )


def check_signal_blind(result: SweepResult, config) -> Claim:
    """S2 (sanity): cells where no filter keeps the signal coordinate ignore mu, at chance."""
    blind = result.final["signal_keeping_filters"].sum(-1) == 0
    count = int(blind.sum())
    if count == 0:
        return rules.too_few("S2", "no cell lost every signal coordinate", kind="sanity")
    response = float(np.max(result.final["signal_response_max"][blind]))
    trials = count * config.data.num_test
    successes = int(
        round(float(np.sum(result.final["test_accuracy"][blind])) * config.data.num_test)
    )
    low, high = binomial_ci(successes, trials)
    holds = response == 0 and low <= 0.5 <= high
    return Claim(
        "S2",
        f"{count} cells keep no signal coordinate: max |<w*m, mu>| = {response:g} (f invariant "
        f"to mu) and pooled test accuracy {successes / trials:.3f} over {trials} test points "
        "(Clopper-Pearson CI must contain 0.5).",
        "holds" if holds else "fails",
        successes / trials,
        (low, high),
        0.5,
        kind="sanity",
    )


def check_memorization(result: SweepResult, config) -> Claim:
    """C1: train accuracy 1 and loss -> 0 wherever (1 - p) d >= 10 n."""
    rates = rates_of(result)
    where = theory.memorization_possible(rates, config.data.dimension, config.data.num_train)
    return rules.fits_training_set(
        result.last("train_accuracy")[:, where],
        result.last("train_loss")[:, where],
        rates[where],
        config.checks.loss_tolerance,
    )


def check_dense_harmful(result: SweepResult, config) -> Claim:
    """C2: the dense net (p = 0) fits the data but tests near chance."""
    rates = rates_of(result)
    if 0.0 not in rates:
        return rules.too_few("C2", "p = 0 is not in the grid")
    dense = int(np.flatnonzero(rates == 0.0)[0])
    return rules.dense_overfits(
        result.final["test_accuracy"][:, dense],
        result.last("train_accuracy")[:, dense],
        config.checks.chance_tolerance,
    )


def best_mild_rate(result: SweepResult, config) -> tuple[int, Claim]:
    """C3: the best mild rate p* (chosen on half the seeds) beats p = 0 on the other half."""
    rates = rates_of(result)
    return rules.mild_pruning_helps(
        result.final["test_accuracy"],
        rates,
        ~over_pruned(rates, config.model.width),
        config.checks.min_gain,
        availability_bound(result, config),
    )


def check_over_pruned(result: SweepResult, config) -> Claim:
    """C4: at every rate with m (1 - p) <= 0.5 the net fits the data but tests at chance."""
    where = over_pruned(rates_of(result), config.model.width)
    return rules.over_pruned_at_chance(
        result.final["test_accuracy"][:, where],
        result.last("train_accuracy")[:, where],
        rates_of(result)[where],
        result.final["effective_filters"][:, where],
        config.checks.chance_tolerance,
        availability_bound(result, config)[where],
    )


def signal_share(result: SweepResult) -> np.ndarray:
    """Share of the own-class training margin that comes from the signal patch."""
    signal, noise = result.last("signal_output"), result.last("noise_output")
    return signal / np.maximum(signal + noise, 1e-30)


def check_mechanism(result: SweepResult, best: int) -> Claim:
    """C5: signal learning wins at p*, noise memorization at p = 0, gamma = 0 when blind."""
    rates = rates_of(result)
    if best < 0 or 0.0 not in rates:
        return rules.too_few("C5", "needs p* from C3 and p = 0")
    share = signal_share(result)
    dense = int(np.flatnonzero(rates == 0.0)[0])
    blind = result.final["signal_keeping_filters"].sum(-1) == 0
    gamma_blind = None
    if blind.any():
        gamma_blind = float(np.abs(result.last("signal_learning_max")[blind]).max())
    return rules.signal_dominates(
        share[:, best],
        result.final["effective_filters"][:, best].min(-1) > 0,
        share[:, dense],
        gamma_blind,
        float(rates[best]),
    )


def check_no_gain(claim_id: str, label: str, result: SweepResult, config) -> Claim:
    """C6a/b: a control gains less than min_gain / 2 from pruning at every p > 0."""
    return rules.no_gain(
        claim_id, label, result.final["test_accuracy"], rates_of(result), config.checks.min_gain / 2
    )


def check_availability_bound(result: SweepResult, config) -> Claim:
    """C6c: mean accuracy exceeds the spec's bound 1 - P0/2 by more than a tolerance nowhere."""
    return rules.below_availability_bound(
        result.final["test_accuracy"],
        rates_of(result),
        availability_bound(result, config),
        config.checks.bound_tolerance,
    )


def mechanism_arrays(result: SweepResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[seed, rate, 2] per-class accuracy, noise-only default, effective filters."""
    final = result.final
    return (
        final["class_test_accuracy"],
        final["noise_only_prediction"],
        final["effective_filters"],
    )


def check_lacking_class(result: SweepResult, config) -> list[Claim]:
    """M1 (claim) and M2 (exploratory): the class without an effective filter, measured."""
    arrays = mechanism_arrays(result)
    tolerance = config.checks.chance_tolerance
    return [
        rules.lacking_class_at_chance(*arrays, tolerance),
        rules.lacking_class_follows_default(*arrays, tolerance),
    ]


def yang2023_claims(
    main: SweepResult,
    controls: dict[str, SweepResult],
    config: ml_collections.ConfigDict,
    notes: dict[str, str] | None = None,
) -> list[Claim]:
    """All checks of the spec, in its order, then the mechanism rows.

    Args:
      main: the main sweep; controls: the control sweeps by name; config: the job's config.
      notes: sentence per sweep name (``metrics``, ``control_<name>``) appended to the claims
        computed from that sweep, e.g. which seeds were excluded for divergence.
    """
    notes = notes or {}
    best, c3 = best_mild_rate(main, config)
    claims = [
        check_masks(main, config),
        check_signal_blind(main, config),
        check_memorization(main, config),
        check_dense_harmful(main, config),
        c3,
        check_over_pruned(main, config),
        check_mechanism(main, best),
    ]
    control_claims = []
    for name, result in controls.items():
        claim_id, label = CONTROL_LABELS.get(name, (f"C6-{name}", name))
        claim = check_no_gain(claim_id, label, result, config)
        control_claims.append(noted(claim, notes.get(f"control_{name}", "")))
    tail = [check_availability_bound(main, config), *check_lacking_class(main, config)]
    main_note = notes.get("metrics", "")
    return (
        [noted(c, main_note) for c in claims] + control_claims + [noted(c, main_note) for c in tail]
    )
