"""NTK theory of wolfe2021 (reconstruction): H_inf against a wide net's NTK, decay, t*."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from pruning_theory.papers.wolfe2021 import ntk_models, theory


def unit_rows(num_rows: int, dimension: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(num_rows, dimension))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_gram_is_the_infinite_width_ntk_of_the_two_layer_net():
    """H_inf_ij = lim (1/N) sum_r 1[w_r x_i > 0] 1[w_r x_j > 0] x_i . x_j, the W-gradient Gram."""
    x = jnp.asarray(unit_rows(4, 6), jnp.float32)
    width = 40000
    model = ntk_models.NTKTwoLayer(6, width, 1, 1.0, rngs=nnx.Rngs(params=0))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    jacobian = jax.jacrev(lambda p: nnx.merge(graphdef, p, rest)(x)[:, 0])(params)
    flat = jax.tree.leaves(jacobian)[0].reshape(4, -1)
    empirical = np.asarray(flat @ flat.T)
    np.testing.assert_allclose(empirical, theory.ntk_gram(x), atol=0.01)
    np.testing.assert_allclose(np.diag(theory.ntk_gram(x)), 0.5)


def test_extreme_eigenvalues_are_positive_for_distinct_inputs():
    x = unit_rows(30, 8, seed=1)
    lambda_0, lambda_max = theory.gram_extreme_eigenvalues(x)
    eigenvalues = np.linalg.eigvalsh(theory.ntk_gram(x))
    assert lambda_0 == pytest.approx(eigenvalues[0])
    assert lambda_max == pytest.approx(eigenvalues[-1])
    assert 0 < lambda_0 < lambda_max
    # Adding samples can only lower lambda_0 (Cauchy interlacing on nested Gram matrices).
    assert theory.gram_extreme_eigenvalues(unit_rows(60, 8, seed=1))[0] <= lambda_0 + 1e-12


def test_gram_refuses_inputs_that_are_not_unit_norm():
    with pytest.raises(ValueError, match="unit-norm inputs; row 1 has norm 2"):
        theory.ntk_gram(np.array([[1.0, 0.0], [0.0, 2.0]]))


def test_decay_bound_and_threshold():
    step, lambda_0 = 0.01, 0.2
    assert theory.decay_rate(step, lambda_0) == pytest.approx(0.001)
    np.testing.assert_allclose(
        theory.predicted_dense_loss([0, 1, 10], 4.0, step, lambda_0), 4.0 * 0.999 ** np.r_[0, 1, 10]
    )
    t_star = theory.threshold_steps(step, lambda_0, num_train=1000, k=100, constant=2.0)
    # (1 - rate)^t* m = 1 / (C k) exactly; ~ (2 / (eta lambda_0)) log(C m k) for a small rate.
    assert (1 - 0.001) ** t_star * 1000 == pytest.approx(1 / 200)
    assert t_star == pytest.approx(2 / (step * lambda_0) * math.log(2 * 1000 * 100), rel=1e-3)
    assert theory.threshold_steps(0.0, lambda_0, 1000, 100) == math.inf
    assert theory.sum_loss_step(4.0, 1000, "mean") == pytest.approx(0.004)
    assert theory.sum_loss_step(4.0, 1000, "sum") == 4.0
