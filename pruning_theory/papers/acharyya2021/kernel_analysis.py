"""Why DPP node pruning does or does not beat random node pruning beyond k_n = M.

Spec docs/papers/acharyya2021.md, "Node rules" and "Exact k-DPP sampling". For a student
whose K units copy M teacher units, the DPP kernel L = Q is close to rank M: its top M
eigenvalues carry the teacher directions and the other K - M only the small differences
between copies of one teacher unit. A (K-1)-DPP keeps all units but i with probability
det(L_{-i}) / sum_j det(L_{-j}) = [L^-1]_ii / tr(L^-1): it drops the unit whose
pre-activation is best explained by the others. Whether that is also the unit whose removal
costs least error depends on the second layer v and on the function, which the kernel does
not see. These pure functions of a finished sweep's arrays (`pruning.evaluate` records the
kernels, each unit's drop error ``ge_drop_one`` and the exact (K-1)-DPP drop probabilities
``drop_probability_<kernel>``) measure it:

* `relative_spectrum`: eigenvalues of each cell's kernel, descending, over the largest;
* `group_overlaps`: the mean |L_st| within and across teacher groups;
* `drop_one_summary`: the (K-1)-DPP's expected error against random and the best single
  drop, the share of the best drop's gain over random that the DPP captures, and the
  probability it puts on the best unit to drop.
"""

from __future__ import annotations

import numpy as np

from pruning_theory.engine.results import SweepResult

KERNEL_ARRAYS = {"linear": "kernel", "rbf": "kernel_rbf"}


def relative_spectrum(kernels: np.ndarray) -> np.ndarray:
    """``[..., K]`` eigenvalues of ``[..., K, K]`` kernels, descending, over the largest."""
    eigenvalues = np.linalg.eigvalsh(np.asarray(kernels, np.float64))[..., ::-1]
    return eigenvalues / eigenvalues[..., :1]


def group_overlaps(kernels: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean off-diagonal |L_st| over pairs of units in the same / different teacher groups.

    Args:
      kernels: ``[..., K, K]``.
      groups: ``[..., K]`` teacher group of each unit.

    Returns:
      ``(within, across)``, each ``[...]`` (NaN where a cell has no such pair).
    """
    kernels, groups = np.abs(np.asarray(kernels, np.float64)), np.asarray(groups)
    same = groups[..., :, None] == groups[..., None, :]
    off = ~np.eye(kernels.shape[-1], dtype=bool)

    def mean(mask):
        count = np.sum(mask, axis=(-2, -1))
        total = np.sum(np.where(mask, kernels, 0.0), axis=(-2, -1))
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    return mean(same & off), mean(~same & off)


def drop_one_summary(result: SweepResult, kernel: str) -> dict[str, np.ndarray]:
    """The (K-1)-DPP of ``kernel`` against random and best single-unit removal, per cell.

    Returns:
      ``[seed, noise]`` arrays: ``dpp``, ``random``, ``best`` (expected error of dropping one
      unit by the DPP, uniformly, and the error of the best unit to drop); ``captured``,
      (random - dpp) / (random - best), the share of the best drop's gain the DPP realizes
      (1: it always drops the best unit, 0: no better than uniform); ``best_probability``,
      the DPP's probability of dropping the best unit (uniform: 1 / K).
    """
    errors = np.asarray(result.final["ge_drop_one"], np.float64)
    probability = np.asarray(result.final[f"drop_probability_{kernel}"], np.float64)
    dpp = np.sum(probability * errors, axis=-1)
    random, best = np.mean(errors, axis=-1), np.min(errors, axis=-1)
    gain = random - best
    captured = np.where(gain > 0, (random - dpp) / np.where(gain > 0, gain, 1.0), np.nan)
    best_index = np.argmin(errors, axis=-1)[..., None]
    return {
        "dpp": dpp,
        "random": random,
        "best": best,
        "captured": captured,
        "best_probability": np.take_along_axis(probability, best_index, axis=-1)[..., 0],
    }
