"""Pruning-mask rules as pure functions of a (possibly traced) pruning rate.

Every rule returns a float array of 0/1 entries (1 = kept) and never branches on the
pruning rate in Python, nor lets it decide a shape, so the rate may be a traced JAX scalar:
``jax.vmap(lambda p: rule(..., p))(rates)`` sweeps a whole grid of rates in one compiled call.

Rules:

* unstructured random: :func:`bernoulli_mask` (i.i.d.) and :func:`random_exact_mask`
  (exact count);
* unstructured magnitude: :func:`magnitude_mask` (per layer or per unit) and
  :func:`global_magnitude_masks` (one threshold across a pytree);
* structured (whole units): :func:`random_unit_mask` and :func:`importance_unit_mask`, with
  the score helpers :func:`unit_scores_l2`, :func:`unit_scores_l1` and
  :func:`unit_scores_expected_bn`;
* :func:`kept_fraction` to measure the density of a mask or a pytree of masks.

Exact-count rules prune ``floor(pruning_rate * n + 0.5)`` of the ``n`` candidates (round half
up). Ties are broken by a stable sort: among equal scores the lower flat index is pruned
first, whichever direction is pruned.
"""

from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm
from jax.typing import ArrayLike, DTypeLike

Prune = Literal["smallest", "largest"]
Scope = Literal["layer", "unit"]

_PRUNE_OPTIONS = ("smallest", "largest")
_SCOPE_OPTIONS = ("layer", "unit")


def _check_option(name: str, value: str, options: tuple[str, ...]) -> None:
    """Raises ValueError unless ``value`` is one of ``options``."""
    if value not in options:
        raise ValueError(f"Unknown {name} {value!r}; expected one of {options}.")


def _num_pruned(pruning_rate: ArrayLike, num_candidates: ArrayLike) -> jax.Array:
    """Returns ``floor(pruning_rate * num_candidates + 0.5)`` as an int32 scalar."""
    rate = jnp.asarray(pruning_rate, dtype=jnp.float32)
    count = jnp.asarray(num_candidates, dtype=jnp.float32)
    return jnp.floor(rate * count + 0.5).astype(jnp.int32)


def _keep_by_rank(
    scores: jax.Array, pruning_rate: ArrayLike, alive: jax.Array | None = None
) -> jax.Array:
    """Keeps all but the ``num_pruned`` lowest-scoring candidates of a 1-D score vector.

    Args:
        scores: 1-D scores; the lowest are pruned first, ties by lower index first.
        pruning_rate: fraction of the candidates to prune; may be traced.
        alive: optional 1-D 0/1 vector; only nonzero entries are candidates, the others
            stay pruned.

    Returns:
        Boolean keep vector of the same length as ``scores``.
    """
    candidates = jnp.ones(scores.shape, bool) if alive is None else jnp.asarray(alive) > 0
    order = jnp.argsort(scores, stable=True)
    # Rank each entry among the candidates only, so that dead entries never use up the
    # pruning budget, whatever their score.
    sorted_ranks = jnp.cumsum(candidates[order].astype(jnp.int32)) - 1
    ranks = jnp.zeros(scores.shape, jnp.int32).at[order].set(sorted_ranks)
    num_pruned = _num_pruned(pruning_rate, jnp.sum(candidates))
    return candidates & (ranks >= num_pruned)


def _pruning_key(scores: jax.Array, prune: str) -> jax.Array:
    """Maps scores to sort keys whose smallest values are pruned first."""
    _check_option("prune", prune, _PRUNE_OPTIONS)
    return scores if prune == "smallest" else -scores


def bernoulli_mask(
    key: jax.Array,
    shape: tuple[int, ...],
    pruning_rate: ArrayLike,
    dtype: DTypeLike = jnp.float32,
) -> jax.Array:
    """Samples an i.i.d. mask that keeps each entry with probability ``1 - pruning_rate``.

    One uniform ``U`` is drawn per entry and the entry is kept where ``U >= pruning_rate``
    (common random numbers, as in random pruning at initialization, Yang et al. 2023). For
    a fixed key the masks are therefore nested across rates: ``p1 < p2`` implies
    ``mask(p2) <= mask(p1)``; rate 0 keeps everything and rate 1 prunes everything.

    Args:
        key: PRNG key.
        shape: shape of the mask.
        pruning_rate: probability of pruning each entry; may be traced.
        dtype: dtype of the returned mask.

    Returns:
        A 0/1 mask of the given shape and dtype.
    """
    uniforms = jax.random.uniform(key, shape)
    return (uniforms >= pruning_rate).astype(dtype)


