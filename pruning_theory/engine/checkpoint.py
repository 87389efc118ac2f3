"""Checkpoints of a running sweep: resume after a crash, a preemption or SIGTERM.

A sweep's checkpoint directory holds

* ``sweep.json``: the manifest (grid axes, step counts, cell layout); a resume under a
  different manifest is refused, naming what differs;
* ``chunk_<i>.npz``: the results of every finished chunk of cells (written atomically);
* ``state/``: an orbax checkpoint of the chunk in progress at its last saved segment boundary:
  the training states, the last logged metrics, the divergence steps and the metric history so
  far. Orbax commits a step by an atomic rename, so a kill mid-save leaves the previous one;
  the previous step is kept too (two steps).
* ``chunk_<i>.sha256.json`` / ``state_<step>.sha256.json``: the integrity records, the sha256
  of every file of a chunk or a saved step and of the manifest (which holds the run's config
  digest) it belongs to. A chunk's record is written before the chunk, a step's after orbax
  commits it: a step without a record is a torn save, dropped for the previous step. Loading
  verifies every digest; a mismatch raises `CheckpointError` naming the file and the way out,
  so a flipped, truncated or foreign file is never resumed into wrong numbers.

The data is not saved: it is rebuilt from the cells on resume, by the same compiled program,
so a resumed sweep equals an uninterrupted one bit for bit (with the same device count).
"""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
import sys
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from pruning_theory.engine import distributed
from pruning_theory.workdir import atomic_write, write_json

MANIFEST = "sweep.json"
RECORD_SUFFIX = ".sha256.json"
KEPT_STEPS = 2  # the latest step and the previous good one, for a torn save to fall back to


class CheckpointError(ValueError):
    """A checkpoint that must not be resumed: corrupt, truncated, torn or of another run."""


