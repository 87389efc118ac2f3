"""Drives a compiled sweep: chunks one after another, segments, checkpoints, stop requests.

`run_sweep` calls a `sweep.CompiledSweep`'s segment program once per segment of every chunk of
cells, logs the metrics to host buffers, saves the state to the sweep's checkpoint at segment
boundaries (every ``checkpoint_interval_s``, and on a stop request, after which it raises
`execution.Preempted`), resumes from a saved state, and joins the chunks into one labelled
`SweepResult`, padding cells dropped.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from pruning_theory.engine import checkpoint, distributed, layout, segment
from pruning_theory.engine import progress as progress_lib
from pruning_theory.engine.execution import Preempted
from pruning_theory.engine.results import SweepResult
from pruning_theory.engine.tensorboard import CellWriters


def scalar(value: int, mesh: Mesh) -> jax.Array:
    """An int32 scalar replicated on the mesh (a segment's first step and phase)."""
    return distributed.global_array(np.int32(value), layout.named(mesh, PartitionSpec()))


def _history(metric_shape, num_logs: int) -> dict[str, np.ndarray]:
    """Host buffers ``[data, model, num_logs, ...]`` for a chunk's logged metrics."""
    fill = lambda s: np.nan if np.issubdtype(s.dtype, np.inexact) else 0  # noqa: E731
    return {
        name: np.full((*s.shape[:2], num_logs, *s.shape[2:]), fill(s), s.dtype)
        for name, s in metric_shape.items()
    }


def _saved_shape(sweep) -> dict[str, Any]:
    """Abstract tree of a checkpoint: the carry without its data, and the history so far."""
    num_logs = sweep.num_steps // sweep.log_every
    history = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), _history(sweep.metric_shape, num_logs)
    )
    _, states, last_metrics, diverged = sweep.carry_shape
    return {"states": states, "last": last_metrics, "diverged": diverged, "history": history}


def chunk_inputs(sweep, chunk: int) -> tuple[list[dict[str, jax.Array]], Any]:
    """A chunk's (data cells, model cells) on the mesh and a zero carry, as the segment
    program takes them."""
    mesh = sweep.mesh
    host_cells = sweep.layout.chunk_cells(sweep.data_cells, sweep.model_cells, chunk)
    cells = [
        {k: distributed.global_array(v, layout.named(mesh, spec)) for k, v in group.items()}
        for group, spec in zip(host_cells, sweep.layout.segment_specs()[0][1:3], strict=True)
    ]
    shardings = jax.tree.map(lambda s: s.sharding, sweep.carry_shape)
    carry = jax.jit(lambda: segment.zeros(sweep.carry_shape), out_shardings=shardings)()
    return cells, carry


