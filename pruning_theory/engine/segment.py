"""The traced body of a sweep: one segment of training on a block of cells.

`block_functions` turns an experiment's `sweep.Program` into pure functions over a block of
cells ``[data_cells, model_cells]`` (the whole grid, one chunk, or one device's share of it:
the same code runs in all three). The program's shared data (``Program.shared``) is an
argument of every block function, unbatched, bound to the program's functions inside the
trace (`sweep.Program.bind`), so it is never a compile-time constant. A segment call

1. by its unbatched ``phase``: builds the data and initial states (`START`), rebuilds only the
   data after a resume from a checkpoint, which holds no data (`REBUILD`), or goes on
   (`CONTINUE`);
2. advances every cell by ``log_every`` steps (`lax.scan`, the global step unbatched) and
   evaluates its metrics;
3. freezes every cell whose state or metrics are not finite: it keeps its state and logged
   metrics of the previous segment (NaN metrics if it diverged in the first segment) and
   records the logged step where the divergence was seen in ``diverged_at`` (-1: never);
4. runs ``finalize`` behind a `lax.cond` that only the last segment takes.

The carry is ``(data, states, last_metrics, diverged_at)``; everything but the data is what a
checkpoint saves (the shared data is not carried either: it is an argument of every call).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from pruning_theory.engine.results import NOT_DIVERGED

START, REBUILD, CONTINUE = 0, 1, 2
PLACEHOLDER = "_"

Pytree = Any


def coordinates(cell: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    """A cell's grid coordinates, without the placeholder of a grid with no data axes."""
    return {name: value for name, value in cell.items() if name != PLACEHOLDER}


def zeros(abstract: Pytree) -> Pytree:
    """Zeros shaped like a tree of `jax.ShapeDtypeStruct`s (PRNG key dtypes included)."""
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), abstract)


def strongly_typed(tree: Pytree) -> Pytree:
    """``tree`` with JAX's weak types made strong (same dtypes).

    A weak-typed leaf (e.g. ``jnp.full(n, 4.0)`` from a Python float) in the carried state
    would make the carry a segment returns differ in type from the zero carry it started
    from, so the second segment call would retrace and compile the program again.
    """
    return jax.tree.map(lambda x: jax.lax.convert_element_type(x, x.dtype), tree)


def _is_inexact(x) -> bool:
    return jnp.issubdtype(x.dtype, jnp.inexact)


def all_finite(tree: Pytree) -> jax.Array:
    """Whether every floating value of ``tree`` is finite (True for a tree without floats)."""
    checks = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if _is_inexact(x)]
    return jnp.all(jnp.stack(checks)) if checks else jnp.bool_(True)


def unlogged(abstract: Pytree) -> Pytree:
    """Metrics not logged yet: NaN for floats, zero for the rest."""
    return jax.tree.map(
        lambda s: jnp.full(s.shape, jnp.nan if _is_inexact(s) else 0, s.dtype), abstract
    )


@dataclasses.dataclass(frozen=True)
class BlockFunctions:
    """Pure functions of a block of cells (``data_cells``, ``model_cells``: coordinate dicts).

    Every function takes the program's shared data (None without) as its last argument.

    Attributes:
      initial_carry: ``(data_cells, model_cells, shared) -> carry``, the carry after `START`.
      evaluate: ``(data, states, data_cells, model_cells, shared) -> metrics`` of every cell.
      finalize: ``(data, states, data_cells, model_cells, shared) -> final metrics``.
      segment: ``(carry, data_cells, model_cells, first_step, phase, shared) -> (carry,
        (metrics, final))``; ``final`` is zeros except on the last segment.
    """

    initial_carry: Callable[..., Pytree]
    evaluate: Callable[..., Pytree]
    finalize: Callable[..., Pytree]
    segment: Callable[..., Pytree]


def _merge(data_cell, model_cell) -> dict[str, jax.Array]:
    return {**coordinates(data_cell), **coordinates(model_cell)}


def _no_finalize(state, cell, data) -> dict[str, jax.Array]:
    return {}


def _finalize_one(program) -> Callable[..., Pytree]:
    return program.finalize or _no_finalize


def _build_data(program, data_cells) -> Pytree:
    """The data of every data cell (vmapped ``make_data``)."""
    return jax.vmap(lambda data_cell: program.make_data(coordinates(data_cell)))(data_cells)


