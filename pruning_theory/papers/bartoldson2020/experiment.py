"""Iterative structured pruning during training: the generalization-stability tradeoff.

Bartoldson, Morcos, Barbu and Erlebacher (2020), "The Generalization-Stability Tradeoff in
Neural Network Pruning" (NeurIPS; arXiv 1906.03728). Spec: docs/papers/bartoldson2020.md;
the protocol follows the official code (github.com/bbartoldson/GeneralizationStabilityTradeoff).

A BatchNorm network (`vision_models`) is trained with minibatches drawn inside the compiled
program (a fresh permutation per epoch from the seed's key; the last partial batch of an epoch
is dropped). The last ``len(pruning.fractions)`` prunable layers lose units at the end of the
epochs of their schedule (`schedules.removal_table`, looked up by the cell's retrain period),
chosen among the alive units by score: the k smallest (Prune_S), k random (Prune_R) or k
largest (Prune_L). The unit mask also zeroes the following BatchNorm's scale and bias, so a
pruned unit outputs exactly 0. Test accuracy in eval mode is measured right before and right
after every prune; ~97% into training the parameters are snapshotted for the flatness pass.

Every run kind is a *method* code of one program, so the three sweeps share the code:

* ``metrics``: ``seed x target x retrain_period`` with targets smallest / random / largest;
* ``baselines``: ``seed x method`` with ``none`` (no pruning) and ``scratch`` (the final
  architecture pruned at initialization: the F - K_final smallest-L2 units, as the official
  scratch configuration; here followed by the full number of epochs);
* ``noise``: ``seed x method x window``: temporary pruning. At every event the units Prune_L
  would remove (the largest-score units among those not targeted before) have their incoming
  weights zeroed (``zeroing``) or perturbed by N(0, sigma^2) with sigma the weight std of the
  first untargeted unit of the layer (``gaussian``); the operation is applied at the event
  (the post-prune evaluation sees it) and before each of the next ``window`` training batches,
  then the weights regrow. No mask is set and BatchNorm is left alone, as in the official code.

The modules: `bartoldson2020_setup` (method codes, data, model, schedule tables),
`bartoldson2020_program` (the training program), `bartoldson2020_flatness_pass` (flatness),
this one (validation, the sweeps, the job); `bartoldson2020_claims` turns the sweeps into
checks M1.. and claims C1-C7; `bartoldson2020_figures` draws them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import ml_collections
import numpy as np
from flax import nnx

from pruning_theory.claims import diverged_note, drop_diverged
from pruning_theory.data import cifar10, mnist
from pruning_theory.engine import sweep
from pruning_theory.engine.results import SweepResult
from pruning_theory.experiment import Experiment
from pruning_theory.papers.bartoldson2020 import claims as bartoldson2020_claims
from pruning_theory.papers.bartoldson2020 import figures as bartoldson2020_figures
from pruning_theory.papers.bartoldson2020 import schedules, stability, vision_models
from pruning_theory.papers.bartoldson2020.flatness_pass import measure_flatness
from pruning_theory.papers.bartoldson2020.program import make_program
from pruning_theory.papers.bartoldson2020.setup import (
    BASELINES,
    DATASETS,
    METHODS,
    NOISE_KINDS,
    OPTIMIZERS,
    SCORES,
    SNAPSHOT_KEYS,
    TARGETS,
    Setup,
    abstract_model,
    flatness_epoch,
    input_shape,
    job_periods,
    layer_schedules,
    make_setup,
    method_codes,
)


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """One sweep of the job: its grid and the program's static knobs."""

    grid: sweep.Grid
    event_periods: tuple[int, ...]
    default_period: int
    has_noise: bool


def sweep_specs(config: ml_collections.ConfigDict) -> dict[str, SweepSpec]:
    """The job's sweeps: ``metrics`` (targets), ``baselines`` and, if enabled, ``noise``."""
    seeds = [int(seed) for seed in config.grid.seed]
    periods = tuple(int(p) for p in config.grid.retrain_period)
    specs = {
        "metrics": SweepSpec(
            sweep.Grid(
                {
                    "seed": seeds,
                    "target": method_codes(config.grid.target, TARGETS, "target"),
                    "retrain_period": list(periods),
                },
                data_axes=("seed",),
            ),
            periods,
            periods[0],
            False,
        ),
        "baselines": SweepSpec(
            sweep.Grid(
                {"seed": seeds, "method": method_codes(config.baselines, BASELINES, "baseline")},
                data_axes=("seed",),
            ),
            (),
            periods[0],
            False,
        ),
    }
    if config.noise.enabled:
        noise_period = int(config.noise.retrain_period)
        specs["noise"] = SweepSpec(
            sweep.Grid(
                {
                    "seed": seeds,
                    "method": method_codes(config.noise.kinds, NOISE_KINDS, "noise kind"),
                    "window": [int(w) for w in config.noise.windows],
                },
                data_axes=("seed",),
            ),
            (noise_period,),
            noise_period,
            True,
        )
    return specs


def run_sweep(
    config: ml_collections.ConfigDict,
    setup: Setup,
    name: str,
    spec: SweepSpec,
    progress: sweep.ProgressReporter | None = None,
) -> SweepResult:
    """Trains one sweep; its logged steps are the ends of the epochs."""
    program = make_program(
        config,
        setup,
        event_periods=spec.event_periods,
        default_period=spec.default_period,
        has_noise=spec.has_noise,
    )
    return sweep.run_program(
        program,
        spec.grid,
        num_steps=config.train.num_epochs * setup.steps_per_epoch,
        log_every=setup.steps_per_epoch,
        progress=progress,
        name=name,
    )


