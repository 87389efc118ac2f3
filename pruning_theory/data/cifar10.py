"""CIFAR-10 from a local copy of the official python-version batches, read without trust.

The official ``cifar-10-batches-py`` files are Python pickles, and unpickling can run
arbitrary code. :class:`_ArrayOnlyUnpickler` therefore resolves only the three numpy globals
that an array in those files needs and refuses every other global, so a tampered file fails
with :class:`pickle.UnpicklingError` before anything it names can run.

:func:`cifar10_classification` is the one call experiments use; sampling and preprocessing
are shared with :mod:`pruning_theory.data.mnist`.
"""

import os
import pickle
from pathlib import Path

import numpy as np

from pruning_theory.data.mnist import (
    Scale,
    SeedLike,
    Split,
    classification_arrays,
    subsample_splits,
)

_BATCHES_DIRNAME = "cifar-10-batches-py"
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_BATCH = "test_batch"
_ROW_SIZE = 3 * 32 * 32

# What a pickled ndarray references; numpy 2 renamed numpy.core to numpy._core and still
# resolves the old spelling, which the official files (written by numpy 1) use.
_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }
)


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals needed to rebuild numpy arrays."""

    def find_class(self, module: str, name: str) -> object:
        """Returns the global if allowed.

        Raises:
            pickle.UnpicklingError: naming any other global.
        """
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"Refusing to load global {module}.{name}: CIFAR-10 batches contain only "
                "numpy arrays, lists and bytes."
            )
        return super().find_class(module, name)


def _read_batch(path: Path) -> Split:
    """Reads one batch file into NHWC ``uint8`` images and ``int32`` labels."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found; a CIFAR-10 directory ({_BATCHES_DIRNAME}) holds "
            f"{list(_TRAIN_BATCHES) + [_TEST_BATCH]}."
        )
    with path.open("rb") as file:
        # encoding="bytes" as in the official loader: the files were pickled by Python 2.
        batch = _ArrayOnlyUnpickler(file, encoding="bytes").load()
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path}: expected a dict with b'data' and b'labels'.")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"], dtype=np.int32)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _ROW_SIZE:
        raise ValueError(
            f"{path}: expected uint8 data [N, {_ROW_SIZE}], got {data.dtype} {data.shape}."
        )
    if labels.shape != data.shape[:1]:
        raise ValueError(f"{path}: {len(data)} images but labels have shape {labels.shape}.")
    # Rows are channel-major (1024 red, 1024 green, 1024 blue, each row by row).
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def load_cifar10(directory: str | os.PathLike) -> dict[str, Split]:
    """Loads CIFAR-10 from the official python-version batch files.

    Args:
        directory: the ``cifar-10-batches-py`` directory (``data_batch_1`` ..
            ``data_batch_5`` and ``test_batch``), or a directory containing it.

    Returns:
        ``{"train": (images, labels), "test": (images, labels)}`` with ``uint8`` images
        ``[N, 32, 32, 3]`` (NHWC) and ``int32`` labels ``[N]``.

    Raises:
        FileNotFoundError: naming the missing batch file and the expected names.
        pickle.UnpicklingError: if a file references anything but numpy array globals.
        ValueError: if a batch does not have the official layout.
    """
    directory = Path(directory)
    if (directory / _BATCHES_DIRNAME).is_dir():
        directory = directory / _BATCHES_DIRNAME
    train_batches = [_read_batch(directory / name) for name in _TRAIN_BATCHES]
    train = (
        np.concatenate([images for images, _ in train_batches]),
        np.concatenate([labels for _, labels in train_batches]),
    )
    return {"train": train, "test": _read_batch(directory / _TEST_BATCH)}


def cifar10_classification(
    num_train: int,
    num_test: int,
    seed: SeedLike,
    directory: str | os.PathLike,
    *,
    scale: Scale = "unit",
    flatten: bool = True,
) -> dict[str, np.ndarray]:
    """Loads a CIFAR-10 train/test sample ready for training.

    Args:
        num_train: number of training images, drawn stratified from the 50000.
        num_test: number of test images, drawn stratified from the 10000.
        seed: an int seed or a JAX PRNG key; fixes which images are drawn and their order.
        directory: see :func:`load_cifar10`.
        scale: see :func:`pruning_theory.data.mnist.preprocess`; standardization uses
            per-channel training statistics.
        flatten: return ``[N, 3072]`` inputs (HWC order) rather than ``[N, 32, 32, 3]``.

    Returns:
        ``{"x_train", "y_train", "x_test", "y_test"}``: float32 inputs, int32 labels.

    Raises:
        ValueError: if more images are requested than a split holds.
    """
    splits = load_cifar10(directory)
    train, test = subsample_splits(splits["train"], splits["test"], num_train, num_test, seed)
    return classification_arrays(train, test, scale=scale, flatten=flatten, stats_axis=(0, 1, 2))
