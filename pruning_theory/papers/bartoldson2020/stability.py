"""Pruning stability, best accuracy after pruning, and correlations across runs.

Definitions of Bartoldson et al. (2020), exactly as computed by the official code
(``figures_and_tables/utils.py``), on per-epoch arrays ``[..., num_epochs]``:

* instability of the event at epoch e: ``(acc_pre - acc_post) / acc_pre``, test accuracy in
  eval mode right before and right after the prune;
* ``stability_e = 100 (1 - instability_e)``; the mean stability of a run averages it over the
  epochs at which some unit was removed, and is 100 for a run without such epochs;
* best test accuracy: the maximum post-prune test accuracy over the epochs from the last
  pruning epoch on (for a run that never prunes during training: from a given epoch on, the
  official code's every epoch by default); the generalization gap is train minus test
  accuracy at that (first best) epoch.

Correlations across runs come with 95% intervals: Pearson's r through Fisher's z
(standard error ``1 / sqrt(n - 3)``), Kendall's tau-b through the z-transform of Fieller,
Hartley and Pearson (1957, Biometrika 44: standard error ``sqrt(0.437 / (n - 4))``).
`within_seed_correlation` removes each seed's mean first (the repeated-measures correlation
of Bakdash and Marusich 2017, Front. Psychol. 8:456): a partial correlation given one
indicator per seed, so its Fisher interval has standard error ``1 / sqrt(n - s - 2)``.
Spec: docs/papers/bartoldson2020.md, "Definitions" and "What a reproduction must show".
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import stats

PERFECT_STABILITY = 100.0


def instability(pre_accuracy: np.ndarray, post_accuracy: np.ndarray) -> np.ndarray:
    """(acc_pre - acc_post) / acc_pre, elementwise."""
    pre = np.asarray(pre_accuracy, np.float64)
    return (pre - np.asarray(post_accuracy, np.float64)) / pre


def stability(pre_accuracy: np.ndarray, post_accuracy: np.ndarray) -> np.ndarray:
    """100 (1 - instability), elementwise (above 100 when a prune raised the accuracy)."""
    return PERFECT_STABILITY * (1 - instability(pre_accuracy, post_accuracy))


def mean_stability(
    pre_accuracy: np.ndarray, post_accuracy: np.ndarray, pruned: np.ndarray
) -> np.ndarray:
    """Mean stability over the pruning epochs of each run; 100 for runs without any.

    Args:
      pre_accuracy: ``[..., num_epochs]`` test accuracy before each epoch's prune.
      post_accuracy: ``[..., num_epochs]`` test accuracy after it.
      pruned: ``[..., num_epochs]`` whether some unit was removed at that epoch.

    Returns:
      ``[...]`` mean stabilities in percent.
    """
    pruned = np.asarray(pruned, bool)
    per_epoch = np.where(pruned, stability(np.where(pruned, pre_accuracy, 1), post_accuracy), 0)
    count = pruned.sum(axis=-1)
    return np.where(count > 0, per_epoch.sum(axis=-1) / np.maximum(count, 1), PERFECT_STABILITY)


def best_after_last_prune(
    post_accuracy: np.ndarray,
    train_accuracy: np.ndarray,
    pruned: np.ndarray,
    start_without_prune: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best post-prune test accuracy from the last pruning epoch on, and its generalization gap.

    Spec: docs/papers/bartoldson2020.md, eqs. (3) and (4).

    Args:
      post_accuracy: ``[..., num_epochs]`` test accuracy after each epoch's prune.
      train_accuracy: ``[..., num_epochs]`` running training accuracy of each epoch.
      pruned: ``[..., num_epochs]`` whether some unit was removed at that epoch.
      start_without_prune: the first eligible epoch of a run without any pruning epoch
        (0: every epoch, as the official code).

    Returns:
      ``(best accuracy, gap, best epoch)``, each ``[...]``; the epoch is the first maximum.
    """
    post = np.asarray(post_accuracy, np.float64)
    pruned = np.asarray(pruned, bool)
    epochs = np.arange(post.shape[-1])
    last = np.where(
        pruned.any(axis=-1),
        np.argmax(np.where(pruned, epochs, -1), axis=-1),
        start_without_prune,
    )
    eligible = epochs >= last[..., None]
    best_epoch = np.argmax(np.where(eligible, post, -np.inf), axis=-1)
    best = np.take_along_axis(post, best_epoch[..., None], axis=-1)[..., 0]
    train = np.take_along_axis(np.asarray(train_accuracy, np.float64), best_epoch[..., None], -1)
    return best, train[..., 0] - best, best_epoch


@dataclasses.dataclass(frozen=True)
class Correlation:
    """Pearson and Kendall correlations of two samples with their confidence intervals."""

    pearson: float
    pearson_ci: tuple[float, float]
    kendall: float
    kendall_ci: tuple[float, float]
    count: int

    def describe(self) -> str:
        """Both correlations with their intervals and n, in words."""
        return (
            f"Pearson r = {self.pearson:.3f} [{self.pearson_ci[0]:.3f}, "
            f"{self.pearson_ci[1]:.3f}], Kendall tau = {self.kendall:.3f} "
            f"[{self.kendall_ci[0]:.3f}, {self.kendall_ci[1]:.3f}], n = {self.count}"
        )


