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

The modules: `setup` (method codes, data, model, schedule tables), `validation` (the config
checks), `program` (the training program), `flatness_pass` (flatness), this one (the sweeps
and the job); `claims` turns the sweeps into checks M1-M6 and claims C1-C7; `figures` draws
them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import ml_collections
import numpy as np

from pruning_theory import engine
from pruning_theory.engine.results import SweepResult
from pruning_theory.experiment import Experiment
from pruning_theory.papers.bartoldson2020 import claims as bartoldson2020_claims
from pruning_theory.papers.bartoldson2020 import figures as bartoldson2020_figures
from pruning_theory.papers.bartoldson2020 import schedules, stability, vision_models
from pruning_theory.papers.bartoldson2020.flatness_pass import measure_flatness
from pruning_theory.papers.bartoldson2020.program import make_program
from pruning_theory.papers.bartoldson2020.setup import (
    BASELINES,
    METHODS,
    NOISE_KINDS,
    SNAPSHOT_KEYS,
    TARGETS,
    Setup,
    abstract_model,
    comparison_epoch,
    flatness_epoch,
    job_periods,
    layer_schedules,
    make_setup,
    method_codes,
)
from pruning_theory.papers.bartoldson2020.validation import validate_all


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """One sweep of the job: its grid and the program's static knobs."""

    grid: engine.Grid
    event_periods: tuple[int, ...]
    default_period: int
    has_noise: bool


def sweep_specs(config: ml_collections.ConfigDict) -> dict[str, SweepSpec]:
    """The job's sweeps: ``metrics`` (targets), ``baselines`` and, if enabled, ``noise``."""
    seeds = [int(seed) for seed in config.grid.seed]
    periods = tuple(int(p) for p in config.grid.retrain_period)
    specs = {
        "metrics": SweepSpec(
            engine.Grid(
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
            engine.Grid(
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
            engine.Grid(
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
    execution: engine.Execution | None = None,
) -> SweepResult:
    """Trains one sweep, named ``name`` in the run; its logged steps are the ends of epochs."""
    program = make_program(
        config,
        setup,
        event_periods=spec.event_periods,
        default_period=spec.default_period,
        has_noise=spec.has_noise,
    )
    return engine.run_program(
        program,
        spec.grid,
        num_steps=config.train.num_epochs * setup.steps_per_epoch,
        log_every=setup.steps_per_epoch,
        name=name,
        execution=execution,
    )


def summarize(result: SweepResult, window_start: int) -> SweepResult:
    """Adds each run's mean stability, best and final accuracy and gaps (spec eqs. (1)-(4)).

    Args:
      result: a finished sweep.
      window_start: the first epoch of the best-accuracy window of runs that never prune
        during training (`setup.comparison_epoch`).

    Returns:
      The sweep with ``mean_stability``, ``best_accuracy``, ``generalization_gap``,
      ``best_epoch``, ``final_accuracy`` (test accuracy after the last epoch), ``final_gap``
      (train minus test accuracy of the last epoch) and ``pruning_epochs`` added to ``final``.
    """
    metrics = result.metrics
    pruned = metrics["removed"].sum(axis=-1) > 0
    best, gap, best_epoch = stability.best_after_last_prune(
        metrics["post_accuracy"], metrics["train_accuracy"], pruned, window_start
    )
    final_accuracy = np.asarray(metrics["post_accuracy"], np.float64)[..., -1]
    summary = {
        "mean_stability": stability.mean_stability(
            metrics["pre_accuracy"], metrics["post_accuracy"], pruned
        ),
        "best_accuracy": best,
        "generalization_gap": gap,
        "best_epoch": best_epoch,
        "final_accuracy": final_accuracy,
        "final_gap": np.asarray(metrics["train_accuracy"], np.float64)[..., -1] - final_accuracy,
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


def theory_summary(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The job's pruning schedules (spec eq. (6); no closed-form theory here)."""
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
        "comparison_epoch": comparison_epoch(config, layers),
    }


def run_sweeps(
    config: ml_collections.ConfigDict, execution: engine.Execution
) -> dict[str, SweepResult]:
    """Every sweep of the job, summarized, with flatness and method names on the axes.

    The data are generated or read once, here, for every sweep; the config must have passed
    `validation.validate_all` (the runner calls it once per run).

    Args:
      config: the resolved config (launch/configs/bartoldson2020.py).
      execution: the run's options, passed to every sweep.

    Returns:
      ``metrics`` (targets x retrain periods), ``baselines`` and, if enabled, ``noise``.
    """
    setup = make_setup(config)
    window_start = comparison_epoch(config, setup.layers)
    sweeps = {}
    for name, spec in sweep_specs(config).items():
        result = run_sweep(config, setup, name, spec, execution)
        if SNAPSHOT_KEYS[0] in result.final:
            result = measure_flatness(config, setup, result)
        sweeps[name] = label_methods(summarize(result, window_start))
    return sweeps


def analyze(config: ml_collections.ConfigDict, sweeps: Mapping[str, SweepResult]):
    """Claims and figures from the sweeps of `run_sweeps` (any subset of their seeds).

    The runner drops seeds with a diverged cell before (and notes them in every claim).

    Returns:
      ``(claims, figures)``.
    """
    layers = layer_schedules(config, vision_models.unit_counts(abstract_model(config)))
    claims = bartoldson2020_claims.claims(sweeps, config, layers)
    return claims, bartoldson2020_figures.figures(sweeps, config, layers)


EXPERIMENT = Experiment(
    name="bartoldson2020",
    validate=validate_all,
    run_sweeps=run_sweeps,
    analyze=analyze,
    theory=theory_summary,
)
