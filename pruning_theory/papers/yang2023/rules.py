"""Verdict rules of the yang2023 claims: pure functions of measured arrays, fixed before any run.

docs/papers/yang2023.md, "What a reproduction must show". Every rule takes arrays indexed
``[seed, ...]`` (seeds are the i.i.d. replicates; any subset of >= 2 seeds works, and fewer
give "inconclusive" with the reason) and returns a `Claim`. Conventions:

* Intervals are 95% Student-t intervals of the mean over seeds. A claim checked at K rates at
  once uses simultaneous (Bonferroni) intervals at level 1 - 0.05 / K, and one joint verdict:
  fails if any rate's interval lies outside the target, holds if every one lies inside, else
  inconclusive (`claims.combine_verdicts`). Holds and fails use the same intervals.
* A band target (e.g. chance: 0.5 +- tolerance) holds when the CI lies inside the band and
  fails when it lies outside; a threshold target holds above and fails below it.
* An inconclusive verdict names the half-width of its interval: the smallest deviation the run
  could have resolved.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from pruning_theory.claims import (
    Claim,
    combine_verdicts,
    format_ci,
    mean_ci,
    verdict_above,
    verdict_within,
)
from pruning_theory.papers.yang2023 import mechanism

CONFIDENCE = 0.95


def simultaneous_ci(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and Bonferroni-adjusted t intervals over seeds for each column of ``[seed, K]``."""
    values = np.asarray(values, dtype=np.float64)
    level = 1 - (1 - CONFIDENCE) / max(values.shape[1], 1)
    return mean_ci(values, axis=0, confidence=level)


def resolution(ci) -> str:
    """The sentence an inconclusive verdict carries: its CI half-width."""
    low, high = ci
    if not (math.isfinite(low) and math.isfinite(high)):
        return " Inconclusive: fewer than 2 seeds, no interval."
    half_width = (high - low) / 2
    return f" Inconclusive: the CI half-width {half_width:.3f} is the smallest resolvable effect."


def _with_resolution(statement: str, verdict: str, ci) -> str:
    return statement + (resolution(ci) if verdict == "inconclusive" and ci is not None else "")


def too_few(claim_id: str, reason: str, kind: str = "claim") -> Claim:
    """The inconclusive claim of a rule that cannot be evaluated, with the reason."""
    return Claim(claim_id, f"Not evaluated: {reason}.", "inconclusive", math.nan, kind=kind)


# ---------------------------------------------------------------------------------- C1, C2


def fits_training_set(train_accuracy, train_loss, rates, loss_tolerance: float) -> Claim:
    """C1: at every rate given (those with (1 - p) d >= 10 n), every seed fits the training set.

    Args:
      train_accuracy, train_loss: [seed, K] final training accuracy and loss at those rates.
      rates: [K] the rates.
      loss_tolerance: the largest final loss that counts as "~0".
    """
    accuracy, loss = np.asarray(train_accuracy), np.asarray(train_loss)
    if accuracy.shape[1] == 0 or accuracy.shape[0] < 2:
        return too_few("C1", "needs >= 2 seeds and a rate with (1-p) d >= 10 n")
    worst_accuracy, worst_loss = float(accuracy.min()), float(loss.max())
    fits = worst_accuracy == 1 and worst_loss <= loss_tolerance
    return Claim(
        "C1",
        f"At every p with (1-p) d >= 10 n ({len(rates)} rates, p <= {max(rates):g}) GD with "
        f"the scaled T fits the training set in every one of {accuracy.shape[0]} seeds: min "
        f"train accuracy {worst_accuracy:.3f} (must be 1), max final training loss "
        f"{worst_loss:.2g} (must be <= {loss_tolerance:g}).",
        "holds" if fits else "fails",
        worst_loss,
        None,
        0.0,
    )


