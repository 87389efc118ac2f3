"""Floating-point work of one cell, from XLA's cost analysis of its init, step and metrics.

Loops (`lax.scan`) are counted once by XLA's cost analysis, and a conditional as its costliest
branch, so the pieces are lowered separately, outside any loop (a step at a concrete step
index, so that branches on the index fold away), and multiplied by how often a run calls them.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from pruning_theory.engine import sweep


def _cost(function, *abstract_args) -> tuple[float, float]:
    """(flops, bytes accessed) of one call, from XLA's cost analysis of the compiled program."""
    analysis = jax.jit(function).lower(*abstract_args).compile().cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis
    return float(analysis.get("flops", 0.0)), float(analysis.get("bytes accessed", 0.0))


def abstract_cell(cell: Mapping[str, float]) -> dict[str, jax.ShapeDtypeStruct]:
    """Scalar coordinates in the engine's dtypes (int32 for integer axes, float32 else)."""
    return {
        name: jax.ShapeDtypeStruct((), jax.dtypes.canonicalize_dtype(np.asarray(value).dtype))
        for name, value in cell.items()
    }


def cell_costs(
    program: sweep.Program, grid: sweep.Grid, *, log_every: int
) -> dict[str, tuple[float, float]]:
    """(FLOPs, bytes accessed) of one call of each piece of a sweep's program, for one cell.

    A step is lowered at a concrete step index, so that XLA folds the branches its index
    decides (``lax.cond`` on ``step``: XLA's cost analysis counts a conditional's costliest
    branch): ``step`` is step 0, ``boundary_step`` the last step of the first segment (step
    ``log_every - 1``, where e.g. an end-of-epoch evaluation runs when a segment is an epoch).

    Returns:
      ``{"data", "init", "step", "boundary_step", "evaluate", "finalize"}``: ``data`` per
      data cell, the rest per cell; ``finalize`` is (0, 0) for a program without one.
    """
    program = program.bind(jax.tree.map(jnp.asarray, program.shared))  # as constants
    first = {name: values[0] for name, values in grid.axes.items()}
    data_cell = abstract_cell({name: first[name] for name in grid.data_axes})
    host = {name: np.asarray([first[name]]) for name in grid.data_axes}
    host = sweep.data_cells_with_host_data(program, host, grid)
    data_cell |= {
        name: jax.ShapeDtypeStruct(values.shape[1:], values.dtype)
        for name, values in host.items()
        if name not in data_cell
    }
    cell = abstract_cell(first) | {k: v for k, v in data_cell.items() if k not in first}
    data = jax.eval_shape(program.make_data, data_cell)
    state = jax.eval_shape(program.init, cell, data)

    def step_at(index: int) -> tuple[float, float]:
        advance = lambda s, c, d: program.advance(s, c, d, jnp.int32(index))  # noqa: E731
        return _cost(advance, state, cell, data)

    return {
        "data": _cost(program.make_data, data_cell),
        "init": _cost(program.init, cell, data),
        "step": step_at(0),
        "boundary_step": step_at(log_every - 1),
        "evaluate": _cost(program.evaluate, state, cell, data),
        "finalize": _cost(program.finalize, state, cell, data) if program.finalize else (0, 0),
    }


def cell_flops(
    program: sweep.Program, grid: sweep.Grid, *, num_steps: int, log_every: int
) -> dict[str, float]:
    """FLOPs of one cell of ``grid`` over a run: init, ``num_steps`` steps, metrics, finalize.

    The data (``make_data``, shared by the cells of a data cell) is left out: it is mostly
    random-number generation, which XLA does not count as floating-point work.

    Returns:
      FLOPs of ``init``, ``step`` (one step inside a segment), ``evaluate`` (one logging),
      ``finalize`` (once) and ``total`` of one cell (every segment's last step counted as
      `cell_costs`'s ``boundary_step``), and ``step_bytes``: the bytes one step reads and
      writes (its arithmetic intensity is ``step / step_bytes``, what a roofline argument
      needs).
    """
    costs = cell_costs(program, grid, log_every=log_every)
    pieces = {name: costs[name][0] for name in ("init", "step", "evaluate", "finalize")}
    num_logs = num_steps // log_every
    pieces["total"] = (
        pieces["init"]
        + num_logs * ((log_every - 1) * pieces["step"] + costs["boundary_step"][0])
        + num_logs * pieces["evaluate"]
        + pieces["finalize"]
    )
    pieces["step_bytes"] = costs["step"][1]
    return pieces
