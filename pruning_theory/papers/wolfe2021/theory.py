"""NTK theory behind "how much pre-training is enough" (Wolfe et al. 2021) — RECONSTRUCTION.

The paper's theorem could not be read; these are the formulas of docs/papers/wolfe2021.md,
built from the NTK analysis of Du, Zhai, Poczos and Singh (2019) and the greedy bound of Ye et
al. (2020). Every output that uses them is labelled "reconstruction".

* `ntk_gram`: the infinite-width Gram matrix of the two-layer ReLU net on unit-norm inputs,
  ``H_inf_ij = x_i . x_j (pi - arccos(x_i . x_j)) / (2 pi)`` (Du et al. 2019, Eq. 3 / Thm 3.1),
  and `gram_extreme_eigenvalues` its lambda_0 = lambda_min and lambda_max.
* `predicted_dense_loss`: linear convergence of full-batch GD on the summed squared loss,
  ``L(t) <= (1 - eta lambda_0 / 2)^t L(0)`` (Du et al. 2019, Thm 4.1).
* `threshold_steps`: the pre-training length after which the dense term drops below the greedy
  term ``O(1/k)`` with ``L(0) = O(m)``: ``(1 - eta lambda_0 / 2)^t m <= 1 / (C k)``, i.e.
  ``t* = log(C m k) / -log(1 - eta lambda_0 / 2) ~ (2 / (eta lambda_0)) log(C m k)``.

``eta`` here is the step on the *summed* loss; a run on the mean loss with step ``lr`` takes
the summed-loss step ``lr / m`` (`sum_loss_step`).
"""

from __future__ import annotations

import math

import numpy as np

RECONSTRUCTION = "reconstruction (docs/papers/wolfe2021.md), not the paper's verbatim theorem"


def ntk_gram(inputs: np.ndarray) -> np.ndarray:
    """``H_inf`` of unit-norm inputs ``[m, d]``, in float64.

    Raises:
      ValueError: if an input row is not of unit norm (the formula assumes ||x|| = 1).
    """
    x = np.asarray(inputs, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1)
    if not np.allclose(norms, 1.0, atol=1e-5):
        worst = int(np.argmax(np.abs(norms - 1)))
        raise ValueError(f"H_inf needs unit-norm inputs; row {worst} has norm {norms[worst]:.6g}")
    # Renormalize in float64: arccos is steep at 1, so a float32 norm error of 1e-7 would move
    # the diagonal by ~1e-4, not small against lambda_0 on real data.
    x = x / norms[:, None]
    cosine = np.clip(x @ x.T, -1.0, 1.0)
    return cosine * (np.pi - np.arccos(cosine)) / (2 * np.pi)


def gram_extreme_eigenvalues(inputs: np.ndarray) -> tuple[float, float]:
    """``(lambda_0, lambda_max)`` of `ntk_gram` (inputs), the NTK's conditioning on the data."""
    eigenvalues = np.linalg.eigvalsh(ntk_gram(inputs))
    return float(eigenvalues[0]), float(eigenvalues[-1])


def sum_loss_step(learning_rate: float, num_train: int, normalization: str) -> float:
    """The step on the summed loss equivalent to ``learning_rate`` under ``normalization``."""
    return learning_rate if normalization == "sum" else learning_rate / num_train


def decay_rate(sum_step: float, lambda_0: float) -> float:
    """``eta lambda_0 / 2``: the guaranteed loss decay per GD step."""
    return sum_step * lambda_0 / 2


def predicted_dense_loss(steps, initial_loss: float, sum_step: float, lambda_0: float):
    """The bound ``(1 - eta lambda_0 / 2)^t L(0)`` at ``steps`` (same normalization as L(0))."""
    return initial_loss * (1 - decay_rate(sum_step, lambda_0)) ** np.asarray(steps, dtype=float)


def threshold_steps(
    sum_step: float, lambda_0: float, num_train: int, k: int, constant: float = 1.0
) -> float:
    """``t* = log(C m k) / -log(1 - eta lambda_0 / 2)``; inf when the bound never decays.

    Args:
      sum_step: eta, the step on the summed loss.
      lambda_0: the smallest eigenvalue of H_inf on the training data.
      num_train: m.
      k: the subnetwork size.
      constant: C, the unknown constant of the reconstruction.
    """
    rate = decay_rate(sum_step, lambda_0)
    if not 0 < rate < 1:
        return math.inf
    return math.log(constant * num_train * k) / -math.log1p(-rate)
