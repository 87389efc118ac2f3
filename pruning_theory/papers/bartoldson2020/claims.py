"""The checks M1-M6 and claims C1-C7 of docs/papers/bartoldson2020.md, from finished sweeps.

Every number comes from the measured arrays (`experiment.summarize` adds each run's mean
stability, best test accuracy after the last prune, final-epoch accuracy and generalization
gaps). The rules are fixed here, before any run (spec, "What a reproduction must show"):

* sanity checks (M1, M2, M3, M6) hold exactly by construction: holds or fails;
* a correlation claim uses the within-seed (repeated-measures) correlation: every seed's mean
  is removed first, so a seed that is better or more stable overall does not make a
  correlation (`stability.within_seed_correlation`). It holds when the 95% interval lies on
  the predicted side of 0, fails when it lies on the other side, else is inconclusive and
  states the smallest correlation the run could have detected;
* a paired comparison holds when the 95% Student-t interval over seeds of the per-seed
  difference lies on the predicted side of 0, fails when it lies on the other side, else is
  inconclusive and states its interval's half-width (the smallest difference it resolves);
* a claim over a family (every rate, every target) is one joint test: it holds when every
  member's 95% interval is on the predicted side (an intersection-union test needs no
  correction), fails when some member's Bonferroni-corrected interval (level 1 - 0.05/k) is
  on the other side, else is inconclusive.

The pre-registered primary test of the tradeoff is C1; its secondary test is C3. Accuracies
are in percentage points. Every rule works on any subset of >= 2 seeds (the runner re-runs
`claims` on halves of the seeds); with fewer, intervals are infinite and verdicts
inconclusive. The ``target`` and ``method`` axes carry method names
(`experiment.label_methods`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import ml_collections
import numpy as np

from pruning_theory.claims import Claim, Verdict, combine_verdicts, format_ci, mean_ci
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.bartoldson2020 import schedules, stability

TARGET_ORDER = ("smallest", "random", "largest")  # the predicted order of stability
CONFIDENCE = 0.95
TARGET_AXES = ("seed", "target", "retrain_period")


# ----------------------------------------------------------------------------- verdict rules


def sign_verdict(ci: Sequence[float], sign: int) -> Verdict:
    """Holds if the interval is on the ``sign`` side of 0, fails if on the other side."""
    low, high = ci
    if (high < 0) if sign < 0 else (low > 0):
        return "holds"
    if (low > 0) if sign < 0 else (high < 0):
        return "fails"
    return "inconclusive"


def joint_sign_verdict(
    intervals: Sequence[Sequence[float]], corrected: Sequence[Sequence[float]], sign: int
) -> Verdict:
    """One test over a family: holds if every interval is on the ``sign`` side of 0; fails if
    any Bonferroni-corrected interval is on the other side; inconclusive otherwise (and for an
    empty family)."""
    if not intervals:
        return "inconclusive"
    if any(sign_verdict(ci, sign) == "fails" for ci in corrected):
        return "fails"
    return combine_verdicts(
        "holds" if sign_verdict(ci, sign) == "holds" else "inconclusive" for ci in intervals
    )


def _half_width(ci: Sequence[float]) -> float:
    return (ci[1] - ci[0]) / 2


def paired_claim(
    claim_id: str, statement: str, differences: np.ndarray, sign: int, unit: str = ""
) -> Claim:
    """A claim that the per-seed ``differences`` have the sign ``sign`` (95% t-interval).

    The statement gets the mean, interval and seed count; an inconclusive one also the
    interval's half-width, the smallest mean difference the run resolves.
    """
    differences = np.asarray(differences, np.float64)
    mean, low, high = (float(v) for v in mean_ci(differences, confidence=CONFIDENCE))
    verdict = sign_verdict((low, high), sign)
    text = (
        f"{statement} Mean paired difference {mean:.4g}{unit} {format_ci((low, high))} over "
        f"{differences.size} seeds."
    )
    if verdict == "inconclusive":
        text += f" Resolution: +-{_half_width((low, high)):.3g}{unit} (95% half-width)."
    return Claim(claim_id, text, verdict, mean, (low, high))


def correlation_claim(claim_id: str, statement: str, x, y, sign: int) -> Claim:
    """A claim that the within-seed correlation of ``x`` and ``y`` (``[seed, ...]``) has the
    sign ``sign``; an inconclusive one states the smallest detectable correlation."""
    measured = stability.within_seed_correlation(x, y, CONFIDENCE)
    verdict = sign_verdict(measured.ci, sign)
    expected = "negative" if sign < 0 else "positive"
    text = f"{statement} Predicted {expected}; measured {measured.describe()}."
    if verdict == "inconclusive":
        text += (
            f" Inconclusive: this run could have detected a within-seed |r| of "
            f"{measured.detectable:.2f} (80% power) and excludes neither sign."
        )
    return Claim(claim_id, text, verdict, measured.r, measured.ci)


def joint_paired_claim(
    claim_id: str, statement: str, differences: Mapping[str, np.ndarray], sign: int, unit=""
) -> Claim:
    """One joint test that every member's per-seed differences have the sign ``sign``.

    The statistic is the member mean closest to the wrong side, with its 95% interval.
    """
    level = 1 - (1 - CONFIDENCE) / max(len(differences), 1)
    rows, plain, corrected = [], [], []
    for label, values in differences.items():
        mean, low, high = (float(v) for v in mean_ci(np.asarray(values, np.float64)))
        _, c_low, c_high = (float(v) for v in mean_ci(np.asarray(values, np.float64), 0, level))
        rows.append((label, mean, (low, high)))
        plain.append((low, high))
        corrected.append((c_low, c_high))
    verdict = joint_sign_verdict(plain, corrected, sign)
    if not rows:
        return Claim(claim_id, f"{statement} Nothing to compare.", "inconclusive", math.nan)
    worst = min(rows, key=lambda row: sign * row[1])
    listing = "; ".join(f"{label}: {mean:.4g}{unit} {format_ci(ci)}" for label, mean, ci in rows)
    text = (
        f"{statement} Per-seed mean differences with 95% CIs (joint rule over "
        f"{len(rows)}: all CIs on the predicted side -> holds; any Bonferroni {100 * level:.3g}% "
        f"CI on the other side -> fails): {listing}."
    )
    return Claim(claim_id, text, verdict, worst[1], worst[2])


def joint_correlation_claim(
    claim_id: str, statement: str, groups: Mapping[str, tuple[np.ndarray, np.ndarray]], sign: int
) -> Claim:
    """One joint test that the within-seed correlation has the sign ``sign`` in every group."""
    level = 1 - (1 - CONFIDENCE) / max(len(groups), 1)
    measured = {k: stability.within_seed_correlation(*v, CONFIDENCE) for k, v in groups.items()}
    corrected = [stability.within_seed_correlation(*v, level).ci for v in groups.values()]
    verdict = joint_sign_verdict([m.ci for m in measured.values()], corrected, sign)
    if not measured:
        return Claim(claim_id, f"{statement} No group.", "inconclusive", math.nan)
    label, worst = max(
        measured.items(), key=lambda item: sign * -item[1].r if math.isfinite(item[1].r) else 0
    )
    listing = "; ".join(f"{k}: r = {m.r:.3f} {format_ci(m.ci, '.3f')}" for k, m in measured.items())
    text = (
        f"{statement} Within-seed r with 95% CI (joint rule over {len(measured)} groups: all "
        f"CIs on the predicted side -> holds; any Bonferroni {100 * level:.3g}% CI on the other "
        f"side -> fails): {listing}. Statistic: the group least in the predicted direction "
        f"({label})."
    )
    return Claim(claim_id, text, verdict, worst.r, worst.ci)


# ----------------------------------------------------------------------------- arrays


def ordered(result: SweepResult, name: str, axes: Sequence[str]) -> np.ndarray:
    """A final metric with its grid axes moved to the order ``axes``."""
    positions = [result.axis(axis) for axis in axes]
    return np.moveaxis(result.final[name], positions, range(len(axes)))


def names_of(result: SweepResult, axis: str) -> list[str]:
    """The method names along a labelled axis (``target`` or ``method``)."""
    return [str(name) for name in result.axes[axis]]


def _points(values: np.ndarray) -> np.ndarray:
    return 100 * np.asarray(values, np.float64)


def _baseline(baselines: SweepResult, name: str, method: str) -> np.ndarray:
    """``[seed]`` a final metric of one baseline method."""
    column = names_of(baselines, "method").index(method)
    return ordered(baselines, name, ("seed", "method"))[:, column]


def iterative_rates(main: SweepResult, layers) -> np.ndarray:
    """The iterative pruning rate of every retrain period of the target sweep."""
    periods = main.axes["retrain_period"]
    return np.asarray([schedules.iterative_pruning_rate(layers, int(p)) for p in periods])


# ----------------------------------------------------------------------------- sanity checks


def check_schedule(sweeps: Mapping[str, SweepResult], layers) -> Claim:
    """M1: every run's alive units follow its schedule table and end at ceil((1 - p) F)."""
    main, baselines = sweeps["metrics"], sweeps["baselines"]
    num_epochs = main.metrics["alive"].shape[len(main.axes)]
    units = np.asarray([layer.num_units for layer in layers])
    final_kept = units - schedules.scratch_removal(layers)
    mismatches = 0
    for index, period in enumerate(main.axes["retrain_period"]):
        table = schedules.removal_table(layers, int(period), num_epochs)
        expected = units - np.cumsum(table, axis=0)
        alive = np.take(main.metrics["alive"], index, axis=main.axis("retrain_period"))
        mismatches += int(np.sum(np.any(alive != expected, axis=(-2, -1))))
    end = {
        name: ordered(baselines, "alive", ("method",))[i]
        for i, name in enumerate(names_of(baselines, "method"))
    }
    wanted = {"none": units, "scratch": final_kept}
    mismatches += sum(int(np.sum(np.any(end[k] != wanted[k], axis=-1))) for k in end)
    runs = main.final["alive"][..., 0].size + baselines.final["alive"][..., 0].size
    return Claim(
        "M1",
        f"Schedule as data: in every target run the alive units after each epoch equal F minus "
        f"the cumulative schedule table, ending at ceil((1-p)F) = {final_kept.tolist()} of "
        f"F = {units.tolist()}; scratch runs hold that count from initialization, unpruned runs "
        f"keep F. Runs off schedule: {mismatches} of {runs}.",
        "holds" if mismatches == 0 else "fails",
        float(mismatches),
        kind="sanity",
    )


