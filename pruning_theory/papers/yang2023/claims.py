"""The checks S1, S2, C1-C6 of docs/papers/yang2023.md, computed from finished sweeps.

Every statistic comes from the measured arrays; intervals are 95% Student-t intervals over
seeds (or Clopper-Pearson for pooled test points). Verdict rules are fixed here, before any
run: a CI inside the target band holds, a CI outside it fails, anything else is inconclusive.
C3 picks the best rate p* on one half of the seeds and measures the gain on the other half,
so the reported gain is not inflated by the choice of p*.
"""

from __future__ import annotations

import dataclasses
import math

import ml_collections
import numpy as np
from scipy import stats

from pruning_theory.claims import (
    Claim,
    binomial_ci,
    mean_ci,
    verdict_above,
    verdict_within,
)
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.yang2023 import theory

# S1: a pruned weight compared with the recomputed initialization may differ by float32
# rounding (XLA can fuse the recomputation differently); a GD step would move it far more.
MAX_RECOMPUTATION_ULPS = 2


def _rates(result: SweepResult) -> np.ndarray:
    return np.asarray(result.axes["pruning_rate"], dtype=float)


def _fmt_ci(ci) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def over_pruned(rates: np.ndarray, width: int) -> np.ndarray:
    """The spec's over-pruned rates: m (1 - p) <= 0.5."""
    return width * (1 - rates) <= 0.5


def check_masks(result: SweepResult, config) -> Claim:
    """S1: kept fraction within a 4-sigma binomial band; pruned weights never move or learn."""
    rates = _rates(result)
    total = 2 * config.model.width * config.data.dimension
    kept = result.final["kept_weights"]
    expected = total * (1 - rates)
    sigma = np.sqrt(total * rates * (1 - rates))
    deviation = np.abs(kept - expected)
    z = np.where(sigma > 0, deviation / np.where(sigma > 0, sigma, 1), np.where(deviation, 1e9, 0))
    drift = float(np.max(result.final["pruned_weight_drift_ulps"]))
    gradient = float(np.max(result.final["pruned_gradient_max"]))
    max_z = float(np.max(z))
    holds = max_z <= 4 and drift <= MAX_RECOMPUTATION_ULPS and gradient == 0
    return Claim(
        "S1",
        f"Masks: kept counts within 4 binomial sigmas of (1-p) x {total} weights in every cell "
        f"(max |z| = {max_z:.2f}); pruned-weight gradient max {gradient:g} (must be exactly 0); "
        f"pruned weights moved by at most {drift:g} float32 ulps of their initial value (at "
        f"most {MAX_RECOMPUTATION_ULPS}: recomputing the initialization may round differently).",
        "holds" if holds else "fails",
        max_z,
    )


def check_signal_blind(result: SweepResult, config) -> Claim:
    """S2: cells where no filter keeps the signal coordinate are invariant to mu, at chance."""
    blind = result.final["signal_keeping_filters"].sum(-1) == 0
    count = int(blind.sum())
    if count == 0:
        return Claim(
            "S2",
            "No cell lost every signal coordinate; nothing to check.",
            "inconclusive",
            math.nan,
        )
    response = float(np.max(result.final["signal_response_max"][blind]))
    trials = count * config.data.num_test
    successes = int(
        round(float(np.sum(result.final["test_accuracy"][blind])) * config.data.num_test)
    )
    low, high = binomial_ci(successes, trials)
    holds = response == 0 and low <= 0.5 <= high
    return Claim(
        "S2",
        f"{count} cells keep no signal coordinate: max |<w*m, mu>| = {response:g} (f invariant to "
        f"mu) and pooled test accuracy {successes / trials:.3f} over {trials} test points "
        "(Clopper-Pearson CI must contain 0.5).",
        "holds" if holds else "fails",
        successes / trials,
        (low, high),
        0.5,
    )


