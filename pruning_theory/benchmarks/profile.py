"""Where a whole run's time goes: compile, data, init, steps, finalize, analysis, figures.

`profile_run` runs a config through `runner.run`, exactly as ``launch.sweep`` does, with every
stage timed from outside (`recording`): the sweeps the experiment starts, the rest of its
``run_sweeps`` (work outside the engine: loading data on the host, post-training analyses, ODE
integrations), ``analyze`` (claims and figure building, on all seeds and on each half), the
theory, the figure saving, and the runner's own work (validation, saving the sweeps, writing
the claims). Every JAX compile is booked to the stage it happened in (`stages.StageClock`).

Afterwards each sweep's execution time (its wall time less its compiles) is split into its
engine parts: data, init, evaluations and finalize are timed alone on the sweep's whole grid
(`phases.block_phase_seconds`), and the steps are the remainder (training steps, with the host
round trips between segments and any checkpoint saves).
"""

from __future__ import annotations

import pathlib
import time
from typing import Any

import ml_collections

from pruning_theory import runner
from pruning_theory.benchmarks import phases
from pruning_theory.benchmarks.recording import SweepRecord, record_sweeps, staged_runner
from pruning_theory.benchmarks.stages import StageClock

# The columns of a run's phases, in table order; they add up to the run's wall time.
PHASES = (
    "compile",
    "data",
    "init",
    "steps",
    "evaluate",
    "finalize",
    "outside_engine",
    "analysis",
    "figures",
    "theory",
    "runner",
)
# Stages of the run (`recording`) that are whole phases (less their compiles).
STAGE_PHASES = {
    "sweeps": "outside_engine",
    "analysis": "analysis",
    "figures": "figures",
    "theory": "theory",
    "run": "runner",
}


def split_sweep(record: SweepRecord, clock: StageClock, *, split: bool = True) -> dict[str, Any]:
    """One sweep's wall time, compiles, and its execution split into the engine's parts
    (without ``split``, or where a part cannot run alone, all of it is booked to steps)."""
    seconds = clock.seconds.get(record.stage, 0.0)
    compile_s = clock.compile_s.get(record.stage, 0.0)
    row: dict[str, Any] = {
        "name": record.name,
        "cells": record.num_cells,
        "num_steps": record.num_steps,
        "log_every": record.log_every,
        "seconds": seconds,
        "compile": compile_s,
        "compiles": clock.compiles.get(record.stage, 0),
    }
    execution = seconds - compile_s
    if not split:
        row.update(data=0.0, init=0.0, evaluate=0.0, finalize=0.0, steps=execution)
        return row
    try:
        parts = phases.block_phase_seconds(
            record.program, record.grid, num_steps=record.num_steps, log_every=record.log_every
        )
    except Exception as error:  # a part that cannot run alone: the whole execution is steps
        row.update(data=0.0, init=0.0, evaluate=0.0, finalize=0.0, steps=execution)
        row["split_error"] = f"{type(error).__name__}: {error}"
        return row
    parts["evaluate"] *= record.num_steps // record.log_every
    row.update(parts)
    row["steps"] = execution - sum(parts.values())
    return row


def phase_totals(clock: StageClock, sweeps: list[dict[str, Any]]) -> dict[str, float]:
    """The run's seconds per phase (`PHASES`): compiles, the sweeps' parts, the stages."""
    totals = dict.fromkeys(PHASES, 0.0)
    totals["compile"] = sum(clock.compile_s.values())
    for row in sweeps:
        for name in ("data", "init", "steps", "evaluate", "finalize"):
            totals[name] += row[name]
    for stage, name in STAGE_PHASES.items():
        totals[name] += clock.seconds.get(stage, 0.0) - clock.compile_s.get(stage, 0.0)
    return totals


def profile_run(
    config: ml_collections.ConfigDict, workdir: str | pathlib.Path, *, split: bool = True
) -> dict[str, Any]:
    """Runs ``config`` into ``workdir`` (overwriting it) and profiles it (module docstring).

    Args:
      config: a resolved config of any registered experiment.
      workdir: the run's work directory.
      split: split each sweep's execution into its parts (runs each part once more, after the
        run); False books it all to ``steps``.

    Returns:
      ``{"wall_s", "phases": {phase: seconds}, "sweeps": [per-sweep rows], "stages": {stage:
      {"seconds", "compile_s", "compiles"}}, "compiles"}``.
    """
    clock = StageClock()
    started = time.perf_counter()
    with clock.listening(), staged_runner(clock), record_sweeps(clock) as records:
        with clock.stage("run"):
            runner.run(config, workdir, overwrite=True, show_progress=False)
    wall = time.perf_counter() - started
    sweeps = [split_sweep(record, clock, split=split) for record in records]
    stages = {
        name: {
            "seconds": clock.seconds[name],
            "compile_s": clock.compile_s.get(name, 0.0),
            "compiles": clock.compiles.get(name, 0),
        }
        for name in clock.seconds
    }
    return {
        "wall_s": wall,
        "phases": phase_totals(clock, sweeps),
        "sweeps": sweeps,
        "stages": stages,
        "compiles": sum(clock.compiles.values()),
    }