def random_exact_mask(
    key: jax.Array,
    shape: tuple[int, ...],
    pruning_rate: ArrayLike,
    dtype: DTypeLike = jnp.float32,
) -> jax.Array:
    """Samples a mask pruning exactly ``num_pruned`` entries chosen uniformly at random.

    The pruned entries are those with the lowest ranks of i.i.d. uniform scores, so for a
    fixed key the masks are nested across rates.

    Args:
        key: PRNG key.
        shape: shape of the mask.
        pruning_rate: fraction of entries to prune; may be traced.
        dtype: dtype of the returned mask.

    Returns:
        A 0/1 mask of the given shape and dtype with
        ``floor(pruning_rate * size + 0.5)`` zeros.
    """
    scores = jax.random.uniform(key, shape).ravel()
    return _keep_by_rank(scores, pruning_rate).reshape(shape).astype(dtype)


def magnitude_mask(
    weights: jax.Array,
    pruning_rate: ArrayLike,
    *,
    prune: Prune = "smallest",
    scope: Scope = "layer",
    unit_axis: int = -1,
    dtype: DTypeLike = jnp.float32,
) -> jax.Array:
    """Prunes the entries of one weight array with the smallest (or largest) ``|w|``.

    Args:
        weights: weight array, e.g. a Dense kernel of shape ``(in, out)``.
        pruning_rate: fraction of the candidates to prune; may be traced.
        prune: ``"smallest"`` or ``"largest"`` magnitudes are pruned first.
        scope: ``"layer"`` ranks all entries together; ``"unit"`` ranks separately within
            each unit (one index along ``unit_axis``), so that every unit loses
            ``floor(pruning_rate * n + 0.5)`` of its ``n = weights.size // num_units``
            weights.
        unit_axis: axis indexing the units; only used when ``scope == "unit"``.
        dtype: dtype of the returned mask.

    Returns:
        A 0/1 mask with the shape of ``weights``.

    Raises:
        ValueError: if ``prune`` or ``scope`` is not one of the allowed strings.
    """
    _check_option("scope", scope, _SCOPE_OPTIONS)
    keys = _pruning_key(jnp.abs(weights), prune)
    if scope == "layer":
        keep = _keep_by_rank(keys.ravel(), pruning_rate).reshape(weights.shape)
    else:
        per_unit = jnp.moveaxis(keys, unit_axis, 0)
        rows = per_unit.reshape(per_unit.shape[0], -1)
        keep_rows = jax.vmap(_keep_by_rank, in_axes=(0, None))(rows, pruning_rate)
        keep = jnp.moveaxis(keep_rows.reshape(per_unit.shape), 0, unit_axis)
    return keep.astype(dtype)


def global_magnitude_masks(
    weights_tree: Any,
    pruning_rate: ArrayLike,
    *,
    prune: Prune = "smallest",
    dtype: DTypeLike = jnp.float32,
) -> Any:
    """Prunes by ``|w|`` with one threshold shared by all leaves of a pytree.

    All entries of all leaves are ranked together (in ``jax.tree.leaves`` order for ties)
    and ``floor(pruning_rate * total_size + 0.5)`` of them are pruned.

    Args:
        weights_tree: pytree of weight arrays.
        pruning_rate: fraction of all entries to prune; may be traced.
        prune: ``"smallest"`` or ``"largest"`` magnitudes are pruned first.
        dtype: dtype of the returned masks.

    Returns:
        A pytree of 0/1 masks with the structure and shapes of ``weights_tree``.

    Raises:
        ValueError: if ``prune`` is not one of the allowed strings.
    """
    leaves, treedef = jax.tree.flatten(weights_tree)
    flat = jnp.concatenate([jnp.abs(leaf).ravel() for leaf in leaves])
    keep = _keep_by_rank(_pruning_key(flat, prune), pruning_rate).astype(dtype)
    split_points = [sum(leaf.size for leaf in leaves[:i]) for i in range(1, len(leaves))]
    pieces = jnp.split(keep, split_points)
    masks = [piece.reshape(jnp.shape(leaf)) for piece, leaf in zip(pieces, leaves, strict=True)]
    return jax.tree.unflatten(treedef, masks)


