"""Checkpoints of a running sweep: resume after a crash, a preemption or SIGTERM.

A sweep's checkpoint directory holds

* ``sweep.json``: the manifest (grid axes, step counts, cell layout); a resume under a
  different manifest is refused, naming what differs;
* ``chunk_<i>.npz``: the results of every finished chunk of cells (written atomically);
* ``state/``: an orbax checkpoint of the chunk in progress at its last saved segment boundary:
  the training states, the last logged metrics, the divergence steps and the metric history so
  far. Orbax commits a step by an atomic rename, so a kill mid-save leaves the previous one.

The data is not saved: it is rebuilt from the cells on resume, by the same compiled program,
so a resumed sweep equals an uninterrupted one bit for bit (with the same device count).
"""

from __future__ import annotations

import io
import json
import pathlib
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from pruning_theory.engine import distributed
from pruning_theory.workdir import atomic_write, write_json

MANIFEST = "sweep.json"


def _is_key(x: Any) -> bool:
    return jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _storable(tree: Any) -> Any:
    """PRNG key arrays as their raw bits: orbax stores plain arrays."""
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _abstract_storable(abstract: Any) -> Any:
    def convert(x):
        if not _is_key(x):
            return x
        shape = jax.eval_shape(jax.random.key_data, x)
        return jax.ShapeDtypeStruct(shape.shape, shape.dtype, sharding=x.sharding)

    return jax.tree.map(convert, abstract)


def _restore_keys(abstract: Any, tree: Any) -> Any:
    def restore(a, x):
        if not _is_key(a):
            return x
        # The key implementation is a property of the dtype; a zero key reads it publicly.
        return jax.random.wrap_key_data(x, impl=jax.random.key_impl(jnp.zeros((), a.dtype)))

    return jax.tree.map(restore, abstract, tree)


def manifest_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``key: saved -> current`` for every top-level key whose value differs."""
    keys = sorted(set(saved) | set(current))
    return [
        f"{k}: {saved.get(k)!r} -> {current.get(k)!r}"
        for k in keys
        if saved.get(k) != current.get(k)
    ]


class SweepCheckpoint:
    """The checkpoint directory of one sweep.

    Args:
      directory: the sweep's own directory (created).
      manifest: JSON-able description of the sweep; must equal the saved one to resume.
      num_steps: steps per cell, to number orbax steps as ``chunk * num_steps + step``.

    Raises:
      ValueError: if the directory holds a checkpoint of a different sweep or cell layout.
    """

    def __init__(self, directory: pathlib.Path, manifest: Mapping[str, Any], num_steps: int):
        self.directory = pathlib.Path(directory)
        self.num_steps = num_steps
        manifest = json.loads(json.dumps(manifest))
        path = self.directory / MANIFEST
        if path.exists():
            differences = manifest_differences(json.loads(path.read_text()), manifest)
            if differences:
                raise ValueError(
                    f"checkpoint {str(self.directory)!r} was written by a different sweep or "
                    f"cell layout ({'; '.join(differences)}); rerun with the same config, device "
                    "count and memory budget, or pass --overwrite to start afresh"
                )
        elif distributed.is_writer():
            write_json(path, manifest)
        distributed.barrier(f"manifest {self.directory}")
        self._manager = ocp.CheckpointManager(
            (self.directory / "state").absolute(),
            options=ocp.CheckpointManagerOptions(
                max_to_keep=1, create=True, enable_async_checkpointing=False
            ),
        )

    def _chunk_path(self, chunk: int) -> pathlib.Path:
        return self.directory / f"chunk_{chunk:05d}.npz"

    def load_chunk(self, chunk: int) -> dict[str, dict[str, np.ndarray]] | None:
        """The saved results of a finished chunk, or None."""
        path = self._chunk_path(chunk)
        if not path.exists():
            return None
        with np.load(path) as npz:
            groups: dict[str, dict[str, np.ndarray]] = {}
            for key in npz.files:
                group, name = key.split("/", 1)
                groups.setdefault(group, {})[name] = npz[key]
        return groups

    def save_chunk(self, chunk: int, groups: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """Saves a finished chunk's results (``group -> name -> array``), atomically."""
        if distributed.is_writer():
            arrays = {
                f"{g}/{k}": np.asarray(v) for g, items in groups.items() for k, v in items.items()
            }
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            atomic_write(self._chunk_path(chunk), buffer.getvalue())
        distributed.barrier(f"chunk {self.directory} {chunk}")

    def save(self, chunk: int, step: int, tree: Any) -> None:
        """Saves the state of ``chunk`` after ``step`` steps (0 < step < num_steps)."""
        self._manager.save(
            chunk * self.num_steps + step, args=ocp.args.StandardSave(_storable(tree))
        )
        self._manager.wait_until_finished()

    def restore(self, abstract: Any) -> tuple[int, int, Any] | None:
        """``(chunk, step, tree)`` of the latest saved state, or None.

        Args:
          abstract: the tree's `jax.ShapeDtypeStruct`s, with the shardings to restore into.
        """
        latest = self._manager.latest_step()
        if latest is None:
            return None
        chunk, step = divmod(latest, self.num_steps)
        tree = self._manager.restore(
            latest, args=ocp.args.StandardRestore(_abstract_storable(abstract))
        )
        return chunk, step, _restore_keys(abstract, tree)

    def close(self) -> None:
        self._manager.close()

    def drop_state(self) -> None:
        """Deletes the in-progress state once every chunk is saved; keeps the chunks."""
        for step in self._manager.all_steps():
            self._manager.delete(step)
        self.close()
