"""Random pruning at initialization of a two-layer patch network (Yang et al. 2023).

Spec: docs/papers/yang2023.md. A ReLU^q patch network (`models.PatchNet`) on signal/noise
patch data (`data.synthetic`) is pruned at init by i.i.d. Bernoulli(1 - p) masks (one uniform
per weight and seed, so masks are nested across p), then trained by full-batch GD on the
logistic loss. A sweep is the grid ``seed x pruning_rate``: the seed drives the data, the init
and the mask through three independent streams; the data is shared (unbatched) by every rate.

Knobs where the paper is ambiguous (defaults in launch/configs/yang2023.py):
  * ``train.step_scaling``: ``steps`` (default, the spec's T / (1 - p), capped at
    ``max_step_multiplier`` T; a cell freezes once its budget is spent), ``learning_rate``
    (eta / (1 - p) for T steps: the same gradient-flow time, but large steps overshoot at high
    p) or ``none``.
  * ``train.parametrization``: ``span`` (default; exact GD in the span of the masked inputs,
    `span_gd`, O(n^2) per step) or ``weights`` (plain GD on the NNX kernel, O(n d) per step).
    Both give the same iterates; a test checks it.

The training program (data, pruned init, the span and weight-space GD builders, the
measurements) is in `program`; the checks S1, S2, C1-C6 and M1 in `claims` (rules on arrays in
`rules`); the figures in `figures`; the MNIST companion in `mnist_companion`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ml_collections
import numpy as np

from pruning_theory import engine
from pruning_theory.claims import diverged_note, drop_diverged, noted
from pruning_theory.engine.overrides import with_overrides
from pruning_theory.engine.results import SweepResult
from pruning_theory.experiment import Experiment
from pruning_theory.papers.yang2023 import budgets, mnist_companion, program, theory
from pruning_theory.papers.yang2023 import claims as yang2023_claims
from pruning_theory.papers.yang2023 import figures as yang2023_figures
from pruning_theory.papers.yang2023.program import make_program, num_engine_steps

NAME = "yang2023"
STEP_SCALINGS = ("steps", "learning_rate", "none")
PARAMETRIZATIONS = tuple(program.BUILDERS)


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks a config before anything is compiled.

    Raises:
      ValueError: naming the bad value.
    """
    engine.validate_axes(config.grid)
    if set(config.grid) != {"seed", "pruning_rate"}:
        raise ValueError(f"grid axes must be seed and pruning_rate, got {list(config.grid)}")
    for rate in config.grid.pruning_rate:
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"pruning rate {rate} is outside [0, 1]")
    for name in ("chance_tolerance", "loss_tolerance", "min_gain", "bound_tolerance"):
        if not config.checks[name] > 0:
            raise ValueError(f"checks.{name} must be positive, got {config.checks[name]}")
    positive = {
        "data.dimension": config.data.dimension,
        "data.num_train": config.data.num_train,
        "data.num_test": config.data.num_test,
        "data.mu_norm": config.data.mu_norm,
        "data.noise_std": config.data.noise_std,
        "model.width": config.model.width,
        "model.power": config.model.power,
        "train.learning_rate": config.train.learning_rate,
        "train.steps": config.train.steps,
        "train.num_logs": config.train.num_logs,
        "train.max_step_multiplier": config.train.max_step_multiplier,
    }
    for name, value in positive.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value}")
    if config.model.init_std < 0:
        raise ValueError(f"model.init_std must be >= 0, got {config.model.init_std}")
    choices = {
        "train.step_scaling": (config.train.step_scaling, STEP_SCALINGS),
        "train.parametrization": (config.train.parametrization, PARAMETRIZATIONS),
        "data.mu_kind": (config.data.mu_kind, ("one_hot", "dense")),
        "data.test_sampling": (config.data.test_sampling, program.TEST_SAMPLINGS),
    }
    for name, (value, options) in choices.items():
        if value not in options:
            raise ValueError(f"{name} = {value!r} is not one of {options}")
    if config.train.step_scaling != "none" and max(config.grid.pruning_rate) >= 1.0:
        raise ValueError("pruning rate 1.0 leaves nothing to train; step scaling 1/(1-p) diverges")


def program_and_grid(config: ml_collections.ConfigDict) -> tuple[engine.Program, engine.Grid]:
    """The sweep's `engine.Program` (`program.make_program`) and its grid seed x pruning_rate."""
    grid = engine.Grid(axes=dict(config.grid), data_axes=("seed",))
    return make_program(config), grid


