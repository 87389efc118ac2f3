"""Tests for the real-data loaders: packaged MNIST subset, IDX and CIFAR-10 readers."""

import builtins
import gzip
import os
import pickle
from pathlib import Path

import jax
import numpy as np
import pytest

from pruning_theory.data import (
    cifar10_classification,
    load_cifar10,
    load_mnist_idx,
    load_mnist_subset,
    mnist_classification,
    preprocess,
    read_idx,
    standardization_stats,
    stratified_split,
)

_IDX_CODES = {np.dtype("u1"): 0x08, np.dtype("i4"): 0x0C}
_MNIST_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _idx_bytes(array: np.ndarray) -> bytes:
    """Encodes an array in the IDX format (big-endian dims and values)."""
    header = bytes([0, 0, _IDX_CODES[array.dtype], array.ndim])
    dims = np.asarray(array.shape, dtype=">u4").tobytes()
    return header + dims + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write(path: Path, payload: bytes) -> Path:
    """Writes ``payload`` to ``path``, gzipped when the name ends in ``.gz``."""
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)
    return path


@pytest.fixture(scope="module")
def subset():
    return load_mnist_subset()


def test_packaged_subset_is_real_balanced_mnist(subset):
    images, labels = subset
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (5000,) and labels.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, 500))
    assert images.min() == 0 and images.max() == 255


def test_stratified_split_exact_disjoint_and_deterministic(subset):
    labels = subset[1]
    train_idx, test_idx = stratified_split(labels, 1000, 500, 0)
    np.testing.assert_array_equal(np.bincount(labels[train_idx], minlength=10), np.full(10, 100))
    np.testing.assert_array_equal(np.bincount(labels[test_idx], minlength=10), np.full(10, 50))
    assert len(np.union1d(train_idx, test_idx)) == 1500
    # Shuffled, not grouped by class as the packaged rows are.
    assert not np.all(np.diff(labels[train_idx]) >= 0)
    again = stratified_split(labels, 1000, 500, 0)
    np.testing.assert_array_equal(again[0], train_idx)
    np.testing.assert_array_equal(again[1], test_idx)
    assert not np.array_equal(stratified_split(labels, 1000, 500, 1)[0], train_idx)


@pytest.mark.parametrize("make_key", [jax.random.PRNGKey, jax.random.key])
def test_stratified_split_accepts_jax_keys(subset, make_key):
    labels = subset[1]
    first = stratified_split(labels, 100, 50, make_key(3))
    second = stratified_split(labels, 100, 50, make_key(3))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_stratified_split_is_proportional_on_uneven_classes():
    labels = np.repeat(np.arange(3), [60, 30, 10])
    train_idx, test_idx = stratified_split(labels, 50, 20, 0)
    np.testing.assert_array_equal(np.bincount(labels[train_idx]), [30, 15, 5])
    np.testing.assert_array_equal(np.bincount(labels[test_idx]), [12, 6, 2])
    assert not np.intersect1d(train_idx, test_idx).size


def test_stratified_split_rejects_more_than_available(subset):
    with pytest.raises(ValueError, match="num_train \\+ num_test = 4000 \\+ 1001"):
        stratified_split(subset[1], 4000, 1001, 0)


