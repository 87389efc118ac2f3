"""The sample pools of wolfe2021: MNIST-1D generated once, nested stratified sizes, l2 rows."""

import ml_collections
import numpy as np
import pytest

from pruning_theory.papers.wolfe2021 import pools


def mnist1d_data(pool_size=300, scale="l2"):
    return ml_collections.ConfigDict(
        dict(source="mnist1d", scale=scale, pool_size=pool_size, generator_seed=0)
    )


def test_mnist1d_sizes_are_nested_stratified_unit_rows_of_one_generated_pool():
    data = mnist1d_data()
    small, large = pools.seed_data(data, 100, seed=3), pools.seed_data(data, 250, seed=3)
    np.testing.assert_array_equal(small["x"], large["x"][:100])
    np.testing.assert_array_equal(small["labels"], large["labels"][:100])
    assert small["x"].shape == (100, 40) and small["x"].dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(large["x"], axis=1), 1.0, rtol=1e-5)
    counts = np.bincount(small["labels"], minlength=10)
    assert counts.min() >= 9 and counts.max() <= 11  # a stratified prefix of a ~balanced pool
    other = pools.seed_data(data, 100, seed=4)
    assert not np.array_equal(other["x"], small["x"])  # seeds order the pool differently
    assert pools.load_pool(data) is pools.load_pool(data)  # generated once per process


def test_pool_size_of_mnist1d_is_read_from_the_config_and_checked():
    assert pools.pool_size(mnist1d_data(pool_size=40000)) == 40000  # nothing generated
    with pytest.raises(ValueError, match="data.pool_size = None"):
        pools.pool_size(mnist1d_data(pool_size=None))


def test_packaged_mnist_pool_and_unknown_source():
    data = ml_collections.ConfigDict(dict(source="packaged", scale="unit"))
    assert pools.pool_size(data) == 5000
    x = pools.seed_data(data, 50, seed=0)["x"]
    assert x.shape == (50, 784) and 0 <= x.min() and x.max() <= 1
    with pytest.raises(FileNotFoundError, match="'nowhere' is neither"):
        pools.pool_size(ml_collections.ConfigDict(dict(source="nowhere")))
