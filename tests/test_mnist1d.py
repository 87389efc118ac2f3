"""Tests for the MNIST-1D generator wrapper: shapes, determinism, nesting, no network."""

import random
import socket
import urllib.request

import numpy as np
import pytest

from pruning_theory.data import load_mnist1d
from pruning_theory.data import mnist1d as mnist1d_data

_KEYS = ("x_train", "y_train", "x_test", "y_test")


def test_shapes_dtypes_and_labels():
    data = load_mnist1d(800, 200, seed=1)
    assert set(data) == set(_KEYS)
    assert data["x_train"].shape == (800, 40) and data["x_test"].shape == (200, 40)
    assert data["y_train"].shape == (800,) and data["y_test"].shape == (200,)
    for key in ("x_train", "x_test"):
        assert data[key].dtype == np.float32 and np.all(np.isfinite(data[key]))
    for key in ("y_train", "y_test"):
        assert data[key].dtype == np.int32
        assert data[key].min() >= 0 and data[key].max() <= 9
    # A total divisible by 10 is exactly balanced overall; each split roughly so.
    both = np.concatenate([data["y_train"], data["y_test"]])
    np.testing.assert_array_equal(np.bincount(both, minlength=10), np.full(10, 100))
    train_counts = np.bincount(data["y_train"], minlength=10)
    assert train_counts.min() >= 55 and train_counts.max() <= 100
    # The generator standardizes the whole pool to mean 0 and standard deviation 1.
    x = np.concatenate([data["x_train"], data["x_test"]])
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1.0) < 1e-4


def test_sizes_not_divisible_by_ten():
    data = load_mnist1d(7, 5, seed=0)
    assert data["x_train"].shape == (7, 40) and data["x_test"].shape == (5, 40)


def test_deterministic_and_seed_dependent():
    a, b = load_mnist1d(60, 40, seed=3), load_mnist1d(60, 40, seed=3)
    for key in _KEYS:
        np.testing.assert_array_equal(a[key], b[key])
    c = load_mnist1d(60, 40, seed=4)
    assert not np.array_equal(a["x_train"], c["x_train"])
    assert not np.array_equal(a["y_train"], c["y_train"])


def test_nested_prefixes_for_the_same_total():
    small, large = load_mnist1d(50, 150, seed=5), load_mnist1d(120, 80, seed=5)
    np.testing.assert_array_equal(large["x_train"][:50], small["x_train"])
    np.testing.assert_array_equal(large["y_train"][:50], small["y_train"])
    # The larger training set's extra samples are the head of the smaller one's test set,
    # and the larger one's test set is the tail of the smaller one's.
    np.testing.assert_array_equal(large["x_train"][50:], small["x_test"][:70])
    np.testing.assert_array_equal(large["x_test"], small["x_test"][70:])
    # A different total gives a different pool: the generator is not prefix-stable.
    other = load_mnist1d(50, 160, seed=5)
    assert not np.array_equal(other["x_train"], small["x_train"])


def test_matches_the_package_split():
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = 100
    reference = make_dataset(args)  # seed 42, 80/20 split
    data = load_mnist1d(80, 20, seed=42)
    np.testing.assert_array_equal(data["x_train"], reference["x"].astype(np.float32))
    np.testing.assert_array_equal(data["y_train"], reference["y"])
    np.testing.assert_array_equal(data["x_test"], reference["x_test"].astype(np.float32))
    np.testing.assert_array_equal(data["y_test"], reference["y_test"])


def test_pinned_args_match_package_defaults():
    from mnist1d.data import get_dataset_args

    defaults = get_dataset_args(as_dict=True)
    for name, value in mnist1d_data.GENERATION_ARGS.items():
        expected = tuple(defaults[name]) if isinstance(value, tuple) else defaults[name]
        assert value == expected, name


def test_global_random_state_is_restored():
    np.random.seed(123)
    random.seed(123)
    expected = (np.random.random(), random.random())
    np.random.seed(123)
    random.seed(123)
    load_mnist1d(10, 10, seed=0)
    assert (np.random.random(), random.random()) == expected


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        ({"num_train": 0, "num_test": 10}, "0"),
        ({"num_train": -3, "num_test": 10}, "-3"),
        ({"num_train": 2.5, "num_test": 10}, "2.5"),
        ({"num_train": True, "num_test": 10}, "True"),
        ({"num_train": "10", "num_test": 10}, "'10'"),
        ({"num_train": 10, "num_test": 0}, "0"),
        ({"num_train": 10, "num_test": None}, "None"),
        ({"num_train": 10, "num_test": 10, "seed": -1}, "-1"),
        ({"num_train": 10, "num_test": 10, "seed": 2**32}, str(2**32)),
        ({"num_train": 10, "num_test": 10, "seed": 1.0}, "1.0"),
    ],
)
def test_bad_arguments_raise(kwargs, bad):
    with pytest.raises(ValueError) as info:
        load_mnist1d(**kwargs)
    name = next(key for key, value in kwargs.items() if repr(value) == bad)
    assert name in str(info.value) and bad in str(info.value)


def test_no_network_and_no_files(monkeypatch, tmp_path):
    attempts = []  # recorded too, since mnist1d.get_dataset swallows every exception

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("load_mnist1d attempted network access")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    try:
        import requests
    except ModuleNotFoundError:
        pass
    else:
        monkeypatch.setattr(requests, "get", refuse)
        monkeypatch.setattr(requests.Session, "request", refuse)
    monkeypatch.chdir(tmp_path)  # mnist1d.get_dataset would cache a pickle here
    data = load_mnist1d(30, 20, seed=7)
    assert data["x_train"].shape == (30, 40)
    assert attempts == []
    assert list(tmp_path.iterdir()) == []
