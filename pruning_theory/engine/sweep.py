"""The grid engine: named axes -> cells -> one compiled program, advanced in segments.

An experiment hands the engine a `Program` of pure functions built from a static config
(purejaxrl's `make_train` pattern). The engine

* flattens the Cartesian product of the named grid axes into cells, with the axes the data
  depends on (``data_axes``) outermost: cells form a ``[data_cells, model_cells]`` block;
* runs ``vmap_data(vmap_model(...))`` so the data built for one data cell is passed
  *unbatched* to every model cell that shares it (one large matmul instead of many small ones,
  and no copy of the data per pruning rate);
* compiles exactly one program per sweep: the program advances every cell by one segment of
  ``log_every`` steps and evaluates the metrics; on the first segment it also builds the data
  and the initial state (a `lax.switch` on an unbatched phase argument), so there is no
  separate init compile and no host round trip inside a segment;
* calls that program once per segment from the host, which gives the progress bar and ETA,
  checkpoints, and the metric histories at the logged steps ``log_every, ..., num_steps``;
* runs the optional post-training ``finalize`` inside the same program, behind a `lax.cond`
  that only the last segment takes.

Per-step schedule counters (the global step index) are unbatched scan inputs, so a periodic
event inside ``advance`` stays a real branch under vmap.

Arrays are never compile-time constants of the program: data every cell reads (a dataset)
goes in ``Program.shared``, an argument of the compiled program replicated over the device
mesh; data each data cell builds on the host (a seed's numpy sample) comes from
``Program.host_data`` and travels with the data cells' coordinates.

Scale-out and reliability, set by the `Execution` the runner builds and the experiment passes
to every `run_program` (one per run):

* the longer axis of the cell block is sharded over a 1-D device mesh with `jax.shard_map`
  (`layout`): each device trains its own cells with no communication, on one host or many
  (`distributed`); padding cells are dropped from the results;
* cells that do not fit a memory budget run in equal chunks, one after another, through the
  same compiled program;
* a sweep saves its state at segment boundaries (`checkpoint`) in a folder named by the
  sweep's name, and resumes from it; a stop request (SIGTERM) saves at the next boundary and
  raises `Preempted`;
* a cell whose state or metrics become NaN or Inf is frozen at its state of the previous
  logged step and flagged with the logged step where it was seen (``diverged_at``: segment
  resolution); the other cells carry on unaffected;
* with a grid shard only a slice of every grid runs (`grid_shards`).

The traced body of a segment is in `segment`, the host loop over chunks and segments in
`driver`, the options in `execution` (re-exported here).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from pruning_theory.engine import distributed, driver, dry_run, grid_shards, layout
from pruning_theory.engine import execution as execution_lib
from pruning_theory.engine import progress as progress_lib
from pruning_theory.engine import segment as segment_lib
from pruning_theory.engine.execution import Execution, Preempted, ProgressReporter
from pruning_theory.engine.results import SweepResult

__all__ = [
    "Cell",
    "CompiledSweep",
    "Execution",
    "Grid",
    "Preempted",
    "Program",
    "ProgressReporter",
    "build",
    "data_cells_with_host_data",
    "print_progress",
    "product_cells",
    "run",
    "run_program",
    "validate_axes",
]

Cell = Mapping[str, jax.Array]
Pytree = Any


@dataclasses.dataclass(frozen=True)
class Program:
    """The pure functions an experiment gives the engine, and the data every cell shares.

    Attributes:
      make_data: ``data_cell -> data``; the data of one data cell (its keys are the grid's
        ``data_axes``). Called once per data cell, inside the compiled program.
      init: ``(cell, data) -> state``; the initial training state of one cell.
      advance: ``(state, cell, data, step) -> state``; one training step. ``step`` is the
        global step index, unbatched across cells.
      evaluate: ``(state, cell, data) -> metrics``; a dict of arrays logged at each logged step.
      finalize: ``(state, cell, data) -> metrics`` computed once, after the last step: costly
        post-training analysis (a large test set, gradient checks). Optional.
      shared: a pytree of arrays every cell reads (e.g. a dataset), or None. The engine passes
        it to the compiled program as an argument, replicated over the device mesh (never a
        compile-time constant, never copied per cell), and every function above then takes
        it as its last argument: ``make_data(data_cell, shared)``, ``init(cell, data,
        shared)``, ``advance(state, cell, data, step, shared)``, ``evaluate(state, cell, data,
        shared)``, ``finalize(state, cell, data, shared)``.
      host_data: ``data coordinates -> {name: array [num_data_cells, ...]}``, or None: data
        of each data cell that must be built on the host (e.g. one seed's numpy sample of a
        dataset). Called once per sweep (per grid shard) with the host coordinates of its
        data cells (arrays ``[num_data_cells]``); its arrays go with the data cells (sharded
        and chunked like them, never compile-time constants) and reach ``make_data`` as
        entries of ``data_cell`` beside the coordinates, so nothing looks a data cell up.
    """

    make_data: Callable[..., Pytree]
    init: Callable[..., Pytree]
    advance: Callable[..., Pytree]
    evaluate: Callable[..., dict[str, jax.Array]]
    finalize: Callable[..., dict[str, jax.Array]] | None = None
    shared: Pytree = None
    host_data: Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]] | None = None

    def bind(self, shared: Pytree = None) -> Program:
        """This program's functions with ``shared`` bound as their last argument.

        Returns a program without shared data whose functions take the plain signatures;
        itself when it has no shared data. The engine binds the traced argument inside the
        compiled program; tools that call the functions one by one (benchmarks) may bind the
        arrays themselves (``program.bind(jax.tree.map(jnp.asarray, program.shared))``).
        """
        if self.shared is None:
            return self
        finalize = self.finalize
        return dataclasses.replace(
            self,
            make_data=lambda data_cell: self.make_data(data_cell, shared),
            init=lambda cell, data: self.init(cell, data, shared),
            advance=lambda state, cell, data, step: self.advance(state, cell, data, step, shared),
            evaluate=lambda state, cell, data: self.evaluate(state, cell, data, shared),
            finalize=None
            if finalize is None
            else lambda state, cell, data: finalize(state, cell, data, shared),
            shared=None,
        )


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
        """The axes the data does not depend on, in config order."""
        return tuple(name for name in self.axes if name not in self.data_axes)

    @property
    def ordered_axes(self) -> dict[str, np.ndarray]:
        """The axes in result order: data axes first, then the others, each in config order."""
        names = (*self.data_axes, *self.model_axes)
        return {name: np.asarray(self.axes[name]) for name in names}

    @property
    def num_cells(self) -> int:
        """Cells of the whole grid (the product of the axis lengths)."""
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


def _as_cell_arrays(cells: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Host arrays of cell coordinates in JAX's default dtypes (float32, int32)."""
    arrays = {
        name: np.asarray(values).astype(jax.dtypes.canonicalize_dtype(np.asarray(values).dtype))
        for name, values in cells.items()
    }
    # A grid without data axes still has one data cell; vmap needs a coordinate to map over.
    return arrays or {segment_lib.PLACEHOLDER: np.zeros((1,), np.float32)}


