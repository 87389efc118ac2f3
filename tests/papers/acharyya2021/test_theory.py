"""Integrals, exact error, theorems and ODEs of Acharyya et al. 2021 (pruning_theory.theory)."""

import itertools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

from pruning_theory.papers.acharyya2021 import ode, theory

# The spec's Monte-Carlo test vector (4e6 samples).
SPEC_COV = np.array(
    [
        [0.9505, -0.0638, -0.0839, -0.332],
        [-0.0638, 0.7112, 0.191, -0.0331],
        [-0.0839, 0.191, 0.4298, -0.0007],
        [-0.332, -0.0331, -0.0007, 0.59],
    ]
)
MC_SAMPLES = 1_000_000


def g(x):
    return erf(x / math.sqrt(2))


def g_prime(x):
    return math.sqrt(2 / math.pi) * np.exp(-(x**2) / 2)


def closed_forms(c):
    """I2(0,1), I3(0,1,2), I4(0,1,2,3), J2(0,1) of a 4 x 4 covariance."""
    return {
        "I2": theory.i2(c[0, 0], c[0, 1], c[1, 1]),
        "I3": theory.i3(c[0, 0], c[0, 1], c[0, 2], c[1, 2], c[2, 2]),
        "I4": theory.i4(
            c[0, 0], c[1, 1], c[2, 2], c[3, 3], c[0, 1], c[0, 2], c[0, 3], c[1, 2], c[1, 3], c[2, 3]
        ),
        "J2": theory.j2(c[0, 0], c[0, 1], c[1, 1]),
    }


def monte_carlo(c, seed):
    """Means and standard errors of the same four integrands over Gaussian samples."""
    fields = np.random.default_rng(seed).multivariate_normal(np.zeros(4), c, MC_SAMPLES)
    a, b, cc, d = fields.T
    samples = {
        "I2": g(a) * g(b),
        "I3": g_prime(a) * b * g(cc),
        "I4": g_prime(a) * g_prime(b) * g(cc) * g(d),
        "J2": g_prime(a) * g_prime(b),
    }
    return {k: (v.mean(), v.std() / math.sqrt(MC_SAMPLES)) for k, v in samples.items()}


def test_integrals_match_the_spec_monte_carlo_vector():
    expected = {"I2": -0.022227, "I3": 0.071840, "I4": -0.0015286, "J2": 0.348674}
    for name, value in closed_forms(SPEC_COV).items():
        # The vector is itself a 4e6-sample estimate: a few of its standard errors apart.
        assert abs(float(value) - expected[name]) < 3e-5, name


@pytest.mark.parametrize("seed", [0, 1])
def test_integrals_match_our_monte_carlo(seed):
    if seed == 0:
        cov = SPEC_COV
    else:
        features = np.random.default_rng(5).normal(size=(4, 6))
        cov = features @ features.T / 4
    estimates = monte_carlo(cov, seed)
    for name, value in closed_forms(cov).items():
        mean, error = estimates[name]
        assert abs(float(value) - mean) < 5 * error, (name, float(value), mean, error)


def test_tensors_are_the_elementwise_forms():
    cov = jnp.asarray(SPEC_COV)
    i3 = theory.i3_tensor(cov, 2)
    i4 = theory.i4_tensor(cov, 2)
    assert i3.shape == (2, 4, 4) and i4.shape == (2, 2, 4, 4)
    c = SPEC_COV
    for a, b, d in itertools.product(range(2), range(4), range(4)):
        expected = theory.i3(c[a, a], c[a, b], c[a, d], c[b, d], c[d, d])
        np.testing.assert_allclose(i3[a, b, d], expected, rtol=1e-5)
    np.testing.assert_allclose(i4[0, 1, 2, 3], closed_forms(c)["I4"], rtol=1e-5)
    u = jnp.array([-0.7, 1.3, 4.0, 4.0])
    np.testing.assert_allclose(
        ode.i4_quadratic_form(cov, u, 2), jnp.einsum("ikcd,c,d->ik", i4, u, u), rtol=1e-5
    )


def two_layer(key, hidden, dimension, scale=1.0):
    w_key, v_key = jax.random.split(key)
    return jax.random.normal(w_key, (hidden, dimension)), scale * jax.random.normal(
        v_key, (hidden,)
    )


