"""t*(m), the pre-training a greedy subnetwork needs, and the log-vs-power test of C1.

Spec docs/papers/wolfe2021.md, "What a reproduction must show" (C1) and "Threshold rule".

* `log_spaced_steps`: the snapshot schedule, ``per_doubling`` snapshots per doubling of t,
  dense enough that t* is measured between close snapshots, not across a whole doubling.
* `crossing_step` / `first_crossings`: the first step at which a curve reaches a level,
  interpolated linearly in log(1 + t) between snapshots; NaN when never reached (censored).
* `fit_log` / `fit_power`: ``t* = a + b ln m`` and ``t* = c m^p`` fitted by least squares on
  *relative* residuals ``(t* - fit) / max(t*, 1)``: t* is measured on a geometric snapshot
  grid, so its error is relative, and each size counts alike whatever its t*.
* `form_statistics`: per seed, both fits, ``D = R^2_log - R^2_power`` (the C1 statistic),
  the slope b and the curvature of t* in ln m.

The C1 rule (fixed before any run, symmetric): log holds if the 95% CI of D over seeds lies
above 0 (the log law fits better), fails if it lies below 0 (the power law fits better), and
is inconclusive otherwise; the CI half-width is the smallest |D| the run could detect.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import optimize

MIN_SIZES = 3  # two-parameter fits need a third size to be compared at all


def log_spaced_steps(num_steps: int, per_doubling: int = 4) -> tuple[int, ...]:
    """``0`` and ``round(2^(j / per_doubling))`` for j = 0, 1, ... up to ``num_steps``.

    Distinct and increasing; ``num_steps`` is always the last step. ``per_doubling = 1``
    gives 0, 1, 2, 4, ..., ``per_doubling = 4`` a snapshot every factor 2^(1/4) ~ 1.19.

    Raises:
      ValueError: if ``num_steps`` or ``per_doubling`` is not a positive integer.
    """
    for name, value in (("num_steps", num_steps), ("per_doubling", per_doubling)):
        if value != int(value) or value <= 0:
            raise ValueError(f"{name} = {value!r} must be a positive integer")
    steps, j = {0, int(num_steps)}, 0
    while (step := round(2 ** (j / per_doubling))) < num_steps:
        steps.add(step)
        j += 1
    return tuple(sorted(steps))


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
    values = np.asarray(values, dtype=float)
    reached = values >= level if above else values <= level
    if not reached.any():
        return math.nan
    j = int(np.argmax(reached))
    if j == 0:
        return float(steps[0])
    u = np.log1p(np.asarray(steps, dtype=float))
    fraction = (level - values[j - 1]) / (values[j] - values[j - 1])
    return float(np.expm1(u[j - 1] + fraction * (u[j] - u[j - 1])))


def first_crossings(steps, series: np.ndarray, levels: np.ndarray, above: bool) -> np.ndarray:
    """`crossing_step` of every curve ``series[..., :]`` at its level ``levels[...]``."""
    out = np.empty(series.shape[:-1])
    for index in np.ndindex(*out.shape):
        out[index] = crossing_step(steps, series[index], float(levels[index]), above)
    return out


def relative_scale(values: np.ndarray) -> np.ndarray:
    """The residual scale ``max(t*, 1)``: relative error, floored at one step."""
    return np.maximum(np.asarray(values, dtype=float), 1.0)


def weighted_r2(values: np.ndarray, fitted: np.ndarray, scale: np.ndarray) -> float:
    """``1 - sum(((t - fit) / s)^2) / sum(((t - weighted mean) / s)^2)``; NaN if t is flat."""
    weights = 1.0 / scale**2
    center = np.sum(weights * values) / np.sum(weights)
    total = np.sum(weights * (values - center) ** 2)
    if not total > 0:
        return math.nan
    return float(1 - np.sum(weights * (values - fitted) ** 2) / total)


def fit_log(sizes: np.ndarray, values: np.ndarray) -> tuple[float, float, float]:
    """``t = a + b ln m`` by least squares on relative residuals: ``(a, b, R^2)``."""
    sizes, values = np.asarray(sizes, dtype=float), np.asarray(values, dtype=float)
    scale = relative_scale(values)
    design = np.stack([np.ones_like(sizes), np.log(sizes)], axis=1) / scale[:, None]
    (a, b), *_ = np.linalg.lstsq(design, values / scale, rcond=None)
    return float(a), float(b), weighted_r2(values, a + b * np.log(sizes), scale)


def fit_power(sizes: np.ndarray, values: np.ndarray) -> tuple[float, float, float]:
    """``t = c m^p`` by least squares on relative residuals: ``(c, p, R^2)``; NaNs if the fit
    does not converge. Started from the log-log line through the positive values."""
    sizes, values = np.asarray(sizes, dtype=float), np.asarray(values, dtype=float)
    scale = relative_scale(values)
    positive = values > 0
    if positive.sum() >= 2:
        p0, log_c0 = np.polyfit(np.log(sizes[positive]), np.log(values[positive]), 1)
    else:
        p0, log_c0 = 0.5, math.log(max(float(values.mean()), 1e-3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optimize.OptimizeWarning)
        try:
            (c, p), _ = optimize.curve_fit(
                lambda m, c, p: c * m**p,
                sizes,
                values,
                p0=(math.exp(log_c0), p0),
                sigma=scale,
                maxfev=20000,
            )
        except (RuntimeError, ValueError):
            return math.nan, math.nan, math.nan
    return float(c), float(p), weighted_r2(values, c * sizes**p, scale)


def curvature(sizes: np.ndarray, values: np.ndarray) -> float:
    """The bend of t* in u = ln m, relative to its slope: ``2 g (u_max - u_min) / |b|`` of the
    relative-residual fit ``t = a + b u + g u^2`` (0 for a log law, > 0 for a power law with
    p > 0, < 0 when t* saturates); NaN when the slope is 0."""
    sizes, values = np.asarray(sizes, dtype=float), np.asarray(values, dtype=float)
    u = np.log(sizes)
    u = u - u.mean()
    scale = relative_scale(values)
    design = np.stack([np.ones_like(u), u, u**2], axis=1) / scale[:, None]
    (_, b, g), *_ = np.linalg.lstsq(design, values / scale, rcond=None)
    return float(2 * g * (u.max() - u.min()) / abs(b)) if b != 0 else math.nan


def form_statistics(sizes: np.ndarray, t_stars: np.ndarray) -> dict[str, np.ndarray]:
    """Per seed (rows of ``t_stars [seed, m]``): ``b``, ``p``, ``r2_log``, ``r2_power``,
    ``difference`` (``D = r2_log - r2_power``) and ``curvature``; NaN for a seed with a
    censored t* or fewer than `MIN_SIZES` sizes."""
    sizes = np.asarray(sizes, dtype=float)
    rows = []
    for seed_values in np.atleast_2d(t_stars):
        if len(sizes) < MIN_SIZES or not np.all(np.isfinite(seed_values)):
            rows.append([math.nan] * 5)
            continue
        _, b, r2_log = fit_log(sizes, seed_values)
        _, p, r2_power = fit_power(sizes, seed_values)
        rows.append([b, p, r2_log, r2_power, curvature(sizes, seed_values)])
    b, p, r2_log, r2_power, bend = np.asarray(rows, dtype=float).reshape(-1, 5).T
    return {
        "b": b,
        "p": p,
        "r2_log": r2_log,
        "r2_power": r2_power,
        "difference": r2_log - r2_power,
        "curvature": bend,
    }