def data_cells_with_host_data(
    program: Program, data_cells: Mapping[str, np.ndarray], grid: Grid
) -> dict[str, np.ndarray]:
    """The data cells' coordinates with the program's host data of each data cell beside them.

    Raises:
      ValueError: if a host-data name is a grid axis, or an array's leading dimension is not
        the number of data cells.
    """
    data_cells = dict(data_cells)
    if program.host_data is None:
        return data_cells
    coordinates = {k: v for k, v in data_cells.items() if k != segment_lib.PLACEHOLDER}
    arrays = _host_arrays(dict(program.host_data(coordinates)))
    clashes = sorted(set(arrays) & {*grid.axes, segment_lib.PLACEHOLDER})
    if clashes:
        raise ValueError(f"host data {clashes} would hide grid axes of the same names")
    count = len(next(iter(data_cells.values())))
    wrong = {k: v.shape for k, v in arrays.items() if v.shape[:1] != (count,)}
    if wrong:
        raise ValueError(f"host data {wrong} must have one row per data cell ({count})")
    return {**data_cells, **arrays}


def print_progress(name: str) -> ProgressReporter:
    """A tqdm progress bar on stderr labelled ``name`` (`progress.SweepProgress`): a compile
    notice, an ETA measured after the first segment, a line on resume; the bar only on a
    terminal.

    Also a progress factory for `Execution.progress`: ``Execution(progress=print_progress)``
    labels each sweep's bar with the sweep's name.
    """
    return progress_lib.SweepProgress(name)


