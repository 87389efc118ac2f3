"""The checks M1-M6 and claims C1-C7 of docs/papers/bartoldson2020.md, from finished sweeps.

Every number comes from the measured arrays (`bartoldson2020.summarize` adds each run's mean
stability, best test accuracy after the last prune and generalization gap). The verdict rules
are fixed here, before any run:

* mechanics (M*) must hold exactly at any scale: holds or fails;
* a correlation claim holds when the 95% intervals of both Pearson's r and Kendall's tau lie
  on the predicted side of 0, fails when either lies on the other side, else is
  inconclusive ("inconclusive at this scale": a null is reported, never hidden);
* a paired comparison holds when the 95% Student-t interval over seeds of the paired
  difference lies on the predicted side of 0, fails when it lies on the other side.

Correlations are across runs, as in the paper; runs of one seed share the initialization and
the minibatch order, so they are not independent and the intervals are optimistic.
`bartoldson2020.analyze` drops seeds with a diverged cell and names them in every claim.
The ``target`` and ``method`` axes carry method names (`bartoldson2020.label_methods`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import ml_collections
import numpy as np

from pruning_theory.claims import Claim, Verdict, mean_ci
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.bartoldson2020 import schedules, stability

TARGET_ORDER = ("smallest", "random", "largest")  # the predicted order of stability


def _ci_text(ci) -> str:
    return f"[{ci[0]:.4g}, {ci[1]:.4g}]"


def _paired(differences: np.ndarray) -> tuple[float, tuple[float, float]]:
    mean, low, high = mean_ci(differences)
    return float(mean), (float(low), float(high))


def _sign_verdict(intervals: Sequence[tuple[float, float]], sign: int) -> Verdict:
    """Holds if every interval is on the ``sign`` side of 0, fails if any is on the other."""
    if any((low > 0 if sign < 0 else high < 0) for low, high in intervals):
        return "fails"
    if all((high < 0 if sign < 0 else low > 0) for low, high in intervals):
        return "holds"
    return "inconclusive"


def correlation_claim(claim_id: str, statement: str, x, y, sign: int, note: str = "") -> Claim:
    """A claim that ``corr(x, y)`` has the sign ``sign`` (Pearson and Kendall, 95% CIs)."""
    measured = stability.correlation(x, y)
    verdict = _sign_verdict([measured.pearson_ci, measured.kendall_ci], sign)
    expected = "negative" if sign < 0 else "positive"
    return Claim(
        claim_id,
        f"{statement} Predicted {expected}; measured {measured.describe()}.{note}",
        verdict,
        measured.pearson,
        measured.pearson_ci,
    )


def paired_claim(claim_id: str, statement: str, differences: np.ndarray, sign: int) -> Claim:
    """A claim that the seed-paired ``differences`` have the sign ``sign`` (95% t-CI)."""
    mean, ci = _paired(differences)
    return Claim(
        claim_id,
        f"{statement} Mean paired difference {mean:.4g} {_ci_text(ci)} over "
        f"{len(differences)} seeds.",
        _sign_verdict([ci], sign),
        mean,
        ci,
    )


def ordered(result: SweepResult, name: str, axes: Sequence[str]) -> np.ndarray:
    """A final metric with its grid axes moved to the order ``axes``."""
    positions = [result.axis(axis) for axis in axes]
    return np.moveaxis(result.final[name], positions, range(len(axes)))


def _names(result: SweepResult, axis: str) -> list[str]:
    """The method names along a labelled axis (``target`` or ``method``)."""
    return [str(name) for name in result.axes[axis]]


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
        for i, name in enumerate(_names(baselines, "method"))
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
    )


def target_stability(main: SweepResult) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Seed means of mean stability ``[target, period]``, target names, periods."""
    values = ordered(main, "mean_stability", ("seed", "target", "retrain_period"))
    return values.mean(axis=0), _names(main, "target"), np.asarray(main.axes["retrain_period"])


