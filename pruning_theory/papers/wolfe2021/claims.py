"""The checks of docs/papers/wolfe2021.md ("What a reproduction must show"), from sweeps.

Every statistic comes from the measured arrays and every rule is fixed here and in the config
before any run. Intervals are Student-t intervals over seeds (`mean_ci`); a claim checked at
several sizes m or subnetwork sizes k is one joint test: Bonferroni intervals at 1 - 0.05 / J
for its J comparisons; it holds if every interval is on the claimed side, fails if any is on
the other side, and is inconclusive otherwise. Any subset of the seeds can be analyzed: with
one seed every interval is infinite and every claim inconclusive.

* t*(m) of the greedy subnetwork of size ``checks.k_ref`` under each definition of
  ``checks.definitions`` (spec "Threshold rule"): ``loss`` (mean pruned loss <= ``loss_fraction``
  x the zero predictor's loss), ``accuracy`` (pruned accuracy >= ``accuracy_tau``),
  ``dense_gap`` (pruned accuracy >= the final dense accuracy - ``dense_gap_delta``);
  `thresholds.first_crossings` on the snapshot grid; a censored t* makes its claims
  inconclusive.
* C1a: the pruned loss falls with pre-training and saturates; C1b-<definition>: t* grows with m;
  C1-<definition>: the log-vs-power rule of `thresholds` (holds: log fits better, CI of
  R^2_log - R^2_power above 0; fails: power law fits better, CI below 0).
* C2, C3a, C4a-d as in the spec; C4d compares the slopes of the *excess* loss over the dense
  net, the term the greedy bound (spec eq. (8)) is about.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import ml_collections
import numpy as np

from pruning_theory.claims import (
    Claim,
    combine_verdicts,
    format_ci,
    format_number,
    mean_ci,
    verdict_above,
    verdict_within,
)
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.wolfe2021 import thresholds

DEFINITIONS = ("loss", "accuracy", "dense_gap")
ALPHA = 0.05


def validate_checks(config: ml_collections.ConfigDict) -> None:
    """Checks the claim rules of one sweep's config.

    Raises:
      ValueError: naming the bad value.
    """
    checks = config.checks
    if checks.k_ref not in tuple(config.greedy.ks):
        raise ValueError(f"checks.k_ref = {checks.k_ref} is not one of greedy.ks")
    if not checks.definitions:
        raise ValueError("checks.definitions is empty")
    for name in checks.definitions:
        if name not in DEFINITIONS:
            raise ValueError(f"t* definition {name!r} is not one of {DEFINITIONS}")
    ranges = {
        "loss_fraction": (0 < checks.loss_fraction < 1, "(0, 1)"),
        "accuracy_tau": (0 < checks.accuracy_tau <= 1, "(0, 1]"),
        "dense_gap_delta": (0 <= checks.dense_gap_delta < 1, "[0, 1)"),
        "saturation_fraction": (0 < checks.saturation_fraction < 1, "(0, 1)"),
    }
    for name, (inside, interval) in ranges.items():
        if not inside:
            raise ValueError(f"checks.{name} = {checks[name]} is outside {interval}")
    if len(config.grid.num_train) < thresholds.MIN_SIZES:
        raise ValueError(
            f"grid.num_train = {tuple(config.grid.num_train)}: the t*(m) fits need at least "
            f"{thresholds.MIN_SIZES} dataset sizes"
        )
    if len(config.grid.seed) < 2:
        raise ValueError("claims need at least 2 seeds for a confidence interval")


def _fmt(mean: float, ci) -> str:
    return f"{format_number(mean, '.3g')} {format_ci(ci, '.3g')}"


def _ci(values, confidence: float = 1 - ALPHA) -> tuple[float, tuple[float, float]]:
    mean, low, high = mean_ci(np.asarray(values, dtype=float), confidence=confidence)
    return float(mean), (float(low), float(high))


def joint_test(tests: Sequence[tuple[np.ndarray, float, float]]):
    """One Bonferroni family of J comparisons: is each mean inside its claimed range?

    Args:
      tests: ``(values over seeds, low, high)`` per comparison.

    Returns:
      ``(verdict, [(mean, ci), ...])`` with intervals at confidence 1 - 0.05 / J: holds if
      every interval lies inside its range, fails if any lies outside, else inconclusive
      (also for an empty family).
    """
    confidence = 1 - ALPHA / max(len(tests), 1)
    results = [_ci(values, confidence) for values, _, _ in tests]
    verdict = combine_verdicts(
        verdict_within(ci, low, high)
        for (_, ci), (_, low, high) in zip(results, tests, strict=True)
    )
    return verdict, results


def zero_predictor_loss(loss: str) -> float:
    """Mean loss of f = 0 on one-hot targets: 0.5 (squared) or log 10 (cross-entropy)."""
    return 0.5 if loss == "squared" else math.log(10)


def t_star(result: SweepResult, config, definition: str) -> np.ndarray:
    """t*(seed, m) of the greedy subnetwork of size ``checks.k_ref`` under ``definition``."""
    steps = np.asarray(config.train.snapshot_steps)
    k_index = list(config.greedy.ks).index(config.checks.k_ref)
    checks = config.checks
    if definition == "loss":
        series = result.final["greedy_loss"][..., k_index]
        level = checks.loss_fraction * zero_predictor_loss(config.train.loss)
        levels = np.full(series.shape[:-1], level)
        return thresholds.first_crossings(steps, series, levels, above=False)
    series = result.final["greedy_accuracy"][..., k_index]
    if definition == "accuracy":
        levels = np.full(series.shape[:-1], checks.accuracy_tau)
    else:
        levels = result.final["dense_accuracy"][..., -1] - checks.dense_gap_delta
    return thresholds.first_crossings(steps, series, levels, above=True)


def describe_level(config, definition: str) -> str:
    """The level that defines t*[definition], in words."""
    checks = config.checks
    if definition == "loss":
        level = checks.loss_fraction * zero_predictor_loss(config.train.loss)
        return f"pruned mean loss <= {level:.3g}"
    if definition == "accuracy":
        return f"pruned accuracy >= {checks.accuracy_tau:g}"
    return f"pruned accuracy >= final dense accuracy - {checks.dense_gap_delta:g}"


def _means_by_size(sizes, t_stars) -> str:
    parts = []
    for i, m in enumerate(sizes):
        column = t_stars[:, i]
        parts.append(f"{int(m)}: {np.nanmean(column):.3g}" if np.isfinite(column).any()
                     else f"{int(m)}: never")  # fmt: skip
    return ", ".join(parts)


def _threshold_setting(result: SweepResult, config, definition: str):
    """(sizes, t*, the sentence naming the definition and the mean t* by m, censored note)."""
    sizes = np.asarray(result.axes["num_train"], dtype=float)
    t_stars = t_star(result, config, definition)
    steps = np.asarray(config.train.snapshot_steps, dtype=float)
    late = steps[steps >= 8]
    spacing = float(np.max(late[1:] / late[:-1])) if len(late) > 1 else math.nan
    setting = (
        f"t*[{definition}] = first step with {describe_level(config, definition)} at k = "
        f"{config.checks.k_ref} (snapshots at most x{spacing:.3g} apart from t = 8); mean t* by "
        f"m: {_means_by_size(sizes, t_stars)}."
    )
    censored = int(np.isnan(t_stars).sum())
    note = None
    if censored:
        note = (
            f" {censored} of {t_stars.size} (seed, m) curves never reach the level within "
            f"{config.train.steps} steps (censored), so nothing is fitted."
        )
    return sizes, t_stars, setting, note


def check_improvement(claim_id: str, result: SweepResult, config, label: str = "") -> Claim:
    """C1a: the pruned loss at k_ref falls from t = 0 to T, and the last doubling
    (T/2 -> T) gives at most ``saturation_fraction`` of that drop, at every m (one family)."""
    steps = np.asarray(config.train.snapshot_steps)
    half = int(np.argmin(np.abs(steps - steps[-1] / 2)))
    k_index = list(config.greedy.ks).index(config.checks.k_ref)
    loss = result.final["greedy_loss"][..., k_index]  # [seed, m, snapshot]
    drop = loss[..., 0] - loss[..., -1]
    share = (loss[..., half] - loss[..., -1]) / np.where(drop != 0, drop, np.nan)
    sizes = result.axes["num_train"]
    fraction = config.checks.saturation_fraction
    tests = [(drop[:, i], 0.0, math.inf) for i in range(len(sizes))]
    tests += [(share[:, i], -math.inf, fraction) for i in range(len(sizes))]
    verdict, results = joint_test(tests)
    drops, shares = results[: len(sizes)], results[len(sizes) :]
    parts = [
        f"m={int(m)}: drop {_fmt(*drops[i])}, share {_fmt(*shares[i])}" for i, m in enumerate(sizes)
    ]
    worst = int(np.argmin([mean for mean, _ in drops]))
    return Claim(
        claim_id,
        f"{label}Pruned loss (k = {config.checks.k_ref}) improves from t = 0 to T = {steps[-1]} "
        f"(drop > 0) and saturates (share of the drop gained from t = {steps[half]} to T "
        f"< {fraction:g}) at every m: one family of {len(tests)} Bonferroni intervals (holds "
        "if all lie on the claimed side, fails if any lies on the other). " + "; ".join(parts),
        verdict,
        drops[worst][0],
        drops[worst][1],
    )


def _finite_ci(values: np.ndarray) -> tuple[float, tuple[float, float], int]:
    """`_ci` of the finite entries (a fit that failed is NaN) and how many were not."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    if not finite.size:
        return math.nan, (-math.inf, math.inf), values.size
    mean, ci = _ci(finite)
    return mean, ci, values.size - finite.size