def check_pruned_outputs(sweeps: Mapping[str, SweepResult]) -> Claim:
    """M2: a pruned unit (weights and BN scale/bias masked) outputs exactly 0."""
    name = "pruned_activity_max"
    largest = max(
        max(float(np.max(r.metrics[name])), float(np.max(r.final[name]))) for r in sweeps.values()
    )
    return Claim(
        "M2",
        "Pruned units output exactly 0 with the following BatchNorm masked: the largest mean "
        f"|output| of a pruned unit on the test set right after any prune, or at the end of any "
        f"run (scratch included), is {largest:g}.",
        "holds" if largest == 0 else "fails",
        largest,
        kind="sanity",
    )


def check_baselines_stable(baselines: SweepResult) -> Claim:
    """M3: none and scratch runs never prune during training: stability exactly 100."""
    values = baselines.final["mean_stability"]
    events = int(np.sum(baselines.final["pruning_epochs"]))
    holds = events == 0 and np.all(values == stability.PERFECT_STABILITY)
    return Claim(
        "M3",
        f"No-pruning and scratch runs have mean stability 100 (min {np.min(values):.6g}) with "
        f"{events} pruning events during training.",
        "holds" if holds else "fails",
        float(np.min(values)),
        None,
        stability.PERFECT_STABILITY,
        kind="sanity",
    )


