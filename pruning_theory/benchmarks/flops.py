"""Floating-point work of one cell, from XLA's cost analysis of its init, step and metrics.

Loops (`lax.scan`, `lax.cond`) are counted once by XLA's cost analysis, so the three pieces
are lowered separately, outside any loop, and multiplied by how often a run calls them.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
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


def cell_flops(
    program: sweep.Program, grid: sweep.Grid, *, num_steps: int, log_every: int
) -> dict[str, float]:
    """FLOPs of one cell of ``grid`` over a run: init, ``num_steps`` steps, metrics, finalize.

    The data (``make_data``, shared by the cells of a data cell) is left out: it is mostly
    random-number generation, which XLA does not count as floating-point work.

    Returns:
      FLOPs of ``init``, ``step`` (one step), ``evaluate`` (one logging), ``finalize`` (once)
      and ``total`` of one cell, and ``step_bytes``: the bytes one step reads and writes
      (its arithmetic intensity is ``step / step_bytes``, what a roofline argument needs).
    """
    first = {name: values[0] for name, values in grid.axes.items()}
    data_cell = abstract_cell({name: first[name] for name in grid.data_axes})
    cell = abstract_cell(first)
    data = jax.eval_shape(program.make_data, data_cell)
    state = jax.eval_shape(program.init, cell, data)
    step = jax.ShapeDtypeStruct((), np.int32)
    step_flops, step_bytes = _cost(program.advance, state, cell, data, step)
    pieces = {
        "init": _cost(program.init, cell, data)[0],
        "step": step_flops,
        "evaluate": _cost(program.evaluate, state, cell, data)[0],
        "finalize": _cost(program.finalize, state, cell, data)[0] if program.finalize else 0.0,
    }
    pieces["total"] = (
        pieces["init"]
        + num_steps * pieces["step"]
        + num_steps // log_every * pieces["evaluate"]
        + pieces["finalize"]
    )
    pieces["step_bytes"] = step_bytes
    return pieces
