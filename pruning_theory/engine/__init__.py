"""The grid engine: compiled sweeps of whole grids of cells.

The public interface, for experiments and tools (``from pruning_theory import engine``):

* `Program` (pure functions of one cell, and data every cell shares) over a `Grid` of named
  axes, run by `run_program` under the run's `Execution` options (devices, memory budget,
  checkpoints, grid shard, stop request, progress), which returns a labelled `SweepResult`;
* `build` and `run`, the two halves of `run_program`, for tools that inspect the compiled
  program (`CompiledSweep`);
* `Preempted` (a stop request was honoured), `print_progress`, `NOT_DIVERGED`,
  `validate_axes` (grid axes checked before any compile), `Cell` (a cell's coordinates),
  `with_overrides` (config variants of a sweep).

Watching and sizing: `progress` (console lines and a tqdm bar per sweep), `tensorboard` (live
metrics per cell in TensorBoard's format, `Execution.metrics_dir`), `dry_run` (compile, size
and time every sweep without running it, `Execution.dry_run`).

The modules stay importable for what is not re-exported here: `sweep`, `driver`, `segment`,
`layout`, `execution`, `checkpoint`, `distributed`, `grid_shards`, `results`, `overrides`,
`progress`, `tensorboard`, `dry_run`.
"""

from pruning_theory.engine.execution import Execution, Preempted, ProgressReporter
from pruning_theory.engine.overrides import with_overrides
from pruning_theory.engine.results import NOT_DIVERGED, SweepResult
from pruning_theory.engine.sweep import (
    Cell,
    CompiledSweep,
    Grid,
    Program,
    build,
    print_progress,
    run,
    run_program,
    validate_axes,
)

__all__ = [
    "NOT_DIVERGED",
    "Cell",
    "CompiledSweep",
    "Execution",
    "Grid",
    "Preempted",
    "Program",
    "ProgressReporter",
    "SweepResult",
    "build",
    "print_progress",
    "run",
    "run_program",
    "validate_axes",
    "with_overrides",
]
