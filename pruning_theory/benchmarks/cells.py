"""The vectorized grid and the per-cell loop, run through the same segment driver.

Both sides call a `sweep.CompiledSweep`'s jitted segment program (with the program's shared
data as its argument) once per segment and fetch
the metrics to the host after each, as `driver.run_sweep` does (checkpoints left out). The grid
side builds one sweep over all cells; the per-cell side builds the sweep of a one-cell grid and
calls its one compiled executable for every cell: the engine passes the cell coordinates as
traced arguments, so this is ``jax.jit(train_one_cell)`` in a Python loop over cells, the way
most research code runs a sweep.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax
import numpy as np

from pruning_theory.benchmarks import timing
from pruning_theory.engine import distributed, layout, segment, sweep


@dataclasses.dataclass(frozen=True)
class Timing:
    """One side of a comparison.

    Attributes:
      cold_s: first run, compiles included.
      warm_s: a second run of the same cells, compiled programs reused.
      segment_compiles: compiles of the segment program over the whole side.
      backend_compiles: every XLA compile over the whole side (small helpers included).
      compile_s: seconds XLA spent compiling over the whole side.
      metrics: the last logged metrics, ``[num_cells, ...]`` in the grid's cell order.
    """

    cold_s: float
    warm_s: float
    segment_compiles: int
    backend_compiles: int
    compile_s: float
    metrics: dict[str, np.ndarray]


def _device_cells(compiled: sweep.CompiledSweep, data_cells, model_cells):
    specs = compiled.layout.segment_specs()[0][1:3]
    return [
        {
            k: distributed.global_array(np.asarray(v), layout.named(compiled.mesh, spec))
            for k, v in group.items()
        }
        for group, spec in zip((data_cells, model_cells), specs, strict=True)
    ]


def _runner(compiled: sweep.CompiledSweep):
    """``(data_cells, model_cells) -> last metrics [data, model, ...]``: every segment once."""
    shardings = jax.tree.map(lambda s: s.sharding, compiled.carry_shape)
    zeros = jax.jit(lambda: segment.zeros(compiled.carry_shape), out_shardings=shardings)
    scalar = lambda v: distributed.global_array(  # noqa: E731
        np.int32(v), layout.named(compiled.mesh, jax.sharding.PartitionSpec())
    )

    shared = compiled.device_shared()

    def run(data_cells, model_cells) -> dict[str, np.ndarray]:
        cells = _device_cells(compiled, data_cells, model_cells)
        carry, phase, metrics = zeros(), segment.START, None
        for first_step in range(0, compiled.num_steps, compiled.log_every):
            step = scalar(first_step)
            carry, (metrics, _) = compiled.segment(carry, *cells, step, scalar(phase), shared)
            phase = segment.CONTINUE
            metrics = distributed.to_host(metrics)
        return metrics

    return run


def _cell_list(grid: sweep.Grid) -> list[tuple[dict, dict]]:
    """Every cell as (data coordinates, model coordinates), in the grid's result order."""
    axes = grid.ordered_axes
    data = sweep.product_cells({n: axes[n] for n in grid.data_axes}) or {}
    model = sweep.product_cells({n: axes[n] for n in grid.model_axes})
    num_data = len(next(iter(data.values()))) if data else 1
    num_model = len(next(iter(model.values()))) if model else 1
    return [
        ({k: v[i : i + 1] for k, v in data.items()}, {k: v[j : j + 1] for k, v in model.items()})
        for i in range(num_data)
        for j in range(num_model)
    ]


def _flat(metrics: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.reshape(-1, *v.shape[2:]) for k, v in metrics.items()}


def run_grid(program: sweep.Program, grid: sweep.Grid, *, num_steps: int, log_every: int) -> Timing:
    """The whole grid as one vmapped sweep: a cold run (compile), then the best warm run."""
    with timing.CompileCounter() as counter:
        compiled = sweep.build(program, grid, num_steps=num_steps, log_every=log_every)
        run = _runner(compiled)
        _, cold = timing.timed(run, compiled.data_cells, compiled.model_cells)
        metrics, warm = timing.best_timed(run, compiled.data_cells, compiled.model_cells)
    return Timing(
        cold, warm, compiled.segment._cache_size(), counter.count, counter.seconds, _flat(metrics)
    )


def run_per_cell(
    program: sweep.Program, grid: sweep.Grid, *, num_steps: int, log_every: int
) -> Timing:
    """One jitted single-cell program in a Python loop over the cells (cold, then best warm)."""
    cells = _cell_list(grid)
    data_cell, model_cell = cells[0]
    one = sweep.Grid(
        {name: (data_cell | model_cell)[name].tolist() for name in grid.axes}, grid.data_axes
    )
    with timing.CompileCounter() as counter:
        compiled = sweep.build(program, one, num_steps=num_steps, log_every=log_every)
        run = _runner(compiled)
        engine_cells = [_engine_cells(program, one, d, m) for d, m in cells]
        loop = lambda: [run(d, m) for d, m in engine_cells]  # noqa: E731
        _, cold = timing.timed(loop)
        outcomes, warm = timing.best_timed(loop)
    metrics = {k: np.concatenate([_flat(o)[k] for o in outcomes]) for k in outcomes[0]}
    return Timing(
        cold, warm, compiled.segment._cache_size(), counter.count, counter.seconds, metrics
    )


def _engine_cells(
    program: sweep.Program, grid: sweep.Grid, data_cell: Mapping, model_cell: Mapping
):
    """Host coordinates in the engine's dtypes (a grid without data axes or without model
    axes has a placeholder there, as in the engine), the data cell with the program's host
    data beside its coordinates."""
    placeholder = {segment.PLACEHOLDER: np.zeros((1,), np.float32)}
    cast = lambda c: {  # noqa: E731
        k: np.asarray(v).astype(jax.dtypes.canonicalize_dtype(np.asarray(v).dtype))
        for k, v in c.items()
    }
    data = cast(data_cell) or placeholder
    return sweep.data_cells_with_host_data(program, data, grid), cast(model_cell) or placeholder
