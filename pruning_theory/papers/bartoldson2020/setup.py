"""The static pieces of the bartoldson2020 job: method codes, data, model and schedule tables.

Bartoldson, Morcos, Barbu and Erlebacher (2020), "The Generalization-Stability Tradeoff in
Neural Network Pruning" (NeurIPS; arXiv 1906.03728). Spec: docs/papers/bartoldson2020.md.

Everything here is computed on the host before anything compiles: the run kinds as method codes
(`METHODS`), the train/test split (`load_data`: MNIST, MNIST-1D or CIFAR-10), the BatchNorm
network (`vision_models`), the pruned layers' schedules (`layer_schedules`) and their per-epoch
removal tables (`make_setup`); plus the input standardization and loss that training and the
flatness pass share. `program` trains from a `Setup`; `experiment` validates and runs the job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from pruning_theory import nn
from pruning_theory.data import cifar10, mnist, mnist1d
from pruning_theory.papers.bartoldson2020 import schedules, vision_models

TARGETS = ("smallest", "random", "largest")
BASELINES = ("none", "scratch")
NOISE_KINDS = ("zeroing", "gaussian")
METHODS = (*TARGETS, *BASELINES, *NOISE_KINDS)  # a run's method code is its index here
SCORES = ("l2", "l1", "activation_ema", "ebn")
OPTIMIZERS = ("adam", "sgd")
DATASETS = ("mnist", "mnist1d", "cifar10")
NUM_CLASSES = 10
SMALLEST, RANDOM, LARGEST, NONE, SCRATCH, ZEROING, GAUSSIAN = range(len(METHODS))
SNAPSHOT_KEYS = ("snapshot_params", "snapshot_rest")
UNIT_MASKS = nnx.All(nn.Mask, nnx.PathContains("unit_mask"))


def method_codes(names: Sequence[str], allowed: Sequence[str], what: str) -> list[int]:
    """Method codes of ``names``; raises ValueError naming an unknown or repeated name."""
    for name in names:
        if name not in allowed:
            raise ValueError(f"unknown {what} {name!r}; expected one of {tuple(allowed)}")
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"{what}s {tuple(names)} must be distinct and non-empty")
    return [METHODS.index(name) for name in names]


@dataclasses.dataclass(frozen=True)
class Data:
    """Inputs, labels, and the training set's standardization statistics.

    Images are raw uint8 NHWC (standardized on the fly, `standardize`); MNIST-1D signals are
    float32 ``[N, 40]``, already standardized by their generator (mean 0, std 1 here).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input."""
        return tuple(self.x_train.shape[1:])


def input_shape(config: ml_collections.ConfigDict) -> tuple[int, ...]:
    """The shape of one input of the config's data source."""
    shapes = {"mnist": (28, 28, 1), "mnist1d": (mnist1d.SEQUENCE_LENGTH,), "cifar10": (32, 32, 3)}
    return shapes[config.data.source]


def load_data(config: ml_collections.ConfigDict) -> Data:
    """The fixed train/test split of the job (stratified, shuffled, by ``data.split_seed``).

    MNIST is the packaged 5000-image subset standardized per pixel; MNIST-1D is generated
    (``load_mnist1d`` with seed ``data.split_seed``: one pool, first ``num_train`` train, next
    ``num_test`` test; the generator standardizes it); CIFAR-10 is read from
    ``data.cifar_dir`` and standardized per channel. ``data.label_noise`` replaces that share
    of the training labels by a different, uniformly drawn class.
    """
    data = config.data
    if data.source == "mnist1d":
        split = mnist1d.load_mnist1d(data.num_train, data.num_test, seed=data.split_seed)
        train = (split["x_train"], split["y_train"])
        test = (split["x_test"], split["y_test"])
        mean, std = np.zeros((1,), np.float32), np.ones((1,), np.float32)
        return _with_label_noise(config, train, test, mean, std)
    if data.source == "mnist":
        images, labels = mnist.load_mnist_subset()
        train_idx, test_idx = mnist.stratified_split(
            labels, data.num_train, data.num_test, data.split_seed
        )
        train = (images[train_idx][..., None], labels[train_idx])
        test = (images[test_idx][..., None], labels[test_idx])
        stats_axis: int | tuple[int, ...] = 0
    else:
        splits = cifar10.load_cifar10(data.cifar_dir)
        train, test = mnist.subsample_splits(
            splits["train"], splits["test"], data.num_train, data.num_test, data.split_seed
        )
        stats_axis = (0, 1, 2)
    mean, std = mnist.standardization_stats(train[0], stats_axis)
    return _with_label_noise(config, train, test, mean, std)


