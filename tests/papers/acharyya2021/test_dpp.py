"""The exact k-DPP sampler and the enumerated k-DPP law (pruning_theory.dpp)."""

import itertools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from pruning_theory.papers.acharyya2021 import dpp

SIGNIFICANCE = 1e-3


def random_kernel(size: int, rank: int, seed: int) -> np.ndarray:
    features = np.random.default_rng(seed).normal(size=(size, rank))
    return features @ features.T + 0.05 * np.eye(size)


def subset_counts(masks: np.ndarray, subsets: np.ndarray) -> np.ndarray:
    index = {tuple(s): i for i, s in enumerate(subsets)}
    counts = np.zeros(len(subsets))
    for row in masks:
        counts[index[tuple(np.flatnonzero(row))]] += 1
    return counts


def exact_law(kernel: np.ndarray, subsets: np.ndarray) -> np.ndarray:
    weights = np.array([np.linalg.det(kernel[np.ix_(s, s)]) for s in subsets])
    return weights / weights.sum()


def test_sampled_subset_frequencies_match_the_enumerated_law():
    kernel = random_kernel(6, 4, seed=0)
    subsets = dpp.k_subsets(6, 3)
    spectrum = dpp.spectrum(jnp.asarray(kernel, jnp.float32))
    draw = jax.jit(jax.vmap(dpp.sample, in_axes=(0, None, None)))
    masks = np.asarray(draw(jax.random.split(jax.random.key(7), 20000), spectrum, 3))
    counts = subset_counts(masks, subsets)
    law = exact_law(kernel, subsets)
    assert stats.chisquare(counts, law * counts.sum()).pvalue > SIGNIFICANCE
    # The same test tells the k-DPP from the uniform law on these samples.
    uniform = np.full(len(subsets), counts.sum() / len(subsets))
    assert stats.chisquare(counts, uniform).pvalue < 1e-12
    enumerated = np.exp(np.asarray(dpp.subset_log_probabilities(kernel, subsets), np.float64))
    np.testing.assert_allclose(enumerated, law, rtol=1e-4)


def test_every_draw_has_exactly_k_items_for_a_traced_k():
    spectrum = dpp.spectrum(jnp.asarray(random_kernel(8, 8, seed=1), jnp.float32))
    draw = jax.jit(jax.vmap(lambda key, k: dpp.sample(key, spectrum, k)))
    ks = jnp.arange(1, 9)
    masks = draw(jax.random.split(jax.random.key(0), 8), ks)
    np.testing.assert_array_equal(np.asarray(masks).sum(axis=1), np.arange(1, 9))
    assert set(np.unique(np.asarray(masks))) <= {0.0, 1.0}


def test_a_rank_deficient_kernel_never_yields_a_zero_probability_subset():
    # Items 0 and 1 are the same vector, and so are 2 and 3: {0, 1} and {2, 3} have det 0.
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.6, 0.8]])
    kernel = jnp.asarray(vectors @ vectors.T, jnp.float32)
    spectrum = dpp.spectrum(kernel)
    masks = np.asarray(
        jax.vmap(lambda k: dpp.sample(k, spectrum, 2))(jax.random.split(jax.random.key(3), 3000))
    )
    assert not np.any(masks[:, 0] * masks[:, 1]) and not np.any(masks[:, 2] * masks[:, 3])
    np.testing.assert_array_equal(masks.sum(axis=1), 2)


def test_log_elementary_symmetric_polynomials():
    kernel = random_kernel(5, 5, seed=2)
    spectrum = dpp.spectrum(jnp.asarray(kernel))
    eigenvalues = np.linalg.eigvalsh(kernel)
    for m in range(6):
        for k in range(6):
            expected = sum(
                math.prod(c) for c in itertools.combinations(eigenvalues[:m], k)
            )  # e_0 = 1 (empty product); e_k = 0 for k > m (no combination).
            got = np.exp(float(spectrum.log_esp[m, k]))
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-30)


def test_k_subsets_are_all_combinations_in_order():
    subsets = dpp.k_subsets(5, 2)
    assert subsets.shape == (10, 2)
    assert [tuple(s) for s in subsets] == list(itertools.combinations(range(5), 2))
    np.testing.assert_array_equal(
        dpp.subset_masks(subsets[:2], 5), [[1, 1, 0, 0, 0], [1, 0, 1, 0, 0]]
    )
    with pytest.raises(ValueError, match="k = 6"):
        dpp.k_subsets(5, 6)
    with pytest.raises(ValueError, match="exceed the enumeration limit"):
        dpp.k_subsets(40, 20)


def test_sampler_with_and_without_jit_agree():
    kernel = jnp.asarray(random_kernel(7, 7, seed=4), jnp.float32)
    key = jax.random.key(11)
    eager = dpp.sample_k_dpp(key, kernel, 3)
    jitted = jax.jit(dpp.sample_k_dpp)(key, kernel, 3)
    chex.assert_trees_all_equal(eager, jitted)
    assert float(eager.sum()) == 3


@pytest.mark.parametrize(
    "kernel, k, message",
    [
        (np.ones((2, 3)), 1, "square matrix, got shape \\(2, 3\\)"),
        (np.array([[1.0, 0.5], [0.0, 1.0]]), 1, "not symmetric"),
        (np.diag([1.0, -1.0]), 1, "not positive semi-definite \\(smallest eigenvalue -1"),
        (np.ones((3, 3)), 2, "k = 2 exceeds the numerical rank 1"),
        (np.eye(3), 4, "k = 4 must be an integer in \\[0, 3\\]"),
        (np.eye(3), 1.5, "k = 1.5 must be an integer"),
        (np.array([[np.nan]]), 1, "non-finite"),
    ],
)
def test_bad_kernels_are_refused_naming_the_value(kernel, k, message):
    with pytest.raises(ValueError, match=message):
        dpp.check_kernel(kernel, k)
    with pytest.raises(ValueError, match=message):
        dpp.sample_k_dpp(jax.random.key(0), kernel, k)