def test_preprocess_scales(subset):
    images = subset[0][:100]
    unit = preprocess(images)
    assert unit.shape == (100, 784) and unit.dtype == np.float32
    assert unit.min() == 0.0 and unit.max() == 1.0
    l2 = preprocess(images, flatten=False, scale="l2")
    assert l2.shape == (100, 28, 28) and l2.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(l2.reshape(100, -1), axis=1), 1.0, rtol=1e-6)
    standardized = preprocess(images, scale="standardize", stats=standardization_stats(images))
    np.testing.assert_allclose(standardized.mean(axis=0), 0.0, atol=1e-5)
    varying = images.reshape(100, -1).std(axis=0) > 0  # constant pixels standardize to 0
    assert 0 < varying.sum() < 784
    np.testing.assert_allclose(standardized.std(axis=0)[varying], 1.0, rtol=1e-4)
    np.testing.assert_array_equal(standardized[:, ~varying], 0.0)
    assert np.all(np.isfinite(standardized))
    with pytest.raises(ValueError, match="stats"):
        preprocess(images, scale="standardize")
    with pytest.raises(ValueError, match="scale"):
        preprocess(images, scale="minmax")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_round_trips(tmp_path, suffix):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, -1, 70000, 0, 9], dtype=np.int32)
    image_path = _write(tmp_path / f"images{suffix}", _idx_bytes(images))
    label_path = _write(tmp_path / f"labels{suffix}", _idx_bytes(labels))
    read_images, read_labels = read_idx(image_path), read_idx(label_path)
    assert read_images.dtype == np.uint8 and read_labels.dtype == np.int32
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_labels, labels)


def test_read_idx_rejects_bad_files(tmp_path):
    payload = _idx_bytes(np.zeros((2, 3), dtype=np.uint8))
    bad_magic = _write(tmp_path / "bad-magic", b"\x08\x03" + payload[2:])
    with pytest.raises(ValueError, match="bad-magic.*magic"):
        read_idx(bad_magic)
    short = _write(tmp_path / "short", payload[:-1])
    with pytest.raises(ValueError, match="short.*data bytes"):
        read_idx(short)


def _write_mnist_dir(directory: Path, sizes: dict[str, int]) -> None:
    """Writes tiny MNIST IDX files, the train split gzipped and the test split plain."""
    rng = np.random.default_rng(0)
    for split, (image_name, label_name) in _MNIST_NAMES.items():
        suffix = ".gz" if split == "train" else ""
        n = sizes[split]
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        _write(directory / f"{image_name}{suffix}", _idx_bytes(images))
        _write(directory / f"{label_name}{suffix}", _idx_bytes(labels))


def test_load_mnist_idx_and_classification(tmp_path):
    _write_mnist_dir(tmp_path, {"train": 40, "test": 20})
    splits = load_mnist_idx(tmp_path)
    assert splits["train"][0].shape == (40, 28, 28) and splits["test"][0].shape == (20, 28, 28)
    assert splits["train"][1].dtype == np.int32
    data = mnist_classification(20, 10, 0, source=tmp_path, scale="standardize")
    assert data["x_train"].shape == (20, 784) and data["x_test"].shape == (10, 784)
    np.testing.assert_array_equal(np.bincount(data["y_train"]), np.full(10, 2))
    np.testing.assert_array_equal(np.bincount(data["y_test"]), np.full(10, 1))
    with pytest.raises(ValueError, match="num_train = 41"):
        mnist_classification(41, 10, 0, source=tmp_path)


def test_load_mnist_idx_names_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.*t10k-labels"):
        load_mnist_idx(tmp_path)


def test_mnist_classification_packaged():
    data = mnist_classification(200, 100, 0, scale="l2")
    assert data["x_train"].shape == (200, 784) and data["x_train"].dtype == np.float32
    assert data["y_test"].shape == (100,) and data["y_test"].dtype == np.int32
    np.testing.assert_array_equal(np.bincount(data["y_train"]), np.full(10, 20))
    np.testing.assert_allclose(np.linalg.norm(data["x_test"], axis=1), 1.0, rtol=1e-6)


def _hand_made_image() -> np.ndarray:
    """An HWC image whose every pixel value encodes its (row, column, channel)."""
    rows, cols, channels = np.meshgrid(np.arange(32), np.arange(32), np.arange(3), indexing="ij")
    return ((rows * 7 + cols * 3 + channels * 100) % 256).astype(np.uint8)