def test_generalization_error_matches_sampled_inputs():
    dimension = 40
    w, v = two_layer(jax.random.key(0), 3, dimension)
    w_star, _ = two_layer(jax.random.key(1), 2, dimension)
    v_star = jnp.array([4.0, 4.0])
    q, r, t = theory.order_parameters(w, w_star)
    exact = float(theory.generalization_error(q, r, t, v, v_star))
    x = np.random.default_rng(2).normal(size=(400_000, dimension))

    def phi(weights, second):
        return g(x @ np.asarray(weights).T / math.sqrt(dimension)) @ np.asarray(second)

    squared = 0.5 * (phi(w, v) - phi(w_star, v_star)) ** 2
    error = squared.std() / math.sqrt(len(squared))
    assert abs(exact - squared.mean()) < 5 * error, (exact, squared.mean(), error)


def test_rescaled_error_is_the_minimum_over_the_scale():
    w, v = two_layer(jax.random.key(3), 4, 30)
    w_star, _ = two_layer(jax.random.key(4), 2, 30)
    v_star = jnp.array([4.0, 4.0])
    q, r, t = theory.order_parameters(w, w_star)
    scales = jnp.linspace(-3, 3, 6001)
    errors = jax.vmap(lambda s: theory.generalization_error(q, r, t, s * v, v_star))(scales)
    best = theory.rescaled_generalization_error(q, r, t, v, v_star)
    assert float(best) <= float(errors.min()) + 1e-4
    assert float(best) >= float(errors.min()) - 1e-3


def test_theorems_at_known_points():
    # Lemma 2: one group intact, one gone: (16 / 6)(0 + 1).
    assert math.isclose(theory.lemma2_error([3, 0], 3, 4.0), 16 / 6)
    # Thm 1 (M = 2, Z = 3, v* = 4): k_n = 1, 2, and with reweighting.
    assert math.isclose(theory.dpp_node_error(2, 3, 4.0, 1), 16 * (4 / 54 + 1 / 6))
    assert math.isclose(theory.dpp_node_error(2, 3, 4.0, 2), 16 * 2 / 6 * 4 / 9)
    assert math.isclose(theory.dpp_node_error(2, 3, 4.0, 1, reweighted=True), 16 / 6)
    assert theory.dpp_node_error(2, 3, 4.0, 2, reweighted=True) == 0.0
    # Thm 3: c = 1 is the unpruned specialized student (error 0), c = 0 the empty one.
    assert abs(theory.random_edge_error(2, 3, 4.0, 1.0)) < 1e-12
    assert math.isclose(theory.random_edge_error(2, 3, 4.0, 0.0), theory.null_error(2, 4.0))
    assert abs(theory.random_edge_rescaled_error(5, 4, 4.0, 1.0)) < 1e-12
    # Thm 4 holds for Z = 4 (M = 5, K = 20) at c = k_n / K; Thm 5 never favours random edge.
    for k_n, k_e in zip(range(1, 6), (24, 49, 74, 99, 124), strict=True):
        assert theory.theorem4_applies(4, k_e / 500)
        assert theory.theorem4_gap(5, 4, 4.0, k_n / 20, k_n) < 0
        assert theory.theorem5_gap(5, 4, 4.0, k_e / 500, k_n) <= 0
    # With the matched k_e = 124 (c = 0.248 < 1/Z) at k_n = M the margin flips sign.
    assert 0 < theory.theorem4_gap(5, 4, 4.0, 124 / 500, 5) < 0.05
    # ... but not for Z = 3 (the main setting): random edge loses at k_n = 2.
    assert not theory.theorem4_applies(3, 166 / 500)
    assert theory.theorem4_gap(2, 3, 4.0, 166 / 500, 2) > 0