def check_target_order(main: SweepResult, rates: np.ndarray) -> Claim:
    """M4: stability orders S >= R >= L at every iterative rate (seed means)."""
    means, names, _ = target_stability(main)
    present = [name for name in TARGET_ORDER if name in names]
    if len(present) < 2:
        return Claim("M4", "Needs at least two targets.", "inconclusive", math.nan)
    rows = np.stack([means[names.index(name)] for name in present])
    margin = float(np.min(rows[:-1] - rows[1:]))
    listing = "; ".join(
        f"{100 * rate:.3g}%: "
        + ", ".join(f"{n[0].upper()} {v:.3f}" for n, v in zip(present, col, strict=True))
        for rate, col in zip(rates, rows.T, strict=True)
    )
    return Claim(
        "M4",
        f"Stability orders {' >= '.join(n[0].upper() for n in present)} at every iterative "
        f"pruning rate (seed means; smallest margin {margin:.4g}): {listing}.",
        "holds" if margin >= 0 else "fails",
        margin,
    )


def check_rate_order(main: SweepResult, rates: np.ndarray) -> Claim:
    """M5: seed-mean stability does not rise with the iterative rate, for every target."""
    means, names, _ = target_stability(main)
    order = np.argsort(rates)
    if len(order) < 2:
        return Claim("M5", "Needs at least two retrain periods.", "inconclusive", math.nan)
    rises = np.diff(means[:, order], axis=1)
    worst = float(np.max(rises))
    listing = "; ".join(
        f"{name}: " + ", ".join(f"{v:.3f}" for v in row[order])
        for name, row in zip(names, means, strict=True)
    )
    return Claim(
        "M5",
        f"Mean stability falls (never rises) as the iterative pruning rate grows "
        f"({', '.join(f'{100 * r:.3g}%' for r in rates[order])}), seed means per target: "
        f"{listing}; largest rise {worst:.4g}.",
        "holds" if worst <= 0 else "fails",
        worst,
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
        noise.metrics["noise_applications"].sum(axis=len(noise.axes)),
        noise.axis("window"),
        -2,
    )
    expected = np.asarray(noise.axes["window"])[:, None] * events
    windows_ok = bool(np.all(applications == expected))
    names = _names(noise, "method")
    zeroing = names.index("zeroing") if "zeroing" in names else None
    weight_max = math.nan
    regrown = math.nan
    if zeroing is not None:
        take = lambda v: np.take(v, zeroing, axis=noise.axis("method"))  # noqa: E731
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
    )


def _per_seed(result: SweepResult, name: str, axes: Sequence[str]) -> np.ndarray:
    return ordered(result, name, ("seed", *axes))


def tradeoff_claims(main: SweepResult, note: str) -> list[Claim]:
    """C1a, C1b and C2: stability against best accuracy and gap across the target runs."""
    axes = ("target", "retrain_period")
    mean_stability = _per_seed(main, "mean_stability", axes)
    best = _per_seed(main, "best_accuracy", axes)
    gap = _per_seed(main, "generalization_gap", axes)
    c1a = correlation_claim(
        "C1a",
        f"Generalization-stability tradeoff: across the {best.size} target runs (S/R/L x "
        "retrain periods x seeds), mean stability vs best test accuracy after the last prune.",
        mean_stability,
        best,
        -1,
        note,
    )
    c1b = correlation_claim(
        "C1b",
        "Across the same runs, mean stability vs the generalization gap (train - test "
        "accuracy at the best epoch).",
        mean_stability,
        gap,
        +1,
        note,
    )
    groups = {}
    for i, name in enumerate(_names(main, "target")):
        groups[f"target {name}"] = (mean_stability[:, i], best[:, i])
    for j, period in enumerate(main.axes["retrain_period"]):
        groups[f"r = {int(period)}"] = (mean_stability[:, :, j], best[:, :, j])
    measured = {k: stability.correlation(*v) for k, v in groups.items()}
    intervals = [m.pearson_ci for m in measured.values()]
    worst = max((m.pearson for m in measured.values()), default=math.nan)
    listing = "; ".join(
        f"{k}: r = {m.pearson:.3f} {_ci_text(m.pearson_ci)}" for k, m in measured.items()
    )
    c2 = Claim(
        "C2",
        "The tradeoff holds within every target (across rates and seeds) and within every "
        f"retrain period (across targets and seeds), Pearson r with 95% CI: {listing}. Scores, "
        "models and optimizers are not varied at this scale. Holds if every CI is below 0, "
        f"fails if any is above.{note}",
        _sign_verdict(intervals, -1),
        worst,
    )
    return [c1a, c1b, c2]


