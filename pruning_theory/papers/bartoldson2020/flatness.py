"""Flatness of a minimum: Hessian spectrum, gradient noise, epsilon-sharpness (pure JAX).

Bartoldson et al. (2020, Sec. 5 and the official code) measure, near the end of training on
512 test images:

* ``Tr(H_k)``: the sum of the top-k Hessian eigenvalues of the loss, here by Lanczos with
  full reorthogonalization on Hessian-vector products (`lanczos`, `hessian_top_eigenpairs`);
* ``Tr(C) = (1/n) sum_i ||grad l_i||^2``: the trace of the uncentered covariance of the
  per-example gradients (`gradient_covariance_trace`);
* the epsilon-sharpness radius: along each of the top eigenvectors (unit norm), the smallest
  ``|eps|`` on a grid at which the loss has risen by a set amount (0.1 in the paper) over its
  value at the minimum (`sharpness_radius`).

Every function takes the loss as a pure function of a parameter pytree and works under
``jit`` and ``vmap``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

Params = Any
Loss = Callable[[Params], jax.Array]

# A Lanczos vector whose residual is below this share of |H v| has converged to an invariant
# subspace; the iteration restarts from a fresh random direction.
_BREAKDOWN = 1e-6


def _orthogonalize(vector: jax.Array, basis: jax.Array) -> jax.Array:
    """Removes the span of ``basis`` rows (zero rows allowed), twice for float stability."""
    for _ in range(2):
        vector = vector - basis.T @ (basis @ vector)
    return vector


def _normalize(vector: jax.Array) -> jax.Array:
    return vector / jnp.maximum(jnp.linalg.norm(vector), jnp.finfo(vector.dtype).tiny)


def lanczos(
    matvec: Callable[[jax.Array], jax.Array],
    dim: int,
    key: jax.Array,
    num_eigenvalues: int,
    num_iterations: int,
) -> tuple[jax.Array, jax.Array]:
    """Top eigenpairs of a symmetric operator by Lanczos with full reorthogonalization.

    Args:
      matvec: ``v -> A v`` for a symmetric ``A`` of size ``dim``.
      dim: the operator's size.
      key: draws the start vector (and restart vectors after a breakdown).
      num_eigenvalues: k, the number of largest (algebraic) eigenvalues returned.
      num_iterations: m >= k Lanczos steps, at most ``dim``; more steps converge more of the
        top k.

    Returns:
      ``(values [k] descending, vectors [k, dim])``: Ritz values and unit Ritz vectors.

    Raises:
      ValueError: if ``k > m`` or ``m > dim``.
    """
    if not 1 <= num_eigenvalues <= num_iterations <= dim:
        raise ValueError(
            f"need 1 <= num_eigenvalues ({num_eigenvalues}) <= num_iterations "
            f"({num_iterations}) <= dimension ({dim})"
        )
    start_key, restart_key = jax.random.split(key)
    start = _normalize(jax.random.normal(start_key, (dim,)))

    def step(carry, index):
        basis, vector = carry
        basis = basis.at[index].set(vector)
        product = matvec(vector)
        alpha = product @ vector
        residual = _orthogonalize(product, basis)
        beta = jnp.linalg.norm(residual)
        converged = beta <= _BREAKDOWN * jnp.linalg.norm(product)
        fresh = jax.random.normal(jax.random.fold_in(restart_key, index), (dim,))
        following = jnp.where(converged, _orthogonalize(fresh, basis), residual)
        return (basis, _normalize(following)), (alpha, jnp.where(converged, 0.0, beta))

    basis = jnp.zeros((num_iterations, dim), start.dtype)
    (basis, _), (alphas, betas) = jax.lax.scan(step, (basis, start), jnp.arange(num_iterations))
    off_diagonal = betas[:-1]
    tridiagonal = jnp.diag(alphas) + jnp.diag(off_diagonal, 1) + jnp.diag(off_diagonal, -1)
    values, ritz = jnp.linalg.eigh(tridiagonal)
    top = jnp.arange(num_iterations - 1, num_iterations - 1 - num_eigenvalues, -1)
    vectors = ritz[:, top].T @ basis
    return values[top], jax.vmap(_normalize)(vectors)


def hessian_vector_product(loss: Loss, params: Params) -> Callable[[jax.Array], jax.Array]:
    """``v -> H v`` on the flattened parameters (forward-over-reverse differentiation)."""
    flat, unravel = ravel_pytree(params)

    def flat_gradient(point: jax.Array) -> jax.Array:
        return ravel_pytree(jax.grad(loss)(unravel(point)))[0]

    return lambda vector: jax.jvp(flat_gradient, (flat,), (vector,))[1]


def hessian_top_eigenpairs(
    loss: Loss, params: Params, key: jax.Array, num_eigenvalues: int, num_iterations: int
) -> tuple[jax.Array, jax.Array]:
    """The top-k Hessian eigenpairs of ``loss`` at ``params`` (see `lanczos`).

    Returns:
      ``(values [k] descending, vectors [k, num_params])`` over the flattened parameters
      (``jax.flatten_util.ravel_pytree`` order).
    """
    dim = ravel_pytree(params)[0].size
    matvec = hessian_vector_product(loss, params)
    return lanczos(matvec, dim, key, num_eigenvalues, num_iterations)


def gradient_covariance_trace(
    example_loss: Callable[[Params, jax.Array, jax.Array], jax.Array],
    params: Params,
    inputs: jax.Array,
    labels: jax.Array,
    chunk_size: int,
) -> jax.Array:
    """Tr(C) = (1/n) sum_i ||grad_w l(w; x_i, y_i)||^2, the uncentered gradient covariance.

    Args:
      example_loss: ``(params, x, y) -> loss`` of one example (no batch axis).
      params: the parameter pytree.
      inputs: ``[n, ...]`` examples.
      labels: ``[n]``.
      chunk_size: examples whose gradients are held in memory at once.

    Returns:
      A scalar.
    """

    def squared_norm(example):
        gradient = jax.grad(example_loss)(params, *example)
        return sum(jnp.vdot(leaf, leaf) for leaf in jax.tree.leaves(gradient))

    norms = jax.lax.map(squared_norm, (inputs, labels), batch_size=chunk_size)
    return jnp.mean(norms)


def sharpness_radius(
    loss: Loss,
    params: Params,
    directions: jax.Array,
    epsilons: jax.Array,
    loss_rise: float,
    batch_size: int,
) -> jax.Array:
    """Epsilon-sharpness: per direction, the smallest grid ``|eps|`` raising the loss enough.

    Args:
      loss: the loss as a function of the parameter pytree.
      params: the minimum.
      directions: ``[d, num_params]`` unit directions over the flattened parameters.
      epsilons: ``[g]`` positive step sizes in increasing order; both signs are tried.
      loss_rise: the rise over ``loss(params)`` that defines the radius (0.1 in the paper).
      batch_size: perturbed losses evaluated at once.

    Returns:
      ``[d]`` radii; ``inf`` where no grid step raises the loss by ``loss_rise``.
    """
    flat, unravel = ravel_pytree(params)
    base = loss(params)
    signed = jnp.concatenate([epsilons, -epsilons])
    # Index pairs rather than copies of the directions: d x 2g perturbed parameter vectors
    # would not fit in memory at VGG scale.
    which = jnp.repeat(jnp.arange(directions.shape[0]), signed.size)
    steps = jnp.tile(signed, directions.shape[0])

    def rise(pair):
        index, step = pair
        return loss(unravel(flat + step * directions[index])) - base

    rises = jax.lax.map(rise, (which, steps), batch_size=batch_size)
    rises = rises.reshape(directions.shape[0], 2, epsilons.size)
    reached = jnp.any(rises >= loss_rise, axis=1)  # [d, g], either sign
    first = jnp.argmax(reached, axis=1)
    return jnp.where(jnp.any(reached, axis=1), epsilons[first], jnp.inf)
