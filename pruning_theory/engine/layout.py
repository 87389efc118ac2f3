"""How a sweep's cells are laid out over a 1-D device mesh and in chunks that fit memory.

The engine's cells form a ``[data_cells, model_cells]`` block (`sweep`). One of its two axes,
the *split axis*, is sharded over the devices of a 1-D mesh and cut into chunks: the model axis
when it is at least as long as the data axis, else the data axis. Splitting the longer axis
keeps every device busy; when the data axis is split each device also builds only its own data,
and when the model axis is split the data is replicated (every device builds it, which costs
compute once per sweep and no communication).

The split axis is padded to a whole number of equal chunks, each a multiple of the device count,
by repeating its last cell; the padding cells are trained like any other and dropped from the
results. Equal chunks mean one compiled program for the whole sweep.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

MESH_AXIS = "cells"
DATA, MODEL = 0, 1


def cell_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh named ``cells`` over ``devices`` (default: every device of every process)."""
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("the cell mesh needs at least one device")
    return Mesh(np.asarray(devices), (MESH_AXIS,))


def split_axis(num_data_cells: int, num_model_cells: int) -> int:
    """`MODEL` when the model axis is at least as long as the data axis, else `DATA`."""
    return MODEL if num_model_cells >= num_data_cells else DATA


@dataclasses.dataclass(frozen=True)
class Layout:
    """The split axis of a ``[data_cells, model_cells]`` block, its devices and its chunks.

    Attributes:
      split: `DATA` or `MODEL`, the axis sharded over the devices and cut into chunks.
      length: cells along the split axis.
      num_devices: devices of the mesh.
      chunk_size: cells of the split axis per chunk, a positive multiple of ``num_devices``.
    """

    split: int
    length: int
    num_devices: int
    chunk_size: int

    def __post_init__(self):
        if self.chunk_size <= 0 or self.chunk_size % self.num_devices:
            raise ValueError(
                f"chunk size {self.chunk_size} is not a positive multiple of "
                f"{self.num_devices} devices"
            )

    @property
    def num_chunks(self) -> int:
        """Chunks the split axis is cut into."""
        return math.ceil(self.length / self.chunk_size)

    @property
    def padded_length(self) -> int:
        """Cells along the split axis with the padding: whole chunks."""
        return self.num_chunks * self.chunk_size

    def chunk_indices(self, chunk: int) -> np.ndarray:
        """Indices into the split axis of one chunk; padding repeats the last cell."""
        positions = np.arange(chunk * self.chunk_size, (chunk + 1) * self.chunk_size)
        return np.minimum(positions, self.length - 1)

    def spec(self, leading: int) -> PartitionSpec:
        """The spec of an array whose first ``leading`` dims are cell axes (1: data, 2: both)."""
        if self.split == DATA:
            return PartitionSpec(MESH_AXIS)
        return PartitionSpec(None, MESH_AXIS) if leading == 2 else PartitionSpec()

    def segment_specs(self):
        """shard_map specs of the segment's inputs (carry, data cells, model cells, step,
        phase, shared data) and outputs (carry, (metrics, final)); the carry is (data,
        states, last metrics, divergence steps); the shared data is replicated."""
        split = PartitionSpec(MESH_AXIS)
        data_spec, model_spec = (
            (split, PartitionSpec())
            if self.split == DATA
            else (
                PartitionSpec(),
                split,
            )
        )
        block = self.spec(2)
        carry = (self.spec(1), block, block, block)
        inputs = (carry, data_spec, model_spec, PartitionSpec(), PartitionSpec(), PartitionSpec())
        return inputs, (carry, (block, block))

    def chunk_cells(
        self,
        data_cells: Mapping[str, np.ndarray],
        model_cells: Mapping[str, np.ndarray],
        chunk: int,
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Host coordinates (data cells, model cells) of one chunk, the split axis padded."""
        indices = self.chunk_indices(chunk)
        take = lambda cells: {k: np.asarray(v)[indices] for k, v in cells.items()}  # noqa: E731
        if self.split == DATA:
            return take(data_cells), dict(model_cells)
        return dict(data_cells), take(model_cells)

    def to_dict(self) -> dict[str, int | str]:
        """The layout as JSON-ready fields (part of a checkpoint's manifest)."""
        return {
            "split": "data" if self.split == DATA else "model",
            "length": self.length,
            "num_devices": self.num_devices,
            "chunk_size": self.chunk_size,
            "num_chunks": self.num_chunks,
        }


def even_layout(split: int, length: int, num_devices: int, max_chunk_size: int) -> Layout:
    """The layout with the fewest equal chunks of at most ``max_chunk_size`` cells.

    Balancing the chunks keeps the padding below one chunk's worth of devices per chunk.
    """
    num_chunks = math.ceil(length / max_chunk_size)
    size = num_devices * math.ceil(math.ceil(length / num_chunks) / num_devices)
    return Layout(split, length, num_devices, size)


def chunk_size_for_budget(
    peak_bytes: Callable[[int], int], length: int, num_devices: int, budget_bytes: int
) -> int:
    """A chunk size (a multiple of the device count) whose peak memory fits the budget.

    Peak memory is close to affine in the chunk size; two measurements (all cells, one cell
    per device) give the line, and its estimate is checked and lowered until it fits (each
    check compiles once). All cells at once when they fit.

    Args:
      peak_bytes: chunk size -> peak bytes per device of the compiled program for it.
      length: cells along the split axis.
      num_devices: devices of the mesh.
      budget_bytes: what one device may use.

    Returns:
      The chunk size.

    Raises:
      ValueError: if even one cell per device does not fit, naming both numbers.
    """
    full = num_devices * math.ceil(length / num_devices)
    full_peak = peak_bytes(full)
    if full_peak <= budget_bytes:
        return full
    smallest_peak = peak_bytes(num_devices)
    if smallest_peak > budget_bytes:
        raise ValueError(
            f"memory budget {budget_bytes / 2**20:.3f} MiB is below the "
            f"{smallest_peak / 2**20:.3f} MiB per device of the smallest chunk (one cell of "
            "the split axis per device); raise the budget or use more devices"
        )
    slope = (full_peak - smallest_peak) / max(full - num_devices, 1)
    fits = num_devices + int((budget_bytes - smallest_peak) / max(slope, 1e-9))
    size = max(num_devices, min(full - num_devices, fits - fits % num_devices))
    while size > num_devices and peak_bytes(size) > budget_bytes:
        size -= num_devices
    return size


def named(mesh: Mesh, spec: PartitionSpec) -> NamedSharding:
    """The sharding of ``spec`` over ``mesh``."""
    return NamedSharding(mesh, spec)
