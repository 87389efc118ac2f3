"""Greedy forward selection: rank-one and chunked scores equal brute force; known paths."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from pruning_theory import models
from pruning_theory.papers.wolfe2021 import greedy, ntk_models


def random_problem(seed=0, num_samples=12, num_neurons=7, num_classes=3, padding=3):
    """A small problem with non-negative activations, an offset and padded (zero-weight) rows."""
    rng = np.random.default_rng(seed)
    hidden = np.maximum(rng.normal(size=(num_samples, num_neurons)), 0)
    readout = rng.normal(size=(num_neurons, num_classes)) / num_neurons
    offset = rng.normal(size=num_classes) * 0.1
    labels = rng.integers(0, num_classes, num_samples)
    weights = np.r_[np.full(num_samples - padding, 1 / (num_samples - padding)), np.zeros(padding)]
    neurons = greedy.Neurons(*(jnp.asarray(a, jnp.float32) for a in (hidden, readout, offset)))
    targets = greedy.Targets(
        jnp.asarray(labels), jax.nn.one_hot(labels, num_classes), jnp.asarray(weights, jnp.float32)
    )
    return neurons, targets


def rank_one_scores(neurons, targets, counts):
    """`squared_loss_scores` from a multiset of counts, as greedy_path uses it."""
    scale = greedy.neuron_scale(neurons)
    running_sum = scale * neurons.hidden @ (counts[:, None] * neurons.readout)
    residual = running_sum - (jnp.sum(counts) + 1.0) * (targets.one_hot - neurons.offset)
    base = jnp.sum(targets.weights * jnp.sum(residual**2, axis=-1))
    cross = greedy.rank_one_cross(neurons.hidden, neurons.readout, residual, targets.weights, scale)
    norms = greedy.feature_norms(neurons.hidden, neurons.readout, targets.weights, scale)
    return greedy.squared_loss_scores(cross, base, norms, jnp.sum(counts)), cross


@pytest.mark.parametrize("counts", [[0, 0, 0, 0, 0, 0, 0], [1, 0, 2, 0, 0, 3, 0], [1] * 7])
def test_rank_one_score_equals_brute_force(counts):
    neurons, targets = random_problem()
    counts = jnp.asarray(counts, jnp.float32)
    brute = jax.vmap(
        lambda i: greedy.weighted_loss(
            greedy.subnetwork_output(neurons, counts.at[i].add(1)), targets, "squared"
        )
    )(jnp.arange(7))
    scores, cross = rank_one_scores(neurons, targets, counts)
    chex.assert_trees_all_close(scores, brute, rtol=1e-5)
    running_sum = 7 * neurons.hidden @ (counts[:, None] * neurons.readout)
    naive = greedy.naive_squared_scores(neurons, targets, running_sum, jnp.sum(counts), 3)
    chex.assert_trees_all_close(naive, brute, rtol=1e-6)
    # The Gram form of the cross term: K = H^T diag(w) H and A = H^T diag(w) (Y - b).
    weighted_hidden = targets.weights[:, None] * neurons.hidden
    gram = neurons.hidden.T @ weighted_hidden
    targets_term = weighted_hidden.T @ (targets.one_hot - neurons.offset)
    chex.assert_trees_all_close(
        greedy.gram_cross(gram, targets_term, neurons.readout, counts, 7),
        cross,
        rtol=1e-4,
        atol=1e-6,
    )


def test_cross_entropy_chunks_equal_brute_force():
    neurons, targets = random_problem(seed=1)
    counts = jnp.asarray([0, 2, 0, 1, 0, 0, 0], jnp.float32)
    scale = greedy.neuron_scale(neurons)
    running_sum = scale * neurons.hidden @ (counts[:, None] * neurons.readout)
    chunked = greedy.cross_entropy_scores(
        neurons.hidden, neurons.readout, running_sum, neurons.offset, targets.labels,
        targets.weights, jnp.sum(counts), scale, chunk_size=3,
    )  # fmt: skip
    brute = jax.vmap(
        lambda i: greedy.weighted_loss(
            greedy.subnetwork_output(neurons, counts.at[i].add(1)), targets, "cross_entropy"
        )
    )(jnp.arange(7))
    chex.assert_trees_all_close(chunked, brute, rtol=1e-5)


@pytest.mark.parametrize("loss", ["squared", "cross_entropy"])
@pytest.mark.parametrize("replacement", [True, False])
def test_path_replays_brute_force_argmin_and_losses(loss, replacement):
    """Every step picks the brute-force argmin (unselected only without replacement)."""
    neurons, targets = random_problem(seed=2)
    config = greedy.GreedyConfig(num_selected=5, loss=loss, replacement=replacement, chunk_size=2)
    path = jax.jit(greedy.greedy_path, static_argnums=2)(
        neurons, targets, config, jax.random.key(0)
    )
    counts = jnp.zeros(7)
    for n in range(5):

        def score(i, counts=counts):
            outputs = greedy.subnetwork_output(neurons, counts.at[i].add(1))
            return greedy.weighted_loss(outputs, targets, loss)

        brute = jax.vmap(score)(jnp.arange(7))
        if not replacement:
            brute = jnp.where(counts > 0, jnp.inf, brute)
        assert int(path.selected[n]) == int(jnp.argmin(brute))
        counts = counts.at[path.selected[n]].add(1)
        outputs = greedy.subnetwork_output(neurons, counts)
        np.testing.assert_allclose(path.loss[n], greedy.weighted_loss(outputs, targets, loss),
                                   rtol=1e-5)  # fmt: skip
        np.testing.assert_allclose(path.accuracy[n], greedy.weighted_accuracy(outputs, targets))
    if not replacement:
        assert len(set(np.asarray(path.selected).tolist())) == 5


def hand_made_problem():
    """phi_1 = y + d and phi_4 = y - d average to y; every other neuron is far from y."""
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    d = np.array([0.3, 0.2, -0.3, 0.1, 0.2])
    hidden = np.stack([3 + y, y + d, 5 * np.ones(5), 2 - y, y - d, 4 * y], axis=1)
    neurons = greedy.Neurons(
        jnp.asarray(hidden, jnp.float32), jnp.full((6, 1), 1 / 6), jnp.zeros((1,))
    )
    targets = greedy.Targets(jnp.zeros(5, jnp.int32), jnp.asarray(y)[:, None], jnp.ones(5) / 5)
    return neurons, targets, 0.5 * np.mean(d**2)


@pytest.mark.parametrize("replacement", [True, False])
def test_greedy_picks_the_known_neurons(replacement):
    neurons, targets, first_loss = hand_made_problem()
    config = greedy.GreedyConfig(num_selected=2, replacement=replacement)
    path = greedy.greedy_path(neurons, targets, config, jax.random.key(0))
    # Neurons 1 and 4 tie at step 1 (the lower index wins); together they are exact.
    np.testing.assert_array_equal(path.selected, [1, 4])
    np.testing.assert_allclose(path.loss, [first_loss, 0.0], atol=1e-7)


def test_with_replacement_repeats_an_exact_neuron():
    neurons, targets, _ = hand_made_problem()
    hidden = neurons.hidden.at[:, 2].set(targets.one_hot[:, 0])  # phi_2 = y exactly
    neurons = neurons._replace(hidden=hidden)
    with_replacement = greedy.greedy_path(
        neurons, targets, greedy.GreedyConfig(3), jax.random.key(0)
    )
    np.testing.assert_array_equal(with_replacement.selected, [2, 2, 2])
    np.testing.assert_allclose(with_replacement.loss, 0.0, atol=1e-7)
    without = greedy.greedy_path(
        neurons, targets, greedy.GreedyConfig(3, replacement=False), jax.random.key(0)
    )
    assert int(without.selected[0]) == 2 and 2 not in np.asarray(without.selected[1:])


@pytest.mark.parametrize("replacement", [True, False])
def test_gram_scoring_gives_the_same_path(replacement):
    neurons, targets = random_problem(seed=5, num_neurons=9)
    direct = greedy.GreedyConfig(6, replacement=replacement)
    gram = greedy.GreedyConfig(6, replacement=replacement, gram=True)
    paths = [greedy.greedy_path(neurons, targets, c, jax.random.key(0)) for c in (direct, gram)]
    np.testing.assert_array_equal(paths[0].selected, paths[1].selected)
    chex.assert_trees_all_close(paths[0].loss, paths[1].loss, rtol=1e-5)


def test_full_minibatch_and_all_candidates_reproduce_the_theory_path():
    """Official-code machinery with the whole data and every candidate = the exact path."""
    neurons, targets = random_problem(seed=3, padding=0)
    exact = greedy.greedy_path(
        neurons, targets, greedy.GreedyConfig(4, replacement=False), jax.random.key(0)
    )
    sampled = greedy.greedy_path(
        neurons,
        targets,
        greedy.GreedyConfig(4, replacement=False, num_candidates=7, batch_size=12),
        jax.random.key(5),
    )
    np.testing.assert_array_equal(sampled.selected, exact.selected)
    chex.assert_trees_all_close(sampled.loss, exact.loss, rtol=1e-5)


def test_candidate_subsampling_draws_unselected_neurons_only():
    neurons, targets = random_problem(seed=4)
    config = greedy.GreedyConfig(7, replacement=False, num_candidates=2, batch_size=4)
    paths = jax.vmap(lambda key: greedy.greedy_path(neurons, targets, config, key))(
        jax.random.split(jax.random.key(0), 8)
    )
    for selected in np.asarray(paths.selected):
        np.testing.assert_array_equal(np.sort(selected), np.arange(7))
    # The last step has one unselected neuron left among the two candidates: it must be chosen,
    # and different keys give different orders.
    assert len({tuple(s) for s in np.asarray(paths.selected).tolist()}) > 1


def test_vmapped_paths_equal_one_by_one():
    problems = [random_problem(seed) for seed in range(3)]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *problems)
    config = greedy.GreedyConfig(4)
    batched = jax.jit(jax.vmap(lambda p: greedy.greedy_path(*p, config, jax.random.key(0))))(
        stacked
    )
    for index, problem in enumerate(problems):
        single = greedy.greedy_path(*problem, config, jax.random.key(0))
        row = jax.tree.map(lambda x, i=index: x[i], batched)
        chex.assert_trees_all_close(row, single, rtol=1e-6)


@pytest.mark.parametrize("kind", ["ntk", "mlp"])
def test_subnetwork_is_the_dense_net_for_all_neurons_and_a_unit_masked_net(kind):
    x = jax.random.normal(jax.random.key(1), (9, 6))
    if kind == "ntk":
        model = ntk_models.NTKTwoLayer(6, 5, 3, 0.7, rngs=nnx.Rngs(params=0))
    else:
        model = models.MLP((6, 5, 3), jax.nn.relu, rngs=nnx.Rngs(params=0))
    neurons = ntk_models.neurons_of(model, x)
    dense = greedy.subnetwork_output(neurons, jnp.ones(5))
    chex.assert_trees_all_close(dense, model(x), rtol=1e-5, atol=1e-6)
    counts = jnp.asarray([2.0, 0.0, 1.0, 0.0, 1.0])
    ntk_models.hidden_layer(model).unit_mask[...] = 5 * counts / jnp.sum(counts)
    chex.assert_trees_all_close(
        greedy.subnetwork_output(neurons, counts), model(x), rtol=1e-5, atol=1e-6
    )


def test_ntk_output_signs_are_fixed_and_magnitudes_rank_neurons():
    model = ntk_models.NTKTwoLayer(4, 6, 2, 1.0, rngs=nnx.Rngs(params=0))
    params = nnx.state(model, nnx.Param)
    assert [path[-1] for path, _ in nnx.to_flat_state(params)] == ["kernel"]
    assert set(np.unique(np.asarray(model.signs[...]))) == {-1.0, 1.0}
    expected = np.linalg.norm(model.hidden.kernel[...], axis=0) * np.sqrt(2 / 6)
    np.testing.assert_allclose(ntk_models.neuron_magnitudes(model), expected, rtol=1e-6)


@pytest.mark.parametrize(
    "config, message",
    [
        (greedy.GreedyConfig(8, replacement=False), "num_selected = 8 exceeds the 7 neurons"),
        (greedy.GreedyConfig(3, num_candidates=0), "empty candidate set"),
        (greedy.GreedyConfig(3, batch_size=13), "batch_size = 13"),
        (greedy.GreedyConfig(0), "num_selected must be positive"),
        (greedy.GreedyConfig(3, loss="hinge"), "'hinge' is not one of"),
        (greedy.GreedyConfig(3, gram=True, batch_size=4), "gram scoring needs"),
    ],
)
def test_bad_greedy_config_is_named(config, message):
    with pytest.raises(ValueError, match=message):
        greedy.validate(config, num_neurons=7, num_samples=12)
    greedy.validate(greedy.GreedyConfig(7, replacement=False), num_neurons=7, num_samples=12)
