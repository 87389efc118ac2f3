"""Pruning stability, best accuracy after pruning, and correlations across runs.

Definitions of Bartoldson et al. (2020), exactly as computed by the official code
(``figures_and_tables/utils.py``), on per-epoch arrays ``[..., num_epochs]``:

* instability of the event at epoch e: ``(acc_pre - acc_post) / acc_pre``, test accuracy in
  eval mode right before and right after the prune;
* ``stability_e = 100 (1 - instability_e)``; the mean stability of a run averages it over the
  epochs at which some unit was removed, and is 100 for a run without such epochs;
* best test accuracy: the maximum post-prune test accuracy over the epochs from the last
  pruning epoch on (every epoch for a run that never prunes during training); the
  generalization gap is train minus test accuracy at that (first best) epoch.

Correlations across runs come with 95% intervals: Pearson's r through Fisher's z
(standard error ``1 / sqrt(n - 3)``), Kendall's tau-b through the z-transform of Fieller,
Hartley and Pearson (1957, Biometrika 44: standard error ``sqrt(0.437 / (n - 4))``).
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
    post_accuracy: np.ndarray, train_accuracy: np.ndarray, pruned: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best post-prune test accuracy from the last pruning epoch on, and its generalization gap.

    Args:
      post_accuracy: ``[..., num_epochs]`` test accuracy after each epoch's prune.
      train_accuracy: ``[..., num_epochs]`` running training accuracy of each epoch.
      pruned: ``[..., num_epochs]`` whether some unit was removed at that epoch.

    Returns:
      ``(best accuracy, gap, best epoch)``, each ``[...]``; the epoch is the first maximum.
    """
    post = np.asarray(post_accuracy, np.float64)
    pruned = np.asarray(pruned, bool)
    epochs = np.arange(post.shape[-1])
    last = np.where(pruned.any(axis=-1), np.argmax(np.where(pruned, epochs, -1), axis=-1), 0)
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