def dense_overfits(test_accuracy, train_accuracy, tolerance: float) -> Claim:
    """C2: the dense net (arrays [seed] at p = 0) fits the data but tests within 0.5 +- tol."""
    mean, low, high = mean_ci(test_accuracy)
    fitted = float(np.min(train_accuracy))
    verdict = combine_verdicts(
        [verdict_within((low, high), 0.5 - tolerance, 0.5 + tolerance), _fit_verdict(fitted)]
    )
    statement = (
        f"Dense net (p = 0) overfits harmfully: test accuracy {mean:.3f} "
        f"{format_ci((low, high), '.3f')} within 0.5 +- {tolerance:g} while min train "
        f"accuracy is {fitted:.3f} (must be 1)."
    )
    return Claim(
        "C2",
        _with_resolution(statement, verdict, (low, high)),
        verdict,
        float(mean),
        (float(low), float(high)),
        0.5,
    )


def _fit_verdict(min_train_accuracy: float) -> str:
    return "holds" if min_train_accuracy == 1 else "fails"


# -------------------------------------------------------------------------------------- C3


def split_positions(num_seeds: int) -> tuple[np.ndarray, np.ndarray]:
    """Selection seeds (even positions) and evaluation seeds (odd positions)."""
    positions = np.arange(num_seeds)
    return positions[::2], positions[1::2]


def kendall_per_seed(rates, accuracy) -> np.ndarray:
    """Kendall's tau between ``rates`` [K] and each seed's accuracies [seed, K] (0 if constant)."""
    taus = [stats.kendalltau(rates, row).statistic for row in np.asarray(accuracy)]
    return np.nan_to_num(np.asarray(taus, dtype=np.float64), nan=0.0)


def mild_pruning_helps(accuracy, rates, mild, min_gain: float, bound) -> tuple[int, Claim]:
    """C3: the best mild rate p*, chosen on half the seeds, beats p = 0 by >= min_gain.

    p* maximizes the mean accuracy over the selection seeds (even positions) among the
    ``mild`` rates; on the evaluation seeds (odd positions) the paired gain over p = 0 must
    exceed ``min_gain`` (CI above it: holds; below: fails) and the accuracy must rise from
    p = 0 up to p* (per-seed Kendall tau over the rates <= p*, CI above 0). Both must hold.

    Args:
      accuracy: [seed, R] test accuracy; rates: [R]; mild: [R] bool, the mild window.
      min_gain: the "wide margin".
      bound: [R] the spec's availability bound 1 - P0/2; bound(p*) - 0.5 is the gain the spec
        allows over a chance-level dense net (the claim's theory value).

    Returns:
      ``(index of p* or -1, claim)``.
    """
    accuracy, rates = np.asarray(accuracy, dtype=np.float64), np.asarray(rates, dtype=float)
    candidates = np.flatnonzero(np.asarray(mild) & (rates > 0))
    if 0.0 not in rates or candidates.size == 0 or accuracy.shape[0] < 4:
        return -1, too_few("C3", "needs p = 0, a mild rate and >= 4 seeds")
    dense = int(np.flatnonzero(rates == 0.0)[0])
    select, evaluate = split_positions(accuracy.shape[0])
    best = int(candidates[np.argmax(accuracy[select][:, candidates].mean(0))])
    mean, low, high = mean_ci(accuracy[evaluate, best] - accuracy[evaluate, dense])
    upto = np.flatnonzero(rates <= rates[best])
    tau, tau_low, tau_high = mean_ci(kendall_per_seed(rates[upto], accuracy[evaluate][:, upto]))
    verdict = combine_verdicts(
        [verdict_above((low, high), min_gain), verdict_above((tau_low, tau_high), 0.0)]
    )
    ceiling = float(bound[best]) - 0.5
    relation = (
        "contains it: the gain is consistent with the ceiling (resolved neither above nor below)"
    )
    if low > ceiling:
        relation = (
            "lies above it: the gain exceeds what the spec's theory allows (the bound assumes "
            "a class without an effective filter is at chance; M1 tests that)"
        )
    elif high < ceiling:
        relation = "lies below it: the gain falls short of the spec's ceiling"
    statement = (
        f"Mild pruning helps: p* = {rates[best]:g} (best mean on {select.size} selection seeds) "
        f"beats p = 0 by {mean:.3f} {format_ci((low, high), '.3f')} on {evaluate.size} held-out "
        f"seeds (must exceed {min_gain:g}); accuracy rises up to p*: mean per-seed Kendall tau "
        f"over p <= p* {tau:.2f} {format_ci((tau_low, tau_high), '.2f')} (must exceed 0). "
        f"Theory: the gain over a chance-level dense net that the spec's bound 1 - P0/2 allows "
        f"at p*, {ceiling:.3f}; the measured gain's CI {relation}."
    )
    claim = Claim(
        "C3",
        _with_resolution(statement, verdict, (low, high)),
        verdict,
        float(mean),
        (float(low), float(high)),
        ceiling,
    )
    return best, claim