def random_unit_mask(
    key: jax.Array,
    num_units: int,
    pruning_rate: ArrayLike,
    *,
    alive: ArrayLike | None = None,
    dtype: DTypeLike = jnp.float32,
) -> jax.Array:
    """Prunes whole units uniformly at random, exactly ``num_pruned`` of the candidates.

    Args:
        key: PRNG key.
        num_units: number of units (length of the returned vector).
        pruning_rate: fraction of the candidate units to prune; may be traced.
        alive: optional 0/1 vector of length ``num_units``; if given, only alive units are
            candidates, ``num_pruned = floor(pruning_rate * num_alive + 0.5)``, and dead
            units stay dead (the result is ``<= alive``).
        dtype: dtype of the returned mask.

    Returns:
        A 0/1 unit mask of shape ``(num_units,)``.
    """
    scores = jax.random.uniform(key, (num_units,))
    return _keep_by_rank(scores, pruning_rate, alive).astype(dtype)


def importance_unit_mask(
    scores: jax.Array,
    pruning_rate: ArrayLike,
    *,
    prune: Prune = "smallest",
    alive: ArrayLike | None = None,
    dtype: DTypeLike = jnp.float32,
) -> jax.Array:
    """Prunes the units with the smallest (or largest) importance scores.

    Args:
        scores: 1-D importance score per unit, e.g. from :func:`unit_scores_l2`.
        pruning_rate: fraction of the candidate units to prune; may be traced.
        prune: ``"smallest"`` or ``"largest"`` scores are pruned first.
        alive: optional 0/1 vector; if given, only alive units are candidates,
            ``num_pruned = floor(pruning_rate * num_alive + 0.5)``, and dead units stay dead.
        dtype: dtype of the returned mask.

    Returns:
        A 0/1 unit mask with the shape of ``scores``.

    Raises:
        ValueError: if ``prune`` is not one of the allowed strings.
    """
    return _keep_by_rank(_pruning_key(scores, prune), pruning_rate, alive).astype(dtype)


def _reduction_axes(ndim: int, unit_axis: int) -> tuple[int, ...]:
    """Returns every axis except ``unit_axis``."""
    unit_axis = unit_axis % ndim
    return tuple(axis for axis in range(ndim) if axis != unit_axis)


def unit_scores_l2(kernel: jax.Array, unit_axis: int = -1) -> jax.Array:
    """Returns the L2 norm of each unit's weights (reduced over all other axes).

    Args:
        kernel: weight array, e.g. ``(in, out)`` or ``(kh, kw, in, out)``.
        unit_axis: axis indexing the units.

    Returns:
        A vector with one norm per unit.
    """
    return jnp.sqrt(jnp.sum(jnp.square(kernel), axis=_reduction_axes(kernel.ndim, unit_axis)))


def unit_scores_l1(kernel: jax.Array, unit_axis: int = -1) -> jax.Array:
    """Returns the L1 norm of each unit's weights (reduced over all other axes).

    Args:
        kernel: weight array, e.g. ``(in, out)`` or ``(kh, kw, in, out)``.
        unit_axis: axis indexing the units.

    Returns:
        A vector with one norm per unit.
    """
    return jnp.sum(jnp.abs(kernel), axis=_reduction_axes(kernel.ndim, unit_axis))


def unit_scores_expected_bn(scale: jax.Array, bias: jax.Array) -> jax.Array:
    """E[BN] = beta Phi(beta/|gamma|) + |gamma| phi(beta/|gamma|): E[ReLU(gamma z + beta)].

    The expected post-ReLU output of a batch-normalized unit with z ~ N(0, 1), the E[BN]
    score of the appendix of Bartoldson et al. (2020), "The Generalization-Stability Tradeoff
    in Neural Network Pruning"; a unit with gamma = 0 outputs ReLU(beta).

    Args:
        scale: the BatchNorm scales gamma, one per unit.
        bias: the BatchNorm biases beta, one per unit.

    Returns:
        A vector with one expected output per unit.
    """
    gamma = jnp.abs(scale)
    ratio = bias / jnp.where(gamma > 0, gamma, 1.0)
    expected = bias * norm.cdf(ratio) + gamma * norm.pdf(ratio)
    return jnp.where(gamma > 0, expected, jnp.maximum(bias, 0.0))


def kept_fraction(mask_or_tree: Any) -> jax.Array:
    """Returns the fraction of ones over all entries of a mask or a pytree of masks.

    Args:
        mask_or_tree: a 0/1 array or a pytree of 0/1 arrays.

    Returns:
        A float32 scalar: number of nonzero entries divided by the total number of entries.

    Raises:
        ValueError: if the pytree has no leaves.
    """
    leaves = jax.tree.leaves(mask_or_tree)
    if not leaves:
        raise ValueError("kept_fraction needs at least one mask array, got an empty pytree.")
    kept = sum(jnp.count_nonzero(leaf) for leaf in leaves)
    total = sum(jnp.size(leaf) for leaf in leaves)
    return jnp.asarray(kept, jnp.float32) / total
