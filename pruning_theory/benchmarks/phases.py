"""Where a sweep's time goes: its data, init, training steps and finalize, timed apart.

The engine runs all four inside one compiled segment program, so its timings do not say which
part dominates. Here each is jitted and timed alone on one data cell of a grid and every model
cell that shares it (vmapped, as in the engine), warm, best of repeats. Random-number
generation shows up here (in the data and in inits that draw weights and masks) although
XLA's cost analysis counts it as no floating-point work.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pruning_theory.benchmarks import timing
from pruning_theory.engine import sweep


def phase_seconds(program: sweep.Program, grid: sweep.Grid, *, num_steps: int) -> dict:
    """Warm seconds of ``make_data``, ``init``, ``num_steps`` steps and ``finalize``.

    Returns:
      ``{"model_cells", "data", "init", "steps", "finalize"}`` for the grid's first data cell
      and all its model cells (``finalize`` is 0 for a program without one).
    """
    axes = grid.ordered_axes
    model = sweep.product_cells({name: axes[name] for name in grid.model_axes})
    model = {name: jnp.asarray(values) for name, values in model.items()}
    data_cell = {name: jnp.asarray(axes[name][0]) for name in grid.data_axes}
    count = len(next(iter(model.values()))) if model else 1
    cells = {**{k: jnp.full(count, v) for k, v in data_cell.items()}, **model}

    make_data = jax.jit(program.make_data)
    jax.block_until_ready(make_data(data_cell))
    data, data_s = timing.best_timed(make_data, data_cell)
    init = jax.jit(jax.vmap(lambda cell: program.init(cell, data)))
    jax.block_until_ready(init(cells))
    state, init_s = timing.best_timed(init, cells)

    def train(state):
        def body(state, step):
            advance = lambda s, c: program.advance(s, c, data, step)  # noqa: E731
            return jax.vmap(advance)(state, cells), None

        return jax.lax.scan(body, state, jnp.arange(num_steps))[0]

    train = jax.jit(train)
    jax.block_until_ready(train(state))
    trained, steps_s = timing.best_timed(train, state)
    finalize_s = 0.0
    if program.finalize is not None:
        finalize = jax.jit(jax.vmap(lambda s, c: program.finalize(s, c, data)))
        jax.block_until_ready(finalize(trained, cells))
        _, finalize_s = timing.best_timed(finalize, trained, cells)
    return {
        "model_cells": count,
        "data": data_s,
        "init": init_s,
        "steps": steps_s,
        "finalize": finalize_s,
        "num_steps": num_steps,
    }
