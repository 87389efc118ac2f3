"""Flatness measures on quadratics with a known spectrum, with and without jit / vmap."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pruning_theory.papers.bartoldson2020 import flatness

DIM = 40
SPECTRUM = np.concatenate([[50.0, 20.0, 10.0, 5.0, 2.0], np.linspace(1.0, -1.0, DIM - 5)])


def quadratic(spectrum=SPECTRUM, seed=0):
    """0.5 w^T A w over params {"a": [DIM - 10], "b": [2, 5]} with A = Q diag(spectrum) Q^T."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(DIM, DIM)))
    matrix = jnp.asarray(q @ np.diag(spectrum) @ q.T, jnp.float32)
    params = {"a": jnp.ones(DIM - 10), "b": jnp.ones((2, 5))}

    def loss(tree):
        flat = jnp.concatenate([tree["a"], tree["b"].ravel()])
        return 0.5 * flat @ matrix @ flat

    return loss, params, q


@pytest.mark.parametrize("jit", [False, True])
def test_lanczos_recovers_the_top_eigenpairs_of_a_known_spectrum(jit):
    loss, params, q = quadratic()
    top = lambda p: flatness.hessian_top_eigenpairs(loss, p, jax.random.key(0), 5, 25)  # noqa: E731
    values, vectors = (jax.jit(top) if jit else top)(params)
    chex.assert_trees_all_close(values, SPECTRUM[:5], rtol=1e-4)
    overlaps = np.abs(np.asarray(vectors) @ q[:, :5])
    chex.assert_trees_all_close(np.diag(overlaps), np.ones(5), atol=1e-3)
    chex.assert_trees_all_close(np.linalg.norm(vectors, axis=1), np.ones(5), rtol=1e-5)


def test_lanczos_restarts_through_a_low_rank_operator():
    spectrum = np.zeros(DIM)
    spectrum[:3] = [9.0, 4.0, 1.0]  # rank 3: the Krylov space closes after 3 steps
    loss, params, _ = quadratic(spectrum, seed=1)
    values, _ = flatness.hessian_top_eigenpairs(loss, params, jax.random.key(2), 5, 12)
    chex.assert_trees_all_close(values, np.array([9.0, 4.0, 1.0, 0.0, 0.0], np.float32), atol=1e-4)


def test_lanczos_vmaps_over_operators():
    scales = jnp.array([1.0, 3.0])
    loss, params, _ = quadratic()

    def top(scale):
        scaled = lambda p: scale * loss(p)  # noqa: E731
        return flatness.hessian_top_eigenpairs(scaled, params, jax.random.key(0), 3, 25)[0]

    values = jax.vmap(top)(scales)
    chex.assert_trees_all_close(values, np.outer([1.0, 3.0], SPECTRUM[:3]), rtol=1e-4)


def test_lanczos_refuses_impossible_sizes():
    with pytest.raises(ValueError, match="num_eigenvalues \\(5\\) <= num_iterations \\(3\\)"):
        flatness.lanczos(lambda v: v, 10, jax.random.key(0), 5, 3)
    with pytest.raises(ValueError, match="<= dimension \\(10\\)"):
        flatness.lanczos(lambda v: v, 10, jax.random.key(0), 2, 11)


@pytest.mark.parametrize("chunk", [1, 4, 7])
def test_gradient_covariance_trace_of_least_squares(chunk):
    rng = np.random.default_rng(3)
    inputs, labels = rng.normal(size=(14, 6)), rng.normal(size=14)
    params = {"w": jnp.asarray(rng.normal(size=6), jnp.float32)}
    example_loss = lambda p, x, y: 0.5 * (p["w"] @ x - y) ** 2  # noqa: E731
    trace = flatness.gradient_covariance_trace(
        example_loss, params, jnp.asarray(inputs, jnp.float32), jnp.asarray(labels), chunk
    )
    residuals = inputs @ np.asarray(params["w"]) - labels
    expected = np.mean(residuals**2 * np.sum(inputs**2, axis=1))  # ||(w.x - y) x||^2
    chex.assert_trees_all_close(trace, expected, rtol=1e-5)


def test_sharpness_radius_is_the_first_grid_step_raising_the_loss_enough():
    loss, params, q = quadratic()
    directions = jnp.asarray(q[:, [0, 2, 4]].T, jnp.float32)
    epsilons = jnp.arange(1, 41) * 0.01
    # At the minimum w = 0 the rise along eigenvector i is 0.5 lambda_i eps^2.
    at_minimum = jax.tree.map(jnp.zeros_like, params)
    radius = flatness.sharpness_radius(loss, at_minimum, directions, epsilons, 0.1, 16)
    expected = [np.ceil(100 * np.sqrt(0.2 / lam) - 1e-6) / 100 for lam in (50.0, 10.0, 2.0)]
    chex.assert_trees_all_close(radius, np.asarray(expected, np.float32), atol=1e-6)
    flat_direction = jnp.asarray(q[:, -15:-14].T, jnp.float32)  # eigenvalue ~0.0
    never = flatness.sharpness_radius(loss, at_minimum, flat_direction, epsilons, 0.1, 16)
    assert np.isinf(never[0])