def check_memorization(result: SweepResult, config) -> Claim:
    """C1: train accuracy 1 and loss -> 0 wherever (1 - p) d >= 10 n."""
    rates = _rates(result)
    where = theory.memorization_possible(rates, config.data.dimension, config.data.num_train)
    accuracy = result.last("train_accuracy")[:, where]
    loss = result.last("train_loss")[:, where]
    worst_loss, worst_accuracy = float(loss.max()), float(accuracy.min())
    holds = worst_accuracy == 1 and worst_loss <= config.checks.loss_tolerance
    return Claim(
        "C1",
        f"At every p with (1-p) d >= 10 n ({int(where.sum())} rates, p <= {rates[where].max():g}) "
        f"GD with T/(1-p) steps fits the training set: min train accuracy {worst_accuracy:.3f}, "
        f"max final training loss {worst_loss:.2g} (tolerance {config.checks.loss_tolerance}).",
        "holds" if holds else "fails",
        worst_loss,
        None,
        0.0,
    )


def _chance_band(config) -> tuple[float, float]:
    tolerance = config.checks.chance_tolerance
    return 0.5 - tolerance, 0.5 + tolerance


def check_dense_harmful(result: SweepResult, config) -> Claim:
    """C2: the dense net (p = 0) fits the data but tests near chance."""
    rates = _rates(result)
    if 0.0 not in rates:
        return Claim("C2", "p = 0 is not in the grid.", "inconclusive", math.nan)
    dense = int(np.flatnonzero(rates == 0.0)[0])
    accuracy = result.final["test_accuracy"][:, dense]
    mean, low, high = mean_ci(accuracy)
    train_accuracy = float(result.last("train_accuracy")[:, dense].min())
    verdict = verdict_within((low, high), *_chance_band(config))
    if train_accuracy < 1:
        verdict = "fails"
    return Claim(
        "C2",
        f"Dense net (p = 0) overfits harmfully: test accuracy {mean:.3f} {_fmt_ci((low, high))} "
        f"within 0.5 +- {config.checks.chance_tolerance} while min train accuracy is "
        f"{train_accuracy:.3f}.",
        verdict,
        float(mean),
        (float(low), float(high)),
        0.5,
    )


def split_seeds(num_seeds: int) -> tuple[np.ndarray, np.ndarray]:
    """Selection seeds (even positions) and evaluation seeds (odd positions)."""
    positions = np.arange(num_seeds)
    return positions[::2], positions[1::2]


def best_mild_rate(result: SweepResult, config) -> tuple[int, Claim]:
    """C3: the best mild rate p* (chosen on half the seeds) beats p = 0 on the other half."""
    rates = _rates(result)
    accuracy = result.final["test_accuracy"]
    mild = np.flatnonzero((rates > 0) & ~over_pruned(rates, config.model.width))
    if 0.0 not in rates or mild.size == 0 or accuracy.shape[0] < 4:
        return -1, Claim("C3", "Needs p = 0, a mild rate and >= 4 seeds.", "inconclusive", math.nan)
    dense = int(np.flatnonzero(rates == 0.0)[0])
    select, evaluate = split_seeds(accuracy.shape[0])
    best = int(mild[np.argmax(accuracy[select][:, mild].mean(0))])
    gain = accuracy[evaluate, best] - accuracy[evaluate, dense]
    mean, low, high = mean_ci(gain)
    below = np.flatnonzero(rates <= rates[best])
    tau = stats.kendalltau(rates[below], accuracy[:, below].mean(0)).statistic
    verdict = verdict_above((low, high), 0.0)
    if verdict == "holds" and (mean < config.checks.min_gain or not tau > 0):
        verdict = "fails"
    ceiling = float(theory.signal_availability_bound(rates[best], config.model.width)) - 0.5
    return best, Claim(
        "C3",
        f"Mild pruning helps: p* = {rates[best]:g} (best mean on {select.size} selection seeds) "
        f"beats p = 0 by {mean:.3f} {_fmt_ci((low, high))} on {evaluate.size} held-out seeds "
        f"(needs CI > 0 and gain >= {config.checks.min_gain}); accuracy rises up to p* "
        f"(Kendall tau {tau:.2f} over p <= p*). Theory: the availability ceiling of the gain.",
        verdict,
        float(mean),
        (float(low), float(high)),
        ceiling,
    )