def _run_chunk(
    sweep,
    chunk: int,
    resume: tuple[int, Any] | None,
    store: checkpoint.SweepCheckpoint | None,
    report: Callable[[int, dict[str, np.ndarray]], None],
    shared: Any,
) -> dict[str, dict[str, np.ndarray]]:
    """Trains one chunk of cells from its start or a restored state; returns its results.

    ``shared`` is the program's shared data on the mesh (`sweep.CompiledSweep.device_shared`).
    """
    options, mesh = sweep.execution, sweep.mesh
    cells, carry = chunk_inputs(sweep, chunk)
    if resume is None:
        step, phase = 0, segment.START
        history = _history(sweep.metric_shape, sweep.num_steps // sweep.log_every)
    else:
        step, saved = resume
        phase = segment.REBUILD
        carry = (carry[0], saved["states"], saved["last"], saved["diverged"])
        history = saved["history"]
    last_save = time.perf_counter()
    stop = False
    for first_step in range(step, sweep.num_steps, sweep.log_every):
        carry, (metrics, final) = sweep.segment(
            carry, *cells, scalar(first_step, mesh), scalar(phase, mesh), shared
        )
        phase = segment.CONTINUE
        done = first_step + sweep.log_every
        host_metrics = distributed.to_host(metrics)
        for name, value in host_metrics.items():
            history[name][:, :, done // sweep.log_every - 1] = value
        report(done, host_metrics)
        stop = options.stop is not None and distributed.any_process(options.stop.is_set())
        due = time.perf_counter() - last_save >= options.checkpoint_interval_s
        if store is not None and done < sweep.num_steps and (stop or due):
            saved = {"states": carry[1], "last": carry[2], "diverged": carry[3]}
            store.save(chunk, done, {**saved, "history": history})
            last_save = time.perf_counter()
        if stop and done < sweep.num_steps:
            raise Preempted(f"stopped at step {done} of {sweep.num_steps} (chunk {chunk})")
    outcome = {
        "metric": history,
        "final": distributed.to_host(final),
        "cells": {"diverged_at": distributed.to_host(carry[3])},
    }
    if store is not None:
        store.save_chunk(chunk, outcome)
    if stop:
        raise Preempted(f"stopped after chunk {chunk} finished")
    return outcome


def _assemble(sweep, chunks: list[dict[str, dict[str, np.ndarray]]]):
    """Joins the chunks along the split axis, drops padding, labels by the grid axes."""
    axes = sweep.grid.ordered_axes
    sizes = tuple(len(values) for values in axes.values())
    split, length = sweep.layout.split, sweep.layout.length

    def join(group: str) -> dict[str, np.ndarray]:
        joined = {}
        # A group without arrays (no finalize) is absent from a chunk loaded from disk.
        for name in chunks[0].get(group, {}):
            value = np.concatenate([c[group][name] for c in chunks], axis=split)
            value = np.take(value, np.arange(length), axis=split)
            joined[name] = value.reshape(*sizes, *value.shape[2:])
        return joined

    return SweepResult(
        axes=axes,
        steps=sweep.logged_steps,
        metrics=join("metric"),
        final=join("final"),
        diverged_at=join("cells")["diverged_at"],
    )


def _chunk_indices(sweep, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """A chunk's (data, model) cells as indices into the whole block; -1 marks padding."""
    sizes = [len(next(iter(cells.values()))) for cells in (sweep.data_cells, sweep.model_cells)]
    indices = [np.arange(size) for size in sizes]
    split = sweep.layout
    positions = np.arange(chunk * split.chunk_size, (chunk + 1) * split.chunk_size)
    indices[split.split] = np.where(positions < split.length, positions, -1)
    return indices[0], indices[1]


def _cell_writers(sweep, directory: pathlib.Path | None) -> CellWriters | None:
    """The sweep's TensorBoard writers (`tensorboard`), on the writing process only; the
    folder's name is the sweep's."""
    if directory is None or not distributed.is_writer():
        return None
    name = pathlib.Path(directory).name
    axes = sweep.grid.ordered_axes
    coordinates = [
        _product({k: axes[k] for k in names})
        for names in (sweep.grid.data_axes, sweep.grid.model_axes)
    ]
    return CellWriters(directory, name, *coordinates)


def _product(axes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The Cartesian product of ``axes`` in C order (the cell block's order), original dtypes."""
    if not axes:
        return {}
    grids = np.meshgrid(*axes.values(), indexing="ij")
    return {name: grid.reshape(-1) for name, grid in zip(axes, grids, strict=True)}


def _restored_text(sweep, resume, loaded: int) -> str | None:
    """What a resumed sweep took from its checkpoint, or None when it starts afresh."""
    if resume is None and not loaded:
        return None
    parts = []
    if loaded:
        parts.append(
            f"{loaded} finished chunk{'s' if loaded != 1 else ''} of {sweep.layout.num_chunks}"
        )
    if resume is not None:
        parts.append(
            f"chunk {resume[0] + 1} of {sweep.layout.num_chunks} at step {resume[1]} of "
            f"{sweep.num_steps}"
        )
    return ", ".join(parts)


def _notice(progress, hook: str, text: str | None) -> None:
    if text is not None and isinstance(progress, progress_lib.Notices):
        getattr(progress, hook)(text)


def run_sweep(
    sweep,
    *,
    progress: Callable[[int, int, float], None] | None = None,
    checkpoint_dir: pathlib.Path | None = None,
    metrics_dir: pathlib.Path | None = None,
) -> SweepResult:
    """Runs every chunk and segment of a sweep; returns the histories labelled by the axes.

    Args:
      sweep: a `sweep.CompiledSweep`.
      progress: called after each segment (e.g. `print_progress`); None for silence.
      checkpoint_dir: this sweep's checkpoint directory: resume from it if it holds a state,
        save to it at segment boundaries; None for no checkpoints.
      metrics_dir: this sweep's TensorBoard folder: every segment's scalar metrics per cell
        (`tensorboard`); None for none.

    Returns:
      A `SweepResult` whose metrics have shape ``[*axis sizes, num_logged, ...]``
      and whose ``diverged_at`` flags the cells frozen for non-finite values.

    Raises:
      Preempted: if a stop was requested (after saving the state when checkpointing).
      ValueError: if ``checkpoint_dir`` holds a checkpoint of another sweep or cell layout.
    """
    store = None
    resume = None
    if checkpoint_dir is not None:
        manifest = {**sweep.manifest(), "config_sha256": sweep.execution.config_sha256}
        store = checkpoint.SweepCheckpoint(checkpoint_dir, manifest, sweep.num_steps)
        resume = store.restore(_saved_shape(sweep))
    total = sweep.layout.num_chunks * sweep.num_steps
    started = time.perf_counter()
    shared = sweep.device_shared()
    writers = _cell_writers(sweep, metrics_dir)
    loaded = [
        store.load_chunk(c) if store is not None else None for c in range(sweep.layout.num_chunks)
    ]
    _notice(progress, "restored", _restored_text(sweep, resume, sum(o is not None for o in loaded)))
    compiling = True
    chunks = []
    try:
        for chunk, outcome in enumerate(loaded):
            if outcome is None:
                offset = chunk * sweep.num_steps
                indices = _chunk_indices(sweep, chunk)

                def report(done: int, metrics, offset: int = offset, indices=indices) -> None:
                    if writers is not None:
                        writers.write(done, metrics, *indices)
                    if progress is not None:
                        progress(offset + done, total, time.perf_counter() - started)

                state = resume[1:] if resume is not None and resume[0] == chunk else None
                if compiling:
                    _notice(progress, "compiling", _grid_text(sweep))
                    compiling = False
                outcome = _run_chunk(sweep, chunk, state, store, report, shared)
            chunks.append(outcome)
    finally:
        if writers is not None:
            writers.close()
        if isinstance(progress, progress_lib.Notices):
            progress.close()
    if store is not None:
        store.drop_state()
    return _assemble(sweep, chunks)


def _grid_text(sweep) -> str:
    sizes = {name: len(values) for name, values in sweep.grid.ordered_axes.items()}
    return progress_lib.grid_summary(
        sizes, sweep.num_steps, sweep.log_every, sweep.layout.num_chunks
    )
