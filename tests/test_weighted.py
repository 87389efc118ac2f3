"""Padding + per-sample weights: a padded run equals the unpadded one; nested stratified order."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from pruning_theory.data import weighted
from pruning_theory.papers.wolfe2021 import greedy, ntk_models


@pytest.mark.parametrize("normalization", ["sum", "mean"])
def test_padded_gd_equals_unpadded_gd(normalization):
    """GD on the first m of M rows with prefix weights = GD on the m rows alone."""
    num_valid, num_padded = 7, 12
    x = jax.random.normal(jax.random.key(0), (num_padded, 5))
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    labels = jnp.arange(num_padded) % 3
    model = ntk_models.NTKTwoLayer(5, 16, 3, 0.5, rngs=nnx.Rngs(params=1))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def trajectory(inputs, targets):
        def loss(p):
            outputs = nnx.merge(graphdef, p, rest)(inputs)
            return greedy.weighted_loss(outputs, targets, "squared")

        def step(p, _):
            value, grads = jax.value_and_grad(loss)(p)
            return jax.tree.map(lambda a, g: a - 0.3 * g, p, grads), value

        return jax.lax.scan(step, params, None, length=5)

    padded = greedy.Targets(
        labels,
        jax.nn.one_hot(labels, 3),
        weighted.prefix_weights(num_valid, num_padded, normalization),
    )
    alone_weights = jnp.ones(num_valid) / (num_valid if normalization == "mean" else 1)
    alone = greedy.Targets(labels[:num_valid], jax.nn.one_hot(labels[:num_valid], 3), alone_weights)
    padded_params, padded_losses = trajectory(x, padded)
    alone_params, alone_losses = trajectory(x[:num_valid], alone)
    chex.assert_trees_all_close(padded_losses, alone_losses, rtol=1e-6)
    chex.assert_trees_all_close(padded_params, alone_params, rtol=1e-6, atol=1e-7)
    assert padded_losses[-1] < padded_losses[0]


def test_prefix_weights_and_normalizations_under_vmap():
    weights = jax.jit(jax.vmap(lambda m: weighted.prefix_weights(m, 5, "mean")))(jnp.arange(1, 4))
    np.testing.assert_allclose(weights[1], [0.5, 0.5, 0, 0, 0])
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(weighted.prefix_weights(2, 4, "sum"), [1, 1, 0, 0])
    assert weighted.as_sum_normalized(0.25, 8, "mean") == 2.0
    assert weighted.as_sum_normalized(2.0, 8, "sum") == 2.0
    assert weighted.as_mean_normalized(2.0, 8, "sum") == 0.25
    with pytest.raises(ValueError, match="'median' is not one of"):
        weighted.prefix_weights(2, 4, "median")


def test_every_prefix_of_the_order_is_stratified_and_sizes_are_nested():
    labels = np.repeat(np.arange(10), 50)[np.random.default_rng(0).permutation(500)]
    order = weighted.nested_stratified_order(labels, 400, seed=(3, 1))
    assert len(np.unique(order)) == 400
    for size in (10, 30, 95, 200, 400):
        counts = np.bincount(labels[order[:size]], minlength=10)
        assert counts.max() - counts.min() <= 1, (size, counts)
    np.testing.assert_array_equal(
        weighted.nested_stratified_order(labels, 100, seed=(3, 1)), order[:100]
    )
    other = weighted.nested_stratified_order(labels, 400, seed=(4, 1))
    assert not np.array_equal(other, order)


def test_uneven_classes_stay_proportional():
    labels = np.repeat([0, 1, 2], [60, 30, 10])
    order = weighted.nested_stratified_order(labels, 50, seed=0)
    np.testing.assert_allclose(np.bincount(labels[order], minlength=3), [30, 15, 5], atol=1)


@pytest.mark.parametrize(
    "size, message",
    [(501, "dataset size 501 exceeds the 500 samples"), (0, "not a positive integer")],
)
def test_bad_sizes_are_named(size, message):
    with pytest.raises(ValueError, match=message):
        weighted.nested_stratified_order(np.zeros(500, int), size, seed=0)
