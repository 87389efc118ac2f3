"""The checks C1-C4 of docs/papers/wolfe2021.md (and P1 on the practical MLP), from sweeps.

Every statistic comes from the measured arrays; intervals are 95% Student-t intervals over
seeds (`mean_ci`). The rules are fixed here and in the config before any run:

* t*(m), the pre-training needed by the greedy subnetwork of size ``checks.k_ref``, under each
  definition of ``checks.definitions``: ``loss`` (mean pruned loss <= ``loss_fraction`` x the
  loss of the zero predictor), ``accuracy`` (pruned accuracy >= ``accuracy_tau``) and
  ``dense_gap`` (pruned accuracy >= the fully trained dense accuracy - ``dense_gap_delta``).
  The first crossing is interpolated linearly in log(1 + t) between snapshots; a curve that
  never crosses is censored (NaN) and makes its claim inconclusive.
* C1: per seed, t*(m) is fitted by ``a + b log m`` and by ``c m^p`` (least squares on t*, so
  both R^2 are on the same scale). Holds if the CI of b is above 0 and the log fit is on
  average at least as good (mean R^2_log - R^2_power >= 0); fails if b's CI is below 0 or the
  power law is better with a CI below 0; otherwise inconclusive.
"""

from __future__ import annotations

import math

import ml_collections
import numpy as np
from scipy import optimize

from pruning_theory.claims import Claim, Verdict, mean_ci, verdict_above, verdict_within
from pruning_theory.engine.results import SweepResult

DEFINITIONS = ("loss", "accuracy", "dense_gap")


def validate_checks(config: ml_collections.ConfigDict) -> None:
    """Checks the claim rules of a config.

    Raises:
      ValueError: naming the bad value.
    """
    checks = config.checks
    if checks.k_ref not in tuple(config.greedy.ks):
        raise ValueError(f"checks.k_ref = {checks.k_ref} is not one of greedy.ks")
    for name in checks.definitions:
        if name not in DEFINITIONS:
            raise ValueError(f"t* definition {name!r} is not one of {DEFINITIONS}")
    if not checks.definitions:
        raise ValueError("checks.definitions is empty")
    if not 0 < checks.loss_fraction < 1:
        raise ValueError(f"checks.loss_fraction must be in (0, 1), got {checks.loss_fraction}")
    if not 0 < checks.accuracy_tau <= 1:
        raise ValueError(f"checks.accuracy_tau must be in (0, 1], got {checks.accuracy_tau}")
    if not 0 <= checks.dense_gap_delta < 1:
        raise ValueError(f"checks.dense_gap_delta must be in [0, 1), got {checks.dense_gap_delta}")
    if not 0 < checks.linear_band < 1:
        raise ValueError(f"checks.linear_band must be in (0, 1), got {checks.linear_band}")
    if not 0 < checks.saturation_fraction < 1:
        raise ValueError(
            f"checks.saturation_fraction must be in (0, 1), got {checks.saturation_fraction}"
        )
    if len(config.grid.seed) < 2:
        raise ValueError("claims need at least 2 seeds for a confidence interval")


def _ci(values) -> tuple[float, tuple[float, float]]:
    mean, low, high = mean_ci(np.asarray(values, dtype=float))
    return float(mean), (float(low), float(high))


def _fmt(mean: float, ci) -> str:
    return f"{mean:.3g} [{ci[0]:.3g}, {ci[1]:.3g}]"


def _combine(verdicts) -> Verdict:
    verdicts = list(verdicts)
    if "fails" in verdicts:
        return "fails"
    return "holds" if all(v == "holds" for v in verdicts) else "inconclusive"


def zero_predictor_loss(loss: str) -> float:
    """Mean loss of f = 0 on one-hot targets: 0.5 (squared) or log 10 (cross-entropy)."""
    return 0.5 if loss == "squared" else math.log(10)


