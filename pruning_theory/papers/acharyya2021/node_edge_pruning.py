"""One-shot node and edge pruning of a hidden layer, and DIVNET reweighting.

The pruning rules compared by Acharyya et al. (2021; spec docs/papers/acharyya2021.md,
"Pruning") on a hidden layer of K units with fan-in N, whose first-layer weights are a matrix
with one unit per index along ``unit_axis``:

* node pruning keeps k_n whole units (a ``[K]`` 0/1 unit mask):
  `dpp_node_mask` (a k-DPP of a kernel over units, `pruning_theory.dpp`), `random_node_mask`
  (k_n uniformly) and `importance_node_mask` (the k_n largest outgoing weights, |v| as in the
  paper or signed v as in the official code);
* edge pruning keeps incoming weights (a mask of the weights' shape): `bernoulli_edge_mask`
  (i.i.d. with keep probability c, the teacher-student rule), `random_edge_mask` (exactly k_e
  random incoming edges per unit, the real-data rule) and `importance_edge_mask` (the k_e
  largest |w| per unit);
* reweighting after pruning: `reweight_nodes` (DIVNET, Mariet & Sra 2016: the least-squares
  weights of each removed unit's information vector on the kept units' vectors move its
  outgoing weights onto the kept units) and `reweight_edges` (per unit, the kept incoming
  weights absorb the least-squares fit of the removed inputs' contribution; the official code's
  ``reweight_edge``). Both take Gram matrices, so a population Gram (Q for teacher-student
  pre-activations, the identity for white inputs) gives the population version;
* parameter matching of node and edge pruning: `matched_edges_per_unit` (the spec's rounding)
  and `matched_units` (the official real-data accounting), and `normalize_rows`, the official
  code's pre-processing (each unit's incoming weights rescaled to norm sqrt(N)).

All rules are pure functions of traced counts, built on `pruning_theory.masks`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from pruning_theory import masks
from pruning_theory.papers.acharyya2021 import dpp

IMPORTANCE_SCORES = ("abs", "signed")
DPP_KERNELS = ("linear", "rbf")
DEFAULT_RIDGE = 1e-3


def matched_edges_per_unit(
    num_kept_units: int, fan_in: int, num_units: int, fan_out: int = 1
) -> int:
    """k_e with the parameter count of k_n kept units: K (k_e + fan_out) = k_n (N + fan_out).

    A kept unit keeps its N incoming and fan_out outgoing weights; edge pruning keeps k_e
    incoming weights per unit and every outgoing weight. Rounded half up (spec: N = 500,
    K = 6 gives 83, 166, 250, 333, 417 for k_n = 1..5).

    Raises:
      ValueError: if k_n is outside [1, K] or the matched k_e is outside [1, N].
    """
    if int(num_kept_units) != num_kept_units or not 1 <= num_kept_units <= num_units:
        raise ValueError(f"k_n = {num_kept_units} must be an integer in [1, K = {num_units}]")
    numerator = num_kept_units * (fan_in + fan_out) - num_units * fan_out
    edges = (2 * numerator + num_units) // (2 * num_units)
    if not 1 <= edges <= fan_in:
        raise ValueError(f"k_n = {num_kept_units} matches k_e = {edges}, outside [1, N = {fan_in}]")
    return edges


def matched_units(edges_per_unit: int, fan_in: int, num_units: int, fan_out: int) -> int:
    """k_n = ceil(K (k_e + fan_out) / (N + fan_out)): the units matching k_e edges per unit.

    The official real-data accounting (``cal_param_MNIST.py``): node pruning may keep slightly
    more parameters than edge pruning, never fewer.

    Raises:
      ValueError: if k_e is outside [1, N].
    """
    if int(edges_per_unit) != edges_per_unit or not 1 <= edges_per_unit <= fan_in:
        raise ValueError(f"k_e = {edges_per_unit} must be an integer in [1, N = {fan_in}]")
    return min(math.ceil(num_units * (edges_per_unit + fan_out) / (fan_in + fan_out)), num_units)


def normalize_rows(weights: jax.Array, unit_axis: int = 0) -> jax.Array:
    """Rescales each unit's incoming weights to norm sqrt(N), so that Q_ii = 1."""
    fan_in = weights.size // weights.shape[unit_axis]
    reduce_axes = tuple(a for a in range(weights.ndim) if a != unit_axis % weights.ndim)
    norms = jnp.sqrt(jnp.sum(weights**2, axis=reduce_axes, keepdims=True))
    return weights * math.sqrt(fan_in) / jnp.maximum(norms, jnp.finfo(weights.dtype).tiny)


def _rate(num_kept: ArrayLike, num_candidates: int) -> jax.Array:
    """The pruning rate of `pruning_theory.masks` that keeps exactly ``num_kept``."""
    return 1.0 - jnp.asarray(num_kept, jnp.float32) / num_candidates


def dpp_node_mask(key: jax.Array, spectrum: dpp.Spectrum, num_kept: ArrayLike) -> jax.Array:
    """k_n units drawn from the k-DPP of a kernel over units (its `dpp.Spectrum`)."""
    return dpp.sample(key, spectrum, num_kept)