def check_noise(noise: SweepResult, layers, config) -> Claim:
    """M6: temporary pruning removes nothing, zeroes its targets in the window, regrows them."""
    units = np.asarray([layer.num_units for layer in layers])
    full = bool(np.all(noise.final["alive"] == units))
    dense = np.unique(noise.final["kept_weights"])
    num_epochs = noise.metrics["removed"].shape[len(noise.axes)]
    table = schedules.removal_table(layers, int(config.noise.retrain_period), num_epochs)
    events = (table > 0).sum(axis=0)
    applications = np.moveaxis(
        noise.metrics["noise_applications"].sum(axis=len(noise.axes)), noise.axis("window"), -2
    )
    windows_ok = bool(np.all(applications == np.asarray(noise.axes["window"])[:, None] * events))
    methods = names_of(noise, "method")
    weight_max, regrown = math.nan, math.nan
    if "zeroing" in methods:
        take = lambda v: np.take(v, methods.index("zeroing"), axis=noise.axis("method"))  # noqa: E731
        weight_max = float(np.max(take(noise.metrics["targeted_weight_max"])))
        regrown = float(np.min(take(noise.final["targeted_norm"])))
    holds = full and len(dense) == 1 and windows_ok and weight_max == 0 and regrown > 0
    return Claim(
        "M6",
        f"Temporary pruning keeps every unit (alive = F in all noise runs: {full}; kept weights "
        f"{dense.tolist()}), applies its operation to the Prune_L targets for exactly the window "
        f"after each of the {events.tolist()} events per layer ({windows_ok}), the zeroed "
        f"weights seen by the forward pass during the window are at most {weight_max:g} in "
        f"magnitude, and they regrow (smallest final norm of the last targets {regrown:.3g}).",
        "holds" if holds else "fails",
        weight_max,
        kind="sanity",
    )


