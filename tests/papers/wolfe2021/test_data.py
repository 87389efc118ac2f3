"""IDX files as the full-MNIST source of wolfe2021: real format, plain and gzipped, corrupt."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from pruning_theory.data import read_idx

MNIST_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: 0, 0, type 0x08, ndim, big-endian dims, data."""
    dims = np.asarray(array.shape, dtype=">u4").tobytes()
    return bytes([0, 0, 0x08, array.ndim]) + dims + array.astype(np.uint8).tobytes()


def write_mnist_dir(directory: Path, num_train: int = 60, num_test: int = 20, gz=False) -> None:
    """Four MNIST IDX files of random digits with balanced labels."""
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    for name, count in zip(MNIST_NAMES, (num_train, num_train, num_test, num_test), strict=True):
        if "images" in name:
            array = rng.integers(1, 256, (count, 28, 28), dtype=np.uint8)
        else:
            array = (np.arange(count) % 10).astype(np.uint8)
        payload = idx_bytes(array)
        (directory / f"{name}{suffix}").write_bytes(gzip.compress(payload) if gz else payload)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip_plain_and_gzipped(tmp_path, gz):
    array = np.random.default_rng(1).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    path = tmp_path / ("images.gz" if gz else "images")
    path.write_bytes(gzip.compress(idx_bytes(array)) if gz else idx_bytes(array))
    np.testing.assert_array_equal(read_idx(path), array)


@pytest.mark.parametrize(
    "name, corrupt, message",
    [
        ("bad-magic", lambda b: b"\x08\x00" + b[2:], "bad IDX magic"),
        ("short", lambda b: b[:-5], "data bytes follow"),
        ("long", lambda b: b + b"\x00", "data bytes follow"),
        ("header.gz", lambda b: gzip.compress(b[:6]), "ends inside the header"),
        ("truncated.gz", lambda b: gzip.compress(b)[:-12], "not a complete gzip stream"),
        ("plain-as.gz", lambda b: b, "not a complete gzip stream"),
    ],
)
def test_corrupt_or_truncated_idx_is_refused_naming_the_file(tmp_path, name, corrupt, message):
    payload = idx_bytes(np.zeros((4, 28, 28), np.uint8))
    path = tmp_path / name
    path.write_bytes(corrupt(payload))
    with pytest.raises(ValueError, match=f"{name}.*{message}"):
        read_idx(path)