# -------------------------------------------------------------------------------------- C4


def over_pruned_at_chance(test, train, rates, effective, tolerance: float, bound) -> Claim:
    """C4: at every over-pruned rate (m (1 - p) <= 0.5) the net fits the data, tests at chance.

    One joint test over the K over-pruned rates: simultaneous intervals of the mean test
    accuracy, each inside 0.5 +- tolerance (holds) or any outside (fails); every cell must fit
    the training set. The statement adds the mechanism: the fraction of classes that keep an
    effective filter and the accuracy of the seeds where neither class keeps one.

    Args:
      test, train: [seed, K] final test and training accuracy at the over-pruned rates.
      rates: [K]; effective: [seed, K, 2] effective filters per class; bound: [K] 1 - P0/2.
    """
    test, rates = np.asarray(test, dtype=np.float64), np.asarray(rates, dtype=float)
    if test.shape[1] == 0:
        return too_few("C4", "no rate of the grid has m (1-p) <= 0.5")
    if test.shape[0] < 2:
        return too_few("C4", "needs >= 2 seeds")
    mean, low, high = simultaneous_ci(test)
    band = (0.5 - tolerance, 0.5 + tolerance)
    fitted = float(np.min(train))
    verdicts = [verdict_within((lo, hi), *band) for lo, hi in zip(low, high, strict=True)]
    verdict = combine_verdicts([combine_verdicts(verdicts), _fit_verdict(fitted)])
    worst = int(np.argmax(np.abs(mean - 0.5)))
    neither = mechanism.strata(effective)["neither"][..., 0]  # [seed, K]: no class has one
    listing = "; ".join(
        f"p = {p:g}: {m:.3f} {format_ci((lo, hi), '.3f')}, classes with an effective filter "
        f"{(np.asarray(effective)[:, k] > 0).mean():.2f} (theory 1 - P0 = {2 * b - 1:.2f})"
        for k, (p, m, lo, hi, b) in enumerate(zip(rates, mean, low, high, bound, strict=True))
    )
    none_mean, none_ci, none_seeds = mechanism.stratum_summary(test, neither)
    some_mean, some_ci, some_seeds = mechanism.stratum_summary(test, ~neither)
    statement = (
        f"Over-pruning: at every p with m (1-p) <= 0.5 the test accuracy is within 0.5 +- "
        f"{tolerance:g} (simultaneous 95% CIs over {len(rates)} rates) while min train accuracy "
        f"is {fitted:.3f} (must be 1). Per rate: {listing}. Mechanism: seeds where neither "
        f"class keeps an effective filter test at {none_mean:.3f} "
        f"{format_ci(none_ci, '.3f')} ({none_seeds} seeds), the others at {some_mean:.3f} "
        f"{format_ci(some_ci, '.3f')} ({some_seeds} seeds). Theory: 1 - P0/2 at the rate "
        "farthest from chance."
    )
    band_top = 0.5 + tolerance
    if mean[worst] > band_top and none_ci[1] <= band_top and some_ci[0] > band_top:
        statement += (
            f" Above chance for the mechanism's reason: at p = {rates[worst]:g} "
            f"{(np.asarray(effective)[:, worst] > 0).mean():.2f} of the classes keep an "
            f"effective filter and the seeds with one test above 0.5 +- {tolerance:g}, while "
            f"the seeds without one test within it; the spec's bound there, "
            f"{bound[worst]:.3f}, assumes a class without one tests at 0.5 (M1 tests that)."
        )
    ci = (float(low[worst]), float(high[worst]))
    return Claim(
        "C4",
        _with_resolution(statement, verdict, ci),
        verdict,
        float(mean[worst]),
        ci,
        float(bound[worst]),
    )


# -------------------------------------------------------------------------------------- C5