def _write_cifar_batch(path: Path, data: np.ndarray, labels: list[int], numpy_module: str) -> None:
    """Pickles a batch in the official layout, naming numpy's array module as given."""
    batch = {
        b"batch_label": path.name.encode(),
        b"labels": labels,
        b"data": data,
        b"filenames": [f"{i}.png".encode() for i in range(len(labels))],
    }
    # Protocol 3 writes globals as text, so the module spelling can be swapped in place.
    payload = pickle.dumps(batch, protocol=3)
    spelled = payload.replace(b"numpy._core.multiarray\n", f"{numpy_module}\n".encode())
    path.write_bytes(spelled)


def _write_cifar_dir(root: Path, numpy_module: str = "numpy.core.multiarray") -> np.ndarray:
    """Writes a 50/10-image fake CIFAR-10 and returns the first training image (HWC)."""
    directory = root / "cifar-10-batches-py"
    directory.mkdir()
    rng = np.random.default_rng(0)
    image = _hand_made_image()
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        data = rng.integers(0, 256, (10, 3072), dtype=np.uint8)
        if name == "data_batch_1":
            data[0] = image.transpose(2, 0, 1).reshape(-1)
        _write_cifar_batch(directory / name, data, list(range(10)), numpy_module)
    return image


@pytest.mark.parametrize("numpy_module", ["numpy.core.multiarray", "numpy._core.multiarray"])
def test_load_cifar10_layout(tmp_path, numpy_module):
    image = _write_cifar_dir(tmp_path, numpy_module)
    splits = load_cifar10(tmp_path / "cifar-10-batches-py")
    images, labels = splits["train"]
    assert images.shape == (50, 32, 32, 3) and images.dtype == np.uint8
    assert splits["test"][0].shape == (10, 32, 32, 3)
    assert labels.dtype == np.int32 and labels.tolist() == list(range(10)) * 5
    row = image.transpose(2, 0, 1).reshape(-1)
    # Channel-major rows: red plane, then green, then blue, each row by row.
    assert images[0, 0, 0, 0] == row[0]
    assert images[0, 0, 1, 0] == row[1]
    assert images[0, 1, 0, 0] == row[32]
    assert images[0, 0, 0, 1] == row[1024]
    assert images[0, 31, 31, 2] == row[3071]
    for r, c, ch in np.ndindex(32, 32, 3):
        assert images[0, r, c, ch] == (r * 7 + c * 3 + ch * 100) % 256


def test_cifar10_classification(tmp_path):
    _write_cifar_dir(tmp_path)
    data = cifar10_classification(20, 10, 0, tmp_path, scale="standardize")
    assert data["x_train"].shape == (20, 3072) and data["x_train"].dtype == np.float32
    np.testing.assert_array_equal(np.bincount(data["y_train"]), np.full(10, 2))
    channels = data["x_train"].reshape(-1, 3)
    np.testing.assert_allclose(channels.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(channels.std(axis=0), 1.0, rtol=1e-5)
    images = cifar10_classification(20, 10, 0, tmp_path, flatten=False)["x_test"]
    assert images.shape == (10, 32, 32, 3) and images.max() <= 1.0


def test_load_cifar10_names_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_batch_1.*test_batch"):
        load_cifar10(tmp_path)


class _Exploit:
    """Pickles as a call of ``function(argument)``, run by a trusting unpickler."""

    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return self.function, (self.argument,)


@pytest.mark.parametrize("attack", ["system", "eval"])
def test_load_cifar10_refuses_malicious_pickle(tmp_path, attack):
    _write_cifar_dir(tmp_path)
    marker = tmp_path / "pwned"
    exploit = {
        "system": _Exploit(os.system, f"touch {marker}"),
        "eval": _Exploit(builtins.eval, f"open({str(marker)!r}, 'w').close()"),
    }[attack]
    batch = {b"data": exploit, b"labels": [0]}
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps(batch))
    with pytest.raises(pickle.UnpicklingError, match=f"Refusing to load global .*{attack}"):
        load_cifar10(tmp_path)
    assert not marker.exists()
