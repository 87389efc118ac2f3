"""Execution options of sweeps: devices, memory budget, checkpoints, grid shard, stop request.

The runner enters an `execution` block; every `sweep.run_program` inside reads its options, so
experiments scale out, checkpoint and shard without a line of code of their own. No option
changes a cell's result beyond float rounding.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import itertools
import pathlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from pruning_theory.engine import grid_shards


@dataclasses.dataclass(frozen=True)
class Execution:
    """Where and how sweeps run; no field changes a cell's result beyond float rounding.

    Attributes:
      devices: the devices of the 1-D cell mesh; None: every device of every process.
      memory_budget_bytes: what one device may use for a chunk of cells; None: all cells in
        one chunk.
      checkpoint_dir: each sweep saves its state here at segment boundaries and resumes from
        it; None: no checkpoints.
      checkpoint_interval_s: least seconds between two saves of a sweep (a stop request
        always saves).
      grid_shard: ``(index, count)``: run only that slice of every grid (`grid_shards`).
      stop: when set (e.g. by a SIGTERM handler), the running sweep saves at the next segment
        boundary and raises `Preempted`.
    """

    devices: Sequence[Any] | None = None
    memory_budget_bytes: int | None = None
    checkpoint_dir: pathlib.Path | None = None
    checkpoint_interval_s: float = 60.0
    grid_shard: tuple[int, int] | None = None
    stop: threading.Event | None = None

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


@dataclasses.dataclass(frozen=True)
class _Context:
    options: Execution
    sweep_index: Iterator[int]


_CONTEXT: contextvars.ContextVar[_Context | None] = contextvars.ContextVar(
    "pruning_theory_execution", default=None
)


@contextlib.contextmanager
def execution(options: Execution | None = None, **fields: Any) -> Iterator[Execution]:
    """Runs every `run_program` inside the block with these options.

    Each sweep started inside gets its own checkpoint subdirectory ``<index>_<name>``, numbered
    in the order the sweeps start, which is deterministic for a deterministic experiment.

    Args:
      options: an `Execution`, or None to build one from ``fields``.
      **fields: `Execution` fields.
    """
    options = options or Execution(**fields)
    token = _CONTEXT.set(_Context(options, itertools.count()))
    try:
        yield options
    finally:
        _CONTEXT.reset(token)


def current_execution() -> Execution:
    """The options of the innermost `execution` block, or the defaults."""
    context = _CONTEXT.get()
    return Execution() if context is None else context.options


def checkpoint_directory(options: Execution, name: str | None) -> pathlib.Path | None:
    """The checkpoint directory of the next sweep: ``<index>_<name>`` under the options' one.

    Every call takes the next index of the current `execution` block (0 outside one), so a
    sweep's directory depends only on how many sweeps started before it.
    """
    context = _CONTEXT.get()
    index = next(context.sweep_index) if context is not None else 0
    if options.checkpoint_dir is None:
        return None
    return pathlib.Path(options.checkpoint_dir) / f"{index:03d}_{name or 'sweep'}"