# ----------------------------------------------------------------------------- stability


def check_target_order(main: SweepResult, rates: np.ndarray) -> Claim:
    """M4: stability orders S > R > L at every iterative rate, paired over seeds, jointly."""
    values = ordered(main, "mean_stability", TARGET_AXES)
    names = names_of(main, "target")
    present = [name for name in TARGET_ORDER if name in names]
    differences = {}
    for upper, lower in zip(present[:-1], present[1:], strict=True):
        for j, rate in enumerate(rates):
            label = f"{upper[0].upper()}-{lower[0].upper()} at {100 * rate:.3g}%"
            gap = values[:, names.index(upper), j] - values[:, names.index(lower), j]
            differences[label] = gap
    return joint_paired_claim(
        "M4",
        f"Stability orders {' > '.join(n[0].upper() for n in present)} at every iterative "
        "pruning rate: mean stability (points) of the more stable target minus the next, paired "
        "by seed.",
        differences,
        +1,
    )


def check_rate_order(main: SweepResult, rates: np.ndarray) -> Claim:
    """M5: for every target, stability falls from each iterative rate to the next larger one."""
    values = ordered(main, "mean_stability", TARGET_AXES)
    order = np.argsort(rates)
    differences = {}
    for i, name in enumerate(names_of(main, "target")):
        for low, high in zip(order[:-1], order[1:], strict=True):
            label = f"{name[0].upper()} {100 * rates[low]:.3g}%-{100 * rates[high]:.3g}%"
            differences[label] = values[:, i, low] - values[:, i, high]
    return joint_paired_claim(
        "M5",
        "For every target, mean stability falls as the iterative pruning rate grows: stability "
        "at each rate minus at the next larger one, paired by seed.",
        differences,
        +1,
    )


def check_rate_lowers_stability(main: SweepResult, rates: np.ndarray) -> Claim:
    """C4: fewer, bigger events lower stability (largest vs smallest rate, paired by seed)."""
    if len(rates) < 2:
        return Claim("C4", "Needs at least two retrain periods.", "inconclusive", math.nan)
    values = ordered(main, "mean_stability", TARGET_AXES).mean(axis=1)
    largest, smallest = int(np.argmax(rates)), int(np.argmin(rates))
    return paired_claim(
        "C4",
        f"Larger per-event pruning lowers stability: mean stability at the iterative rate "
        f"{100 * rates[largest]:.3g}% minus at {100 * rates[smallest]:.3g}%, averaged over "
        "targets, paired by seed.",
        values[:, largest] - values[:, smallest],
        -1,
    )


# ----------------------------------------------------------------------------- the tradeoff


def tradeoff_claims(main: SweepResult) -> list[Claim]:
    """C1 (the pre-registered primary test), C1f (the same at the final epoch) and C2."""
    stable = ordered(main, "mean_stability", TARGET_AXES)
    best = _points(ordered(main, "best_accuracy", TARGET_AXES))
    final = _points(ordered(main, "final_accuracy", TARGET_AXES))
    gap = _points(ordered(main, "generalization_gap", TARGET_AXES))
    runs = f"{stable[0].size} target runs per seed (S/R/L x retrain periods)"
    c1 = correlation_claim(
        "C1",
        "Primary test, pre-registered (fixed before the run): generalization-stability "
        f"tradeoff within seeds. Over the {runs}, the within-seed correlation of mean stability "
        "and the best test accuracy after the last prune (the last prune is at the same epoch "
        f"for every retrain period). Generalization gap at that epoch: {gap.mean():.3g} points "
        f"on average (range {gap.min():.3g}-{gap.max():.3g}).",
        stable,
        best,
        -1,
    )
    c1f = correlation_claim(
        "C1f",
        "The same tradeoff at the final epoch (no selection of an epoch on the test set): "
        "within-seed correlation of mean stability and final-epoch test accuracy.",
        stable,
        final,
        -1,
    )
    groups = {}
    for i, name in enumerate(names_of(main, "target")):
        groups[f"target {name}"] = (stable[:, i], best[:, i])
    for j, period in enumerate(main.axes["retrain_period"]):
        groups[f"r = {int(period)}"] = (stable[:, :, j], best[:, :, j])
    c2 = joint_correlation_claim(
        "C2",
        "The tradeoff (stability vs best test accuracy, within seeds) holds within every target "
        "(across retrain periods) and within every retrain period (across targets). Scores, "
        "models and optimizers are not varied at this scale.",
        groups,
        -1,
    )
    return [c1, c1f, c2]