def signal_dominates(share_best, effective_both, share_dense, gamma_blind, best_rate) -> Claim:
    """C5: signal learning wins at p*, noise memorization at p = 0, gamma = 0 when blind.

    Args:
      share_best: [seed] signal share of the own-class training margin at p*.
      effective_both: [seed] bool, the seed keeps an effective filter in each class at p*
        (only those seeds can learn the signal in both classes).
      share_dense: [seed] signal share at p = 0.
      gamma_blind: max |gamma| over the cells that keep no signal coordinate (None: no cell).
      best_rate: p*.
    """
    kept = np.asarray(share_best)[np.asarray(effective_both, dtype=bool)]
    if kept.size < 2:
        return too_few(
            "C5",
            f"fewer than 2 seeds at p* = {best_rate:g} have an effective filter in both classes",
        )
    mean, low, high = mean_ci(kept)
    dense_mean, dense_low, dense_high = mean_ci(share_dense)
    parts = [
        verdict_above((low, high), 0.5),
        verdict_within((dense_low, dense_high), -np.inf, 0.5),
    ]
    blind = "no cell keeps no signal coordinate"
    if gamma_blind is not None:
        parts.append("holds" if gamma_blind == 0 else "fails")
        blind = f"max |gamma| = {gamma_blind:g} over the cells without a kept signal coordinate"
    verdict = combine_verdicts(parts)
    statement = (
        f"Mechanism: signal share of the training margin {mean:.3f} "
        f"{format_ci((low, high), '.3f')} at p* = {best_rate:g} over the {kept.size} seeds with "
        f"an effective filter in each class (> 0.5: signal learning dominates); {dense_mean:.3f} "
        f"{format_ci((dense_low, dense_high), '.3f')} at p = 0 (< 0.5: noise memorization "
        f"dominates); {blind} (must be 0)."
    )
    return Claim(
        "C5",
        _with_resolution(statement, verdict, (low, high)),
        verdict,
        float(mean),
        (float(low), float(high)),
    )


# ------------------------------------------------------------------------------------- C6


def no_gain(claim_id: str, label: str, accuracy, rates, margin: float) -> Claim:
    """C6a/b: a control gains less than ``margin`` from pruning at every p > 0 (joint test).

    The paired gains over p = 0 at the K rates p > 0 get simultaneous intervals: all below
    ``margin``: holds; any above: fails. If the dense net's own interval reaches
    1 - ``margin`` the control is at the ceiling, a gain of ``margin`` could not show, and the
    verdict is inconclusive.
    """
    accuracy, rates = np.asarray(accuracy, dtype=np.float64), np.asarray(rates, dtype=float)
    if 0.0 not in rates or not (rates > 0).any() or accuracy.shape[0] < 2:
        return too_few(claim_id, "needs p = 0, a rate p > 0 and >= 2 seeds")
    dense = int(np.flatnonzero(rates == 0.0)[0])
    pruned = np.flatnonzero(rates > 0)
    gains = accuracy[:, pruned] - accuracy[:, [dense]]
    mean, low, high = simultaneous_ci(gains)
    verdict = combine_verdicts(
        [verdict_within((lo, hi), -np.inf, margin) for lo, hi in zip(low, high, strict=True)]
    )
    dense_mean, _, dense_high = mean_ci(accuracy[:, dense])
    ceiling = (
        f" The dense net's CI reaches only {dense_high:.3f} <= 1 - {margin:g}: a gain of "
        f"{margin:g} had room to show."
    )
    if dense_high > 1 - margin:
        verdict = "inconclusive"
        ceiling = (
            f" The dense net tests at {dense_mean:.3f} (CI up to {dense_high:.3f} > "
            f"1 - {margin:g}): at the ceiling, a gain of {margin:g} could not show."
        )
    top = int(np.argmax(mean))
    ci = (float(low[top]), float(high[top]))
    statement = (
        f"Control {label}: dense test accuracy {dense_mean:.3f}; largest mean gain of any p > 0 "
        f"over p = 0 is {mean[top]:.3f} {format_ci(ci, '.3f')} at p = {rates[pruned][top]:g} "
        f"(simultaneous 95% CIs over {pruned.size} rates); 'no gain' means every CI stays below "
        f"{margin:g}.{ceiling}"
    )
    return Claim(claim_id, _with_resolution(statement, verdict, ci), verdict, float(mean[top]), ci)


