"""Statistics of the signal/noise patch data generator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pruning_theory.data import synthetic


def test_signal_vectors():
    one_hot = synthetic.signal_vector(100, 3.0, "one_hot")
    dense = synthetic.signal_vector(100, 3.0, "dense")
    np.testing.assert_allclose(jnp.linalg.norm(one_hot), 3.0)
    np.testing.assert_allclose(jnp.linalg.norm(dense), 3.0, rtol=1e-6)
    assert one_hot[0] == 3.0 and jnp.count_nonzero(one_hot) == 1
    assert jnp.count_nonzero(dense) == 100
    with pytest.raises(ValueError, match="'sparse'"):
        synthetic.signal_vector(10, 1.0, "sparse")


@pytest.mark.parametrize("kind", ["one_hot", "dense"])
def test_patch_statistics(kind):
    mu = synthetic.signal_vector(400, 5.0, kind)
    data = synthetic.signal_noise_patches(jax.random.key(0), 4000, mu, 2.0)
    labels, noise = np.asarray(data.labels), np.asarray(data.noise)
    assert set(np.unique(labels)) == {-1.0, 1.0}
    assert abs(labels.mean()) < 4 / np.sqrt(4000)  # Rademacher, 4 sigma
    np.testing.assert_allclose(noise @ np.asarray(mu), 0.0, atol=1e-3)  # orthogonal to mu
    # Per-coordinate variance sigma_p^2 outside mu; one dimension is projected away.
    total = (noise**2).sum(1).mean()
    assert abs(total - 4.0 * 399) < 4 * 4.0 * np.sqrt(2 * 399 / 4000)
    assert abs(noise.mean()) < 0.01


def test_noise_without_projection_keeps_its_component_along_mu():
    mu = synthetic.signal_vector(50, 1.0, "one_hot")
    data = synthetic.signal_noise_patches(jax.random.key(1), 2000, mu, 1.0, noise_orthogonal=False)
    assert 0.9 < float(jnp.var(data.noise[:, 0])) < 1.1
