"""Execution options of sweeps: devices, memory budget, checkpoints, grid shard, stop, progress.

The runner builds one `Execution` per run and passes it to the experiment, which passes it to
every `sweep.run_program` call; so experiments scale out, checkpoint, shard and report progress
without a line of code of their own. No option changes a cell's result beyond float rounding.

Each sweep of a run has its own name, which names its checkpoint folder
``<checkpoint_dir>/<name>``: a sweep resumes from its own folder whatever the order the sweeps
run in. An `Execution` remembers the names of the sweeps started under it and refuses a second
sweep of the same name.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pruning_theory.engine import grid_shards

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class ProgressReporter(Protocol):
    """Called after each segment with the steps done, the total steps and the seconds spent.

    A reporter may also have the hooks of `progress.Notices` (``compiling``, ``restored``,
    ``close``), which the driver then calls (`progress.SweepProgress` has them)."""

    def __call__(self, step: int, num_steps: int, elapsed_s: float) -> None: ...


@dataclasses.dataclass(frozen=True)
class Execution:
    """Where and how the sweeps of one run go; no field changes a cell's result beyond rounding.

    Attributes:
      devices: the devices of the 1-D cell mesh; None: every device of every process.
      memory_budget_bytes: what one device may use for a chunk of cells; None: all cells in
        one chunk.
      checkpoint_dir: each sweep saves its state in ``<checkpoint_dir>/<sweep name>`` at
        segment boundaries and resumes from it; None: no checkpoints.
      checkpoint_interval_s: least seconds between two saves of a sweep (a stop request
        always saves).
      grid_shard: ``(index, count)``: run only that slice of every grid (`grid_shards`).
      stop: when set (e.g. by a SIGTERM handler), the running sweep saves at the next segment
        boundary and raises `Preempted`.
      config_sha256: the digest of the run's config (set by the runner); part of every
        sweep's checkpoint manifest, so a chunk or state of another config is never resumed.
      progress: ``sweep name -> reporter`` (e.g. `sweep.print_progress`), called once per
        sweep; None: silence.
      dry_run: a list to which every sweep appends its `dry_run.SweepPlan` (compiled, sized
        and timed on one segment) instead of running, returning a NaN placeholder result;
        None: run.
      metrics_dir: each sweep writes every segment's scalar metrics per cell as TensorBoard
        event files in ``<metrics_dir>/<sweep name>`` (`tensorboard`); None: none.
    """

    devices: Sequence[Any] | None = None
    memory_budget_bytes: int | None = None
    checkpoint_dir: pathlib.Path | None = None
    checkpoint_interval_s: float = 60.0
    grid_shard: tuple[int, int] | None = None
    stop: threading.Event | None = None
    config_sha256: str | None = None
    progress: Callable[[str], ProgressReporter | None] | None = None
    metrics_dir: pathlib.Path | None = None
    dry_run: list | None = dataclasses.field(default=None, compare=False)
    # Names of the sweeps started under these options (`start_sweep`); fresh on each copy.
    _started: set[str] = dataclasses.field(
        default_factory=set, init=False, repr=False, compare=False
    )

    @property
    def started_sweeps(self) -> frozenset[str]:
        """The names of the sweeps started under these options so far."""
        return frozenset(self._started)

    def __post_init__(self):
        budget = self.memory_budget_bytes
        if budget is not None and not budget > 0:
            raise ValueError(f"memory budget must be positive, got {budget} bytes")
        if not self.checkpoint_interval_s >= 0:
            raise ValueError(
                f"checkpoint interval must be >= 0 seconds, got {self.checkpoint_interval_s}"
            )
        if self.grid_shard is not None:
            grid_shards.validate_grid_shard(self.grid_shard)


class Preempted(RuntimeError):
    """A stop was requested: the sweep saved its state (when checkpointing) and stopped."""


def validate_name(name: str) -> None:
    """Raises ValueError naming ``name`` unless it can name a folder (letters, digits, ``_.-``)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"sweep name {name!r} must be letters, digits, '_', '.' or '-' (not starting with "
            "'.' or '-'): it names the sweep's checkpoint folder"
        )


def metrics_folder(options: Execution, name: str) -> pathlib.Path | None:
    """The TensorBoard folder of sweep ``name`` under ``options``, or None."""
    return None if options.metrics_dir is None else pathlib.Path(options.metrics_dir) / name


def start_sweep(
    options: Execution, name: str
) -> tuple[pathlib.Path | None, ProgressReporter | None]:
    """Registers a sweep ``name`` under ``options``; returns its checkpoint folder and reporter.

    Raises:
      ValueError: if ``name`` is not a valid folder name, or a sweep of that name already
        started under ``options`` (two sweeps of one run would share a checkpoint).
    """
    validate_name(name)
    if name in options._started:
        raise ValueError(
            f"a sweep named {name!r} already ran under this Execution; give every sweep of a "
            "run its own name (it names the sweep's checkpoint folder), or pass a fresh "
            "Execution for a new run"
        )
    options._started.add(name)
    directory = None if options.checkpoint_dir is None else pathlib.Path(options.checkpoint_dir)
    reporter = None if options.progress is None else options.progress(name)
    return None if directory is None else directory / name, reporter
