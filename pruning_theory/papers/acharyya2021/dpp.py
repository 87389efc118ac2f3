"""Exact k-DPP sampling in JAX, and exact k-DPP laws by enumerating subsets.

A k-DPP with L-ensemble kernel L (symmetric PSD, n x n) draws a subset S of size k with
P(S) = det(L_S) / e_k(lambda(L)), e_k the k-th elementary symmetric polynomial of the
eigenvalues (Kulesza & Taskar 2012, "Determinantal point processes for machine learning",
Sec. 5.2). It is invariant to scaling L.

Sampling (`spectrum` then `sample`, or `sample_k_dpp` in one call):

1. eigendecompose L and tabulate log e_l(lambda_1..lambda_m) for all l, m (`spectrum`);
2. choose k eigenvectors, going down from the last, keeping eigenvector m with probability
   lambda_m e_{l-1}^{m-1} / e_l^m where l is the number still to choose (Kulesza & Taskar
   Alg. 8, in log space so that large kernels do not overflow);
3. sample the projection DPP of those eigenvectors by the chain rule, one item at a time with
   probability proportional to its residual squared norm, updated by Gram-Schmidt (the
   dppy ``proj_dpp_sampler_eig_GS`` scheme). The probabilities are renormalized at every step:
   the reference library divides by the theoretical total and fails with "probabilities do not
   sum to 1" on rounding.

Every loop has a fixed length (the kernel's size), so ``k`` may be a traced value and one
compiled sampler serves every k; ``jax.vmap`` over keys draws many subsets at once. Subsets
come back as 0/1 masks of length n.

The pruning rules use it as docs/papers/acharyya2021.md, "Exact k-DPP sampling", describes.

Enumeration (`k_subsets`, `subset_log_probabilities`) lists all C(n, k) subsets and their exact
probabilities, giving expectations without sampling noise for small n.

`psd_cholesky`, `psd_log_det` and `psd_solve` are small PSD linear algebra in plain jnp ops:
batched LAPACK calls can deadlock XLA's CPU thread pool on few-core machines when two run
at once, and these run under vmap over cells, masks and subsets.

`check_kernel` validates a concrete kernel (square, symmetric, PSD, k at most its numerical
rank); `sample_k_dpp` calls it whenever its inputs are concrete, i.e. outside jit.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

RANK_TOLERANCE = 1e-6
MAX_ENUMERATED_SUBSETS = 200_000


class Spectrum(NamedTuple):
    """What every draw from one kernel shares.

    Attributes:
      eigenvalues: ``[n]`` ascending, clipped at 0.
      eigenvectors: ``[n, n]``, column m belongs to eigenvalue m.
      log_esp: ``[n + 1, n + 1]``; entry ``[m, l]`` is log e_l(lambda_1..lambda_m).
    """

    eigenvalues: jax.Array
    eigenvectors: jax.Array
    log_esp: jax.Array


def check_kernel(kernel: ArrayLike, k: int, *, tolerance: float = RANK_TOLERANCE) -> None:
    """Validates a concrete L-ensemble kernel for a k-DPP.

    Args:
      kernel: the kernel.
      k: the subset size.
      tolerance: eigenvalues below ``tolerance * max eigenvalue`` count as zero, and a
        negative eigenvalue below ``-tolerance * max eigenvalue`` makes the kernel non-PSD.

    Raises:
      ValueError: naming the offending value if the kernel is not a square, symmetric, finite,
        PSD matrix, or k is not an integer in [0, numerical rank].
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"a DPP kernel must be a square matrix, got shape {kernel.shape}")
    if not np.all(np.isfinite(kernel)):
        raise ValueError("the DPP kernel has non-finite entries")
    scale = max(float(np.max(np.abs(kernel))), np.finfo(np.float32).tiny)
    asymmetry = float(np.max(np.abs(kernel - kernel.T)))
    if asymmetry > tolerance * scale * 10:
        raise ValueError(f"the DPP kernel is not symmetric (max |L - L^T| = {asymmetry:.3g})")
    eigenvalues = np.linalg.eigvalsh((kernel + kernel.T) / 2)
    top = max(float(eigenvalues[-1]), 0.0)
    if eigenvalues[0] < -tolerance * max(top, scale):
        raise ValueError(
            f"the DPP kernel is not positive semi-definite (smallest eigenvalue "
            f"{eigenvalues[0]:.3g})"
        )
    rank = int(np.sum(eigenvalues > tolerance * top)) if top > 0 else 0
    if int(k) != k or not 0 <= k <= kernel.shape[0]:
        raise ValueError(f"k = {k} must be an integer in [0, {kernel.shape[0]}]")
    if k > rank:
        raise ValueError(f"k = {k} exceeds the numerical rank {rank} of the DPP kernel")