@dataclasses.dataclass(frozen=True)
class CompiledSweep:
    """A sweep's one compiled segment program, its cell layout, and their abstract shapes.

    Attributes:
      grid: the named axes.
      num_steps: training steps of every cell.
      log_every: steps per segment.
      segment: ``jit(shard_map(...))`` of `segment.BlockFunctions.segment` over one chunk:
        ``(carry, data_cells, model_cells, first_step, phase, shared)``.
      data_cells: host coordinates of the data cells, and the program's host data.
      model_cells: host coordinates of the model cells.
      shared: the program's shared data as host arrays in JAX's dtypes, or None.
      carry_shape: abstract carry of one chunk, with its shardings.
      metric_shape: abstract metrics of one chunk at one logged step.
      final_shape: abstract post-training metrics of one chunk.
      layout: the split axis, device count and chunks.
      mesh: the 1-D cell mesh.
      execution: the options it was built under.
      peak_bytes: chunk size -> peak bytes per device of the segment program compiled for
        it, from XLA's memory analysis (compiles; what a memory budget is checked against).
    """

    grid: Grid
    num_steps: int
    log_every: int
    segment: Callable[..., Any]
    data_cells: dict[str, np.ndarray]
    model_cells: dict[str, np.ndarray]
    shared: Pytree
    carry_shape: Any
    metric_shape: Any
    final_shape: Any
    layout: layout.Layout
    mesh: Mesh
    execution: Execution
    peak_bytes: Callable[[int], int]

    @property
    def logged_steps(self) -> np.ndarray:
        """The steps at which metrics are logged: ``log_every, 2 log_every, ..., num_steps``."""
        return np.arange(self.log_every, self.num_steps + 1, self.log_every)

    def device_shared(self) -> Pytree:
        """The shared data on the mesh, replicated (each process feeds its own devices)."""
        replicated = layout.named(self.mesh, PartitionSpec())
        return jax.tree.map(lambda a: distributed.global_array(a, replicated), self.shared)

    def lower(self) -> jax.stages.Lowered:
        """The segment program lowered for one chunk (``.as_text()``: its StableHLO)."""
        specs = self.layout.segment_specs()[0]
        chunk = self.layout.chunk_cells(self.data_cells, self.model_cells, 0)
        cells = [
            _abstract_cells(group, spec, self.mesh)
            for group, spec in zip(chunk, specs[1:3], strict=True)
        ]
        scalar = jax.ShapeDtypeStruct((), jnp.int32, sharding=layout.named(self.mesh, specs[3]))
        shared = _with_shardings(jax.eval_shape(lambda: self.shared), specs[5], self.mesh)
        return self.segment.lower(self.carry_shape, *cells, scalar, scalar, shared)

    def manifest(self) -> dict[str, Any]:
        """What a checkpoint of this sweep must match to be resumed."""
        return {
            "axes": {name: values.tolist() for name, values in self.grid.ordered_axes.items()},
            "data_axes": list(self.grid.data_axes),
            "num_steps": self.num_steps,
            "log_every": self.log_every,
            **self.layout.to_dict(),
        }


class _Shapes(NamedTuple):
    """Abstract arguments and results of the segment program for one chunk layout."""

    carry: Any
    cells: tuple[dict[str, jax.ShapeDtypeStruct], dict[str, jax.ShapeDtypeStruct]]
    metrics: Any
    final: Any
    shared: Any


def _abstract_cells(cells, spec, mesh) -> dict[str, jax.ShapeDtypeStruct]:
    sharding = layout.named(mesh, spec)
    return {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=sharding) for k, v in cells.items()}


def _with_shardings(abstract, specs, mesh):
    """Attaches to each leaf the sharding of its subtree's spec."""
    return jax.tree.map(
        lambda spec, tree: jax.tree.map(
            lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=layout.named(mesh, spec)),
            tree,
        ),
        specs,
        abstract,
        is_leaf=lambda x: isinstance(x, PartitionSpec),
    )


def _host_arrays(shared: Pytree) -> Pytree:
    """Host arrays in JAX's default dtypes (as `jnp.asarray` would give: float32, int32)."""
    return jax.tree.map(
        lambda a: np.asarray(a).astype(jax.dtypes.canonicalize_dtype(np.asarray(a).dtype)), shared
    )


def _check_steps(num_steps: int, log_every: int) -> None:
    if num_steps <= 0 or log_every <= 0:
        raise ValueError(f"num_steps={num_steps} and log_every={log_every} must be positive")
    if num_steps % log_every:
        raise ValueError(f"num_steps={num_steps} is not a multiple of log_every={log_every}")


def _jit_segment(blocks: segment_lib.BlockFunctions, mesh: Mesh, specs) -> Callable[..., Any]:
    """``jit(shard_map(segment))`` with explicit shardings and the carry donated."""
    in_specs, out_specs = specs
    named = lambda tree: jax.tree.map(  # noqa: E731
        lambda spec: layout.named(mesh, spec),
        tree,
        is_leaf=lambda x: isinstance(x, PartitionSpec),
    )
    # Explicit shardings keep the carry's shardings identical from call to call (a 1-device
    # mesh would otherwise normalize some of them), so every segment hits one executable.
    return jax.jit(
        jax.shard_map(
            blocks.segment, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False
        ),
        in_shardings=named(in_specs),
        out_shardings=named(out_specs),
        donate_argnums=0,
    )