def crossing_step(steps: np.ndarray, values: np.ndarray, level: float, above: bool) -> float:
    """First step at which ``values`` reaches ``level``, interpolated in log(1 + t).

    Args:
      steps: increasing snapshot steps.
      values: the metric at those steps.
      level: the threshold.
      above: True for ``values >= level``, False for ``values <= level``.

    Returns:
      The interpolated step, or NaN if the level is never reached (censored).
    """
    reached = values >= level if above else values <= level
    if not reached.any():
        return math.nan
    j = int(np.argmax(reached))
    if j == 0:
        return float(steps[0])
    u = np.log1p(np.asarray(steps, dtype=float))
    fraction = (level - values[j - 1]) / (values[j] - values[j - 1])
    return float(np.expm1(u[j - 1] + fraction * (u[j] - u[j - 1])))


def t_star(result: SweepResult, config, definition: str) -> np.ndarray:
    """t*(seed, m) of the greedy subnetwork of size ``checks.k_ref`` under ``definition``."""
    steps = np.asarray(config.train.snapshot_steps)
    k_index = list(config.greedy.ks).index(config.checks.k_ref)
    checks = config.checks
    if definition == "loss":
        series, above = result.final["greedy_loss"][..., k_index], False
        levels = np.full(series.shape[:-1], checks.loss_fraction)
        levels = levels * zero_predictor_loss(config.train.loss)
    else:
        series, above = result.final["greedy_accuracy"][..., k_index], True
        if definition == "accuracy":
            levels = np.full(series.shape[:-1], checks.accuracy_tau)
        else:
            levels = result.final["dense_accuracy"][..., -1] - checks.dense_gap_delta
    out = np.empty(series.shape[:-1])
    for index in np.ndindex(*out.shape):
        out[index] = crossing_step(steps, series[index], levels[index], above)
    return out


def r_squared(observed: np.ndarray, fitted: np.ndarray) -> float:
    total = np.sum((observed - observed.mean()) ** 2)
    return float(1 - np.sum((observed - fitted) ** 2) / total) if total > 0 else math.nan


def fit_log(sizes: np.ndarray, values: np.ndarray) -> tuple[float, float, float]:
    """Least squares ``t = a + b log m``: ``(a, b, R^2)``."""
    b, a = np.polyfit(np.log(sizes), values, 1)
    return float(a), float(b), r_squared(values, a + b * np.log(sizes))


def fit_power(sizes: np.ndarray, values: np.ndarray) -> tuple[float, float, float]:
    """Least squares ``t = c m^p`` on t itself (not on log t): ``(c, p, R^2)``."""
    positive = values > 0
    if positive.sum() >= 2:
        p0, log_c0 = np.polyfit(np.log(sizes[positive]), np.log(values[positive]), 1)
    else:
        p0, log_c0 = 0.5, math.log(max(values.mean(), 1e-3))
    try:
        (c, p), _ = optimize.curve_fit(
            lambda m, c, p: c * m**p, sizes, values, p0=(math.exp(log_c0), p0), maxfev=20000
        )
    except RuntimeError:
        return math.nan, math.nan, math.nan
    return float(c), float(p), r_squared(values, c * sizes**p)


def threshold_fits(sizes: np.ndarray, t_stars: np.ndarray) -> dict[str, np.ndarray]:
    """Per-seed log and power fits of t*(m): slopes b, exponents p, both R^2 (NaN if < 3 m)."""
    rows = []
    for seed_values in t_stars:
        finite = np.isfinite(seed_values)
        if finite.sum() < 3:
            rows.append([math.nan] * 4)
            continue
        _, b, r2_log = fit_log(sizes[finite], seed_values[finite])
        _, p, r2_power = fit_power(sizes[finite], seed_values[finite])
        rows.append([b, p, r2_log, r2_power])
    b, p, r2_log, r2_power = np.asarray(rows).T
    return {"b": b, "p": p, "r2_log": r2_log, "r2_power": r2_power}