def spectrum(kernel: ArrayLike) -> Spectrum:
    """Eigendecomposition and log elementary symmetric polynomials of a kernel.

    Recurrence: e_l^m = e_l^{m-1} + lambda_m e_{l-1}^{m-1}, e_0^m = 1, e_l^0 = 0 for l > 0
    (Kulesza & Taskar 2012, Alg. 7), evaluated with logaddexp.
    """
    kernel = jnp.asarray(kernel)
    eigenvalues, eigenvectors = jnp.linalg.eigh((kernel + kernel.T) / 2)
    eigenvalues = jnp.maximum(eigenvalues, 0.0)
    size = kernel.shape[0]
    log_lambda = jnp.log(eigenvalues)
    first_row = jnp.full((size + 1,), -jnp.inf).at[0].set(0.0)

    def add_eigenvalue(row, log_value):
        shifted = jnp.concatenate([jnp.array([-jnp.inf]), row[:-1] + log_value])
        new_row = jnp.logaddexp(row, shifted)
        return new_row, new_row

    _, rows = jax.lax.scan(add_eigenvalue, first_row, log_lambda)
    return Spectrum(eigenvalues, eigenvectors, jnp.concatenate([first_row[None], rows]))


def _choose_eigenvectors(key: jax.Array, spec: Spectrum, k: ArrayLike) -> jax.Array:
    """Phase 1: a 0/1 vector over eigenvectors with exactly k ones (Alg. 8)."""
    size = spec.eigenvalues.shape[0]
    log_lambda = jnp.log(spec.eigenvalues)
    uniforms = jax.random.uniform(key, (size,))

    def visit(remaining, m):
        # Eigenvector m (0-based) is the (m+1)-th; keep it with lambda e_{l-1}^{m} / e_l^{m+1}.
        before = spec.log_esp[m, jnp.maximum(remaining - 1, 0)]
        log_p = log_lambda[m] + before - spec.log_esp[m + 1, remaining]
        keep = (remaining > 0) & (uniforms[m] < jnp.exp(log_p))
        return remaining - keep.astype(remaining.dtype), keep

    _, kept = jax.lax.scan(visit, jnp.asarray(k, jnp.int32), jnp.arange(size)[::-1])
    return kept[::-1].astype(spec.eigenvectors.dtype)


def _sample_projection(key: jax.Array, basis: jax.Array, k: ArrayLike) -> jax.Array:
    """Phase 2: k items from the projection DPP onto the span of ``basis``'s columns."""
    size = basis.shape[0]
    keys = jax.random.split(key, size)
    norms = jnp.sum(basis**2, axis=1)
    start = (jnp.ones(size, bool), norms, jnp.zeros((size, size), basis.dtype))

    def pick(carry, inputs):
        available, norms, factors = carry
        step, step_key = inputs
        weights = jnp.where(available, jnp.maximum(norms, 0.0), 0.0)
        # Renormalize rather than trust that the weights sum to the remaining rank.
        logits = jnp.where(weights > 0, jnp.log(jnp.where(weights > 0, weights, 1.0)), -jnp.inf)
        item = jax.random.categorical(step_key, logits)
        active = step < k
        column = (basis @ basis[item] - factors @ factors[item]) / jnp.sqrt(
            jnp.maximum(norms[item], jnp.finfo(basis.dtype).tiny)
        )
        still = available.at[item].set(False)
        column = jnp.where(still & active, column, 0.0)
        available = jnp.where(active, still, available)
        return (available, norms - column**2, factors.at[:, step].set(column)), None

    (available, _, _), _ = jax.lax.scan(pick, start, (jnp.arange(size), keys))
    return (~available).astype(basis.dtype)


def sample(key: jax.Array, spec: Spectrum, k: ArrayLike) -> jax.Array:
    """Draws one subset of size k from the k-DPP of a `Spectrum`; returns an ``[n]`` 0/1 mask.

    ``k`` may be traced. A k above the kernel's rank gives an undefined draw: check concrete
    kernels with `check_kernel` (as `sample_k_dpp` does).
    """
    eigen_key, item_key = jax.random.split(key)
    chosen = _choose_eigenvectors(eigen_key, spec, k)
    return _sample_projection(item_key, spec.eigenvectors * chosen[None, :], k)


def sample_k_dpp(key: jax.Array, kernel: ArrayLike, k: ArrayLike) -> jax.Array:
    """One subset of size k from the k-DPP with L-ensemble ``kernel``, as an ``[n]`` 0/1 mask.

    Args:
      key: PRNG key.
      kernel: ``[n, n]`` symmetric PSD kernel.
      k: the subset size; may be traced.

    Returns:
      A float 0/1 vector with exactly k ones.

    Raises:
      ValueError: for a concrete kernel or k that `check_kernel` refuses.
    """
    if not isinstance(kernel, jax.core.Tracer) and not isinstance(k, jax.core.Tracer):
        check_kernel(kernel, k)
    return sample(key, spectrum(kernel), k)