def random_node_mask(key: jax.Array, num_units: int, num_kept: ArrayLike) -> jax.Array:
    """Exactly k_n units chosen uniformly at random."""
    return masks.random_unit_mask(key, num_units, _rate(num_kept, num_units))


def importance_node_mask(outgoing: jax.Array, num_kept: ArrayLike, score: str = "abs") -> jax.Array:
    """Keeps the k_n units with the largest outgoing weights.

    Args:
      outgoing: ``[K]`` second-layer weights, or ``[K, fan_out]`` (scored by mean |v|, as the
        official real-data code does).
      num_kept: k_n; may be traced.
      score: ``"abs"`` ranks by |v| (the paper), ``"signed"`` by v (the official
        teacher-student code; ``[K]`` weights only).

    Raises:
      ValueError: for an unknown score, or a signed score of multi-output weights.
    """
    if score not in IMPORTANCE_SCORES:
        raise ValueError(f"importance score {score!r} is not one of {IMPORTANCE_SCORES}")
    if score == "signed":
        if outgoing.ndim != 1:
            raise ValueError(f"a signed score needs [K] outgoing weights, got {outgoing.shape}")
        scores = outgoing
    else:
        scores = jnp.mean(jnp.abs(outgoing.reshape(outgoing.shape[0], -1)), axis=1)
    return masks.importance_unit_mask(scores, _rate(num_kept, outgoing.shape[0]))


def bernoulli_edge_mask(key: jax.Array, shape: tuple[int, ...], fraction: ArrayLike) -> jax.Array:
    """Keeps each weight independently with probability c (the teacher-student rule)."""
    return masks.bernoulli_mask(key, shape, 1.0 - jnp.asarray(fraction))


def random_edge_mask(
    key: jax.Array, shape: tuple[int, ...], edges_per_unit: ArrayLike, unit_axis: int = -1
) -> jax.Array:
    """Keeps exactly k_e incoming weights per unit, chosen uniformly (the real-data rule)."""
    unit_axis = unit_axis % len(shape)
    num_units = shape[unit_axis]
    per_unit = (*shape[:unit_axis], *shape[unit_axis + 1 :])
    rate = _rate(edges_per_unit, math.prod(per_unit))
    keys = jax.random.split(key, num_units)
    unit_masks = jax.vmap(lambda k: masks.random_exact_mask(k, per_unit, rate))(keys)
    return jnp.moveaxis(unit_masks, 0, unit_axis)


def importance_edge_mask(
    weights: jax.Array, edges_per_unit: ArrayLike, unit_axis: int = -1
) -> jax.Array:
    """Keeps the k_e incoming weights of largest |w| in each unit."""
    fan_in = weights.size // weights.shape[unit_axis]
    return masks.magnitude_mask(
        weights, _rate(edges_per_unit, fan_in), scope="unit", unit_axis=unit_axis
    )


def _restricted_solve(gram, keep_rows, rhs, ridge):
    """Solves G_SS x_S = rhs_S with x = 0 off S, at fixed shapes (identity on removed rows).

    ``ridge`` times the mean kept diagonal of G is added on S: least squares on collinear
    information vectors (two copies of one unit, constant pixels) stays finite.
    """
    keep = keep_rows.astype(gram.dtype)
    scale = jnp.sum(jnp.diagonal(gram) * keep) / jnp.maximum(jnp.sum(keep), 1.0)
    system = gram * keep[:, None] * keep[None, :] + jnp.diag(1 - keep + ridge * scale * keep)
    # No LAPACK: this runs batched over masks and cells (see `dpp.psd_cholesky`).
    return keep.reshape(-1, *([1] * (rhs.ndim - 1))) * dpp.psd_solve(system, rhs)


def reweight_nodes(
    gram: jax.Array, unit_mask: jax.Array, outgoing: jax.Array, ridge: float = DEFAULT_RIDGE
) -> jax.Array:
    """DIVNET reweighting: v_S += alpha v_{S^c}, alpha = G_SS^{-1} G_{S,S^c}; removed v = 0.

    Mariet & Sra (2016), Sec. 3.2: each removed unit's information vector is replaced by its
    least-squares fit on the kept units' vectors. With G the Gram of those vectors (Q for
    teacher-student pre-activations: the spec's population version) alpha solves the normal
    equations.

    Args:
      gram: ``[K, K]`` Gram matrix of the units' information vectors.
      unit_mask: ``[K]`` 0/1 kept units.
      outgoing: ``[K]`` or ``[K, fan_out]`` outgoing weights.
      ridge: relative ridge of the normal equations.

    Returns:
      The reweighted outgoing weights, zero on removed units.
    """
    keep = unit_mask.astype(gram.dtype).reshape(-1, *([1] * (outgoing.ndim - 1)))
    transfer = _restricted_solve(gram, unit_mask, gram @ ((1 - keep) * outgoing), ridge)
    return keep * (outgoing + transfer)


