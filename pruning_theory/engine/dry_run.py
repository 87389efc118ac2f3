"""Dry runs: a sweep's size, memory and time, measured before the long run.

Under ``Execution(dry_run=[])`` every `sweep.run_program` call builds its sweep as usual
(grid shard and memory budget included), then, instead of running it, compiles its segment
program once (`jax.stages.Lowered.compile`), reads the peak memory per device from XLA's own
analysis (``memory_analysis()``: arguments + outputs + temporaries - aliased), runs and times
the first segment (data, initial state and one segment) and a second one, appends a
`SweepPlan` to the list, and returns a placeholder `SweepResult` of the right shapes, filled
with NaN, so the experiment's own code between its sweeps goes on. Nothing is written.

The estimate of a sweep's time is: compile + per chunk (first segment + the other segments at
the second segment's time). It is measured on this machine under its present load.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

import jax
import numpy as np

from pruning_theory.engine import driver, segment
from pruning_theory.engine.results import NOT_DIVERGED, SweepResult

MIB = 2**20


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """What one sweep will cost, measured by a dry run.

    Attributes:
      name: the sweep's name.
      axes: axis name -> number of values (the grid, or the grid shard's slice).
      num_steps, log_every: training steps and steps per segment.
      num_chunks, chunk_size: chunks of the split axis and their size.
      peak_bytes: peak bytes per device of one chunk's segment program (XLA's analysis).
      whole_peak_bytes: the same for all cells in one chunk (what a budget must allow for
        one chunk); equal to ``peak_bytes`` without a budget.
      compile_s, first_segment_s, segment_s: measured seconds.
    """

    name: str
    axes: dict[str, int]
    num_steps: int
    log_every: int
    num_chunks: int
    chunk_size: int
    peak_bytes: int
    whole_peak_bytes: int
    compile_s: float
    first_segment_s: float
    segment_s: float

    @property
    def num_cells(self) -> int:
        """Cells of the grid (the product of the axis sizes)."""
        return math.prod(self.axes.values())

    @property
    def estimate_s(self) -> float:
        """Seconds the sweep should take: compile, then every chunk's segments."""
        segments = self.num_steps // self.log_every
        per_chunk = self.first_segment_s + (segments - 1) * self.segment_s
        return self.compile_s + self.num_chunks * per_chunk


def _peak(stats) -> int:
    return int(
        stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        + stats.temp_size_in_bytes
        - stats.alias_size_in_bytes
    )


def _timed(call) -> tuple[object, float]:
    started = time.perf_counter()
    value = jax.block_until_ready(call())
    return value, time.perf_counter() - started


def plan_sweep(sweep, name: str) -> SweepPlan:
    """Compiles, sizes and times one built sweep (`sweep.CompiledSweep`) without running it.

    Raises:
      ValueError: if the backend reports no memory analysis.
    """
    started = time.perf_counter()
    executable = sweep.lower().compile()
    compile_s = time.perf_counter() - started
    stats = executable.memory_analysis()
    if stats is None:
        raise ValueError(f"{jax.default_backend()} reports no memory use of the compiled program")
    peak = _peak(stats)
    layout = sweep.layout
    whole = layout.num_devices * math.ceil(layout.length / layout.num_devices)
    whole_peak = peak if layout.num_chunks == 1 else sweep.peak_bytes(whole)
    cells, carry = driver.chunk_inputs(sweep, 0)
    shared = sweep.device_shared()
    mesh = sweep.mesh

    def call(carry, first_step, phase):
        step, phase = driver.scalar(first_step, mesh), driver.scalar(phase, mesh)
        return lambda: executable(carry, *cells, step, phase, shared)

    (carry, _), first_s = _timed(call(carry, 0, segment.START))
    second_s = first_s
    if sweep.num_steps > sweep.log_every:
        _, second_s = _timed(call(carry, sweep.log_every, segment.CONTINUE))
    return SweepPlan(
        name=name,
        axes={axis: len(values) for axis, values in sweep.grid.ordered_axes.items()},
        num_steps=sweep.num_steps,
        log_every=sweep.log_every,
        num_chunks=layout.num_chunks,
        chunk_size=layout.chunk_size,
        peak_bytes=peak,
        whole_peak_bytes=whole_peak,
        compile_s=compile_s,
        first_segment_s=first_s,
        segment_s=second_s,
    )