def below_availability_bound(accuracy, rates, bound, tolerance: float) -> Claim:
    """C6c: mean test accuracy exceeds the spec's bound 1 - P0/2 (eq. (11)) nowhere.

    Joint over the rates: simultaneous intervals of accuracy - bound; every one below
    ``tolerance``: holds; any above it: fails.
    """
    accuracy, rates = np.asarray(accuracy, dtype=np.float64), np.asarray(rates, dtype=float)
    if accuracy.shape[0] < 2:
        return too_few("C6c", "needs >= 2 seeds")
    mean, low, high = simultaneous_ci(accuracy - np.asarray(bound)[None, :])
    verdict = combine_verdicts(
        [verdict_within((lo, hi), -np.inf, tolerance) for lo, hi in zip(low, high, strict=True)]
    )
    worst = int(np.argmax(mean))
    ci = (float(low[worst]), float(high[worst]))
    statement = (
        f"Signal availability (reconstruction, eq. (11)): mean test accuracy minus the bound "
        f"1 - P0/2 (P0 = ((1+p)/2)^m) is largest at p = {rates[worst]:g}: {mean[worst]:+.3f} "
        f"{format_ci(ci, '.3f')} (accuracy {accuracy[:, worst].mean():.3f}, bound "
        f"{bound[worst]:.3f}); must stay below +{tolerance:g} at every p (simultaneous 95% CIs "
        f"over {rates.size} rates)."
    )
    return Claim(
        "C6c", _with_resolution(statement, verdict, ci), verdict, float(mean[worst]), ci, 0.0
    )


# ------------------------------------------------------------------------------------- M1, M2


def lacking_class_at_chance(class_accuracy, noise_default, effective, tolerance: float) -> Claim:
    """M1: a class without an effective filter (the other has one) tests at 0.5 +- tolerance.

    The spec's assumption behind eq. (11) ("its test points are then classified by noise,
    about 50%"). Per seed, the class accuracy is averaged over the (rate, class) cells of the
    ``lacking`` stratum (`mechanism.strata`); the interval is over the seeds that have one.

    Args:
      class_accuracy, noise_default, effective: [seed, R, 2] per-class test accuracy,
        noise-only prediction of the class, effective filters of the class.
    """
    masks = mechanism.strata(effective)
    mean, ci, seeds = mechanism.stratum_summary(class_accuracy, masks["lacking"])
    if seeds < 2:
        return too_few(
            "M1",
            f"{seeds} seed(s) have a class without an effective filter while the other has one",
        )
    verdict = verdict_within(ci, 0.5 - tolerance, 0.5 + tolerance)
    default, default_ci, _ = mechanism.stratum_summary(noise_default, masks["lacking"])
    # The other class of the same cells: the one that keeps an effective filter.
    own, own_ci, _ = mechanism.stratum_summary(class_accuracy, masks["lacking"][..., ::-1])
    neither, neither_ci, neither_seeds = mechanism.stratum_summary(class_accuracy, masks["neither"])
    statement = (
        f"Availability mechanism (spec, eq. (10)-(11)): a class without an effective filter, "
        f"while the other class has one, tests at {mean:.3f} {format_ci(ci, '.3f')} over "
        f"{seeds} seeds (spec: 0.5, must lie within 0.5 +- {tolerance:g}; the opposite guess, "
        f"'still classified correctly', is 1). The net assigns {default:.3f} "
        f"{format_ci(default_ci, '.3f')} of noise-only inputs to that class (its noise-only "
        f"default); in the same cells the class with an effective filter tests at {own:.3f} "
        f"{format_ci(own_ci, '.3f')}. When neither class has one, a class tests at "
        f"{neither:.3f} {format_ci(neither_ci, '.3f')} ({neither_seeds} seeds)."
    )
    return Claim("M1", _with_resolution(statement, verdict, ci), verdict, mean, ci, 0.5)