def sha256_file(path: pathlib.Path) -> str:
    """The hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(document: Any) -> str:
    """The digest of a JSON document, independent of key order."""
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


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
        self.manifest_sha256 = sha256_json(manifest)
        path = self.directory / MANIFEST
        if path.exists():
            differences = manifest_differences(self._read_json(path), manifest)
            if differences:
                raise CheckpointError(
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
                max_to_keep=KEPT_STEPS, create=True, enable_async_checkpointing=False
            ),
        )

    def _remedy(self, damaged_step: pathlib.Path | None = None) -> str:
        previous = (
            ""
            if damaged_step is None
            else f"delete {str(damaged_step)!r} to resume from the previous save, or "
        )
        return (
            f"{previous}delete {str(self.directory)!r} to recompute this sweep (the other "
            "sweeps' checkpoints are kept), or rerun with --overwrite to start the run afresh"
        )

    def _read_json(self, path: pathlib.Path) -> Any:
        try:
            return json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CheckpointError(
                f"checkpoint file {str(path)!r} is unreadable ({type(error).__name__}: "
                f"{error}); {self._remedy()}"
            ) from error

    def _read_record(self, path: pathlib.Path) -> dict[str, Any]:
        record = self._read_json(path)
        if not isinstance(record, dict) or record.get("manifest_sha256") != self.manifest_sha256:
            raise CheckpointError(
                f"checkpoint file {str(path)!r} belongs to another config or sweep (its "
                f"manifest digest differs from this run's); {self._remedy()}"
            )
        return record

    def _verify(self, path: pathlib.Path, expected: str, remedy: str | None = None) -> None:
        actual = sha256_file(path)
        if actual != expected:
            raise CheckpointError(
                f"checkpoint file {str(path)!r} is corrupt or truncated (sha256 {actual[:16]}, "
                f"recorded {str(expected)[:16]}); {remedy or self._remedy()}"
            )

    def _chunk_path(self, chunk: int) -> pathlib.Path:
        return self.directory / f"chunk_{chunk:05d}.npz"

    def load_chunk(self, chunk: int) -> dict[str, dict[str, np.ndarray]] | None:
        """The saved results of a finished chunk, or None."""
        path = self._chunk_path(chunk)
        if not path.exists():
            return None
        record_path = self._record_path(path)
        if not record_path.exists():
            raise CheckpointError(
                f"checkpoint file {str(path)!r} has no integrity record {record_path.name} "
                f"(written by an older version, or tampered with); {self._remedy()}"
            )
        self._verify(path, self._read_record(record_path).get("sha256"))
        try:
            with np.load(path) as npz:
                groups: dict[str, dict[str, np.ndarray]] = {}
                for key in npz.files:
                    group, name = key.split("/", 1)
                    groups.setdefault(group, {})[name] = npz[key]
        except Exception as error:  # a verified file that numpy still cannot read
            raise CheckpointError(
                f"checkpoint file {str(path)!r} is unreadable ({type(error).__name__}: "
                f"{error}); {self._remedy()}"
            ) from error
        return groups

    @staticmethod
    def _record_path(path: pathlib.Path) -> pathlib.Path:
        return path.with_name(path.name.split(".")[0] + RECORD_SUFFIX)

    def save_chunk(self, chunk: int, groups: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """Saves a finished chunk's results (``group -> name -> array``), atomically."""
        if distributed.is_writer():
            arrays = {
                f"{g}/{k}": np.asarray(v) for g, items in groups.items() for k, v in items.items()
            }
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            content = buffer.getvalue()
            path = self._chunk_path(chunk)
            # The record first: a kill between the two leaves a record without a chunk, which
            # is recomputed; a chunk is never there without the record that vouches for it.
            record = {
                "sha256": hashlib.sha256(content).hexdigest(),
                "manifest_sha256": self.manifest_sha256,
            }
            write_json(self._record_path(path), record)
            atomic_write(path, content)
        distributed.barrier(f"chunk {self.directory} {chunk}")

    def _state_record(self, step: int) -> pathlib.Path:
        return self.directory / f"state_{step:012d}{RECORD_SUFFIX}"

    def _step_files(self, step: int) -> dict[str, pathlib.Path]:
        root = self.directory / "state" / str(step)
        return {
            str(path.relative_to(root)): path for path in sorted(root.rglob("*")) if path.is_file()
        }

    def save(self, chunk: int, step: int, tree: Any) -> None:
        """Saves the state of ``chunk`` after ``step`` steps (0 < step < num_steps), then its
        integrity record; keeps the previous step for a torn save to fall back to."""
        number = chunk * self.num_steps + step
        self._manager.save(number, args=ocp.args.StandardSave(_storable(tree)))
        self._manager.wait_until_finished()
        if distributed.is_writer():
            files = {name: sha256_file(path) for name, path in self._step_files(number).items()}
            record = {"step": number, "files": files, "manifest_sha256": self.manifest_sha256}
            write_json(self._state_record(number), record)
            kept = set(self._manager.all_steps())
            for path in self.directory.glob(f"state_*{RECORD_SUFFIX}"):
                if int(path.name.split("_")[1].split(".")[0]) not in kept:
                    path.unlink(missing_ok=True)

    def _verify_step(self, step: int, has_previous: bool) -> bool:
        """Checks every file of a saved step against its record; False for a torn save.

        Raises:
          CheckpointError: naming the file, if one is missing, corrupt or truncated, or the step
            belongs to another run (with the previous save as a way out, if there is one).
        """
        record_path = self._state_record(step)
        if not record_path.exists():
            return False
        recorded = self._read_record(record_path).get("files") or {}
        files = self._step_files(step)
        root = self.directory / "state" / str(step)
        remedy = self._remedy(root if has_previous else None)
        missing, unrecorded = sorted(set(recorded) - set(files)), sorted(set(files) - set(recorded))
        if missing:
            raise CheckpointError(
                f"checkpoint file {str(root / missing[0])!r} is missing; {remedy}"
            )
        if unrecorded:
            raise CheckpointError(
                f"checkpoint file {str(root / unrecorded[0])!r} is not in its integrity record "
                f"{record_path.name}; {remedy}"
            )
        for name, path in files.items():
            self._verify(path, recorded[name], remedy)
        return True

    def _latest_verified_step(self) -> int | None:
        """The latest step whose files match its record; torn saves are dropped, with a note."""
        steps = sorted(self._manager.all_steps(), reverse=True)
        for index, step in enumerate(steps):
            if self._verify_step(step, has_previous=index + 1 < len(steps)):
                return step
            if distributed.is_writer():
                sys.stderr.write(
                    f"\nCheckpoint step {step} in {str(self.directory)!r} has no integrity "
                    "record (a save torn by a kill): dropped, resuming from the previous one.\n"
                )
            self._manager.delete(step)
        return None

    def restore(self, abstract: Any) -> tuple[int, int, Any] | None:
        """``(chunk, step, tree)`` of the latest verified saved state, or None.

        Args:
          abstract: the tree's `jax.ShapeDtypeStruct`s, with the shardings to restore into.

        Raises:
          CheckpointError: if the latest committed state is corrupt, truncated, of another run
            or unreadable (naming the file and the way out).
        """
        latest = self._latest_verified_step()
        if latest is None:
            return None
        chunk, step = divmod(latest, self.num_steps)
        try:
            tree = self._manager.restore(
                latest, args=ocp.args.StandardRestore(_abstract_storable(abstract))
            )
        except Exception as error:  # verified files that orbax still cannot read
            path = self.directory / "state" / str(latest)
            message = str(error).splitlines()[0] if str(error) else ""
            raise CheckpointError(
                f"checkpoint {str(path)!r} is unreadable ({type(error).__name__}: {message}); "
                f"{self._remedy()}"
            ) from error
        return chunk, step, _restore_keys(abstract, tree)

    def close(self) -> None:
        """Waits for pending saves and releases the checkpoint manager."""
        self._manager.close()

    def drop_state(self) -> None:
        """Deletes the in-progress state once every chunk is saved; keeps the chunks."""
        for step in self._manager.all_steps():
            self._manager.delete(step)
        if distributed.is_writer():
            for path in self.directory.glob(f"state_*{RECORD_SUFFIX}"):
                path.unlink(missing_ok=True)
        self.close()