def check_large_vs_small(main: SweepResult) -> Claim:
    """C3 (pre-registered secondary): Prune_L minus Prune_S at equal retrain period."""
    names = names_of(main, "target")
    if not {"smallest", "largest"} <= set(names):
        return Claim("C3", "Needs the smallest and largest targets.", "inconclusive", math.nan)
    best = _points(ordered(main, "best_accuracy", TARGET_AXES))
    final = _points(ordered(main, "final_accuracy", TARGET_AXES))
    small, large = names.index("smallest"), names.index("largest")
    per_period = best[:, large] - best[:, small]
    listing = "; ".join(
        f"r = {int(p)}: {m:.3g} {format_ci((lo, hi), '.3g')}"
        for p, m, lo, hi in zip(main.axes["retrain_period"], *mean_ci(per_period), strict=True)
    )
    final_mean, *final_ci = mean_ci((final[:, large] - final[:, small]).mean(axis=-1))
    return paired_claim(
        "C3",
        "Secondary test, pre-registered: pruning large-score units generalizes better than "
        "pruning small ones. Best test accuracy after the last prune of Prune_L minus Prune_S at "
        "the same retrain period, averaged over the periods, paired by seed (points). Per "
        f"period: {listing}. At the final epoch: {float(final_mean):.3g} "
        f"{format_ci(final_ci, '.3g')}.",
        per_period.mean(axis=-1),
        +1,
        " points",
    )


def _least_stable_pruning(main: SweepResult, rates: np.ndarray) -> tuple[np.ndarray, str]:
    """``[seed]`` best accuracy (points) of Prune_L at the largest iterative rate (a priori)."""
    names = names_of(main, "target")
    target = "largest" if "largest" in names else names[-1]
    best = _points(ordered(main, "best_accuracy", TARGET_AXES))
    index = int(np.argmax(rates))
    label = f"Prune_{target[0].upper()} at {100 * rates[index]:.3g}% per event"
    return best[:, names.index(target), index], label


def check_scratch(main: SweepResult, baselines: SweepResult, rates: np.ndarray) -> Claim:
    """C5: the same final architecture pruned at init is stable but misses the benefit."""
    methods = names_of(baselines, "method")
    if "scratch" not in methods:
        return Claim("C5", "Needs the scratch baseline.", "inconclusive", math.nan)
    pruned, label = _least_stable_pruning(main, rates)
    scratch = _points(_baseline(baselines, "best_accuracy", "scratch"))
    extra = ""
    if "none" in methods:
        none = _points(_baseline(baselines, "best_accuracy", "none"))
        mean, *ci = mean_ci(none - scratch)
        extra = f" (no pruning minus scratch: {float(mean):.3g} {format_ci(ci, '.3g')})"
    return paired_claim(
        "C5",
        f"Final parameter count is not what matters: {label} beats scratch pruning to the same "
        f"final architecture (100% stable) in best test accuracy{extra}; runs that never prune "
        "take their best over the same epochs as the pruned runs (from the last event on).",
        pruned - scratch,
        +1,
        " points",
    )


