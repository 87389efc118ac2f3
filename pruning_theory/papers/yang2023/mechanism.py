"""The signal-availability mechanism measured per seed, rate and class (pure array functions).

docs/papers/yang2023.md, "Heuristic theory (reconstruction)", "Signal availability": a filter
of class j is *effective* if it keeps the signal coordinate and starts positive on j mu; a class
has none with probability P0 = ((1 + p)/2)^m (eq. (10)), and the spec assumes that its test
points are then "classified by noise (about 50%)", which gives the bound of eq. (11).

The sweep measures, per seed, rate and class (arrays ``[seed, rate, 2]``, class +1 first):
``effective_filters`` (count), ``class_test_accuracy`` and ``noise_only_prediction`` (the
fraction of noise-only inputs the net assigns to that class). The functions here split the
classes into strata and average within a seed first, so that every statistic is a mean over
seeds (the i.i.d. replicates) with a Student-t interval:

* ``effective``: the class has an effective filter;
* ``lacking``: it has none, while the other class has one (the stratum where the spec's 50%
  and the opposite guess, "still classified correctly", differ);
* ``neither``: neither class has one (the net sees no signal at all).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pruning_theory.claims import mean_ci

STRATA = ("effective", "lacking", "neither")


def strata(effective_filters: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks ``[..., 2]`` of the `STRATA` from effective-filter counts ``[..., 2]``."""
    counts = np.asarray(effective_filters)
    has = counts > 0
    other = has[..., ::-1]
    return {"effective": has, "lacking": ~has & other, "neither": ~has & ~other}


def per_seed_means(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per seed (axis 0), the mean of ``values`` over the entries where ``mask`` is true.

    Seeds without such an entry are left out, so the result has one value per seed that has
    at least one; ``values`` and ``mask`` have the same shape ``[seed, ...]``.
    """
    values = np.asarray(values, dtype=np.float64)
    mask = np.broadcast_to(np.asarray(mask, dtype=bool), values.shape)
    flat_values = values.reshape(values.shape[0], -1)
    flat_mask = mask.reshape(mask.shape[0], -1)
    counts = flat_mask.sum(axis=1)
    sums = np.where(flat_mask, flat_values, 0.0).sum(axis=1)
    present = counts > 0
    return sums[present] / counts[present]


def stratum_summary(values: np.ndarray, mask: np.ndarray) -> tuple[float, tuple, int]:
    """``(mean, (low, high), seeds)`` over seeds of `per_seed_means` (nan without seeds)."""
    means = per_seed_means(values, mask)
    if means.size == 0:
        return float("nan"), (float("nan"), float("nan")), 0
    mean, low, high = mean_ci(means)
    return float(mean), (float(low), float(high)), int(means.size)


def mechanism_table(
    rates: np.ndarray,
    width: int,
    effective_filters: np.ndarray,
    class_accuracy: np.ndarray,
    noise_only_prediction: np.ndarray,
) -> list[dict[str, Any]]:
    """One row per rate: effective filters, classes without one, per-class accuracy by stratum.

    Args:
      rates: [R] the pruning rates.
      width: m, the filters per class.
      effective_filters, class_accuracy, noise_only_prediction: [seed, R, 2] measured arrays.

    Returns:
      Rows with the rate, the mean effective filters per class (theory m (1 - p) / 2), the
      fraction of classes without one (theory P0), and for each stratum the mean per-class
      accuracy with its CI over seeds and the number of seeds in it; for ``lacking`` also the
      noise-only prediction of that class.
    """
    rates = np.asarray(rates, dtype=float)
    counts = np.asarray(effective_filters, dtype=np.float64)
    masks = strata(counts)
    rows = []
    for index, rate in enumerate(rates):
        row = {
            "rate": float(rate),
            "effective_per_class": float(counts[:, index].mean()),
            "effective_per_class_theory": width * (1 - rate) / 2,
            "classes_without": float((counts[:, index] == 0).mean()),
            "classes_without_theory": float(((1 + rate) / 2) ** width),
        }
        for name in STRATA:
            row[name] = stratum_summary(class_accuracy[:, index], masks[name][:, index])
        row["lacking_noise_default"] = stratum_summary(
            noise_only_prediction[:, index], masks["lacking"][:, index]
        )
        rows.append(row)
    return rows


def _cell(summary: tuple[float, tuple, int]) -> str:
    mean, (low, high), seeds = summary
    if not seeds:
        return "-"
    if seeds < 2:
        return f"{mean:.2f} (1)"
    return f"{mean:.2f} [{low:.2f}, {high:.2f}] ({seeds})"


def table_text(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Column headers and cell texts of `mechanism_table` rows (for a figure or markdown)."""
    header = [
        "p",
        "eff. filters / class\n(theory)",
        "classes without\n(theory P0)",
        "acc: class with one",
        "acc: class lacking,\nother has one",
        "noise-only default\nof lacking class",
        "acc: neither class\nhas one",
    ]
    cells = [
        [
            f"{row['rate']:g}",
            f"{row['effective_per_class']:.2f} ({row['effective_per_class_theory']:.2f})",
            f"{row['classes_without']:.2f} ({row['classes_without_theory']:.2f})",
            _cell(row["effective"]),
            _cell(row["lacking"]),
            _cell(row["lacking_noise_default"]),
            _cell(row["neither"]),
        ]
        for row in rows
    ]
    return header, cells