def _chunk_shapes(blocks, mesh, in_specs, data_cells, model_cells, shared, chunk_layout) -> _Shapes:
    """The abstract carry, cells, metrics and final metrics of one chunk of ``chunk_layout``."""
    data_chunk, model_chunk = chunk_layout.chunk_cells(data_cells, model_cells, 0)
    cells = (
        _abstract_cells(data_chunk, in_specs[1], mesh),
        _abstract_cells(model_chunk, in_specs[2], mesh),
    )
    carry = _with_shardings(jax.eval_shape(blocks.initial_carry, *cells, shared), in_specs[0], mesh)
    metrics = jax.eval_shape(blocks.evaluate, carry[0], carry[1], *cells, shared)
    final = jax.eval_shape(blocks.finalize, carry[0], carry[1], *cells, shared)
    return _Shapes(carry, cells, metrics, final, shared)


def _peak_bytes(compiled_segment, shapes: _Shapes, mesh: Mesh) -> int:
    """Peak bytes per device of the segment program compiled for ``shapes``' chunk."""
    scalar = jax.ShapeDtypeStruct((), jnp.int32, sharding=layout.named(mesh, PartitionSpec()))
    lowered = compiled_segment.lower(shapes.carry, *shapes.cells, scalar, scalar, shapes.shared)
    stats = lowered.compile().memory_analysis()
    if stats is None:
        raise ValueError(f"{jax.default_backend()} reports no memory use; drop the budget")
    return (
        stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        + stats.temp_size_in_bytes
        - stats.alias_size_in_bytes
    )


def build(
    program: Program,
    grid: Grid,
    *,
    num_steps: int,
    log_every: int,
    execution: Execution | None = None,
) -> CompiledSweep:
    """Builds the segment program of a sweep (traced lazily: compiled on the first call).

    With a memory budget the chunk size is chosen here, from the compiled program's own
    memory analysis at two or three chunk sizes (`layout.chunk_size_for_budget`).

    Args:
      program: the experiment's pure functions and shared data.
      grid: the named axes.
      num_steps: total training steps of every cell (a cell may freeze itself earlier).
      log_every: steps per segment; metrics are logged at the end of every segment.
      execution: devices and memory budget; default: `Execution()` (every device, no budget).

    Returns:
      A `CompiledSweep`; run it with `run`.

    Raises:
      ValueError: if the step counts are not positive or num_steps is not a multiple of
        log_every, or if even the smallest chunk exceeds the memory budget.
    """
    _check_steps(num_steps, log_every)
    options = execution or Execution()
    axes = grid.ordered_axes
    data_cells = _as_cell_arrays(product_cells({name: axes[name] for name in grid.data_axes}))
    model_cells = _as_cell_arrays(product_cells({name: axes[name] for name in grid.model_axes}))
    block_size = (len(next(iter(data_cells.values()))), len(next(iter(model_cells.values()))))
    data_cells = data_cells_with_host_data(program, data_cells, grid)
    mesh = layout.cell_mesh(options.devices)
    num_devices = mesh.devices.size
    split = layout.split_axis(*block_size)
    length = block_size[split]
    blocks = segment_lib.block_functions(program, num_steps=num_steps, log_every=log_every)
    specs = layout.Layout(split, length, num_devices, num_devices).segment_specs()
    compiled_segment = _jit_segment(blocks, mesh, specs)
    shared = _host_arrays(program.shared)
    abstract_shared = _with_shardings(jax.eval_shape(lambda: shared), specs[0][5], mesh)

    def shapes(chunk_layout: layout.Layout) -> _Shapes:
        return _chunk_shapes(
            blocks, mesh, specs[0], data_cells, model_cells, abstract_shared, chunk_layout
        )

    def peak_bytes(chunk_size: int) -> int:
        chunk_layout = layout.Layout(split, length, num_devices, chunk_size)
        return _peak_bytes(compiled_segment, shapes(chunk_layout), mesh)

    if options.memory_budget_bytes is None:
        chunk_size = num_devices * math.ceil(length / num_devices)
    else:
        chunk_size = layout.chunk_size_for_budget(
            peak_bytes, length, num_devices, options.memory_budget_bytes
        )
    cell_layout = layout.even_layout(split, length, num_devices, chunk_size)
    chunk = shapes(cell_layout)
    return CompiledSweep(
        grid=grid,
        num_steps=num_steps,
        log_every=log_every,
        segment=compiled_segment,
        data_cells=data_cells,
        model_cells=model_cells,
        shared=shared,
        carry_shape=chunk.carry,
        metric_shape=chunk.metrics,
        final_shape=chunk.final,
        layout=cell_layout,
        mesh=mesh,
        execution=options,
        peak_bytes=peak_bytes,
    )