def lacking_class_follows_default(
    class_accuracy, noise_default, effective, tolerance: float
) -> Claim:
    """M2 (exploratory): a lacking class's accuracy equals its noise-only default.

    A hypothesis formed after earlier runs beat the spec's bound: without an effective filter
    a class is recognized only through the net's default on noise, so its test accuracy is
    the fraction of noise-only inputs assigned to it. Per seed, the paired difference is
    averaged over the ``lacking`` cells; holds if its CI lies within +- ``tolerance``.
    """
    lacking = mechanism.strata(effective)["lacking"]
    difference = np.asarray(class_accuracy, dtype=np.float64) - np.asarray(noise_default)
    mean, ci, seeds = mechanism.stratum_summary(difference, lacking)
    if seeds < 2:
        return too_few("M2", "fewer than 2 seeds have a lacking class", kind="exploratory")
    verdict = verdict_within(ci, -tolerance, tolerance)
    statement = (
        f"Exploratory (hypothesis from earlier runs): a class without an effective filter, "
        f"while the other class has one, is recognized only by the net's noise-only default: "
        f"class accuracy minus the fraction of noise-only inputs assigned to the class is "
        f"{mean:+.3f} {format_ci(ci, '.3f')} over {seeds} seeds (must lie within "
        f"+-{tolerance:g})."
    )
    return Claim(
        "M2", _with_resolution(statement, verdict, ci), verdict, mean, ci, 0.0, kind="exploratory"
    )


# ------------------------------------------------------------------ R1, R2 (MNIST companion)


def some_mild_rate_helps(accuracy, rates, mild_max: float, setting: str) -> Claim:
    """R1: some mild rate (0 < p <= mild_max) beats the dense net, paired over seeds.

    Joint over the K mild rates, with no selection of a best rate: simultaneous intervals of
    the paired gains; holds if any lies above 0, fails if all lie below 0.
    """
    accuracy, rates = np.asarray(accuracy, dtype=np.float64), np.asarray(rates, dtype=float)
    mild = np.flatnonzero((rates > 0) & (rates <= mild_max))
    if 0.0 not in rates or mild.size == 0 or accuracy.shape[0] < 2:
        return too_few("R1", f"needs p = 0, a rate in (0, {mild_max:g}] and >= 2 seeds")
    dense = int(np.flatnonzero(rates == 0.0)[0])
    mean, low, high = simultaneous_ci(accuracy[:, mild] - accuracy[:, [dense]])
    if (low > 0).any():
        verdict = "holds"
    elif (high < 0).all():
        verdict = "fails"
    else:
        verdict = "inconclusive"
    top = int(np.argmax(low))
    ci = (float(low[top]), float(high[top]))
    statement = (
        f"Mild random pruning improves test accuracy: paired gain over the dense net at "
        f"p = {rates[mild][top]:g} is {mean[top]:+.4f} {format_ci(ci, '.4f')} (the rate with the "
        f"highest lower bound among the {mild.size} rates in (0, {mild_max:g}], simultaneous 95% "
        f"CIs); holds if some CI is above 0, fails if all are below 0 ({setting})."
    )
    return Claim("R1", _with_resolution(statement, verdict, ci), verdict, float(mean[top]), ci)


def over_pruning_hurts(accuracy, rates, margin: float, setting: str) -> Claim:
    """R2: the dense net beats the largest rate by more than ``margin``, paired over seeds."""
    accuracy, rates = np.asarray(accuracy, dtype=np.float64), np.asarray(rates, dtype=float)
    if 0.0 not in rates or accuracy.shape[0] < 2:
        return too_few("R2", "needs p = 0 and >= 2 seeds")
    dense, most = int(np.flatnonzero(rates == 0.0)[0]), int(np.argmax(rates))
    loss, low, high = mean_ci(accuracy[:, dense] - accuracy[:, most])
    verdict = verdict_above((low, high), margin)
    statement = (
        f"Over-pruning hurts: dense test accuracy minus accuracy at p = {rates[most]:g} is "
        f"{loss:.4f} {format_ci((low, high), '.4f')}, paired over seeds; holds if the 95% CI is "
        f"above {margin:g}, fails if below ({setting})."
    )
    return Claim(
        "R2",
        _with_resolution(statement, verdict, (low, high)),
        verdict,
        float(loss),
        (float(low), float(high)),
    )
