"""Sweeps over several processes (hosts) with JAX's own distributed runtime.

Every process runs the same host loop on a global device mesh (`layout.cell_mesh` over
``jax.devices()``). Each process feeds only the cells of its own devices (`global_array`), the
compiled program runs SPMD, and results are gathered to every process (`to_host`); process 0
alone writes files (`is_writer`). On one process every helper reduces to its single-host form.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Sharding


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Starts JAX's distributed runtime; call before any other JAX call.

    With no arguments JAX detects the cluster itself (TPU slices, SLURM, Open MPI). Otherwise
    all three must be given: ``host:port`` of process 0's coordinator, the number of processes
    and this process's id.

    Raises:
      ValueError: for a partial or inconsistent set of arguments, naming the values.
    """
    given = [v is not None for v in (coordinator_address, num_processes, process_id)]
    if any(given) and not all(given):
        raise ValueError(
            "coordinator_address, num_processes and process_id go together; got "
            f"{coordinator_address!r}, {num_processes!r}, {process_id!r}"
        )
    if num_processes is not None:
        if num_processes < 1:
            raise ValueError(f"num_processes must be positive, got {num_processes}")
        if not 0 <= process_id < num_processes:
            raise ValueError(f"process_id {process_id} is outside [0, {num_processes})")
    jax.distributed.initialize(coordinator_address, num_processes, process_id)


def is_writer() -> bool:
    """Whether this process writes files: process 0."""
    return jax.process_index() == 0


def global_array(values: np.ndarray, sharding: Sharding) -> jax.Array:
    """A global array from a host array every process holds; each feeds its own shards."""
    values = np.asarray(values)
    return jax.make_array_from_callback(values.shape, sharding, lambda index: values[index])


def to_host(tree: Any) -> Any:
    """Every array of ``tree`` as a whole numpy array on every process."""
    if jax.process_count() == 1:
        return jax.tree.map(np.asarray, jax.device_get(tree))
    return multihost_utils.process_allgather(tree, tiled=True)


def any_process(flag: bool) -> bool:
    """True on every process if ``flag`` is true on any (e.g. a stop request seen by one)."""
    if jax.process_count() == 1:
        return bool(flag)
    flags = multihost_utils.process_allgather(np.asarray([flag], dtype=np.int32))
    return bool(np.any(flags))


def barrier(name: str) -> None:
    """Waits until every process reaches the barrier ``name``."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)