def k_subsets(size: int, k: int, limit: int = MAX_ENUMERATED_SUBSETS) -> np.ndarray:
    """All subsets of size k of ``range(size)`` in lexicographic order: ``[C(size, k), k]``.

    Raises:
      ValueError: if k is outside [1, size] or there are more than ``limit`` subsets.
    """
    if int(k) != k or not 1 <= k <= size:
        raise ValueError(f"k = {k} must be an integer in [1, {size}]")
    count = math.comb(size, k)
    if count > limit:
        raise ValueError(f"C({size}, {k}) = {count} subsets exceed the enumeration limit {limit}")
    return np.asarray(list(itertools.combinations(range(size), k)), dtype=np.int32)


def subset_masks(subsets: np.ndarray, size: int) -> np.ndarray:
    """0/1 masks ``[num_subsets, size]`` of index subsets ``[num_subsets, k]``."""
    masks = np.zeros((len(subsets), size), np.float32)
    np.put_along_axis(masks, subsets, 1.0, axis=1)
    return masks


def psd_cholesky(matrix: jax.Array) -> jax.Array:
    """Lower Cholesky factor of a PSD matrix, in plain jnp ops (no LAPACK call).

    A pivot that is not positive (a numerically singular direction) gives a zero column, so
    a singular block has a zero on the diagonal of its factor.

    Why not `jnp.linalg.cholesky`: on a CPU with few cores, XLA can deadlock when two batched
    LAPACK calls of one program run at once (each waits for the other's thread-pool workers).
    These small factorizations run under vmap over cells and masks, so they avoid LAPACK.
    """
    size = matrix.shape[-1]
    index = jnp.arange(size)

    def step(j, carry):
        residual, lower = carry
        root = jnp.sqrt(jnp.maximum(residual[j, j], 0.0))
        column = jnp.where(
            (index >= j) & (root > 0), residual[:, j] / jnp.maximum(root, 1e-30), 0.0
        )
        return residual - jnp.outer(column, column), lower.at[:, j].set(column)

    _, lower = jax.lax.fori_loop(0, size, step, (matrix, jnp.zeros_like(matrix)))
    return lower


def psd_log_det(matrix: jax.Array) -> jax.Array:
    """log det of a PSD matrix (-inf if singular), via `psd_cholesky`."""
    return 2 * jnp.sum(jnp.log(jnp.diagonal(psd_cholesky(matrix))))


def psd_solve(matrix: jax.Array, rhs: jax.Array) -> jax.Array:
    """x with matrix x = rhs for a positive definite matrix, in plain jnp ops (`psd_cholesky`).

    ``rhs`` is ``[n]`` or ``[n, r]``. Directions with a zero pivot get a zero solution.
    """
    lower = psd_cholesky(matrix)
    size = matrix.shape[-1]
    diagonal = jnp.diagonal(lower)
    safe = jnp.where(diagonal > 0, diagonal, 1.0)
    live = (diagonal > 0).reshape(-1, *([1] * (rhs.ndim - 1)))

    def forward(i, y):
        return y.at[i].set(jnp.where(live[i], (rhs[i] - lower[i] @ y) / safe[i], 0.0))

    def backward(step, x):
        i = size - 1 - step
        return x.at[i].set(jnp.where(live[i], (y[i] - lower[:, i] @ x) / safe[i], 0.0))

    y = jax.lax.fori_loop(0, size, forward, jnp.zeros_like(rhs))
    return jax.lax.fori_loop(0, size, backward, jnp.zeros_like(rhs))


def subset_log_probabilities(kernel: ArrayLike, subsets: ArrayLike) -> jax.Array:
    """Exact k-DPP log probabilities log det(L_S) - log sum_S' det(L_S') of listed subsets.

    Args:
      kernel: ``[n, n]`` PSD kernel.
      subsets: ``[num_subsets, k]`` indices; pass all C(n, k) subsets (`k_subsets`) to get the
        k-DPP law. A block with a non-positive pivot counts as probability 0.

    Returns:
      ``[num_subsets]`` log probabilities.
    """
    kernel, subsets = jnp.asarray(kernel), jnp.asarray(subsets)
    blocks = kernel[subsets[:, :, None], subsets[:, None, :]]
    log_weight = jax.vmap(psd_log_det)(blocks)
    return log_weight - jax.scipy.special.logsumexp(log_weight)