def check_growth(claim_id: str, result: SweepResult, config, definition: str, label: str):
    """C1b: t* grows with m: the slope b of ``t* = a + b ln m`` has its CI above 0."""
    sizes, t_stars, setting, censored = _threshold_setting(result, config, definition)
    if censored:
        return Claim(claim_id, f"{label}{setting}{censored}", "inconclusive", math.nan)
    b, ci, failed = _finite_ci(thresholds.form_statistics(sizes, t_stars)["b"])
    return Claim(
        claim_id,
        f"{label}{setting} t* grows with m: slope b of the relative-residual fit t* = a + "
        f"b ln m, per seed, {_fmt(b, ci)} steps per e-fold of m (holds if CI > 0, fails if "
        f"CI < 0){_failed_note(failed)}.",
        verdict_above(ci, 0.0),
        b,
        ci,
    )


def _failed_note(failed: int) -> str:
    return f"; {failed} seed(s) without a fit are left out" if failed else ""


FORM_RULE = (
    " Rule (fixed before the run): per seed, t*(m) is fitted by a + b ln m and by c m^p "
    "(least squares on relative residuals (t* - fit) / max(t*, 1)), D = R^2_log - R^2_power; "
    "holds if the 95% CI of D over seeds lies above 0 (the log law fits better), fails if it "
    "lies below 0 (the power law fits better), else inconclusive."
)


