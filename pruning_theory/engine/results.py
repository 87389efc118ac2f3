"""Labelled sweep results: what the grid engine returns and saves.

A `SweepResult` holds metric histories shaped ``[*grid axis sizes, num_logged_steps, ...]``
with the axis values beside them. A cell whose training state or metrics became NaN or Inf is
frozen by the engine and flagged in ``SweepResult.diverged_at`` (`NOT_DIVERGED` elsewhere).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import pathlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from pruning_theory.workdir import atomic_write

NOT_DIVERGED = -1


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """Metric histories labelled by the grid axes.

    Attributes:
      axes: ordered mapping axis name -> values; the leading dims of every metric.
      steps: the logged training steps; the dim after the axes.
      metrics: name -> array ``[*axis sizes, len(steps), *metric shape]``.
      final: name -> array ``[*axis sizes, *metric shape]``, post-training metrics.
      diverged_at: ``[*axis sizes]`` ints: the logged step at which a cell's state or metrics
        were first seen non-finite (the engine froze it at its state of the previous logged
        step), `NOT_DIVERGED` (-1) for cells that stayed finite; None when not recorded.
      shard: for one grid shard of a sweep (`grid_shards`): ``{"axis", "values", "index",
        "count"}``, the sharded axis, its values in the whole grid, and which shard this is.
    """

    axes: Mapping[str, np.ndarray]
    steps: np.ndarray
    metrics: Mapping[str, np.ndarray]
    final: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    diverged_at: np.ndarray | None = None
    shard: Mapping[str, Any] | None = None

    @property
    def num_diverged(self) -> int:
        """How many cells diverged (0 when not recorded)."""
        if self.diverged_at is None:
            return 0
        return int(np.sum(np.asarray(self.diverged_at) != NOT_DIVERGED))

    def axis(self, name: str) -> int:
        """The position of a grid axis in every metric array."""
        return list(self.axes).index(name)

    def last(self, name: str) -> np.ndarray:
        """A post-training metric, or a logged one at the last logged step."""
        if name in self.final:
            return self.final[name]
        return self.metrics[name][(slice(None),) * len(self.axes) + (-1,)]

    def save(self, directory: pathlib.Path, prefix: str = "metrics") -> None:
        """Writes ``{prefix}.npz`` (all arrays with their axes) and ``{prefix}.csv`` (tidy)."""
        arrays = {f"metric/{k}": v for k, v in self.metrics.items()}
        arrays |= {f"final/{k}": v for k, v in self.final.items()}
        arrays |= {f"axis/{k}": np.asarray(v) for k, v in self.axes.items()}
        if self.diverged_at is not None:
            arrays["diverged_at"] = np.asarray(self.diverged_at)
        if self.shard is not None:
            arrays |= {f"shard/{k}": np.asarray(v) for k, v in self.shard.items()}
        buffer = io.BytesIO()
        np.savez_compressed(buffer, steps=self.steps, **arrays)
        atomic_write(directory / f"{prefix}.npz", buffer.getvalue())
        atomic_write(directory / f"{prefix}.csv", self.tidy_csv().encode())

    @classmethod
    def load(cls, directory: str | pathlib.Path, prefix: str = "metrics") -> SweepResult:
        """Reads ``{prefix}.npz`` written by `save` (axes, metrics, divergence, shard record)."""
        with np.load(pathlib.Path(directory) / f"{prefix}.npz") as npz:

            def group(tag: str) -> dict[str, np.ndarray]:
                prefix_length = len(tag) + 1
                return {k[prefix_length:]: npz[k] for k in npz.files if k.startswith(f"{tag}/")}

            shard = group("shard") or None
            if shard is not None:
                shard = {k: v.item() if v.ndim == 0 else v for k, v in shard.items()}
            diverged = npz["diverged_at"] if "diverged_at" in npz.files else None
            return cls(
                group("axis"), npz["steps"], group("metric"), group("final"), diverged, shard
            )

    def tidy_csv(self) -> str:
        """One row per (cell, logged step) with every scalar metric: pandas-ready.

        Post-training scalar metrics are given on the rows of the last logged step;
        ``diverged_at`` (where recorded) on every row.
        """
        num_axes = len(self.axes)
        scalar = {k: v for k, v in self.metrics.items() if v.ndim == num_axes + 1}
        final = {k: v for k, v in self.final.items() if v.ndim == num_axes}
        diverged = [] if self.diverged_at is None else ["diverged_at"]
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([*self.axes, "step", *scalar, *final, *diverged])
        sizes = [len(v) for v in self.axes.values()]
        for index in np.ndindex(*sizes, len(self.steps)):
            labels = [values[i] for values, i in zip(self.axes.values(), index, strict=False)]
            is_last = index[-1] == len(self.steps) - 1
            row = [*labels, self.steps[index[-1]], *(v[index] for v in scalar.values())]
            row += [v[index[:-1]] if is_last else "" for v in final.values()]
            row += [self.diverged_at[index[:-1]] for _ in diverged]
            writer.writerow([format_value(x) for x in row])
        return out.getvalue()


def format_value(value: Any) -> str:
    """A scalar as text: strings as they are, floats by ``repr`` (round-trip), others by ``str``."""
    if isinstance(value, str):
        return value
    value = np.asarray(value).item()
    return repr(value) if isinstance(value, float) else str(value)