def summarize(result: SweepResult) -> SweepResult:
    """Adds each run's mean stability, best accuracy, generalization gap (spec definitions)."""
    pruned = result.metrics["removed"].sum(axis=-1) > 0
    best, gap, best_epoch = stability.best_after_last_prune(
        result.metrics["post_accuracy"], result.metrics["train_accuracy"], pruned
    )
    summary = {
        "mean_stability": stability.mean_stability(
            result.metrics["pre_accuracy"], result.metrics["post_accuracy"], pruned
        ),
        "best_accuracy": best,
        "generalization_gap": gap,
        "best_epoch": best_epoch,
        "pruning_epochs": pruned.sum(axis=-1),
    }
    return dataclasses.replace(result, final={**result.final, **summary})


def label_methods(result: SweepResult) -> SweepResult:
    """Replaces the method codes of the ``target`` / ``method`` axes by their names."""
    axes = {
        name: np.asarray([METHODS[int(code)] for code in values])
        if name in ("target", "method")
        else values
        for name, values in result.axes.items()
    }
    return dataclasses.replace(result, axes=axes)


# ----------------------------------------------------------------------------- validation


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
    grid, data, train, pruning = config.grid, config.data, config.train, config.pruning
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
    _require(data.source in DATASETS, f"data.source {data.source!r} is not one of {DATASETS}")
    _require(0 <= data.label_noise < 1, f"data.label_noise {data.label_noise} is outside [0, 1)")
    _positive({"data.num_train": data.num_train, "data.num_test": data.num_test})
    total = data.num_train + data.num_test
    _require(
        data.source != "mnist" or total <= mnist.PACKAGED_SUBSET_SIZE,
        f"num_train + num_test = {total} exceeds the {mnist.PACKAGED_SUBSET_SIZE} images of "
        "the packaged MNIST subset",
    )
    _require(pruning.score in SCORES, f"unknown score {pruning.score!r}; expected one of {SCORES}")
    decay = pruning.activation_ema_decay
    _require(0 <= decay < 1, f"pruning.activation_ema_decay {decay} is outside [0, 1)")
    _require(
        train.optimizer in OPTIMIZERS,
        f"train.optimizer {train.optimizer!r} is not one of {OPTIMIZERS}",
    )
    _positive(
        {
            f"train.{name}": train[name]
            for name in (
                "learning_rate",
                "batch_size",
                "num_epochs",
                "eval_batch_size",
                "lr_decay_factor",
            )
        }
    )
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
        schedules.removal_table(layers, period, train.num_epochs)
    num_params = sum(leaf.size for leaf in jax.tree.leaves(nnx.state(model, nnx.Param)))
    _validate_flatness(config.flatness, config.data.num_test, num_params)


def _validate_flatness(settings: ml_collections.ConfigDict, num_test: int, num_params: int):
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
    """`validate`, then the CIFAR-10 files (a missing or malformed batch file is named)."""
    validate(config)
    if config.data.source == "cifar10":
        cifar10.load_cifar10(config.data.cifar_dir)


def theory_summary(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The job's pruning schedules (official-code formula; no closed-form theory here)."""
    layers = layer_schedules(config, vision_models.unit_counts(abstract_model(config)))
    num_units = [layer.num_units for layer in layers]
    scratch = schedules.scratch_removal(layers).tolist()
    return {
        "label": "schedule: kept_i = ceil(K + (F - K)(N - i)/N), K = ceil((1 - p) F)",
        "final_kept": [units - removed for units, removed in zip(num_units, scratch, strict=True)],
        "num_units": num_units,
        "iterative_pruning_rate": {
            str(period): schedules.iterative_pruning_rate(layers, period)
            for period in job_periods(config)
        },
        "event_epochs": {
            str(period): [list(schedules.event_epochs(layer, period)) for layer in layers]
            for period in job_periods(config)
        },
        "flatness_epoch": flatness_epoch(config),
    }


def run_sweeps(
    config: ml_collections.ConfigDict, progress: Callable[[str], Any] | None = None
) -> dict[str, SweepResult]:
    """Every sweep of the job, summarized, with flatness and method names on the axes.

    Args:
      config: the resolved config (launch/configs/bartoldson2020.py).
      progress: ``name -> reporter`` for each sweep's progress, or None.

    Returns:
      ``metrics`` (targets x retrain periods), ``baselines`` and, if enabled, ``noise``.
    """
    validate_all(config)
    setup = make_setup(config)
    sweeps = {}
    for name, spec in sweep_specs(config).items():
        result = run_sweep(config, setup, name, spec, progress(name) if progress else None)
        if SNAPSHOT_KEYS[0] in result.final:
            result = measure_flatness(config, setup, result)
        sweeps[name] = label_methods(summarize(result))
    return sweeps


def analyze(config: ml_collections.ConfigDict, sweeps: Mapping[str, SweepResult]):
    """Claims and figures from the sweeps of `run_sweeps`.

    Seeds with a diverged cell are left out of their sweep's statistics and named in every
    claim (`drop_diverged`).

    Returns:
      ``(claims, figures)``.
    """
    layers = layer_schedules(config, vision_models.unit_counts(abstract_model(config)))
    kept, notes = {}, []
    for name, result in sweeps.items():
        kept[name], dropped = drop_diverged(result, "seed")
        notes.append(diverged_note(name, "seed", dropped))
    claims = bartoldson2020_claims.claims(kept, config, layers, "".join(notes))
    return claims, bartoldson2020_figures.figures(kept, config, layers)


EXPERIMENT = Experiment(
    name="bartoldson2020",
    validate=validate_all,
    run_sweeps=run_sweeps,
    analyze=analyze,
    theory=theory_summary,
)