def detectable(ci, name: str) -> str:
    """What an inconclusive interval could have detected: its half-width, or why none."""
    if not all(math.isfinite(bound) for bound in ci):
        return f" Fewer than 2 seeds with a value: no interval, so {name} cannot be judged."
    return f" The run could detect {name} >= {(ci[1] - ci[0]) / 2:.3g} (CI half-width)."


def check_form(claim_id: str, result, config, definition: str, label: str, theory_rows):
    """C1: t*(m) is fitted better by a + b ln m than by c m^p (`thresholds`' rule), with the
    reconstruction's t*(m) (spec eq. (11)) and its gap to the measurement in the statement."""
    sizes, t_stars, setting, censored = _threshold_setting(result, config, definition)
    gap, theory_d = theory_gap(sizes, t_stars, theory_rows, config)
    if censored:
        statement = f"{label}{setting}{censored}{FORM_RULE}{gap}"
        return Claim(claim_id, statement, "inconclusive", math.nan, None, theory_d)
    stats = thresholds.form_statistics(sizes, t_stars)
    d, ci, failed = _finite_ci(stats["difference"])
    verdict = verdict_above(ci, 0.0)
    p, p_ci, _ = _finite_ci(stats["p"])
    bend, bend_ci, _ = _finite_ci(stats["curvature"])
    measured = (
        f" Measured: D = {_fmt(d, ci)} (mean R^2_log {_finite_ci(stats['r2_log'])[0]:.3f}, "
        f"R^2_power {_finite_ci(stats['r2_power'])[0]:.3f}){_failed_note(failed)}; exponent "
        f"p = {_fmt(p, p_ci)}; bend of t* in ln m {_fmt(bend, bend_ci)} (0 for a log law, "
        "> 0 for a power law, < 0 when t* levels off)."
    )
    measured += rise(sizes, t_stars)
    if verdict == "inconclusive":
        measured += detectable(ci, "|D|")
    statement = f"{label}{setting}{FORM_RULE}{measured}{gap}"
    return Claim(claim_id, statement, verdict, d, ci, theory_d)