def check_over_pruned(result: SweepResult, config) -> Claim:
    """C4: at the largest rate, with m (1 - p) <= 0.5, the net fits the data but tests at chance.

    The abstract's form: "there is a large p at which GD still drives the training loss to zero
    ... but test performance is no better than random guessing". The statement also lists the
    mean accuracy at every over-pruned rate.
    """
    rates = _rates(result)
    where = np.flatnonzero(over_pruned(rates, config.model.width))
    if where.size == 0 or where.max() != np.argmax(rates):
        return Claim(
            "C4",
            "The largest rate of the grid does not have m (1-p) <= 0.5.",
            "inconclusive",
            math.nan,
        )
    largest = int(np.argmax(rates))
    accuracy = result.final["test_accuracy"]
    mean, low, high = mean_ci(accuracy[:, largest])
    train_accuracy = float(result.last("train_accuracy")[:, largest].min())
    verdict = verdict_within((low, high), *_chance_band(config))
    if train_accuracy < 1 and verdict == "holds":
        verdict = "fails"
    listing = ", ".join(f"{rates[i]:g}: {accuracy[:, i].mean():.3f}" for i in where)
    kept_per_class = config.model.width * (1 - rates[largest])
    return Claim(
        "C4",
        f"Over-pruning: at p = {rates[largest]:g} (m (1-p) = {kept_per_class:.2g})"
        f" test accuracy {mean:.3f} {_fmt_ci((low, high))} is within 0.5 +- "
        f"{config.checks.chance_tolerance} while min train accuracy is {train_accuracy:.3f}. "
        f"Mean test accuracy at every rate with m (1-p) <= 0.5: {listing}. "
        "Theory: the availability bound at that p.",
        verdict,
        float(mean),
        (float(low), float(high)),
        float(theory.signal_availability_bound(rates[largest], config.model.width)),
    )


def signal_share(result: SweepResult) -> np.ndarray:
    """Share of the own-class training margin that comes from the signal patch."""
    signal, noise = result.last("signal_output"), result.last("noise_output")
    return signal / np.maximum(signal + noise, 1e-30)


def check_mechanism(result: SweepResult, config, best: int) -> Claim:
    """C5: signal learning wins at p*, noise memorization at p = 0, gamma = 0 when blind."""
    rates = _rates(result)
    if best < 0 or 0.0 not in rates:
        return Claim("C5", "Needs p* from C3 and p = 0.", "inconclusive", math.nan)
    share = signal_share(result)
    dense = int(np.flatnonzero(rates == 0.0)[0])
    effective = result.final["effective_filters"][:, best].min(-1) > 0
    if effective.sum() < 2:
        return Claim(
            "C5",
            f"Fewer than 2 seeds at p* = {rates[best]:g} have effective filters in both classes.",
            "inconclusive",
            math.nan,
        )
    mean, low, high = mean_ci(share[effective, best])
    dense_mean, dense_low, dense_high = mean_ci(share[:, dense])
    blind = result.final["signal_keeping_filters"].sum(-1) == 0
    gamma_blind = (
        float(np.abs(result.last("signal_learning_max")[blind]).max()) if blind.any() else 0.0
    )
    parts = [
        verdict_above((low, high), 0.5),
        verdict_within((dense_low, dense_high), -np.inf, 0.5),
        "holds" if gamma_blind == 0 else "fails",
    ]
    verdict = (
        "fails" if "fails" in parts else ("holds" if set(parts) == {"holds"} else "inconclusive")
    )
    return Claim(
        "C5",
        f"Mechanism: signal share of the training margin {mean:.3f} {_fmt_ci((low, high))} at "
        f"p* = {rates[best]:g} over the {int(effective.sum())} seeds with an effective filter in "
        f"each class (> 0.5: signal learning dominates); {dense_mean:.3f} "
        f"{_fmt_ci((dense_low, dense_high))} at p = 0 (< 0.5: noise memorization dominates); "
        f"max |gamma| = {gamma_blind:g} over the {int(blind.sum())} cells without a kept signal "
        "coordinate.",
        verdict,
        float(mean),
        (float(low), float(high)),
    )