def check_threshold(
    claim_id: str, result: SweepResult, config, definition: str, theory_b: float | None
) -> Claim:
    """C1 / P1 for one definition: t*(m) grows like a + b log m, b > 0, not worse than m^p."""
    sizes = np.asarray(result.axes["num_train"], dtype=float)
    t_stars = t_star(result, config, definition)
    censored = int(np.isnan(t_stars).sum())
    means = ", ".join(
        f"m={int(m)}: {np.nanmean(t_stars[:, i]):.3g}" if np.isfinite(t_stars[:, i]).any()
        else f"m={int(m)}: never"
        for i, m in enumerate(sizes)
    )  # fmt: skip
    setting = f"t*[{definition}] at k = {config.checks.k_ref}; mean t* by m: {means}"
    if censored:
        return Claim(
            claim_id,
            f"{setting}. {censored} of {t_stars.size} (seed, m) curves never reach the level "
            f"within {config.train.steps} steps (censored), so the fit is not attempted.",
            "inconclusive",
            math.nan,
            None,
            theory_b,
        )
    fits = threshold_fits(sizes, t_stars)
    b, b_ci = _ci(fits["b"])
    gain, gain_ci = _ci(fits["r2_log"] - fits["r2_power"])
    p, p_ci = _ci(fits["p"])
    growth = verdict_above(b_ci, 0.0)
    form = "holds" if gain >= 0 else ("fails" if gain_ci[1] < 0 else "inconclusive")
    return Claim(
        claim_id,
        f"{setting}. Per-seed fit t* = a + b ln m: b = {_fmt(b, b_ci)} (needs CI > 0); "
        f"R^2_log - R^2_power = {_fmt(gain, gain_ci)} (needs mean >= 0; power law better if "
        f"CI < 0), mean R^2_log {np.mean(fits['r2_log']):.3f}, R^2_power "
        f"{np.mean(fits['r2_power']):.3f}, exponent p = {_fmt(p, p_ci)}. Theory: b of the "
        "reconstruction's t*(m) (NTK bound; reconstruction).",
        _combine([growth, form]),
        b,
        b_ci,
        theory_b,
    )


def check_improvement(claim_id: str, result: SweepResult, config) -> Claim:
    """C1a: the pruned loss at k_ref falls with pre-training, and the last doubling adds little."""
    k_index = list(config.greedy.ks).index(config.checks.k_ref)
    loss = result.final["greedy_loss"][..., k_index]  # [seed, m, T]
    drop = loss[..., 0] - loss[..., -1]
    late = (loss[..., -2] - loss[..., -1]) / np.where(drop != 0, drop, np.nan)
    verdicts, parts = [], []
    for i, m in enumerate(result.axes["num_train"]):
        mean, ci = _ci(drop[:, i])
        late_mean = float(np.mean(late[:, i]))
        improves = verdict_above(ci, 0.0)
        saturates = "holds" if late_mean <= config.checks.saturation_fraction else "fails"
        verdicts += [improves, saturates]
        parts.append(f"m={int(m)}: drop {_fmt(mean, ci)}, last-interval share {late_mean:.2f}")
    steps = config.train.snapshot_steps
    return Claim(
        claim_id,
        f"Pruned loss (k = {config.checks.k_ref}) improves from t = {steps[0]} to {steps[-1]} "
        f"(CI of the drop > 0) and saturates (the last snapshot interval {steps[-2]} -> "
        f"{steps[-1]} gives <= {config.checks.saturation_fraction:g} of the drop): "
        + "; ".join(parts),
        _combine(verdicts),
        float(np.mean(late)),
    )


def check_below_above(result: SweepResult, config) -> Claim:
    """C2: poor subnetworks at t = 0; at t = T the gap to the dense loss falls with k."""
    tau = config.checks.loss_fraction * zero_predictor_loss(config.train.loss)
    greedy_loss = result.final["greedy_loss"]  # [seed, m, T, K]
    gap = greedy_loss[..., -1, :] - result.final["dense_loss"][..., -1, None]  # [seed, m, K]
    shrink = gap[..., 0] - gap[..., -1]
    verdicts, parts = [], []
    for i, m in enumerate(result.axes["num_train"]):
        start, start_ci = _ci(greedy_loss[:, i, 0, -1])
        end, end_ci = _ci(greedy_loss[:, i, -1, -1])
        falls, falls_ci = _ci(shrink[:, i])
        verdicts += [
            verdict_above(start_ci, tau),
            verdict_within(end_ci, -math.inf, tau),
            verdict_above(falls_ci, 0.0),
        ]
        parts.append(
            f"m={int(m)}: t=0 {_fmt(start, start_ci)}, t=T {_fmt(end, end_ci)}, "
            f"gap shrink {_fmt(falls, falls_ci)}"
        )
    ks = config.greedy.ks
    return Claim(
        "C2",
        f"Below threshold greedy is poor, above it pruned = dense + a term falling in k: the "
        f"k = {ks[-1]} subnetwork's loss is above tau = {tau:.3g} at t = 0 and below it at "
        f"t = T = {config.train.steps}; at t = T the gap (pruned - dense) shrinks from k = "
        f"{ks[0]} to k = {ks[-1]} (CI > 0). " + "; ".join(parts),
        _combine(verdicts),
        float(np.mean(shrink)),
        _ci(shrink.mean(axis=1))[1],
    )