def check_noise_helps(
    main: SweepResult, baselines: SweepResult, noise: SweepResult, config
) -> Claim:
    """C6: temporary pruning (longest window, both kinds) helps like Prune_L, vs no pruning."""
    if "none" not in names_of(baselines, "method"):
        return Claim("C6", "Needs the no-pruning baseline.", "inconclusive", math.nan)
    none = _points(_baseline(baselines, "best_accuracy", "none"))
    best = _points(ordered(noise, "best_accuracy", ("seed", "method", "window")))
    windows = np.asarray(noise.axes["window"])
    listing = []
    for i, kind in enumerate(names_of(noise, "method")):
        for j, window in enumerate(windows):
            mean, *ci = mean_ci(best[:, i, j] - none)
            listing.append(f"{kind} {int(window)}: {float(mean):.3g} {format_ci(ci, '.3g')}")
    period = int(config.noise.retrain_period)
    periods = [int(p) for p in main.axes["retrain_period"]]
    if period in periods and "largest" in names_of(main, "target"):
        prune_l = _points(ordered(main, "best_accuracy", TARGET_AXES))
        prune_l = prune_l[:, names_of(main, "target").index("largest"), periods.index(period)]
        mean, *ci = mean_ci(prune_l - none)
        listing.append(f"Prune_L (r = {period}): {float(mean):.3g} {format_ci(ci, '.3g')}")
    longest = int(np.argmax(windows))
    return paired_claim(
        "C6",
        f"Pruning ~ noise: temporary pruning of the Prune_L targets (r = {period}) for the "
        f"longest window ({int(windows[longest])} batches; zeroing and Gaussian averaged) beats "
        "no pruning in best test accuracy over the same epochs, with no parameter removed. "
        f"Every variant minus no pruning (points): {'; '.join(listing)}.",
        best[:, :, longest].mean(axis=1) - none,
        +1,
        " points",
    )


def flatness_claims(main: SweepResult, baselines: SweepResult, config) -> list[Claim]:
    """C7a-c: within seeds, across target and baseline runs, less stability -> flatter."""
    if "hessian_trace_top" not in main.final:
        return [Claim("C7", "Flatness was not measured.", "inconclusive", math.nan)]
    epsilon_max = config.flatness.epsilon_max

    def runs(name: str, transform=lambda v: v) -> np.ndarray:
        """``[seed, runs]``: the target runs, then the baseline runs, of every seed."""
        target = transform(ordered(main, name, TARGET_AXES))
        base = transform(ordered(baselines, name, ("seed", "method")))
        seeds = target.shape[0]
        return np.concatenate([target.reshape(seeds, -1), base.reshape(seeds, -1)], axis=1)

    stable = runs("mean_stability")
    radius = runs("sharpness_radius", lambda v: np.mean(np.minimum(v, epsilon_max), axis=-1))
    censored = sum(int(np.sum(np.isinf(r.final["sharpness_radius"]))) for r in (main, baselines))
    scope = f"within seeds, over the {stable.shape[1]} target and baseline runs of each seed"
    k = config.flatness.num_eigenvalues
    return [
        correlation_claim(
            "C7a",
            f"Less stability -> flatter: {scope}, mean stability vs Tr(H_{k}), the sum of the top "
            f"{k} Hessian eigenvalues (Lanczos) on {config.flatness.num_images} test images.",
            stable,
            runs("hessian_trace_top"),
            +1,
        ),
        correlation_claim(
            "C7b",
            f"Less stability -> less gradient noise: {scope}, mean stability vs Tr(C), the "
            "uncentered per-example gradient covariance trace.",
            stable,
            runs("gradient_covariance_trace"),
            +1,
        ),
        correlation_claim(
            "C7c",
            f"Less stability -> wider minima: {scope}, mean stability vs the epsilon-sharpness "
            f"radius (loss rise {config.flatness.loss_rise:g}) averaged over the top "
            f"{config.flatness.num_directions} eigenvectors; {censored} direction(s) never "
            f"reached the rise within |eps| <= {epsilon_max:g} and count as that bound.",
            stable,
            radius,
            -1,
        ),
    ]


def claims(
    sweeps: Mapping[str, SweepResult],
    config: ml_collections.ConfigDict,
    layers: Sequence[schedules.LayerSchedule],
) -> list[Claim]:
    """Every check and claim of the spec, in order: M1-M6, then C1-C7.

    Args:
      sweeps: ``metrics``, ``baselines`` and optionally ``noise`` (any subset of seeds).
      config: the config they ran with.
      layers: the pruned layers' schedules.
    """
    main, baselines = sweeps["metrics"], sweeps["baselines"]
    rates = iterative_rates(main, layers)
    checks = [
        check_schedule(sweeps, layers),
        check_pruned_outputs(sweeps),
        check_baselines_stable(baselines),
        check_target_order(main, rates),
        check_rate_order(main, rates),
    ]
    if "noise" in sweeps:
        checks.append(check_noise(sweeps["noise"], layers, config))
    findings = [
        *tradeoff_claims(main),
        check_large_vs_small(main),
        check_rate_lowers_stability(main, rates),
        check_scratch(main, baselines, rates),
    ]
    if "noise" in sweeps:
        findings.append(check_noise_helps(main, baselines, sweeps["noise"], config))
    findings += flatness_claims(main, baselines, config)
    return checks + findings