def test_random_node_error_is_lemma2_averaged_over_subsets():
    teachers, copies = 2, 3
    group = np.repeat(np.arange(teachers), copies)
    for k in range(0, 7):
        errors = [
            theory.lemma2_error(np.bincount(group[list(s)], minlength=teachers), copies, 4.0)
            for s in itertools.combinations(range(6), k)
        ]
        assert math.isclose(theory.random_node_error(teachers, copies, 4.0, k), np.mean(errors))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: theory.dpp_node_error(2, 2.5, 4.0, 1), "Z = K / M = 2.5 must be an integer"),
        (lambda: theory.dpp_node_error(2, 3, 4.0, 3), "k_n = 3 > M = 2"),
        (
            lambda: theory.random_node_error(2, 3, 4.0, 7),
            "k_n = 7 must be an integer in \\[0, K = 6\\]",
        ),
        (lambda: theory.random_edge_error(2, 3, 4.0, 1.5), "c = 1.5 is outside"),
        (lambda: theory.lemma2_error([4, 0], 3, 4.0), "must lie in \\[0, Z = 3\\]"),
    ],
)
def test_bad_theory_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def random_state(key, students, teachers, dimension=50):
    w, v = two_layer(key, students, dimension)
    w_star, _ = two_layer(jax.random.fold_in(key, 1), teachers, dimension)
    q, r, t = theory.order_parameters(w, w_star)
    return ode.OrderParameters(q, r, v), t


def test_ode_drift_is_the_expected_sgd_increment():
    """N E[dR], N E[dv] and the eta^2 part of N E[dQ] as Gaussian averages of the local fields."""
    state, t = random_state(jax.random.key(8), 3, 2)
    v_star, eta, sigma = np.array([4.0, 4.0]), 0.5, 0.3
    drift = ode.rhs(state, t, v_star, eta, sigma)
    cov = np.asarray(theory.field_covariance(state.q, state.r, t), np.float64)
    rng = np.random.default_rng(9)
    fields = rng.multivariate_normal(np.zeros(5), cov, MC_SAMPLES)
    lam, nu = fields[:, :3], fields[:, 3:]
    v = np.asarray(state.v, np.float64)
    delta = g(nu) @ v_star - g(lam) @ v + sigma * rng.normal(size=MC_SAMPLES)
    samples = {
        "r": eta * v[None, :, None] * (g_prime(lam) * delta[:, None])[:, :, None] * nu[:, None, :],
        "v": eta * delta[:, None] * g(lam),
        "q2": eta**2
        * (v[:, None] * v[None, :])[None]
        * (g_prime(lam)[:, :, None] * g_prime(lam)[:, None, :])
        * delta[:, None, None] ** 2,
    }
    q_first = (
        eta
        * v[:, None]
        * np.mean(g_prime(lam)[:, :, None] * lam[:, None, :] * delta[:, None, None], axis=0)
    )
    expected_q = q_first + q_first.T + samples.pop("q2").mean(axis=0)
    got = {"r": np.asarray(drift.r), "v": np.asarray(drift.v)}
    for name, values in samples.items():
        mean = values.mean(axis=0)
        error = values.std(axis=0) / math.sqrt(MC_SAMPLES)
        assert np.all(np.abs(got[name] - mean) < 5 * error + 1e-5), name
    np.testing.assert_allclose(np.asarray(drift.q), expected_q, rtol=0.02, atol=0.01)


def test_ode_is_still_at_the_teacher():
    # Student = teacher (K = M), no noise: a fixed point of the dynamics.
    _, t = random_state(jax.random.key(2), 2, 2)
    state = ode.OrderParameters(t, t, jnp.array([4.0, 4.0]))
    drift = ode.rhs(state, t, jnp.array([4.0, 4.0]), 0.5, 0.0)
    for value in drift:
        np.testing.assert_allclose(value, 0.0, atol=1e-4)


def test_integrate_is_explicit_euler():
    state, t = random_state(jax.random.key(5), 3, 2)
    v_star = jnp.array([4.0, 4.0])
    final, errors = jax.jit(
        lambda s: ode.integrate(s, t, v_star, 0.5, 0.1, dt=0.01, steps_per_record=2, num_records=3)
    )(state)
    manual = state
    expected = [ode.error_of(state, t, v_star)]
    for step in range(6):
        manual = jax.tree.map(
            lambda x, dx: x + 0.01 * dx, manual, ode.rhs(manual, t, v_star, 0.5, 0.1)
        )
        if step % 2 == 1:
            expected.append(ode.error_of(manual, t, v_star))
    chex.assert_trees_all_close(final, manual, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(errors, jnp.stack(expected), rtol=1e-5)