def check_large_vs_small(main: SweepResult, note: str) -> Claim:
    """C3: Prune_L generalizes better than Prune_S (paired by seed, averaged over rates)."""
    names = _names(main, "target")
    if not {"smallest", "largest"} <= set(names):
        return Claim("C3", "Needs the smallest and largest targets.", "inconclusive", math.nan)
    axes = ("target", "retrain_period")
    best = _per_seed(main, "best_accuracy", axes).mean(axis=-1)
    stable = _per_seed(main, "mean_stability", axes).mean(axis=-1)
    small, large = names.index("smallest"), names.index("largest")
    stability_gap, stability_ci = _paired(stable[:, small] - stable[:, large])
    claim = paired_claim(
        "C3",
        "Pruning large-score units generalizes better than pruning small ones: best test "
        "accuracy of Prune_L minus Prune_S, averaged over retrain periods, paired by seed "
        f"(Prune_S is {stability_gap:.4g} {_ci_text(stability_ci)} points more stable; holds "
        f"only if that CI is above 0 too).{note}",
        best[:, large] - best[:, small],
        +1,
    )
    if claim.verdict == "holds" and not stability_ci[0] > 0:
        return Claim(claim.id, claim.statement, "inconclusive", claim.statistic, claim.ci)
    return claim


def check_rate_lowers_stability(main: SweepResult, rates: np.ndarray, note: str) -> Claim:
    """C4: fewer, bigger events lower stability (largest vs smallest rate, paired by seed)."""
    if len(rates) < 2:
        return Claim("C4", "Needs at least two retrain periods.", "inconclusive", math.nan)
    values = _per_seed(main, "mean_stability", ("target", "retrain_period")).mean(axis=1)
    largest, smallest = int(np.argmax(rates)), int(np.argmin(rates))
    return paired_claim(
        "C4",
        f"Larger per-event pruning lowers stability: mean stability at the iterative rate "
        f"{100 * rates[largest]:.3g}% minus at {100 * rates[smallest]:.3g}%, averaged over "
        f"targets, paired by seed.{note}",
        values[:, largest] - values[:, smallest],
        -1,
    )


def _baseline_best(baselines: SweepResult, name: str) -> np.ndarray:
    return _per_seed(baselines, "best_accuracy", ("method",))[
        :, _names(baselines, "method").index(name)
    ]


def _least_stable_pruning(main: SweepResult, rates: np.ndarray) -> tuple[np.ndarray, str]:
    """Best accuracy per seed of Prune_L at the largest iterative rate (fixed a priori)."""
    names = _names(main, "target")
    target = "largest" if "largest" in names else names[-1]
    best = _per_seed(main, "best_accuracy", ("target", "retrain_period"))
    index = int(np.argmax(rates))
    label = f"Prune_{target[0].upper()} at {100 * rates[index]:.3g}% per event"
    return best[:, names.index(target), index], label


def check_scratch(main, baselines, rates, note: str) -> Claim:
    """C5: same final architecture pruned at init is stable but misses the benefit."""
    if "scratch" not in _names(baselines, "method"):
        return Claim("C5", "Needs the scratch baseline.", "inconclusive", math.nan)
    pruned, label = _least_stable_pruning(main, rates)
    scratch = _baseline_best(baselines, "scratch")
    extra = ""
    if "none" in _names(baselines, "method"):
        mean, ci = _paired(_baseline_best(baselines, "none") - scratch)
        extra = f" (no pruning minus scratch: {mean:.4g} {_ci_text(ci)})"
    return paired_claim(
        "C5",
        f"Final parameter count is not what matters: {label} beats scratch pruning to the same "
        f"final architecture (100% stable) in best test accuracy{extra}. Runs that never prune "
        f"during training take their best over every epoch (official definition).{note}",
        pruned - scratch,
        +1,
    )