def _linear_r2(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), r_squared(y, intercept + slope * x)


def check_geometric(result: SweepResult, config, summary) -> Claim:
    """C3a: the dense loss is closer to geometric (log L linear in t) than to a power law."""
    steps = np.asarray(config.train.snapshot_steps, dtype=float)
    dense = result.final["dense_loss"]  # [seed, m, T]
    used = steps >= 1
    gains, rates = np.empty(dense.shape[:2]), np.empty(dense.shape[:2])
    for index in np.ndindex(*dense.shape[:2]):
        log_loss = np.log(dense[index][used])
        slope, r2_geometric = _linear_r2(steps[used], log_loss)
        _, r2_power = _linear_r2(np.log(steps[used]), log_loss)
        gains[index], rates[index] = r2_geometric - r2_power, -slope
    gain, gain_ci = _ci(gains.mean(axis=1))
    largest = summary["by_num_train"][-1]
    bound_rate = largest["rate_per_step"]
    return Claim(
        "C3a",
        f"Dense loss decays geometrically: R^2 of log L vs t minus R^2 of log L vs log t over "
        f"snapshots t >= 1, mean over m, {_fmt(gain, gain_ci)} (holds if CI > 0, fails if "
        f"CI < 0). Fitted geometric rate at m = {largest['num_train']}: "
        f"{np.mean(rates[:, -1]):.3g}/step; the NTK bound's guaranteed rate eta lambda_0 / 2 "
        f"(reconstruction, lambda_0 = {largest['lambda_0']:.3g}) is {bound_rate:.3g}/step.",
        verdict_above(gain_ci, 0.0),
        gain,
        gain_ci,
        bound_rate,
    )


def check_initial_loss(result: SweepResult, config) -> Claim:
    """C3b: with the sum loss, L(0) grows linearly in m: slope of log L_sum(0) vs log m ~ 1."""
    sizes = np.asarray(result.axes["num_train"], dtype=float)
    summed = result.final["dense_loss"][..., 0] * sizes  # mean loss x m = sum loss
    slopes = [np.polyfit(np.log(sizes), np.log(row), 1)[0] for row in summed]
    slope, ci = _ci(slopes)
    band = config.checks.linear_band
    return Claim(
        "C3b",
        f"Sum-normalized initial loss L(0) = O(m): slope of log L_sum(0) vs log m is "
        f"{_fmt(slope, ci)} (holds if the CI is inside [{1 - band:g}, {1 + band:g}]); training "
        f"used the {config.data.normalization} loss.",
        verdict_within(ci, 1 - band, 1 + band),
        slope,
        ci,
        1.0,
    )


def loss_vs_k_slopes(losses: np.ndarray, ks) -> np.ndarray:
    """Per-row slope of log loss vs log k (rows: seeds)."""
    log_k = np.log(np.asarray(ks, dtype=float))
    return np.asarray([np.polyfit(log_k, np.log(row), 1)[0] for row in losses])


def baseline_losses(result: SweepResult, scratch: SweepResult | None) -> dict[str, np.ndarray]:
    """Mean loss at t = T on the largest m, ``[seed, K]``, for greedy and each baseline."""
    out = {
        name: result.final[f"{name}_loss"][:, -1, -1, :]
        for name in ("greedy", "random", "magnitude")
    }
    if scratch is not None:
        out["scratch"] = scratch.last("train_loss")
    return out


