"""Heuristic theory of random pruning at initialization (Yang et al. 2023) — RECONSTRUCTION.

The paper's body was not available; these formulas are the reconstruction in
docs/papers/yang2023.md, derived from Cao et al. 2022 with the per-filter noise dimension
``d -> (1 - p) d``. Every output that uses them is labelled "reconstruction".

* `benign_threshold` p_lo: below it noise memorization wins the race (harmful overfitting):
  ``n ||mu||^q >= C (sigma_p sqrt((1 - p) d))^q``  <=>  ``p >= p_lo``.
* `over_pruning_threshold` p_hi = 1 - 1/m: fewer than one kept signal weight per class.
* `signal_availability_bound`: a filter of class j is effective if it keeps the signal
  coordinate and starts with <w0 * m, j mu> > 0, with probability (1 - p) / 2; a class without
  one is classified by noise (50%), so E[test acc] <= 1 - P0 / 2, P0 = ((1 + p) / 2)^m.
* `availability_accuracy`: the same bound with the accuracy a0 of a class that lacks an
  effective filter while the other class has one as a parameter (a0 = 1/2 is eq. (11)); the
  figures draw it with a0 measured per rate (`mechanism`), labelled as measured.
* `error_bound_shape`: exp(-c n ||mu||^4 / ((1 - p) sigma_p^4 d)), the ReLU line of work's
  bound with d -> (1 - p) d; a shape, not a calibrated number.
"""

from __future__ import annotations

import numpy as np

RECONSTRUCTION = "reconstruction (docs/papers/yang2023.md), not the paper's verbatim theorem"


def benign_threshold(
    num_train: int, mu_norm: float, noise_std: float, dimension: int, power: float, constant=1.0
) -> float:
    """p_lo = 1 - n^{2/q} ||mu||^2 / (C^{2/q} sigma_p^2 d) (clipped to [0, 1])."""
    ratio = num_train ** (2 / power) * mu_norm**2 / (constant ** (2 / power) * noise_std**2)
    return float(np.clip(1 - ratio / dimension, 0.0, 1.0))


def over_pruning_threshold(width: int) -> float:
    """p_hi = 1 - 1/m: beyond it a class expects less than one kept signal weight."""
    return 1.0 - 1.0 / width


def probability_class_without_effective_filter(pruning_rate, width: int):
    """P0 = ((1 + p) / 2)^m (one-hot mu)."""
    return ((1 + np.asarray(pruning_rate)) / 2) ** width


def signal_availability_bound(pruning_rate, width: int):
    """Upper bound on the expected test accuracy, 1 - P0 / 2 (docs/papers/yang2023.md, eq. (11))."""
    return 1 - probability_class_without_effective_filter(pruning_rate, width) / 2


def availability_accuracy(pruning_rate, width: int, lacking_accuracy):
    """Eq. (11) with a class that lacks an effective filter at accuracy a0 (the other has one).

    The classes lack one independently with probability P0 each. A class with an effective
    filter is classified at most perfectly; if only one class lacks one, that class is at a0;
    if both lack one, the net sees no signal and is at 1/2 on average. So

        E[test acc] <= (1 - P0)^2 + P0 (1 - P0) (1 + a0) + P0^2 / 2
                     = 1 - P0/2 + (a0 - 1/2) P0 (1 - P0),

    which is the spec's bound for a0 = 1/2 and 1 - P0^2/2 for a0 = 1.
    """
    p0 = probability_class_without_effective_filter(pruning_rate, width)
    return 1 - p0 / 2 + (np.asarray(lacking_accuracy) - 0.5) * p0 * (1 - p0)


def memorization_possible(pruning_rate, dimension: int, num_train: int, factor: float = 10.0):
    """(1 - p) d >= factor * n: enough kept noise coordinates per filter to memorize."""
    return (1 - np.asarray(pruning_rate)) * dimension >= factor * num_train


def error_bound_shape(
    pruning_rate, num_train: int, mu_norm: float, noise_std: float, dimension: int, c=1.0
):
    """exp(-c n ||mu||^4 / ((1 - p) sigma_p^4 d)); decreasing in p: mild pruning helps."""
    keep = np.maximum(1 - np.asarray(pruning_rate, dtype=float), 1e-12)
    return np.exp(-c * num_train * mu_norm**4 / (keep * noise_std**4 * dimension))
