"""The grid engine: named axes -> cells -> one compiled program, advanced in segments.

An experiment hands the engine a `Program` of pure functions built from a static config
(purejaxrl's `make_train` pattern). The engine

* flattens the Cartesian product of the named grid axes into cells, with the axes the data
  depends on (``data_axes``) outermost: cells form a ``[data_cells, model_cells]`` block;
* runs ``jit(vmap_data(vmap_model(...)))`` so the data built for one data cell is passed
  *unbatched* to every model cell that shares it (one large matmul instead of many small ones,
  and no copy of the data per pruning rate);
* compiles exactly one program per sweep: the program advances every cell by one segment of
  ``log_every`` steps and evaluates the metrics; on the first segment it also builds the data
  and the initial state (a `lax.cond` on the unbatched step counter), so there is no separate
  init compile and no host round trip inside a segment;
* calls that program once per segment from the host, which gives the progress bar and ETA,
  and the metric histories at the logged steps ``log_every, 2 log_every, ..., num_steps``;
* runs the optional post-training ``finalize`` inside the same program, behind a `lax.cond`
  that only the last segment takes.

Per-step schedule counters (the global step index) are unbatched scan inputs, so a periodic
event inside ``advance`` stays a real branch under vmap.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from pruning_theory import results

Cell = Mapping[str, jax.Array]
Pytree = Any


@dataclasses.dataclass(frozen=True)
class Program:
    """The pure functions an experiment gives the engine.

    Attributes:
      make_data: ``data_cell -> data``; the data of one data cell (its keys are the grid's
        ``data_axes``). Called once per data cell, inside the compiled program.
      init: ``(cell, data) -> state``; the initial training state of one cell.
      advance: ``(state, cell, data, step) -> state``; one training step. ``step`` is the
        global step index, unbatched across cells.
      evaluate: ``(state, cell, data) -> metrics``; a dict of arrays logged at each logged step.
      finalize: ``(state, cell, data) -> metrics`` computed once, after the last step: costly
        post-training analysis (a large test set, gradient checks). Optional.
    """

    make_data: Callable[[Cell], Pytree]
    init: Callable[[Cell, Pytree], Pytree]
    advance: Callable[[Pytree, Cell, Pytree, jax.Array], Pytree]
    evaluate: Callable[[Pytree, Cell, Pytree], dict[str, jax.Array]]
    finalize: Callable[[Pytree, Cell, Pytree], dict[str, jax.Array]] | None = None


@dataclasses.dataclass(frozen=True)
class Grid:
    """Named grid axes; ``data_axes`` are the axes the data depends on.

    Attributes:
      axes: ordered mapping axis name -> sequence of values (numbers).
      data_axes: names of the axes the data varies along; every other axis shares the data.
    """

    axes: Mapping[str, Sequence[float]]
    data_axes: tuple[str, ...] = ()

    def __post_init__(self):
        validate_axes(self.axes)
        unknown = [name for name in self.data_axes if name not in self.axes]
        if unknown:
            raise ValueError(f"data_axes {unknown} are not grid axes {list(self.axes)}")

    @property
    def model_axes(self) -> tuple[str, ...]:
        return tuple(name for name in self.axes if name not in self.data_axes)

    @property
    def ordered_axes(self) -> dict[str, np.ndarray]:
        """The axes in result order: data axes first, then the others, each in config order."""
        names = (*self.data_axes, *self.model_axes)
        return {name: np.asarray(self.axes[name]) for name in names}

    @property
    def num_cells(self) -> int:
        return math.prod(len(values) for values in self.axes.values())


def validate_axes(axes: Mapping[str, Sequence[float]]) -> None:
    """Checks grid axes before anything is compiled.

    Raises:
      ValueError: naming the axis if it is empty, holds duplicates or non-finite values.
    """
    if not axes:
        raise ValueError("the grid has no axes")
    for name, values in axes.items():
        values = list(values)
        if not values:
            raise ValueError(f"grid axis {name!r} is empty")
        array = np.asarray(values, dtype=np.float64)
        if array.ndim != 1:
            raise ValueError(f"grid axis {name!r} must be a flat list of numbers, got {values}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"grid axis {name!r} has a non-finite value: {values}")
        duplicated = sorted({v for v in values if values.count(v) > 1})
        if duplicated:
            raise ValueError(f"grid axis {name!r} has duplicated values {duplicated}")


def product_cells(axes: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Flattens the Cartesian product of ``axes`` (C order: last axis fastest)."""
    names = list(axes)
    if not names:
        return {}
    rows = list(itertools.product(*(np.asarray(axes[name]).tolist() for name in names)))
    return {name: np.asarray([row[i] for row in rows]) for i, name in enumerate(names)}


