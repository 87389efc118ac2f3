"""Synthetic signal/noise patch data of Cao et al. 2022 as used by Yang et al. 2023.

Each example is ``x = [y mu, xi]``: one patch is the class signal ``y mu`` (``y`` Rademacher),
the other is Gaussian noise ``xi ~ N(0, sigma_p^2 I_d)``, optionally projected orthogonal to
``mu``. SNR = ||mu|| / (sigma_p sqrt(d)).

References:
  Cao, Chen, Belkin, Gu. Benign Overfitting in Two-layer Convolutional Neural Networks.
    NeurIPS 2022, arXiv 2202.06526, Sec. 3 (data model).
  Yang et al. Theoretical Characterization of How Neural Network Pruning Affects its
    Generalization. arXiv 2301.00335 (the same data, pruned networks).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

MuKind = Literal["one_hot", "dense"]


class PatchData(NamedTuple):
    """A signal/noise patch data set; the signal patch of example i is ``labels[i] * mu``."""

    labels: jax.Array  # [n] in {-1, +1}
    noise: jax.Array  # [n, d] the noise patches xi_i


def signal_vector(dimension: int, norm: float, kind: MuKind) -> jax.Array:
    """The signal direction mu with ||mu|| = norm.

    ``one_hot`` is ``norm * e_1`` (the defaults of the reconstruction); ``dense`` spreads the
    same norm evenly over all coordinates (the control in which random pruning cannot keep
    the whole signal in any filter).
    """
    if kind == "one_hot":
        return jnp.zeros(dimension).at[0].set(norm)
    if kind == "dense":
        return jnp.full((dimension,), norm / jnp.sqrt(dimension))
    raise ValueError(f"unknown mu_kind {kind!r}; expected 'one_hot' or 'dense'")


def signal_noise_patches(
    key: jax.Array,
    num_samples: int,
    mu: jax.Array,
    noise_std: float,
    *,
    noise_orthogonal: bool = True,
) -> PatchData:
    """Draws ``num_samples`` examples ``([y mu, xi], y)``.

    Args:
      key: PRNG key.
      num_samples: n.
      mu: the signal vector [d].
      noise_std: sigma_p.
      noise_orthogonal: project every xi onto the orthogonal complement of mu (Cao et al.'s
        assumption, keeping the signal out of the noise patch).

    Returns:
      `PatchData` with labels [n] and noise [n, d].
    """
    label_key, noise_key = jax.random.split(key)
    labels = jax.random.rademacher(label_key, (num_samples,), dtype=jnp.float32)
    noise = noise_std * jax.random.normal(noise_key, (num_samples, mu.shape[0]))
    if noise_orthogonal:
        direction = mu / jnp.linalg.norm(mu)
        noise = noise - (noise @ direction)[:, None] * direction[None, :]
    return PatchData(labels=labels, noise=noise)
