"""Validation of a bartoldson2020 config, before any data is read or anything compiled.

Spec: docs/papers/bartoldson2020.md ("Definitions", "Paper-scale protocol", "CPU-scale
protocol"). The runner calls `validate_all` exactly once per run (`experiment.EXPERIMENT`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax
import ml_collections
from flax import nnx

from pruning_theory.data import cifar10, mnist
from pruning_theory.engine import sweep
from pruning_theory.papers.bartoldson2020 import schedules, vision_models
from pruning_theory.papers.bartoldson2020.setup import (
    BASELINES,
    DATASETS,
    NOISE_KINDS,
    OPTIMIZERS,
    SCORES,
    TARGETS,
    abstract_model,
    input_shape,
    job_periods,
    layer_schedules,
    method_codes,
)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _positive(values: Mapping[str, float]) -> None:
    for name, value in values.items():
        _require(math.isfinite(value) and value > 0, f"{name} must be positive, got {value}")


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks a config before any data is read or anything compiled.

    Raises:
      ValueError: naming the bad value: a pruning fraction outside [0, 1), a start epoch after
        its end epoch, a retrain period < 1, an unknown score / target / method / model /
        optimizer / data source, sizes that do not fit, etc.
    """
    _validate_grid(config)
    _validate_data(config.data, config.train)
    _validate_train(config.train, config.data)
    _validate_model_and_schedules(config)


def _validate_grid(config: ml_collections.ConfigDict) -> None:
    """The grid axes, seeds, retrain periods, method names and noise windows."""
    grid = config.grid
    axes = set(grid)
    _require(
        axes == {"seed", "target", "retrain_period"},
        f"grid axes must be seed, target and retrain_period, got {sorted(axes)}",
    )
    sweep.validate_axes({"seed": grid.seed, "retrain_period": grid.retrain_period})
    for seed in grid.seed:
        _require(seed == int(seed) and seed >= 0, f"seed {seed} is not a non-negative integer")
    for period in (*grid.retrain_period, config.noise.retrain_period):
        schedules.validate_retrain_period(period)
    method_codes(grid.target, TARGETS, "target")
    method_codes(config.baselines, BASELINES, "baseline")
    method_codes(config.noise.kinds, NOISE_KINDS, "noise kind")
    for window in config.noise.windows:
        _require(window == int(window) and window >= 1, f"noise window {window} is not >= 1")


def _validate_data(data: ml_collections.ConfigDict, train: ml_collections.ConfigDict) -> None:
    """The data source, its sizes and the label noise."""
    _require(data.source in DATASETS, f"data.source {data.source!r} is not one of {DATASETS}")
    _require(0 <= data.label_noise < 1, f"data.label_noise {data.label_noise} is outside [0, 1)")
    for name in ("num_train", "num_test", "split_seed"):
        value = data[name]
        low = 0 if name == "split_seed" else 1
        _require(
            value == int(value) and value >= low, f"data.{name} {value!r} is not an int >= {low}"
        )
    total = data.num_train + data.num_test
    _require(
        data.source != "mnist" or total <= mnist.PACKAGED_SUBSET_SIZE,
        f"num_train + num_test = {total} exceeds the {mnist.PACKAGED_SUBSET_SIZE} images of "
        "the packaged MNIST subset",
    )
    _require(
        not (train.augment and data.source == "mnist1d"),
        "train.augment (random crops and flips of images) does not apply to mnist1d signals",
    )


def _validate_train(train: ml_collections.ConfigDict, data: ml_collections.ConfigDict) -> None:
    """The optimizer, its schedule and the batch sizes."""
    _require(
        train.optimizer in OPTIMIZERS,
        f"train.optimizer {train.optimizer!r} is not one of {OPTIMIZERS}",
    )
    names = ("learning_rate", "batch_size", "num_epochs", "eval_batch_size", "lr_decay_factor")
    _positive({f"train.{name}": train[name] for name in names})
    _require(
        train.batch_size <= data.num_train,
        f"train.batch_size {train.batch_size} exceeds data.num_train {data.num_train}",
    )
    _require(
        data.num_test % train.eval_batch_size == 0,
        f"data.num_test {data.num_test} is not a multiple of train.eval_batch_size "
        f"{train.eval_batch_size}",
    )
    _require(train.weight_decay >= 0, f"train.weight_decay {train.weight_decay} is negative")
    for epoch in train.lr_decay_epochs:
        _require(
            0 < epoch < train.num_epochs,
            f"lr decay epoch {epoch} is outside (0, {train.num_epochs})",
        )


def _validate_model_and_schedules(config: ml_collections.ConfigDict) -> None:
    """The model, the pruning score and schedules of every period, and the flatness pass."""
    pruning = config.pruning
    _require(pruning.score in SCORES, f"unknown score {pruning.score!r}; expected one of {SCORES}")
    decay = pruning.activation_ema_decay
    _require(0 <= decay < 1, f"pruning.activation_ema_decay {decay} is outside [0, 1)")
    vision_models.validate_model(config.model.name, input_shape(config), config.model.widths)
    lengths = {len(pruning.fractions), len(pruning.start_epochs), len(pruning.end_epochs)}
    _require(
        len(lengths) == 1 and len(pruning.fractions) > 0,
        "pruning.fractions, start_epochs and end_epochs must be non-empty and of one "
        f"length, got {pruning.fractions}, {pruning.start_epochs}, {pruning.end_epochs}",
    )
    model = abstract_model(config)
    unit_counts = vision_models.unit_counts(model)
    _require(
        len(pruning.fractions) <= len(unit_counts),
        f"{len(pruning.fractions)} pruning fractions for the {len(unit_counts)} prunable "
        f"layers of {config.model.name}",
    )
    layers = layer_schedules(config, unit_counts)
    for period in job_periods(config):
        schedules.removal_table(layers, period, config.train.num_epochs)
    num_params = sum(leaf.size for leaf in jax.tree.leaves(nnx.state(model, nnx.Param)))
    _validate_flatness(config.flatness, config.data.num_test, num_params)


def _validate_flatness(settings: ml_collections.ConfigDict, num_test: int, num_params: int):
    """The flatness pass's sizes (spec "Flatness")."""
    _require(
        0 < settings.at_fraction <= 1,
        f"flatness.at_fraction {settings.at_fraction} is outside (0, 1]",
    )
    _require(
        0 < settings.num_images <= num_test,
        f"flatness.num_images {settings.num_images} is not in [1, data.num_test]",
    )
    counts = (settings.num_directions, settings.num_eigenvalues, settings.lanczos_iterations)
    _require(
        1 <= counts[0] <= counts[1] <= counts[2] <= num_params,
        "need 1 <= flatness.num_directions <= num_eigenvalues <= lanczos_iterations <= "
        f"{num_params} parameters, got {counts}",
    )
    _positive(
        {
            f"flatness.{name}": settings[name]
            for name in (
                "epsilon_max",
                "num_epsilons",
                "loss_rise",
                "example_chunk",
                "cells_per_batch",
            )
        }
    )


def validate_all(config: ml_collections.ConfigDict) -> None:
    """`validate`, then the CIFAR-10 files (a missing or malformed batch file is named).

    Raises:
      ValueError: for a bad config value or a malformed CIFAR-10 batch file.
      FileNotFoundError: for a missing CIFAR-10 batch file.
    """
    validate(config)
    if config.data.source == "cifar10":
        cifar10.load_cifar10(config.data.cifar_dir)