def placeholder_result(sweep) -> SweepResult:
    """A result of the sweep's shapes, NaN (or 0) everywhere, no cell diverged."""
    axes = sweep.grid.ordered_axes
    sizes = tuple(len(values) for values in axes.values())
    num_logs = sweep.num_steps // sweep.log_every

    def filled(tree, extra):
        return {
            k: np.full(
                (*sizes, *extra, *s.shape[2:]),
                np.nan if np.issubdtype(s.dtype, np.inexact) else 0,
                s.dtype,
            )
            for k, s in tree.items()
        }

    return SweepResult(
        axes=axes,
        steps=sweep.logged_steps,
        metrics=filled(sweep.metric_shape, (num_logs,)),
        final=filled(sweep.final_shape, ()),
        diverged_at=np.full(sizes, NOT_DIVERGED, np.int32),
    )


def device_memory_bytes(devices: Sequence[jax.Device] | None = None) -> int | None:
    """The memory one device may use (``bytes_limit`` of its memory stats), None when the
    backend does not say (CPU)."""
    device = (jax.devices() if devices is None else list(devices))[0]
    try:
        stats = device.memory_stats()
    except (AttributeError, RuntimeError, NotImplementedError):
        return None
    return None if not stats or "bytes_limit" not in stats else int(stats["bytes_limit"])


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {rest:02d} s" if minutes else f"{seconds:.1f} s"


def plan_table(plans: Sequence[SweepPlan], budget_bytes: int | None) -> str:
    """The dry run's report: one line per sweep, the totals and the budget advice."""
    lines = [f"Dry run: {len(plans)} sweep(s); nothing was written."]
    for i, plan in enumerate(plans, 1):
        shape = " x ".join(f"{axis} {size}" for axis, size in plan.axes.items())
        lines.append(
            f"  sweep {i} of {len(plans)} {plan.name}: {plan.num_cells} cells ({shape}), "
            f"{plan.num_steps} steps in {plan.num_steps // plan.log_every} segments, "
            + (
                "all cells at once"
                if plan.num_chunks == 1
                else f"{plan.num_chunks} chunks ({plan.chunk_size} cells of the split axis each)"
            )
            + f";\n    peak {plan.peak_bytes / MIB:.1f} MiB per device (all cells at once: "
            f"{plan.whole_peak_bytes / MIB:.1f} MiB); "
            f"compile {plan.compile_s:.1f} s, first segment {plan.first_segment_s:.2f} s, then "
            f"{plan.segment_s:.3f} s per segment; estimate {_duration(plan.estimate_s)}"
        )
    if not plans:
        return "\n".join(lines) + "\n"
    need = max(plan.whole_peak_bytes for plan in plans)
    least = max(plan.peak_bytes for plan in plans)
    total = sum(plan.estimate_s for plan in plans)
    lines.append(
        f"Estimated time of the sweeps: {_duration(total)} (measured on this machine now; "
        "analysis and figures come after)."
    )
    lines.append(
        f"Memory: --memory_budget_mb={math.ceil(need / MIB)} runs every sweep in one chunk"
        + (
            ""
            if budget_bytes is None
            else f"; the budget given ({budget_bytes / MIB:.0f} MiB) runs the largest chunk in "
            f"{least / MIB:.1f} MiB"
        )
        + "."
    )
    return "\n".join(lines) + "\n"


def check_fits(sweep, name: str, limit_bytes: int | None) -> None:
    """Refuses, before the long run, a sweep whose chunk exceeds the device's memory.

    Only where the device reports its memory (GPU, TPU) and no budget was given (a budget
    already sizes the chunks). Costs one compile, which the persistent compilation cache
    then serves to the run.

    Raises:
      ValueError: naming the sweep, the memory it needs and the budget to pass instead.
    """
    if limit_bytes is None or sweep.execution.memory_budget_bytes is not None:
        return
    peak = sweep.peak_bytes(sweep.layout.chunk_size)
    if peak > limit_bytes:
        advice = math.floor(0.9 * limit_bytes / MIB)
        raise ValueError(
            f"sweep {name!r} needs {peak / MIB:.0f} MiB per device for its "
            f"{sweep.layout.chunk_size} cells at once, more than the device's "
            f"{limit_bytes / MIB:.0f} MiB; pass --memory_budget_mb={advice} to run it in "
            "chunks (check with --dry_run)"
        )