def largest_gain(result: SweepResult) -> tuple[float, tuple[float, float], float]:
    """The largest mean paired gain over p = 0 among p > 0: (mean, CI, rate)."""
    rates = _rates(result)
    accuracy = result.final["test_accuracy"]
    dense = int(np.flatnonzero(rates == 0.0)[0])
    candidates = [
        (mean_ci(accuracy[:, i] - accuracy[:, dense]), rates[i]) for i in np.flatnonzero(rates > 0)
    ]
    (mean, low, high), rate = max(candidates, key=lambda c: c[0][0])
    return float(mean), (float(low), float(high)), float(rate)


def check_no_gain(claim_id: str, label: str, result: SweepResult, config) -> Claim:
    """C6a/b: a control shows no gain from pruning of min_gain / 2 or more at any p."""
    if 0.0 not in _rates(result):
        return Claim(claim_id, "p = 0 is not in the grid.", "inconclusive", math.nan)
    margin = config.checks.min_gain / 2
    mean, ci, rate = largest_gain(result)
    return Claim(
        claim_id,
        f"Control {label}: largest gain of any p > 0 over p = 0 is {mean:.3f} {_fmt_ci(ci)} "
        f"(at p = {rate:g}); 'no gain' means the CI stays below {margin:g}.",
        verdict_within(ci, -np.inf, margin),
        mean,
        ci,
    )


def check_availability(result: SweepResult, config, claim_id: str, bound_name: str) -> Claim:
    """C6c / C6d: test accuracy never exceeds an availability bound by > 3 standard errors."""
    rates = _rates(result)
    accuracy = result.final["test_accuracy"]
    bound = getattr(theory, bound_name)(rates, config.model.width)
    sem = accuracy.std(0, ddof=1) / math.sqrt(accuracy.shape[0])
    excess = (accuracy.mean(0) - bound) / np.maximum(sem, 1e-12)
    worst = int(np.argmax(excess))
    sigmas = config.checks.availability_sigmas
    formula = {
        "signal_availability_bound": "the spec's bound 1 - P0/2",
        "one_sided_detection_bound": "the post-hoc one-sided detection bound 1 - P0^2/2",
    }[bound_name]
    return Claim(
        claim_id,
        f"Signal availability (reconstruction): mean test accuracy exceeds {formula} "
        f"(P0 = ((1+p)/2)^m) by at most {excess[worst]:.2f} standard errors (at p = "
        f"{rates[worst]:g}, accuracy {accuracy.mean(0)[worst]:.3f}); must be <= {sigmas:g}.",
        "holds" if excess[worst] <= sigmas else "fails",
        float(excess[worst]),
        None,
        float(bound[worst]),
    )


def noted(claim: Claim, note: str) -> Claim:
    """The claim with ``note`` (e.g. `diverged_note`) appended to its statement."""
    return dataclasses.replace(claim, statement=claim.statement + note) if note else claim


def yang2023_claims(
    main: SweepResult,
    controls: dict[str, SweepResult],
    config: ml_collections.ConfigDict,
    notes: dict[str, str] | None = None,
) -> list[Claim]:
    """All checks of the spec, in its order.

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
        check_mechanism(main, config, best),
    ]
    labels = {"dense_mu": ("C6a", "dense mu"), "relu": ("C6b", "q = 1 (ReLU)")}
    control_claims = []
    for name, result in controls.items():
        claim_id, label = labels.get(name, (f"C6-{name}", name))
        claim = check_no_gain(claim_id, label, result, config)
        control_claims.append(noted(claim, notes.get(f"control_{name}", "")))
    availability = [
        check_availability(main, config, "C6c", "signal_availability_bound"),
        check_availability(main, config, "C6d", "one_sided_detection_bound"),
    ]
    main_note = notes.get("metrics", "")
    return (
        [noted(c, main_note) for c in claims]
        + control_claims
        + [noted(c, main_note) for c in availability]
    )
