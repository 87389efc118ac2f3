"""Several dataset sizes in one compiled program: nested prefixes, padding and sample weights.

A dataset-size axis changes shapes, which a vmapped grid cannot do. Instead every size ``m``
uses the first ``m`` rows of one pool of ``max(m)`` rows, and a per-sample weight vector turns
the other rows off: ``loss = sum_x w_x loss(x)`` with ``w_x = 0`` on padding. The weights
carry the loss normalization explicitly:

* ``"sum"``: ``w_x = 1`` on the ``m`` real rows, so ``L = sum_x loss(x)`` grows like ``m``
  (the normalization of Du et al. 2019 under which ``L(0) = O(m)``);
* ``"mean"``: ``w_x = 1 / m``, so ``L`` is the average loss.

A padded row contributes exactly zero to the loss and to every gradient, so a padded run
equals the unpadded run on the prefix (tests/test_weighted.py). `nested_stratified_order`
orders a labelled pool so that every prefix is itself a stratified sample: sizes are nested
(the m = 500 samples are among the m = 1000 ones), as the spec's sweep over m asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

Normalization = Literal["sum", "mean"]
NORMALIZATIONS = ("sum", "mean")


def check_normalization(normalization: str) -> None:
    """Raises ValueError unless ``normalization`` is "sum" or "mean"."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"loss normalization {normalization!r} is not one of {NORMALIZATIONS}")


def check_sizes(sizes: Sequence[int], available: int) -> None:
    """Checks dataset sizes against the number of samples available.

    Raises:
      ValueError: naming a non-positive size, a non-integer size, or one above ``available``.
    """
    for size in sizes:
        if size != int(size) or size <= 0:
            raise ValueError(f"dataset size {size} is not a positive integer")
        if size > available:
            raise ValueError(f"dataset size {int(size)} exceeds the {available} samples available")


def nested_stratified_order(labels: np.ndarray, size: int, seed: int | Sequence[int]) -> np.ndarray:
    """Orders ``size`` samples of a pool so that *every* prefix is a stratified sample.

    Each class's samples are shuffled; the j-th of the n_c samples of class c gets the key
    ``(j + u) / n_c`` with u uniform in [0, 1), and the pool is sorted by key. A prefix of
    length m then holds ``m n_c / P`` samples of class c up to one, whatever m, so the sample
    of size m does not depend on which other sizes a sweep uses, and sizes are nested.

    Args:
      labels: ``[P]`` class labels of the pool.
      size: the length of the order, at most P.
      seed: an int or a sequence of ints (numpy seed); fixes the order.

    Returns:
      ``[size]`` int64 indices into the pool, without repetition.

    Raises:
      ValueError: if ``size`` is not a positive integer or exceeds the pool.
    """
    labels = np.asarray(labels)
    check_sizes([size], len(labels))
    rng = np.random.default_rng(seed)
    keys = np.empty(len(labels))
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        keys[members] = (np.arange(len(members)) + rng.uniform(size=len(members))) / len(members)
    return np.argsort(keys, kind="stable")[: int(size)].astype(np.int64)


def prefix_weights(num_valid, max_size: int, normalization: Normalization) -> jax.Array:
    """Sample weights of the first ``num_valid`` of ``max_size`` padded rows.

    Args:
      num_valid: m, the real rows (may be a traced scalar, e.g. a grid cell's value).
      max_size: the padded length.
      normalization: ``"sum"`` (weights 1) or ``"mean"`` (weights 1 / m).

    Returns:
      ``[max_size]`` float32 weights, zero on padding.
    """
    check_normalization(normalization)
    valid = (jnp.arange(max_size) < num_valid).astype(jnp.float32)
    if normalization == "sum":
        return valid
    return valid / jnp.asarray(num_valid, jnp.float32)


def as_sum_normalized(loss: jax.Array, num_valid, normalization: Normalization) -> jax.Array:
    """Converts a loss under ``normalization`` to the summed loss ``sum_x loss(x)``."""
    check_normalization(normalization)
    return loss if normalization == "sum" else loss * num_valid


def as_mean_normalized(loss: jax.Array, num_valid, normalization: Normalization) -> jax.Array:
    """Converts a loss under ``normalization`` to the average loss ``(1/m) sum_x loss(x)``."""
    check_normalization(normalization)
    return loss if normalization == "mean" else loss / num_valid