def run(
    sweep: CompiledSweep,
    *,
    progress: ProgressReporter | None = None,
    checkpoint_dir: pathlib.Path | None = None,
    metrics_dir: pathlib.Path | None = None,
) -> SweepResult:
    """Runs every chunk and segment of a built sweep (`driver.run_sweep`; see there).

    Args:
      sweep: from `build`.
      progress: reporter called after each segment, or None.
      checkpoint_dir: this sweep's own checkpoint folder (resumed from when it holds a
        state), or None for no checkpoints.
      metrics_dir: this sweep's own TensorBoard folder, or None for none.
    """
    return driver.run_sweep(
        sweep, progress=progress, checkpoint_dir=checkpoint_dir, metrics_dir=metrics_dir
    )


def _empty_result(program, grid, axes, record, *, num_steps, log_every, options):
    """The result of a grid shard without cells: empty arrays of the right trailing shapes."""
    name = next(iter(axes))
    probe_axes = {**axes, name: np.asarray(record["values"])[:1]}
    probe = Grid({k: probe_axes[k] for k in grid.axes}, grid.data_axes)
    shapes = build(
        program,
        probe,
        num_steps=num_steps,
        log_every=log_every,
        execution=Execution(devices=options.devices),
    )
    sizes = tuple(len(values) for values in axes.values())
    num_logs = num_steps // log_every

    def empty(tree, extra):
        return {k: np.zeros((*sizes, *extra, *s.shape[2:]), s.dtype) for k, s in tree.items()}

    return SweepResult(
        axes=axes,
        steps=shapes.logged_steps,
        metrics=empty(shapes.metric_shape, (num_logs,)),
        final=empty(shapes.final_shape, ()),
        diverged_at=np.zeros(sizes, np.int32),
        shard=record,
    )


def run_program(
    program: Program,
    grid: Grid,
    *,
    name: str,
    num_steps: int,
    log_every: int,
    execution: Execution | None = None,
) -> SweepResult:
    """`build` then `run`: the whole sweep in one call, under the run's `Execution`.

    Args:
      program: the experiment's pure functions and shared data.
      grid: the named axes.
      name: the sweep's name, unique among the sweeps of a run: it names the sweep's
        checkpoint folder (``<checkpoint_dir>/<name>``) and its progress reporter.
      num_steps: training steps of every cell.
      log_every: steps per segment.
      execution: the run's options (devices, memory budget, checkpoints, grid shard, stop,
        progress); default: `Execution()`, every device and nothing else.

    Returns:
      The labelled result; for a grid shard, only the shard's slice with its ``shard`` record.

    Under ``execution.dry_run`` the sweep is compiled, sized and timed, not run
    (`dry_run`), and the result is a NaN placeholder of the right shapes.

    Raises:
      ValueError: for a bad or already used ``name`` (`execution.start_sweep`), bad step
        counts, a memory budget below the smallest chunk, or (on a device that reports its
        memory, without a budget) a chunk larger than the device's memory.
    """
    options = execution or Execution()
    checkpoint_dir, progress = execution_lib.start_sweep(options, name)
    record = None
    if options.grid_shard is not None:
        axes, record = grid_shards.shard_axes(grid.ordered_axes, options.grid_shard)
        if not len(next(iter(axes.values()))):
            return _empty_result(
                program,
                grid,
                axes,
                record,
                num_steps=num_steps,
                log_every=log_every,
                options=options,
            )
        grid = Grid({k: axes[k] for k in grid.axes}, grid.data_axes)
    sweep = build(program, grid, num_steps=num_steps, log_every=log_every, execution=options)
    if options.dry_run is not None:  # size and time it, run nothing (`dry_run`)
        options.dry_run.append(dry_run.plan_sweep(sweep, name))
        result = dry_run.placeholder_result(sweep)
        return result if record is None else dataclasses.replace(result, shard=record)
    dry_run.check_fits(sweep, name, dry_run.device_memory_bytes(options.devices))
    metrics_dir = execution_lib.metrics_folder(options, name)
    result = run(sweep, progress=progress, checkpoint_dir=checkpoint_dir, metrics_dir=metrics_dir)
    return result if record is None else dataclasses.replace(result, shard=record)