def check_noise_helps(main, baselines, noise, rates, config, note: str) -> Claim:
    """C6: temporary pruning (longest window, both kinds) helps like Prune_L, vs no pruning."""
    if "none" not in _names(baselines, "method"):
        return Claim("C6", "Needs the no-pruning baseline.", "inconclusive", math.nan)
    none = _baseline_best(baselines, "none")
    best = _per_seed(noise, "best_accuracy", ("method", "window"))
    windows = np.asarray(noise.axes["window"])
    kinds = _names(noise, "method")
    listing = []
    for i, kind in enumerate(kinds):
        for j, window in enumerate(windows):
            mean, ci = _paired(best[:, i, j] - none)
            listing.append(f"{kind} {int(window)}: {mean:.4g} {_ci_text(ci)}")
    period = int(config.noise.retrain_period)
    periods = list(np.asarray(main.axes["retrain_period"]).astype(int))
    names = _names(main, "target")
    if period in periods and "largest" in names:
        prune_l = _per_seed(main, "best_accuracy", ("target", "retrain_period"))
        mean, ci = _paired(prune_l[:, names.index("largest"), periods.index(period)] - none)
        listing.append(f"Prune_L (r = {period}): {mean:.4g} {_ci_text(ci)}")
    longest = int(np.argmax(windows))
    return paired_claim(
        "C6",
        f"Pruning ~ noise: temporary pruning of the Prune_L targets (r = {period}) for the "
        f"longest window ({int(windows[longest])} batches; zeroing and Gaussian averaged) beats "
        "no pruning in best test accuracy (no pruning: best over every epoch), with no "
        f"parameter removed. Every variant minus no pruning: {'; '.join(listing)}.{note}",
        best[:, :, longest].mean(axis=1) - none,
        +1,
    )


def flatness_claims(main, baselines, config, note: str) -> list[Claim]:
    """C7a-c: across target and baseline runs, less stability goes with flatter minima."""
    if "hessian_trace_top" not in main.final:
        return [Claim("C7", "Flatness was not measured.", "inconclusive", math.nan)]
    stable = np.concatenate(
        [main.final["mean_stability"].ravel(), baselines.final["mean_stability"].ravel()]
    )

    def both(name: str) -> np.ndarray:
        return np.concatenate([main.final[name].ravel(), baselines.final[name].ravel()])

    radius = np.concatenate(
        [
            np.mean(
                np.minimum(r.final["sharpness_radius"], config.flatness.epsilon_max), axis=-1
            ).ravel()
            for r in (main, baselines)
        ]
    )
    censored = sum(int(np.sum(np.isinf(r.final["sharpness_radius"]))) for r in (main, baselines))
    runs = f"across the {stable.size} target and baseline runs"
    k = config.flatness.num_eigenvalues
    return [
        correlation_claim(
            "C7a",
            f"Less stability -> flatter: {runs}, mean stability vs Tr(H_{k}), the sum of the top "
            f"{k} Hessian eigenvalues (Lanczos) on {config.flatness.num_images} test images.",
            stable,
            both("hessian_trace_top"),
            +1,
            note,
        ),
        correlation_claim(
            "C7b",
            f"Less stability -> less gradient noise: {runs}, mean stability vs Tr(C), the "
            "uncentered per-example gradient covariance trace.",
            stable,
            both("gradient_covariance_trace"),
            +1,
            note,
        ),
        correlation_claim(
            "C7c",
            f"Less stability -> wider minima: {runs}, mean stability vs the epsilon-sharpness "
            f"radius (loss rise {config.flatness.loss_rise:g}) averaged over the top "
            f"{config.flatness.num_directions} eigenvectors; {censored} direction(s) never "
            f"reached the rise within |eps| <= {config.flatness.epsilon_max:g} and count as "
            "that bound.",
            stable,
            radius,
            -1,
            note,
        ),
    ]


def claims(
    sweeps: Mapping[str, SweepResult],
    config: ml_collections.ConfigDict,
    layers: Sequence[schedules.LayerSchedule],
    note: str = "",
) -> list[Claim]:
    """Every check and claim of the spec, in order: M1-M6, then C1-C7.

    Args:
      sweeps: ``metrics``, ``baselines`` and optionally ``noise``, without diverged seeds.
      config: the config they ran with.
      layers: the pruned layers' schedules.
      note: appended to every claim (e.g. which seeds were dropped for divergence).
    """
    main, baselines = sweeps["metrics"], sweeps["baselines"]
    rates = np.asarray(
        [schedules.iterative_pruning_rate(layers, int(p)) for p in main.axes["retrain_period"]]
    )
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
        *tradeoff_claims(main, note),
        check_large_vs_small(main, note),
        check_rate_lowers_stability(main, rates, note),
        check_scratch(main, baselines, rates, note),
    ]
    if "noise" in sweeps:
        findings.append(check_noise_helps(main, baselines, sweeps["noise"], rates, config, note))
    findings += flatness_claims(main, baselines, config, note)
    return checks + findings