_PLACEHOLDER = "_"


def _as_cell_arrays(cells: Mapping[str, np.ndarray]) -> dict[str, jax.Array]:
    arrays = {name: jnp.asarray(values) for name, values in cells.items()}
    # A grid without data axes still has one data cell; vmap needs a coordinate to map over.
    return arrays or {_PLACEHOLDER: jnp.zeros((1,))}


def _coordinates(cell: Cell) -> dict[str, jax.Array]:
    return {name: value for name, value in cell.items() if name != _PLACEHOLDER}


class ProgressReporter(Protocol):
    def __call__(self, step: int, num_steps: int, elapsed_s: float) -> None: ...


def print_progress(name: str) -> ProgressReporter:
    """A progress bar with ETA on stderr (one line, rewritten in place)."""

    def report(step: int, num_steps: int, elapsed_s: float) -> None:
        fraction = step / num_steps
        eta = elapsed_s * (1 - fraction) / fraction if fraction else float("nan")
        bar = "#" * int(30 * fraction)
        end = "\n" if step == num_steps else ""
        sys.stderr.write(
            f"\r[{name}] [{bar:<30}] step {step}/{num_steps}"
            f"  elapsed {elapsed_s:6.1f}s  eta {eta:6.1f}s{end}"
        )
        sys.stderr.flush()

    return report


@dataclasses.dataclass(frozen=True)
class CompiledSweep:
    """A sweep's one compiled segment program and the host loop that drives it."""

    grid: Grid
    num_steps: int
    log_every: int
    segment: Callable[..., Any]
    data_cells: dict[str, jax.Array]
    model_cells: dict[str, jax.Array]
    carry_shape: Any

    @property
    def logged_steps(self) -> np.ndarray:
        return np.arange(self.log_every, self.num_steps + 1, self.log_every)