def rise(sizes, t_stars) -> str:
    """How far t* rises over the range of m, in words: what the C1 rule's power rests on.

    Over a fixed range the log and power laws differ by a bend that grows with the ratio
    t*(m_max) / t*(m_min); when t* barely rises, no statistic of t*(m) can tell them apart
    (docs/papers/wolfe2021.md, "Threshold rule").
    """
    sizes = np.asarray(sizes, dtype=float)
    first, last = (float(np.nanmean(t_stars[:, i])) for i in (0, -1))
    ratio = f"x{last / first:.3g}" if first > 0 else "from 0"
    return (
        f" Over m = {int(sizes[0])}..{int(sizes[-1])} ({math.log10(sizes[-1] / sizes[0]):.2f} "
        f"decades) the mean t* rises {ratio} ({first:.3g} -> {last:.3g} steps)."
    )


def theory_gap(sizes, t_stars, rows, config) -> tuple[str, float | None]:
    """The reconstruction's t*(m) beside the measured one: a sentence and its D statistic.

    Args:
      sizes: the measured sizes m.
      t_stars: measured t* ``[seed, m]``.
      rows: the theory rows of this sweep (`experiment.theory_rows`), or None (no theory).
      config: the sweep's config.
    """
    if rows is None:
        return "", None
    predicted = {int(r["num_train"]): _number(r["t_star"]) for r in rows}
    th_sizes = np.asarray([m for m in sizes if math.isfinite(predicted.get(int(m), math.nan))])
    if len(th_sizes) < thresholds.MIN_SIZES:
        return " Theory: the reconstruction's t* was not computed at 3 sizes.", None
    th_t = np.asarray([predicted[int(m)] for m in th_sizes])
    fitted = thresholds.form_statistics(th_sizes, th_t[None])
    theory_d, theory_p = float(fitted["difference"][0]), float(fitted["p"][0])
    columns = t_stars[:, np.isin(sizes, th_sizes)]
    measured = [np.mean(c[np.isfinite(c)]) if np.isfinite(c).any() else math.nan for c in columns.T]
    measured = np.asarray(measured)
    ratio = np.where(measured > 0, th_t / np.where(measured > 0, measured, 1.0), np.nan)
    ratio_text = (
        f", {np.nanmin(ratio):.3g} to {np.nanmax(ratio):.3g} x the measured mean t*"
        if np.isfinite(ratio).any()
        else ""
    )
    step = "lr / m" if config.data.normalization == "mean" else "lr"
    limit = "" if len(th_sizes) == len(sizes) else (
        f" (H_inf formed only for m <= {int(th_sizes.max())}: m^2 memory)"
    )  # fmt: skip
    return (
        f" Theory (reconstruction, spec eq. (11) at the run's {config.data.normalization}-loss "
        f"normalization: summed-loss step eta = {step}, lambda_0 of H_inf on the first seed's "
        f"data, C = {config.theory.constant:g}, k = {config.checks.k_ref}){limit}: t* = "
        f"{th_t.min():.3g} to {th_t.max():.3g}{ratio_text}; D of its own t*(m) {theory_d:.3g}, "
        f"exponent p = {theory_p:.3g}. Such a gap is expected of a worst-case bound (an "
        "explanation, not tested here): eq. (11) certifies the level only once the loss has "
        "decayed at the guaranteed rate eta lambda_0 / 2 of the slowest direction of H_inf, "
        "and at a fixed mean-loss step eta shrinks like 1/m, so the bound's t* grows like a "
        "power of m.",
        theory_d,
    )


def _number(value) -> float:
    """A theory value of theory.json (None where it was not computed) as a float."""
    return math.nan if value is None else float(value)


def check_below_above(result: SweepResult, config) -> Claim:
    """C2: at every m the largest subnetwork is poor at t = 0 (loss above the loss level) and
    good at t = T (below it), and at t = T its gap to the dense loss falls from the smallest
    to the largest k (one Bonferroni family)."""
    tau = config.checks.loss_fraction * zero_predictor_loss(config.train.loss)
    greedy_loss = result.final["greedy_loss"]  # [seed, m, snapshot, K]
    gap = greedy_loss[..., -1, :] - result.final["dense_loss"][..., -1, None]  # [seed, m, K]
    shrink = gap[..., 0] - gap[..., -1]
    sizes = result.axes["num_train"]
    tests = []
    for i in range(len(sizes)):
        tests += [
            (greedy_loss[:, i, 0, -1], tau, math.inf),
            (greedy_loss[:, i, -1, -1], -math.inf, tau),
            (shrink[:, i], 0.0, math.inf),
        ]
    verdict, results = joint_test(tests)
    parts = [
        f"m={int(m)}: t=0 {_fmt(*results[3 * i])}, t=T {_fmt(*results[3 * i + 1])}, gap "
        f"shrink {_fmt(*results[3 * i + 2])}"
        for i, m in enumerate(sizes)
    ]
    shrinks = results[2::3]
    worst = int(np.argmin([mean for mean, _ in shrinks]))
    ks = config.greedy.ks
    return Claim(
        "C2",
        f"Below the threshold greedy is poor, above it pruned = dense + a term falling in k: "
        f"the k = {ks[-1]} subnetwork's loss is above tau = {tau:.3g} at t = 0 and below it "
        f"at t = T = {config.train.steps}, and at t = T the gap (pruned - dense) shrinks from "
        f"k = {ks[0]} to k = {ks[-1]}, at every m: one family of {len(tests)} Bonferroni "
        "intervals. " + "; ".join(parts),
        verdict,
        shrinks[worst][0],
        shrinks[worst][1],
    )


