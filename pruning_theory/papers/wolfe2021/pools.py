"""The sample pools of wolfe2021: packaged MNIST, an MNIST IDX directory, or MNIST-1D.

Spec docs/papers/wolfe2021.md, "Suggested sweep". A pool is every sample a sweep may train
on; the training set of size m of a seed is the first m rows of one order of the pool
(`weighted.nested_stratified_order`), so the sizes of a seed are nested and every one of them
is stratified by class.

* ``data.source = "packaged"``: the 5000 MNIST images packaged with the repository (so m is
  at most 5000: the MNIST sweep's sizes go *down* from there);
* a directory: the training split of full MNIST (the four IDX files);
* ``"mnist1d"``: ``data.pool_size`` MNIST-1D signals (Greydanus 2020) generated locally by
  `pruning_theory.data.load_mnist1d` from ``data.generator_seed``, once per process (cached):
  no size limit, so the MNIST-1D sweep's sizes go *up* (m up to tens of thousands).

Inputs are l2-normalized rows for the NTK net (``data.scale = "l2"``, the H_inf formula of
"Theory (reconstruction)" assumes ||x|| = 1), or MNIST pixels in [0, 1] (``"unit"``) for the
practical MLP.
"""

from __future__ import annotations

import functools
import os
from typing import NamedTuple

import ml_collections
import numpy as np

from pruning_theory.data import load_mnist1d, mnist, weighted

MNIST1D = "mnist1d"
PACKAGED = "packaged"
DATA_STREAM = 3  # the fold-in of a seed that orders its pool (see experiment.py's streams)


class Pool(NamedTuple):
    """Raw samples: ``inputs`` (uint8 images ``[P, 28, 28]`` or float32 signals ``[P, 40]``)
    and int ``labels [P]``."""

    inputs: np.ndarray
    labels: np.ndarray


@functools.lru_cache(maxsize=4)
def _mnist_pool(source: str) -> Pool:
    """The packaged subset, or the training split of an IDX directory.

    Raises:
      FileNotFoundError: naming a source that is neither "packaged" nor a directory.
    """
    if source == PACKAGED:
        return Pool(*mnist.load_mnist_subset())
    if not os.path.isdir(source):
        raise FileNotFoundError(
            f"data.source {source!r} is neither 'packaged', 'mnist1d' nor a directory"
        )
    return Pool(*mnist.load_mnist_idx(source)["train"])


@functools.lru_cache(maxsize=2)
def _mnist1d_pool(pool_size: int, generator_seed: int) -> Pool:
    """``pool_size`` MNIST-1D samples, generated once per process (~0.34 ms per sample)."""
    generated = load_mnist1d(pool_size, 1, seed=generator_seed)
    return Pool(generated["x_train"], generated["y_train"])


def load_pool(data: ml_collections.ConfigDict) -> Pool:
    """The pool of a config's ``data`` section (cached: generated or read once per process)."""
    if data.source == MNIST1D:
        return _mnist1d_pool(int(data.pool_size), int(data.generator_seed))
    return _mnist_pool(data.source)


def pool_size(data: ml_collections.ConfigDict) -> int:
    """How many samples the pool holds; MNIST-1D's is read off the config, not generated.

    Raises:
      ValueError: if ``data.pool_size`` is not a positive integer for MNIST-1D.
      FileNotFoundError: for an MNIST source that is neither packaged nor a directory.
    """
    if data.source == MNIST1D:
        size = data.pool_size
        if size is None or size != int(size) or size <= 0:
            raise ValueError(f"data.pool_size = {size!r} must be a positive integer for mnist1d")
        return int(size)
    return len(_mnist_pool(data.source).labels)


def preprocess(inputs: np.ndarray, source: str, scale: str) -> np.ndarray:
    """Network inputs ``[n, d]`` float32: l2-normalized rows, or MNIST pixels in [0, 1]."""
    if source != MNIST1D:
        return mnist.preprocess(inputs, scale=scale)
    x = np.asarray(inputs, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def seed_data(data: ml_collections.ConfigDict, size: int, seed: int) -> dict[str, np.ndarray]:
    """The first ``size`` samples of the seed's nested stratified order of the pool.

    Returns:
      ``{"x": [size, d] float32, "labels": [size] int32}``; for every m <= size the first m
      rows are a stratified sample of the pool, the same whatever ``size`` is.
    """
    pool = load_pool(data)
    order = weighted.nested_stratified_order(pool.labels, size, (int(seed), DATA_STREAM))
    return {
        "x": preprocess(pool.inputs[order], data.source, data.scale),
        "labels": pool.labels[order].astype(np.int32),
    }
