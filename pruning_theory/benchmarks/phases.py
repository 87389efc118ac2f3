"""Where a sweep's time goes: its data, init, training steps and finalize, timed apart.

The engine runs all four inside one compiled segment program, so its timings do not say which
part dominates. Here each is jitted and timed alone on one data cell of a grid and every model
cell that shares it (vmapped, as in the engine), warm, best of repeats. Random-number
generation shows up here (in the data and in inits that draw weights and masks) although
XLA's cost analysis counts it as no floating-point work.

`block_phase_seconds` times the same parts on a sweep's whole grid, batched as the engine
batches them, to split a profiled run's sweep time (`profile`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from pruning_theory.benchmarks import timing
from pruning_theory.engine import segment, sweep


def phase_seconds(program: sweep.Program, grid: sweep.Grid, *, num_steps: int) -> dict:
    """Warm seconds of ``make_data``, ``init``, ``num_steps`` steps and ``finalize``.

    Returns:
      ``{"model_cells", "data", "init", "steps", "finalize"}`` for the grid's first data cell
      and all its model cells (``finalize`` is 0 for a program without one).
    """
    program = program.bind(jax.tree.map(jnp.asarray, program.shared))  # shared data bound
    axes = grid.ordered_axes
    model = sweep.product_cells({name: axes[name] for name in grid.model_axes})
    model = {name: jnp.asarray(values) for name, values in model.items()}
    first = {name: np.asarray(axes[name][:1]) for name in grid.data_axes}
    first = sweep.data_cells_with_host_data(program, first, grid)
    data_cell = {name: jnp.asarray(values[0]) for name, values in first.items()}
    count = len(next(iter(model.values()))) if model else 1
    cells = {**{k: jnp.broadcast_to(v, (count, *v.shape)) for k, v in data_cell.items()}, **model}

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


def _merged(data_cell, model_cell) -> dict:
    return {**segment.coordinates(data_cell), **segment.coordinates(model_cell)}


def _warm(function, *args) -> tuple[object, float]:
    """One compiling call, then the output and wall seconds of a second (warm) call."""
    jax.block_until_ready(function(*args))
    return timing.timed(function, *args)


def block_phase_seconds(
    program: sweep.Program, grid: sweep.Grid, *, num_steps: int, log_every: int
) -> dict[str, float]:
    """Warm seconds of a sweep's data, init, one evaluation and finalize on its whole grid.

    Each part is jitted alone and run on every cell at once, batched as the engine batches it
    (`segment.block_functions`: data cells outer, the model cells of a data cell inner, the data
    unbatched inside); ``finalize`` runs on the initial states (its cost does not depend on the
    trained values for the programs here). Inside the engine the parts are fused into one
    segment program, so these are estimates of each part's share of the sweep's wall time.

    Returns:
      ``{"data", "init", "evaluate", "finalize"}`` seconds (``evaluate``: one call; the
      engine evaluates ``num_steps // log_every`` times).
    """
    built = sweep.build(
        program, grid, num_steps=num_steps, log_every=log_every, execution=sweep.Execution()
    )
    blocks = segment.block_functions(program, num_steps=num_steps, log_every=log_every)
    shared = jax.tree.map(jnp.asarray, built.shared)
    bound = program.bind(shared)  # make_data and init with the shared data bound
    data_cells = {k: jnp.asarray(v) for k, v in built.data_cells.items()}
    model_cells = {k: jnp.asarray(v) for k, v in built.model_cells.items()}

    @jax.jit
    def make_data(data_cells):
        return jax.vmap(lambda c: bound.make_data(segment.coordinates(c)))(data_cells)

    @jax.jit
    def init(data, data_cells, model_cells):
        def one_data_cell(data_one, data_cell):
            init_one = lambda m: bound.init(_merged(data_cell, m), data_one)  # noqa: E731
            return jax.vmap(init_one)(model_cells)

        return jax.vmap(one_data_cell)(data, data_cells)

    data, data_s = _warm(make_data, data_cells)
    states, init_s = _warm(init, data, data_cells, model_cells)
    cells = (data_cells, model_cells)
    _, evaluate_s = _warm(jax.jit(blocks.evaluate), data, states, *cells, shared)
    finalize_s = 0.0
    if program.finalize is not None:
        _, finalize_s = _warm(jax.jit(blocks.finalize), data, states, *cells, shared)
    return {"data": data_s, "init": init_s, "evaluate": evaluate_s, "finalize": finalize_s}
