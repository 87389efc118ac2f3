"""Node and edge pruning rules, DIVNET reweighting, the teacher-student pieces, and the exact
evaluation of pruned students against the theorems on a hand-built specialized student."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pruning_theory.papers.acharyya2021 import node_edge_pruning as pruning
from pruning_theory.papers.acharyya2021 import pruning as acharyya2021_pruning
from pruning_theory.papers.acharyya2021 import teacher_student as ts
from pruning_theory.papers.acharyya2021 import theory


def test_parameter_matching():
    edges = [pruning.matched_edges_per_unit(k, 500, 6) for k in range(1, 6)]
    assert edges == [83, 166, 250, 333, 417]  # the spec's table (round half up)
    assert [pruning.matched_edges_per_unit(k, 500, 20) for k in range(1, 6)] == [
        24,
        49,
        74,
        99,
        124,
    ]
    # The official MNIST accounting: k_e = int(p 784), k_n = ceil(500 (k_e + 500) / 1284).
    assert pruning.matched_units(156, 784, 500, 500) == 256
    assert pruning.matched_units(705, 784, 500, 500) == 470
    with pytest.raises(ValueError, match="k_n = 7 must be an integer in \\[1, K = 6\\]"):
        pruning.matched_edges_per_unit(7, 500, 6)
    with pytest.raises(ValueError, match="k_e = 600 must be an integer in \\[1, N = 500\\]"):
        pruning.matched_units(600, 500, 6, 1)


def test_normalize_rows():
    w = jnp.array([[3.0, 4.0], [0.0, 2.0]])
    np.testing.assert_allclose(jnp.linalg.norm(pruning.normalize_rows(w), axis=1), math.sqrt(2))
    np.testing.assert_allclose(
        pruning.normalize_rows(w)[0], [3 / 5 * math.sqrt(2), 4 / 5 * math.sqrt(2)]
    )


def test_importance_node_mask_by_abs_and_signed_v():
    v = jnp.array([0.5, -3.0, 1.0, 2.0])
    np.testing.assert_array_equal(pruning.importance_node_mask(v, 2), [0, 1, 0, 1])
    np.testing.assert_array_equal(pruning.importance_node_mask(v, 2, "signed"), [0, 0, 1, 1])
    outgoing = jnp.array([[1.0, -1.0], [0.1, 0.1], [-2.0, 0.5]])  # mean |v|: 1, 0.1, 1.25
    np.testing.assert_array_equal(pruning.importance_node_mask(outgoing, 1), [0, 0, 1])
    with pytest.raises(ValueError, match="'largest'"):
        pruning.importance_node_mask(v, 2, "largest")


def test_importance_edge_mask_keeps_the_largest_per_unit():
    w = jnp.array([[0.1, -5.0], [-3.0, 0.2], [2.0, 0.3]])  # [N = 3, K = 2]
    np.testing.assert_array_equal(pruning.importance_edge_mask(w, 2), [[0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(
        pruning.importance_edge_mask(w.T, 1, unit_axis=0), [[0, 1, 0], [1, 0, 0]]
    )


def test_random_masks_keep_exact_counts_for_traced_sizes():
    keys = jax.random.split(jax.random.key(0), 5)
    ks = jnp.arange(1, 6)
    nodes = jax.jit(jax.vmap(lambda key, k: pruning.random_node_mask(key, 6, k)))(keys, ks)
    np.testing.assert_array_equal(nodes.sum(axis=1), np.arange(1, 6))
    edges = jax.jit(jax.vmap(lambda key, k: pruning.random_edge_mask(key, (50, 4), k)))(keys, ks)
    np.testing.assert_array_equal(edges.sum(axis=1), np.repeat(np.arange(1, 6)[:, None], 4, 1))
    rows = pruning.random_edge_mask(keys[0], (4, 50), 7, unit_axis=0)
    np.testing.assert_array_equal(rows.sum(axis=1), 7)
    bernoulli = pruning.bernoulli_edge_mask(keys[1], (20, 500), 0.3)
    assert abs(float(bernoulli.mean()) - 0.3) < 5 * math.sqrt(0.3 * 0.7 / 10000)


def test_divnet_moves_removed_outgoing_weights_onto_their_copies():
    # Unit 2 is a copy of unit 0; unit 1 is orthogonal to both.
    gram = jnp.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    v = jnp.array([1.0, 2.0, 3.0])
    keep = jnp.array([1.0, 1.0, 0.0])
    np.testing.assert_allclose(pruning.reweight_nodes(gram, keep, v), [4.0, 2.0, 0.0], rtol=1e-3)
    outgoing = jnp.stack([v, -v], axis=1)
    np.testing.assert_allclose(
        pruning.reweight_nodes(gram, keep, outgoing), [[4.0, -4.0], [2.0, -2.0], [0, 0]], rtol=1e-3
    )
    # Nothing removed: nothing moves.
    np.testing.assert_allclose(pruning.reweight_nodes(gram + jnp.eye(3), jnp.ones(3), v), v)


@pytest.mark.parametrize("kept", [2, 5])  # both solvers: k_e <= N / 2 and the Schur complement
def test_edge_reweighting_is_per_unit_ridge_least_squares(kept):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 7)) @ rng.normal(size=(7, 7))
    w = rng.normal(size=(7, 3))
    mask = np.asarray(pruning.random_edge_mask(jax.random.key(1), (7, 3), kept))
    gram = x.T @ x / len(x)
    ridge = 1e-3
    got = pruning.reweight_edges(jnp.asarray(gram), jnp.asarray(w), jnp.asarray(mask), kept, ridge)
    shift = ridge * np.mean(np.diag(gram))
    for unit in range(3):
        keep = mask[:, unit] > 0
        system = gram[np.ix_(keep, keep)] + shift * np.eye(kept)
        delta = np.linalg.solve(system, gram[np.ix_(keep, ~keep)] @ w[~keep, unit])
        np.testing.assert_allclose(got[keep, unit], w[keep, unit] + delta, rtol=2e-3, atol=2e-4)
        np.testing.assert_array_equal(got[~keep, unit], 0.0)
    # White inputs: nothing to absorb.
    white = pruning.reweight_edges(jnp.eye(7), jnp.asarray(w), jnp.asarray(mask), kept, 0.0)
    np.testing.assert_allclose(white, w * mask, atol=1e-6)


def test_rbf_unit_kernel():
    h = jnp.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])  # two samples, three units
    kernel = pruning.rbf_unit_kernel(h, 0.5, jitter=0.01)
    expected = np.exp(-0.5 * np.array([[0, 1, 4], [1, 0, 5], [4, 5, 0]])) + 0.01 * np.eye(3)
    np.testing.assert_allclose(kernel, expected, rtol=1e-5)


def test_sgd_step_is_gradient_descent_with_the_spec_scalings():
    dimension, eta = 30, 0.5
    student = ts.init_student(jax.random.key(0), 4, dimension)
    x, zeta = ts.draw_example(jax.random.key(1), dimension)
    y = 1.3 + 0.2 * zeta

    def loss(network):
        return 0.5 * (y - ts.output(network, x)) ** 2

    gradient = jax.grad(loss)(student)
    updated = ts.sgd_step(student, x, y, eta)
    chex.assert_trees_all_close(updated.w, student.w - eta * gradient.w, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(
        updated.v, student.v - eta / dimension * gradient.v, rtol=1e-5, atol=1e-7
    )
    jitted = jax.jit(ts.sgd_step)(student, x, y, eta)
    chex.assert_trees_all_close(jitted, updated, rtol=1e-5, atol=1e-6)


def test_monte_carlo_error_matches_the_exact_formula():
    student = ts.init_student(jax.random.key(2), 3, 40)
    teacher = ts.init_teacher(jax.random.key(3), 2, 40, 4.0)
    q, r, t = theory.order_parameters(student.w, teacher.w)
    exact = float(theory.generalization_error(q, r, t, student.v, teacher.v))
    sampled = float(ts.monte_carlo_error(jax.random.key(4), student, teacher, 200_000, 4000))
    assert abs(sampled - exact) / exact < 0.03
    with pytest.raises(ValueError, match="num_samples = 1000 must be a positive multiple"):
        ts.monte_carlo_error(jax.random.key(4), student, teacher, 1000, 4000)


def specialized_student(teachers: int, copies: int, dimension: int, v_star: float):
    """Z exact copies of each of M orthogonal teacher rows (T = I), v = v* / Z."""
    basis, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(dimension, teachers)))
    w_star = jnp.asarray(basis.T * math.sqrt(dimension), jnp.float32)
    teacher = ts.TwoLayer(w_star, jnp.full((teachers,), v_star))
    student = ts.TwoLayer(
        jnp.repeat(w_star, copies, axis=0), jnp.full((teachers * copies,), v_star / copies)
    )
    return student, teacher


def test_pruned_specialized_student_meets_the_theorems():
    teachers, copies, dimension, v_star = 2, 3, 400, 4.0
    student, teacher = specialized_student(teachers, copies, dimension, v_star)
    plan = acharyya2021_pruning.make_plan(
        teachers * copies, dimension, (1, 2), 200, True, "abs", 10_000
    )
    out = jax.jit(lambda k: acharyya2021_pruning.evaluate(k, student, teacher, plan))(
        jax.random.key(0)
    )
    assert abs(float(out["ge_unpruned"])) < 1e-4
    for index, k in enumerate(plan.node_counts):
        thm1 = theory.dpp_node_error(teachers, copies, v_star, k)
        np.testing.assert_allclose(out["ge_dpp_node_exact"][index], thm1, rtol=1e-3)
        np.testing.assert_allclose(out["ge_dpp_node_mean"][index], thm1, rtol=1e-3)
        reweighted = theory.dpp_node_error(teachers, copies, v_star, k, reweighted=True)
        np.testing.assert_allclose(out["ge_divnet_exact"][index], reweighted, atol=1e-3)
        random = theory.random_node_error(teachers, copies, v_star, k)
        np.testing.assert_allclose(out["ge_random_node_exact"][index], random, rtol=1e-3)
        fraction = plan.edge_counts[index] / dimension
        # Thm 3 is the expected network; each mask's error fluctuates at O(1 / sqrt(N)).
        thm3 = theory.random_edge_error(teachers, copies, v_star, fraction)
        np.testing.assert_allclose(out["ge_random_edge_mean"][index], thm3, rtol=0.03)
        rescaled = theory.random_edge_rescaled_error(teachers, copies, v_star, fraction)
        np.testing.assert_allclose(out["ge_random_edge_rescaled_mean"][index], rescaled, rtol=0.05)
    # The kernel is exactly block-diagonal: the DPP never keeps two copies of a teacher unit.
    np.testing.assert_allclose(out["dpp_distinct_groups_exact"], [1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(out["random_distinct_groups_exact"], [1.0, 9 / 15], atol=1e-6)
    np.testing.assert_allclose(out["block_fraction"], 1.0, atol=1e-6)
    np.testing.assert_array_equal(out["groups"], [0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(out["dpp_inclusion_exact"][1], np.full(6, 1 / 3), atol=1e-4)


def test_rbf_unit_kernel_from_the_gram_is_the_population_rbf():
    h = np.random.default_rng(0).normal(size=(500, 4))
    gram = h.T @ h / len(h)
    from_gram = pruning.unit_kernel(jnp.asarray(gram), "rbf", 10.0, 0.01)
    from_samples = pruning.rbf_unit_kernel(jnp.asarray(h), 10.0 / len(h), 0.01)
    np.testing.assert_allclose(from_gram, from_samples, rtol=1e-4, atol=1e-6)
    linear = pruning.unit_kernel(jnp.asarray(gram), "linear", 10.0, 0.01)
    np.testing.assert_allclose(linear, gram, rtol=1e-6)
    with pytest.raises(ValueError, match="'cosine' is not one of"):
        pruning.unit_kernel(jnp.asarray(gram), "cosine", 10.0, 0.01)


def test_drop_one_is_the_k_minus_one_dpp_law_beside_each_removal_error():
    """P(drop i) = det(L_-i) / sum_j det(L_-j) = [L^-1]_ii / tr(L^-1)."""
    student = ts.init_student(jax.random.key(5), 4, 30)
    teacher = ts.init_teacher(jax.random.key(6), 2, 30, 4.0)
    scorer = acharyya2021_pruning._scorer(student.w, teacher, student.v)
    q, r, t = theory.order_parameters(student.w, teacher.w)
    kernels = {"linear": q, "rbf": pruning.unit_kernel(q, "rbf", 10.0, 0.01)}
    out = acharyya2021_pruning.drop_one(kernels, scorer)
    for kind, kernel in kernels.items():
        inverse = np.linalg.inv(np.asarray(kernel, np.float64))
        expected = np.diagonal(inverse) / np.trace(inverse)
        np.testing.assert_allclose(out[f"drop_probability_{kind}"], expected, rtol=2e-3)
    for unit in range(4):
        v = student.v.at[unit].set(0.0)
        error = theory.generalization_error(q, r, t, v, teacher.v)
        np.testing.assert_allclose(out["ge_drop_one"][unit], error, rtol=1e-5)


def test_every_kernel_is_evaluated_exactly_and_the_primary_one_drives_the_rest():
    teachers, copies, dimension, v_star = 2, 2, 50, 4.0
    student = ts.init_student(jax.random.key(7), teachers * copies, dimension)
    teacher = ts.init_teacher(jax.random.key(8), teachers, dimension, v_star)
    for primary in ("linear", "rbf"):
        plan = acharyya2021_pruning.make_plan(4, dimension, (2, 3), 4, True, "abs", 100, primary)
        out = jax.jit(
            lambda k, plan=plan: acharyya2021_pruning.evaluate(k, student, teacher, plan)
        )(jax.random.key(0))
        np.testing.assert_array_equal(out["ge_dpp_node_exact"], out[f"ge_dpp_node_exact_{primary}"])
        np.testing.assert_array_equal(out["ge_divnet_exact"], out[f"ge_divnet_exact_{primary}"])
        assert out["drop_probability_rbf"].shape == (4,) and out["kernel_rbf"].shape == (4, 4)
    assert not np.allclose(out["ge_dpp_node_exact_linear"], out["ge_dpp_node_exact_rbf"])
    with pytest.raises(ValueError, match="pruning.kernel = 'cosine'"):
        acharyya2021_pruning.make_plan(4, dimension, (2,), 4, True, "abs", 100, "cosine")