def _z_interval(value: float, standard_error: float, confidence: float) -> tuple[float, float]:
    if not math.isfinite(value) or not math.isfinite(standard_error):
        return -math.inf, math.inf
    quantile = stats.norm.ppf(0.5 + confidence / 2)
    center = math.atanh(min(max(value, -1.0), 1.0))
    return (
        math.tanh(center - quantile * standard_error),
        math.tanh(center + quantile * standard_error),
    )


def correlation(x: np.ndarray, y: np.ndarray, confidence: float = 0.95) -> Correlation:
    """Pearson's r and Kendall's tau-b of paired samples with z-transform intervals.

    A sample without variation has no correlation: NaN with an infinite interval, as does a
    sample too small for the interval (n <= 4).

    Args:
      x: first sample (any shape; flattened).
      y: second sample, paired with ``x``.
      confidence: coverage of the intervals.

    Returns:
      A `Correlation`.

    Raises:
      ValueError: if the samples differ in size.
    """
    x, y = np.ravel(x).astype(np.float64), np.ravel(y).astype(np.float64)
    if x.size != y.size:
        raise ValueError(f"paired samples differ in size: {x.size} and {y.size}")
    count = x.size
    if count < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Correlation(math.nan, (-math.inf, math.inf), math.nan, (-math.inf, math.inf), count)
    pearson = float(stats.pearsonr(x, y).statistic)
    kendall = float(stats.kendalltau(x, y).statistic)
    pearson_se = 1 / math.sqrt(count - 3) if count > 3 else math.inf
    kendall_se = math.sqrt(0.437 / (count - 4)) if count > 4 else math.inf
    return Correlation(
        pearson,
        _z_interval(pearson, pearson_se, confidence),
        kendall,
        _z_interval(kendall, kendall_se, confidence),
        count,
    )


@dataclasses.dataclass(frozen=True)
class WithinSeedCorrelation:
    """A correlation with every seed's mean removed, its interval and its resolution.

    Attributes:
      r: the pooled Pearson correlation of the seed-centered samples.
      ci: its Fisher-z interval (infinite when undefined).
      count: the runs n.
      seeds: the seeds s (groups whose mean was removed).
      detectable: the smallest |r| that a two-sided test at the interval's level detects with
        80% power at this n and s (Fisher z); NaN when undefined.
    """

    r: float
    ci: tuple[float, float]
    count: int
    seeds: int
    detectable: float

    def describe(self) -> str:
        """The correlation, its interval, n, s and the detectable |r|, in words."""
        return (
            f"within-seed r = {self.r:.3f} [{self.ci[0]:.3f}, {self.ci[1]:.3f}] over "
            f"{self.count} runs of {self.seeds} seeds (detectable |r| >= {self.detectable:.2f} "
            "at 80% power)"
        )


def within_seed_correlation(
    x: np.ndarray, y: np.ndarray, confidence: float = 0.95
) -> WithinSeedCorrelation:
    """The repeated-measures correlation of paired runs grouped by seed (seed effects removed).

    Both samples are centered within every seed (row), then correlated over all runs; the
    Fisher interval and the detectable correlation use ``n - s - 2`` degrees of freedom
    (``s - 1`` seed indicators partialled out).

    Args:
      x: ``[seeds, ...]`` first sample; everything after the seed axis is one seed's runs.
      y: the second sample, same shape.
      confidence: coverage of the interval.

    Returns:
      A `WithinSeedCorrelation`; NaN with an infinite interval where there is no variation
      within seeds or too few runs (n - s - 2 < 1).

    Raises:
      ValueError: if the shapes differ or there is no seed axis.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim < 1:
        raise ValueError(f"need two samples of one shape [seeds, ...], got {x.shape}, {y.shape}")
    seeds = x.shape[0]
    x, y = x.reshape(seeds, -1), y.reshape(seeds, -1)
    count = x.size
    dx = x - x.mean(axis=1, keepdims=True)
    dy = y - y.mean(axis=1, keepdims=True)
    denominator = math.sqrt(float(np.sum(dx * dx) * np.sum(dy * dy)))
    dof = count - seeds - 2
    if dof < 1 or denominator == 0:
        return WithinSeedCorrelation(math.nan, (-math.inf, math.inf), count, seeds, math.nan)
    r = float(np.clip(np.sum(dx * dy) / denominator, -1.0, 1.0))
    standard_error = 1 / math.sqrt(dof)
    power = stats.norm.ppf(0.8)
    detectable = math.tanh((stats.norm.ppf(0.5 + confidence / 2) + power) * standard_error)
    return WithinSeedCorrelation(
        r, _z_interval(r, standard_error, confidence), count, seeds, detectable
    )