def _over_block(function, data, states, data_cells, model_cells) -> Pytree:
    """``function(state, cell, data)`` over a block: data cells outer, data unbatched inside."""

    def over_model(data_cell, data_one, states_one):
        one = lambda state, model_cell: function(  # noqa: E731
            state, _merge(data_cell, model_cell), data_one
        )
        return jax.vmap(one)(states_one, model_cells)

    return jax.vmap(over_model)(data_cells, data, states)


def _initial_carry(program, data_cells, model_cells) -> Pytree:
    """Data, initial states, unlogged metrics and no divergence for every cell of a block."""

    def start(data_cell):
        data = program.make_data(coordinates(data_cell))
        init = lambda model_cell: program.init(_merge(data_cell, model_cell), data)  # noqa: E731
        return data, jax.vmap(init)(model_cells)

    data, states = jax.vmap(start)(data_cells)
    evaluate = lambda *args: _over_block(program.evaluate, *args)  # noqa: E731
    metrics = unlogged(jax.eval_shape(evaluate, data, states, data_cells, model_cells))
    block = (jax.tree.leaves(data_cells)[0].shape[0], jax.tree.leaves(model_cells)[0].shape[0])
    diverged = jnp.full(block, NOT_DIVERGED, jnp.int32)
    return data, states, metrics, diverged


def _advance_data_cell(
    program, log_every, data_cell, data, states, last_metrics, diverged_at, model_cells, first_step
):
    """One segment of the model cells of one data cell; non-finite cells are frozen."""

    def one_cell(state, last, diverged, model_cell):
        cell = _merge(data_cell, model_cell)
        steps = first_step + jnp.arange(log_every)
        step_fn = lambda s, step: (program.advance(s, cell, data, step), None)  # noqa: E731
        new_state, _ = jax.lax.scan(step_fn, state, steps)
        metrics = program.evaluate(new_state, cell, data)
        bad = ~(all_finite(new_state) & all_finite(metrics))
        frozen = bad | (diverged != NOT_DIVERGED)
        keep = lambda new, old: jnp.where(frozen, old, new)  # noqa: E731
        seen = jnp.where(bad, first_step + log_every, NOT_DIVERGED)
        return (
            jax.tree.map(keep, new_state, state),
            jax.tree.map(keep, metrics, last),
            jnp.where(diverged != NOT_DIVERGED, diverged, seen).astype(jnp.int32),
        )

    return jax.vmap(one_cell)(states, last_metrics, diverged_at, model_cells)


def _segment(program, num_steps, log_every, carry, data_cells, model_cells, first_step, phase):
    """One segment of a block (see the module docstring), ``program`` with its shared bound."""
    carry = jax.lax.switch(
        phase,
        (
            lambda _: _initial_carry(program, data_cells, model_cells),
            lambda c: (_build_data(program, data_cells), *c[1:]),
            lambda c: c,
        ),
        carry,
    )
    data, states, last_metrics, diverged_at = carry
    advance = lambda *args: _advance_data_cell(program, log_every, *args)  # noqa: E731
    states, metrics, diverged_at = jax.vmap(advance, in_axes=(0, 0, 0, 0, 0, None, None))(
        data_cells, data, states, last_metrics, diverged_at, model_cells, first_step
    )
    finalize = lambda *args: _over_block(_finalize_one(program), *args)  # noqa: E731
    final = jax.lax.cond(
        first_step + log_every == num_steps,
        lambda s: finalize(data, s, data_cells, model_cells),
        lambda s: zeros(jax.eval_shape(finalize, data, s, data_cells, model_cells)),
        states,
    )
    return strongly_typed((data, states, metrics, diverged_at)), (metrics, final)


def block_functions(program, *, num_steps: int, log_every: int) -> BlockFunctions:
    """The block functions of a `sweep.Program` run for ``num_steps`` in segments."""

    def initial_carry(data_cells, model_cells, shared):
        return _initial_carry(program.bind(shared), data_cells, model_cells)

    def evaluate(data, states, data_cells, model_cells, shared):
        return _over_block(program.bind(shared).evaluate, data, states, data_cells, model_cells)

    def finalize(data, states, data_cells, model_cells, shared):
        function = _finalize_one(program.bind(shared))
        return _over_block(function, data, states, data_cells, model_cells)

    def segment(carry, data_cells, model_cells, first_step, phase, shared):
        bound = program.bind(shared)
        return _segment(
            bound, num_steps, log_every, carry, data_cells, model_cells, first_step, phase
        )

    return BlockFunctions(initial_carry, evaluate, finalize, segment)