def reweight_edges(
    input_gram: jax.Array,
    weights: jax.Array,
    edge_mask: jax.Array,
    edges_per_unit: int,
    ridge: float = DEFAULT_RIDGE,
) -> jax.Array:
    """Per unit, the kept incoming weights absorb the removed inputs' least-squares fit.

    For unit h with kept inputs S and removed inputs R: w_S += d, where d minimizes
    ||X_S d - X_R w_R||^2, i.e. (G_SS + ridge I) d = G_SR w_R with G = X^T X / P (the official
    ``reweight_edge``; the ridge, ``ridge`` times the mean diagonal of G, keeps float32 solves
    finite on constant or collinear pixels). White inputs (G = I) give d = 0.

    Every unit keeps exactly k_e inputs (`random_edge_mask`, `importance_edge_mask`), so each
    system is gathered at its true size: k_e x k_e when k_e <= N / 2, otherwise through
    H = (G + ridge I)^{-1} and an (N - k_e)-sized Schur complement,
    (G_SS)^{-1} = H_SS - H_SR H_RR^{-1} H_RS. Either way a unit costs at most (N / 2)^3 / 3.
    The units are solved one after another with LAPACK: call this unbatched (not under vmap),
    since batched LAPACK calls can deadlock XLA's CPU thread pool (`dpp.psd_cholesky`).

    Args:
      input_gram: ``[N, N]`` second moment of the layer's inputs.
      weights: ``[N, K]`` incoming weights (a `nn.MaskedLinear` kernel).
      edge_mask: ``[N, K]`` 0/1 kept weights, exactly ``edges_per_unit`` per column.
      edges_per_unit: k_e (static).
      ridge: relative ridge of each unit's normal equations.

    Returns:
      ``[N, K]`` reweighted weights, zero where the mask is zero.
    """
    fan_in = weights.shape[0]
    shift = ridge * jnp.mean(jnp.diagonal(input_gram))
    regularized = input_gram + shift * jnp.eye(fan_in, dtype=input_gram.dtype)
    # Per unit, the kept inputs first (stable: ties keep index order).
    order = jnp.argsort(-edge_mask, axis=0, stable=True).T
    kept, removed = order[:, :edges_per_unit], order[:, edges_per_unit:]
    targets = (input_gram @ (weights * (1 - edge_mask))).T  # row h: G (w_h on R)

    if edges_per_unit <= fan_in - edges_per_unit:

        def one_unit(inputs):
            kept_h, target = inputs
            system = regularized[kept_h[:, None], kept_h[None, :]]
            delta = jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(system), target[kept_h])
            return jnp.zeros(fan_in, weights.dtype).at[kept_h].set(delta)

        deltas = jax.lax.map(one_unit, (kept, targets))
    else:
        inverse = jnp.linalg.inv(regularized)

        def one_unit(inputs):
            removed_h, target = inputs
            projected = inverse @ target.at[removed_h].set(0.0)
            schur = inverse[removed_h[:, None], removed_h[None, :]]
            correction = jax.scipy.linalg.cho_solve(
                jax.scipy.linalg.cho_factor(schur), projected[removed_h]
            )
            return projected - inverse[:, removed_h] @ correction

        deltas = jax.lax.map(one_unit, (removed, targets))
    return edge_mask * (weights + deltas.T)


def rbf_unit_kernel(preactivations: jax.Array, bandwidth: float, jitter: float = 0.01) -> jax.Array:
    """L_st = exp(-beta ||h_s - h_t||^2) + jitter I over units' pre-activation vectors.

    The real-data DPP kernel of the spec (beta = 10 / |train|, jitter 0.01); h_s is column s of
    the ``[P, K]`` pre-activations over the training set.
    """
    squared = jnp.sum(preactivations**2, axis=0)
    distances = squared[:, None] + squared[None, :] - 2 * preactivations.T @ preactivations
    kernel = jnp.exp(-bandwidth * jnp.maximum(distances, 0.0))
    return kernel + jitter * jnp.eye(kernel.shape[0], dtype=kernel.dtype)


def unit_kernel(gram: jax.Array, kind: str, rbf_scale: float, jitter: float) -> jax.Array:
    """The DPP kernel over units from the ``[K, K]`` Gram G of their pre-activation vectors.

    Spec docs/papers/acharyya2021.md, "Node rules" (DPP node):

    * ``linear``: L = G, the official teacher-student code's (1/P) H^T H (population: Q);
    * ``rbf``: L_st = exp(-scale d_st) + jitter I with d_st = G_ss + G_tt - 2 G_st, the mean
      squared distance of two units' pre-activations: DIVNET's exp(-beta ||h_s - h_t||^2) with
      beta = scale / |train| (`rbf_unit_kernel`, the real-data kernel), in population form.

    Raises:
      ValueError: for an unknown kind.
    """
    if kind not in DPP_KERNELS:
        raise ValueError(f"DPP kernel {kind!r} is not one of {DPP_KERNELS}")
    if kind == "linear":
        return gram
    diagonal = jnp.diagonal(gram)
    distances = jnp.maximum(diagonal[:, None] + diagonal[None, :] - 2 * gram, 0.0)
    kernel = jnp.exp(-rbf_scale * distances)
    return kernel + jitter * jnp.eye(gram.shape[0], dtype=gram.dtype)