def _linear_r2(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(x, y, 1)
    fitted = intercept + slope * x
    total = np.sum((y - y.mean()) ** 2)
    return float(slope), float(1 - np.sum((y - fitted) ** 2) / total) if total > 0 else math.nan


def check_geometric(result: SweepResult, config, rows) -> Claim:
    """C3a: the dense loss is closer to geometric (log L linear in t) than to a power law
    (log L linear in log t): R^2 difference averaged over m, CI over seeds."""
    steps = np.asarray(config.train.snapshot_steps, dtype=float)
    dense = result.final["dense_loss"]  # [seed, m, snapshot]
    used = steps >= 1
    gains, rates = np.empty(dense.shape[:2]), np.empty(dense.shape[:2])
    for index in np.ndindex(*dense.shape[:2]):
        log_loss = np.log(dense[index][used])
        slope, r2_geometric = _linear_r2(steps[used], log_loss)
        _, r2_power = _linear_r2(np.log(steps[used]), log_loss)
        gains[index], rates[index] = r2_geometric - r2_power, -slope
    gain, ci = _ci(gains.mean(axis=1))
    largest = rows[-1] if rows else {"num_train": int(result.axes["num_train"][-1])}
    bound = _number(largest.get("rate_per_step"))
    return Claim(
        "C3a",
        f"Dense loss decays geometrically: R^2 of log L vs t minus R^2 of log L vs log t over "
        f"snapshots t >= 1, mean over m, {_fmt(gain, ci)} (holds if CI > 0, fails if CI < 0). "
        f"Fitted geometric rate at m = {largest['num_train']}: {np.mean(rates[:, -1]):.3g}/step; "
        f"the NTK bound's guaranteed rate eta lambda_0 / 2 (reconstruction, spec eq. (9)) is "
        f"{bound:.3g}/step.",
        verdict_above(ci, 0.0),
        gain,
        ci,
        bound,
    )


def baseline_losses(result: SweepResult, scratch: SweepResult | None) -> dict[str, np.ndarray]:
    """Mean loss at t = T on the largest m, ``[seed, K]``, for greedy and each baseline."""
    out = {
        name: result.final[f"{name}_loss"][:, -1, -1, :]
        for name in ("greedy", "random", "magnitude")
    }
    if scratch is not None:
        out["scratch"] = scratch.last("train_loss")
    return out


BASELINE_LABELS = {
    "random": "random subsets",
    "magnitude": "the k largest ||v_r|| ||w_r||",
    "scratch": "width-k nets trained from scratch for T steps",
}


def check_baseline(claim_id: str, name: str, losses: Mapping[str, np.ndarray], config) -> Claim:
    """C4a-c: greedy beats a baseline at every k (baseline - greedy loss > 0, one family)."""
    difference = losses[name] - losses["greedy"]
    tests = [(difference[:, j], 0.0, math.inf) for j in range(difference.shape[1])]
    verdict, results = joint_test(tests)
    parts = [f"k={k}: {_fmt(*results[j])}" for j, k in enumerate(config.greedy.ks)]
    worst = int(np.argmin([mean for mean, _ in results]))
    return Claim(
        claim_id,
        f"Greedy beats {BASELINE_LABELS[name]} at equal k (largest m, t = T): baseline loss - "
        f"greedy loss, one family of {len(tests)} Bonferroni intervals (holds if all > 0, "
        "fails if any < 0): " + "; ".join(parts),
        verdict,
        results[worst][0],
        results[worst][1],
    )


def excess_slopes(losses: np.ndarray, dense: np.ndarray, ks) -> np.ndarray:
    """Per seed, the slope of log(loss - dense) vs log k; NaN where an excess is <= 0."""
    log_k = np.log(np.asarray(ks, dtype=float))
    excess = np.asarray(losses, dtype=float) - np.asarray(dense, dtype=float)[:, None]
    return np.asarray([
        np.polyfit(log_k, np.log(row), 1)[0] if np.all(row > 0) else math.nan for row in excess
    ])  # fmt: skip


def check_excess_slope(result: SweepResult, losses: Mapping[str, np.ndarray], config) -> Claim:
    """C4d: greedy's excess loss over the dense net falls faster in k than the from-scratch
    nets' (log-log slopes of the excess, largest m, t = T); the greedy bound (spec eq. (8))
    makes greedy's excess O(1/k), a slope of at most -1."""
    dense = result.final["dense_loss"][:, -1, -1]
    ks = config.greedy.ks
    slopes = {name: excess_slopes(values, dense, ks) for name, values in losses.items()}
    listed = ", ".join(f"{name} {_fmt(*_finite_ci(s)[:2])}" for name, s in slopes.items())
    setting = (
        f"Log-log slope of the excess loss over the dense net vs k (largest m, t = T): {listed}"
    )
    if "scratch" not in slopes:
        return Claim("C4d", f"{setting}. No scratch baseline ran.", "inconclusive", math.nan)
    difference = slopes["greedy"] - slopes["scratch"]
    missing = int(np.sum(~np.isfinite(difference)))
    if missing:
        return Claim(
            "C4d",
            f"{setting}. {missing} seed(s) have an excess <= 0 at some k (that net is no "
            "worse than the dense net), so the slopes are not compared.",
            "inconclusive",
            math.nan,
        )
    mean, ci = _ci(difference)
    return Claim(
        "C4d",
        f"{setting}. Greedy minus scratch {_fmt(mean, ci)} (holds if CI < 0: greedy's excess "
        "falls faster; fails if CI > 0). Theory: the bound's O(1/k), slope -1, for greedy.",
        verdict_within(ci, -math.inf, 0.0),
        mean,
        ci,
    )


def threshold_claims(prefix: str, suffix: str, label: str, result, config, rows) -> list[Claim]:
    """C1a, C1b-<definition> and C1-<definition> of one sweep (P1 for the practical MLP)."""
    definitions = tuple(config.checks.definitions)
    claims = [check_improvement(f"{prefix}1a{suffix}", result, config, label)]
    claims += [
        check_growth(f"{prefix}1b-{name}{suffix}", result, config, name, label)
        for name in definitions
    ]
    claims += [
        check_form(f"{prefix}1-{name}{suffix}", result, config, name, label, rows)
        for name in definitions
    ]
    return claims


def wolfe2021_claims(
    sweeps: Mapping[str, SweepResult],
    configs: Mapping[str, ml_collections.ConfigDict],
    rows: Mapping[str, list],
    labels: Mapping[str, str],
) -> list[Claim]:
    """All checks of the spec, in its order: C1-C4 on MNIST, C1 on MNIST-1D, P1 on the MLP.

    Args:
      sweeps: the finished sweeps by name (``metrics``, ``scratch``, ``mnist1d``,
        ``practical``; all but ``metrics`` optional).
      configs: the config of each sweep but ``scratch`` (`experiment.sweep_configs`).
      rows: the theory rows of each NTK sweep (`experiment.theory_summary`).
      labels: the dataset label of each sweep, put in front of its claims' statements.
    """
    main, config = sweeps["metrics"], configs["metrics"]
    claims = threshold_claims("C", "", labels["metrics"], main, config, rows.get("metrics"))
    claims += [check_below_above(main, config), check_geometric(main, config, rows["metrics"])]
    losses = baseline_losses(main, sweeps.get("scratch"))
    claims += [check_baseline("C4a", "random", losses, config)]
    claims += [check_baseline("C4b", "magnitude", losses, config)]
    if "scratch" in losses:
        claims.append(check_baseline("C4c", "scratch", losses, config))
    claims.append(check_excess_slope(main, losses, config))
    if "mnist1d" in sweeps:
        claims += threshold_claims(
            "C", "-1d", labels["mnist1d"], sweeps["mnist1d"], configs["mnist1d"],
            rows.get("mnist1d"),
        )  # fmt: skip
    if "practical" in sweeps:
        claims += threshold_claims(
            "P", "", labels["practical"], sweeps["practical"], configs["practical"], None
        )
    return claims