def build(program: Program, grid: Grid, *, num_steps: int, log_every: int) -> CompiledSweep:
    """Builds the segment program of a sweep (traced lazily: compiled on the first call).

    Args:
      program: the experiment's pure functions.
      grid: the named axes.
      num_steps: total training steps of every cell (a cell may freeze itself earlier).
      log_every: steps per segment; metrics are logged at the end of every segment.

    Returns:
      A `CompiledSweep`; run it with `run`.

    Raises:
      ValueError: if the step counts are not positive or num_steps is not a multiple of
        log_every.
    """
    if num_steps <= 0 or log_every <= 0:
        raise ValueError(f"num_steps={num_steps} and log_every={log_every} must be positive")
    if num_steps % log_every:
        raise ValueError(f"num_steps={num_steps} is not a multiple of log_every={log_every}")
    axes = grid.ordered_axes
    data_grid = product_cells({name: axes[name] for name in grid.data_axes})
    model_grid = product_cells({name: axes[name] for name in grid.model_axes})
    data_cells = _as_cell_arrays(data_grid)
    model_cells = _as_cell_arrays(model_grid)

    def merge(data_cell: Cell, model_cell: Cell) -> dict[str, jax.Array]:
        return {**_coordinates(data_cell), **_coordinates(model_cell)}

    def start(data_cell: Cell) -> tuple[Pytree, Pytree]:
        data = program.make_data(_coordinates(data_cell))
        init = lambda model_cell: program.init(merge(data_cell, model_cell), data)  # noqa: E731
        return data, jax.vmap(init)(model_cells)

    finalize = program.finalize or (lambda state, cell, data: {})

    def advance_segment(data_cell, data, states, first_step):
        def one_cell(state, model_cell):
            cell = merge(data_cell, model_cell)
            steps = first_step + jnp.arange(log_every)
            step_fn = lambda s, step: (program.advance(s, cell, data, step), None)  # noqa: E731
            state, _ = jax.lax.scan(step_fn, state, steps)
            return state, program.evaluate(state, cell, data)

        return jax.vmap(one_cell)(states, model_cells)

    def finalize_all(data_cell, data, states):
        one_cell = lambda state, model_cell: finalize(  # noqa: E731
            state, merge(data_cell, model_cell), data
        )
        return jax.vmap(one_cell)(states, model_cells)

    def segment(carry, first_step):
        carry = jax.lax.cond(
            first_step == 0,
            lambda _: jax.vmap(start)(data_cells),
            lambda c: c,
            carry,
        )
        data, states = carry
        states, metrics = jax.vmap(advance_segment, in_axes=(0, 0, 0, None))(
            data_cells, data, states, first_step
        )
        final = jax.lax.cond(
            first_step + log_every == num_steps,
            lambda s: jax.vmap(finalize_all)(data_cells, data, s),
            lambda s: jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), final_shape),
            states,
        )
        return (data, states), (metrics, final)

    carry_shape = jax.eval_shape(jax.vmap(start), data_cells)
    final_shape = jax.eval_shape(jax.vmap(finalize_all), data_cells, carry_shape[0], carry_shape[1])
    return CompiledSweep(
        grid=grid,
        num_steps=num_steps,
        log_every=log_every,
        segment=jax.jit(segment, donate_argnums=0),
        data_cells=data_cells,
        model_cells=model_cells,
        carry_shape=carry_shape,
    )


def run(sweep: CompiledSweep, *, progress: ProgressReporter | None = None) -> results.SweepResult:
    """Runs every segment of a sweep and returns the metric histories labelled by the axes.

    Args:
      sweep: from `build`.
      progress: called after each segment (e.g. `print_progress`); None for silence.

    Returns:
      A `results.SweepResult` whose metrics have shape ``[*axis sizes, num_logged, ...]``.
    """
    carry = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), sweep.carry_shape)
    history = []
    started = time.perf_counter()
    for first_step in range(0, sweep.num_steps, sweep.log_every):
        carry, (metrics, final) = sweep.segment(carry, jnp.asarray(first_step, jnp.int32))
        history.append(jax.device_get(metrics))
        if progress is not None:
            progress(first_step + sweep.log_every, sweep.num_steps, time.perf_counter() - started)
    axes = sweep.grid.ordered_axes
    sizes = tuple(len(values) for values in axes.values())
    stacked = jax.tree.map(lambda *logs: np.stack(logs, axis=2), *history)
    unflatten = lambda value: np.asarray(value).reshape(*sizes, *np.shape(value)[2:])  # noqa: E731
    return results.SweepResult(
        axes=axes,
        steps=sweep.logged_steps,
        metrics={name: unflatten(value) for name, value in stacked.items()},
        final={name: unflatten(value) for name, value in jax.device_get(final).items()},
    )


def run_program(
    program: Program,
    grid: Grid,
    *,
    num_steps: int,
    log_every: int,
    progress: ProgressReporter | None = None,
) -> results.SweepResult:
    """`build` then `run`: the whole sweep in one call."""
    sweep = build(program, grid, num_steps=num_steps, log_every=log_every)
    return run(sweep, progress=progress)