def _with_label_noise(config, train, test, mean, std) -> Data:
    """The `Data` of a split, with ``data.label_noise`` of the training labels flipped."""
    data = config.data
    rng = np.random.default_rng([data.split_seed, 1])
    noisy = rng.random(len(train[1])) < data.label_noise
    shifted = (train[1] + rng.integers(1, NUM_CLASSES, len(train[1]))) % NUM_CLASSES
    y_train = np.where(noisy, shifted, train[1]).astype(np.int32)
    return Data(train[0], y_train, test[0], test[1].astype(np.int32), mean, std)


def standardize(images: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
    """``(x - mean) / std`` with uint8 images first scaled to [0, 1]."""
    x = images.astype(jnp.float32)
    if images.dtype == jnp.uint8:
        x = x / 255.0
    return (x - mean) / std


def build_model(config: ml_collections.ConfigDict, key: jax.Array):
    """The config's BatchNorm network, initialized from ``key``."""
    return vision_models.make_model(
        config.model.name,
        input_shape(config),
        NUM_CLASSES,
        config.model.widths,
        rngs=nnx.Rngs(params=key),
    )


def abstract_model(config: ml_collections.ConfigDict):
    """The model's structure and shapes, without computing anything."""
    return nnx.eval_shape(lambda: build_model(config, jax.random.key(0)))


def layer_schedules(
    config: ml_collections.ConfigDict, unit_counts: Sequence[int]
) -> tuple[schedules.LayerSchedule, ...]:
    """The schedules of the last ``len(pruning.fractions)`` prunable layers, in forward order."""
    pruning = config.pruning
    counts = unit_counts[len(unit_counts) - len(pruning.fractions) :]
    return tuple(
        schedules.LayerSchedule(
            int(units), float(fraction), int(start), int(end), bool(pruning.align_end)
        )
        for units, fraction, start, end in zip(
            counts, pruning.fractions, pruning.start_epochs, pruning.end_epochs, strict=True
        )
    )


@dataclasses.dataclass(frozen=True)
class Setup:
    """Host-side static pieces shared by every sweep of one job.

    Attributes:
      data: the train/test split.
      layers: the pruned layers' schedules.
      periods: every retrain period of the job (grid and noise runs).
      tables: ``[len(periods), num_epochs, len(layers)]`` units removed per epoch and layer.
      scratch: ``[len(layers)]`` units removed at initialization by scratch pruning.
      steps_per_epoch: minibatches per epoch.
    """

    data: Data
    layers: tuple[schedules.LayerSchedule, ...]
    periods: tuple[int, ...]
    tables: np.ndarray
    scratch: np.ndarray
    steps_per_epoch: int


def job_periods(config: ml_collections.ConfigDict) -> tuple[int, ...]:
    """Every retrain period of the job: the grid's, then the noise runs' if new."""
    periods = [int(p) for p in config.grid.retrain_period]
    if config.noise.enabled and int(config.noise.retrain_period) not in periods:
        periods.append(int(config.noise.retrain_period))
    return tuple(periods)


def make_setup(config: ml_collections.ConfigDict, data: Data | None = None) -> Setup:
    """Loads the data (unless given) and tabulates every schedule of the job."""
    data = load_data(config) if data is None else data
    layers = layer_schedules(config, vision_models.unit_counts(abstract_model(config)))
    periods = job_periods(config)
    epochs = config.train.num_epochs
    tables = np.stack([schedules.removal_table(layers, p, epochs) for p in periods])
    return Setup(
        data=data,
        layers=layers,
        periods=periods,
        tables=tables,
        scratch=schedules.scratch_removal(layers),
        steps_per_epoch=config.data.num_train // config.train.batch_size,
    )


def flatness_epoch(config: ml_collections.ConfigDict) -> int:
    """The 0-based epoch after which flatness is measured (official: 314 of 325, ~97%)."""
    return max(round(config.flatness.at_fraction * config.train.num_epochs) - 1, 0)


def comparison_epoch(
    config: ml_collections.ConfigDict, layers: Sequence[schedules.LayerSchedule]
) -> int:
    """The first epoch of the accuracy window of runs that never prune during training.

    The latest last event over the grid's retrain periods (with ``pruning.align_end``, the
    last event of every period): none and scratch runs take their best test accuracy from
    here on, so they are compared with the pruned runs over the same epochs
    (docs/papers/bartoldson2020.md, "Ambiguities and choices made here").
    """
    periods = [int(p) for p in config.grid.retrain_period]
    return max(schedules.last_event_epoch(layers, p) for p in periods)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """The mean softmax cross-entropy of integer labels (training and flatness loss)."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