def run_sweep(
    config: ml_collections.ConfigDict,
    execution: engine.Execution | None = None,
    name: str = "metrics",
):
    """Validates, builds and runs one yang2023 sweep named ``name``; returns its `SweepResult`.

    The rates run in step-budget groups (`budgets`), each a sweep named ``<name>.<i>`` of its
    own, merged into one result of the whole grid.
    """
    validate(config)
    num_steps, log_every = num_engine_steps(config)
    rates = np.asarray(config.grid.pruning_rate, dtype=float)
    groups = budgets.rate_groups(config)
    segments = budgets.segments_per_rate(config)
    parts = []
    for index, group in enumerate(groups):
        part = with_overrides(config, {"grid": {"pruning_rate": tuple(rates[group].tolist())}})
        group_program, grid = program_and_grid(part)
        group_steps = log_every * int(segments[group].max())
        label = name if len(groups) == 1 else f"{name}.{index}"
        result = engine.run_program(
            group_program,
            grid,
            name=label,
            num_steps=group_steps,
            log_every=log_every,
            execution=execution,
        )
        parts.append(result)
    steps = np.arange(log_every, num_steps + 1, log_every)
    return budgets.merge_groups(parts, groups, rates, steps)


def theory_summary(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The reconstruction's thresholds for this config (used by claims and figures)."""
    data, width = config.data, config.model.width
    rates = np.asarray(config.grid.pruning_rate, dtype=float)
    return {
        "label": theory.RECONSTRUCTION,
        "p_lo": theory.benign_threshold(
            data.num_train,
            data.mu_norm,
            data.noise_std,
            data.dimension,
            config.model.power,
            config.theory.constant,
        ),
        "p_hi": theory.over_pruning_threshold(width),
        "signal_availability_bound": theory.signal_availability_bound(rates, width),
        "memorization_possible": theory.memorization_possible(
            rates, data.dimension, data.num_train
        ),
    }


def companion_config(config: ml_collections.ConfigDict) -> mnist_companion.Config:
    """The `mnist_companion.Config` of the job's ``companion`` section."""
    fields = {f.name for f in dataclasses.fields(mnist_companion.Config)}
    return mnist_companion.Config(
        **{
            k: tuple(v) if k == "hidden_sizes" else v
            for k, v in config.companion.items()
            if k in fields
        }
    )


def validate_all(config: ml_collections.ConfigDict) -> None:
    """Validates the main sweep, every control and the companion before any compile."""
    validate(config)
    for overrides in config.controls.values():
        validate(with_overrides(config, overrides))
    if config.companion.enabled:
        mnist_companion.validate(
            companion_config(config), config.companion.pruning_rates, config.companion.seeds
        )


def companion_sweep(
    config: ml_collections.ConfigDict, execution: engine.Execution | None = None
) -> SweepResult:
    """The MNIST companion's sweep alone; its claims come from the whole sweep in `analyze`."""
    return mnist_companion.run_sweep(
        companion_config(config),
        config.companion.pruning_rates,
        config.companion.seeds,
        execution,
    )


def run_sweeps(
    config: ml_collections.ConfigDict, execution: engine.Execution
) -> dict[str, SweepResult]:
    """Every sweep of the yang2023 job: main, controls, the MNIST companion.

    Args:
      config: the resolved config (launch/configs/yang2023.py).
      execution: the run's options, passed to every sweep.

    Returns:
      ``metrics`` (the main sweep), ``control_<name>`` per control, and ``companion``.
    """
    validate_all(config)
    sweeps = {"metrics": run_sweep(config, execution, name="metrics")}
    if config.run_controls:
        for name, overrides in config.controls.items():
            sweeps[f"control_{name}"] = run_sweep(
                with_overrides(config, overrides), execution, name=f"control_{name}"
            )
    if config.companion.enabled:
        sweeps["companion"] = companion_sweep(config, execution)
    return sweeps


def analyze(config: ml_collections.ConfigDict, sweeps: dict[str, SweepResult]):
    """Claims and figures from the sweeps of `run_sweeps` (or their merged grid shards).

    Seeds with a diverged cell are left out of every statistic of their sweep, and the claims
    and figures say so (`drop_diverged`).

    Returns:
      ``(claims, figures)``: the list of `Claim`s and named figures.
    """
    notes = {}
    kept = {}
    for name, result in sweeps.items():
        kept[name], dropped = drop_diverged(result, "seed")
        notes[name] = diverged_note(name, "seed", dropped)
    controls = {k.removeprefix("control_"): v for k, v in kept.items() if k.startswith("control_")}
    claims = yang2023_claims.yang2023_claims(kept["metrics"], controls, config, notes)
    companion = kept.get("companion")
    if companion is not None:
        companion_claims = mnist_companion.claims(companion, companion_config(config))
        claims += [noted(c, notes["companion"]) for c in companion_claims]
    note = " ".join(n.strip() for n in notes.values() if n)
    figures = yang2023_figures.figures(kept["metrics"], controls, companion, config, note)
    return claims, figures


EXPERIMENT = Experiment(
    name="yang2023",
    validate=validate_all,
    run_sweeps=run_sweeps,
    analyze=analyze,
    theory=theory_summary,
)