def check_baseline(claim_id: str, name: str, losses: dict[str, np.ndarray], config) -> Claim:
    """C4a-c: greedy beats a baseline at every k (CI of baseline - greedy above 0)."""
    difference = losses[name] - losses["greedy"]
    verdicts, parts = [], []
    for j, k in enumerate(config.greedy.ks):
        mean, ci = _ci(difference[:, j])
        verdicts.append(verdict_above(ci, 0.0))
        parts.append(f"k={k}: {_fmt(mean, ci)}")
    label = {
        "random": "random subsets",
        "magnitude": "the k largest ||v_r|| ||w_r||",
        "scratch": f"width-k nets trained from scratch for {config.train.steps} steps",
    }[name]
    return Claim(
        claim_id,
        f"Greedy beats {label} at equal k (largest m, t = T): baseline loss - greedy loss "
        + "; ".join(parts),
        _combine(verdicts),
        float(np.min(difference.mean(axis=0))),
    )


def check_slope(losses: dict[str, np.ndarray], config) -> Claim:
    """C4d: greedy's loss falls faster in k than the from-scratch nets' (log-log slopes)."""
    ks = config.greedy.ks
    slopes = {name: loss_vs_k_slopes(values, ks) for name, values in losses.items()}
    listed = ", ".join(f"{name} {_fmt(*_ci(s))}" for name, s in slopes.items())
    if "scratch" not in slopes:
        return Claim("C4d", f"No scratch baseline ran; slopes: {listed}.", "inconclusive", math.nan)
    mean, ci = _ci(slopes["greedy"] - slopes["scratch"])
    return Claim(
        "C4d",
        f"Log-log slope of loss vs k (largest m, t = T): {listed}. Greedy minus scratch "
        f"{_fmt(mean, ci)} (holds if CI < 0: greedy steeper; Ye et al. report ~ -1.8 vs -0.7).",
        verdict_within(ci, -math.inf, 0.0),
        mean,
        ci,
    )


def theory_slope(summary) -> float:
    """b of the reconstruction's t*(m) fitted by a + b ln m over the sizes of the sweep."""
    rows = summary["by_num_train"]
    sizes = np.asarray([r["num_train"] for r in rows], dtype=float)
    predicted = np.asarray([r["t_star"] for r in rows], dtype=float)
    if len(rows) < 2 or not np.all(np.isfinite(predicted)):
        return math.nan
    return fit_log(sizes, predicted)[1]


def wolfe2021_claims(
    main: SweepResult,
    scratch: SweepResult | None,
    practical: tuple[SweepResult, ml_collections.ConfigDict] | None,
    config: ml_collections.ConfigDict,
    summary,
) -> list[Claim]:
    """All checks of the spec, in its order, then P1 on the practical MLP.

    Args:
      main: the NTK sweep.
      scratch: the width-k-from-scratch sweep, or None.
      practical: the practical MLP sweep and its config, or None.
      config: the main config.
      summary: `wolfe2021.theory_summary` of the main config.
    """
    predicted_b = theory_slope(summary)
    claims = [check_improvement("C1a", main, config)]
    claims += [
        check_threshold(f"C1-{name}", main, config, name, predicted_b)
        for name in config.checks.definitions
    ]
    claims += [check_below_above(main, config), check_geometric(main, config, summary)]
    claims.append(check_initial_loss(main, config))
    losses = baseline_losses(main, scratch)
    claims += [check_baseline("C4a", "random", losses, config)]
    claims += [check_baseline("C4b", "magnitude", losses, config)]
    if scratch is not None:
        claims.append(check_baseline("C4c", "scratch", losses, config))
    claims.append(check_slope(losses, config))
    if practical is not None:
        practical, practical_config = practical
        claims.append(check_improvement("P1a", practical, practical_config))
        claims += [
            check_threshold(f"P1-{name}", practical, practical_config, name, None)
            for name in practical_config.checks.definitions
        ]
    return claims
