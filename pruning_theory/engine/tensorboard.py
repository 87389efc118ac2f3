"""Live metrics of a sweep in TensorBoard's event format, one run per cell, with hparams.

While a sweep runs, the driver hands every segment's metrics to `CellWriters`, which appends
each cell's scalar metrics (tag ``<metric>``, step = the logged training step) to that cell's
event file in ``<directory>/<cell>``, ``<cell>`` being the cell's coordinates
(``pruning_rate=0.5,seed=3``). Each cell's file starts with TensorBoard's hparams records
(the grid axes and the sweep's name), so TensorBoard's HParams tab filters the runs by pruning
rate, seed or any other axis:

    tensorboard --logdir <workdir>/tensorboard

The files are written with tensorboardX's synchronous `EventsWriter` (no TensorFlow, no
background thread per cell) and flushed after every segment. Metrics with dimensions beyond
the cell's (per-layer vectors) are not written; the saved sweep arrays hold them. Padding
cells are skipped. A resumed sweep appends new event files to the same cell folders.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Mapping, Sequence

import numpy as np
from tensorboardX import summary
from tensorboardX.event_file_writer import EventsWriter
from tensorboardX.proto import event_pb2

LOGDIR = "tensorboard"


def cell_name(coordinates: Mapping[str, float]) -> str:
    """A cell's folder: ``axis=value`` joined by commas, values in their shortest form."""
    return ",".join(f"{name}={_number(value)}" for name, value in coordinates.items())


def _number(value) -> str:
    value = np.asarray(value).item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def _allow_open_files(count: int) -> None:
    """Raises the soft limit of open files towards ``count`` (one file per cell stays open
    while its sweep runs), as far as the hard limit allows; best effort."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < count:
            target = count if hard == resource.RLIM_INFINITY else min(count, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ImportError, ValueError, OSError):
        pass


class CellWriters:
    """Event files of one sweep's cells in ``directory`` (`cell_name` folders).

    Args:
      directory: the sweep's log folder (``<workdir>/tensorboard/<sweep name>``).
      sweep_name: recorded as the string hparam ``sweep``.
      data_coordinates: axis -> values of every data cell, in the block's data order.
      model_coordinates: axis -> values of every model cell, in the block's model order.
    """

    def __init__(
        self,
        directory: pathlib.Path,
        sweep_name: str,
        data_coordinates: Mapping[str, np.ndarray],
        model_coordinates: Mapping[str, np.ndarray],
    ):
        self.directory = pathlib.Path(directory)
        self.sweep_name = sweep_name
        self.data = {k: np.asarray(v) for k, v in data_coordinates.items()}
        self.model = {k: np.asarray(v) for k, v in model_coordinates.items()}
        self._writers: dict[tuple[int, int], EventsWriter] = {}
        cells = max(len(v) for v in self.data.values()) if self.data else 1
        cells *= max(len(v) for v in self.model.values()) if self.model else 1
        _allow_open_files(cells + 256)

    def _coordinates(self, data: int, model: int) -> dict[str, float]:
        return {
            **{k: v[data].item() for k, v in self.data.items()},
            **{k: v[model].item() for k, v in self.model.items()},
        }

    def _writer(self, data: int, model: int, metrics: Sequence[str]) -> EventsWriter:
        key = (data, model)
        if key not in self._writers:
            coordinates = self._coordinates(data, model)
            folder = self.directory / cell_name(coordinates)
            folder.mkdir(parents=True, exist_ok=True)
            writer = EventsWriter(str(folder / "events"))
            hparams = {"sweep": self.sweep_name, **coordinates}
            for record in summary.hparams(hparams, {name: 0.0 for name in metrics}):
                writer.write_event(event_pb2.Event(wall_time=time.time(), summary=record))
            self._writers[key] = writer
        return self._writers[key]

    def write(
        self,
        step: int,
        metrics: Mapping[str, np.ndarray],
        data_index: np.ndarray,
        model_index: np.ndarray,
    ) -> None:
        """Appends one segment's scalar metrics of a chunk and flushes.

        Args:
          step: the logged training step.
          metrics: name -> ``[data, model, ...]`` arrays of the chunk.
          data_index: the chunk's data cells as indices into the whole block (-1: padding).
          model_index: the same for the model cells.
        """
        scalars = {k: np.asarray(v) for k, v in metrics.items() if np.ndim(v) == 2}
        now = time.time()
        for i, data in enumerate(data_index):
            for j, model in enumerate(model_index):
                if data < 0 or model < 0:
                    continue
                values = [
                    summary.scalar(name, float(value[i, j])) for name, value in scalars.items()
                ]
                merged = event_pb2.Event(wall_time=now, step=int(step))
                for record in values:
                    merged.summary.value.extend(record.value)
                self._writer(int(data), int(model), list(scalars)).write_event(merged)
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        """Flushes and closes every cell's event file."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
