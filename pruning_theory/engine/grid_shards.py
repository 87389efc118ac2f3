"""Grid shards: a sweep split into n independent batch jobs and merged back.

Shard ``i/n`` of a grid keeps the ``i``-th of ``n`` contiguous, near-equal slices of the values
of the grid's first axis in result order (its first data axis, e.g. ``seed``), so each shard is
still a product grid with the data shared as usual. A shard whose slice is empty (an axis shorter
than ``n``) has no cells of that sweep. Each shard's `SweepResult` records its slice
(``shard``), and `merge_results` puts the slices back together, refusing mismatched, missing or
duplicated cells.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pruning_theory.engine.results import SweepResult


def parse_grid_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)``.

    Raises:
      ValueError: naming the text unless it is ``i/n`` with integers ``0 <= i < n``.
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match or not int(match[1]) < int(match[2]):
        raise ValueError(f"grid shard {text!r} must be i/n with integers 0 <= i < n")
    return int(match[1]), int(match[2])


def validate_grid_shard(shard: tuple[int, int]) -> None:
    """Raises ValueError naming ``shard`` unless ``0 <= index < count``."""
    index, count = shard
    if not (int(index) == index and int(count) == count and 0 <= index < count):
        raise ValueError(f"grid shard {index}/{count} must have integers 0 <= i < n")


def shard_axes(
    axes: Mapping[str, np.ndarray], shard: tuple[int, int]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The axes of one shard and its record.

    Args:
      axes: the grid's axes in result order.
      shard: ``(index, count)``.

    Returns:
      ``(axes, record)``: the axes with the first one sliced (possibly empty), and the record
      ``{"axis", "values", "index", "count"}`` (``values``: the first axis of the whole grid).
    """
    validate_grid_shard(shard)
    index, count = shard
    name = next(iter(axes))
    values = np.asarray(axes[name])
    part = np.array_split(values, count)[index]
    record = {"axis": name, "values": values, "index": index, "count": count}
    return {**axes, name: part}, record


def merge_results(parts: Sequence[SweepResult], label: str = "sweep") -> SweepResult:
    """Concatenates the shards of one sweep along their sharded axis.

    Args:
      parts: one result per shard, each with its ``shard`` record, in any order.
      label: the sweep's name for error messages.

    Returns:
      The whole sweep's result, without a shard record.

    Raises:
      ValueError: naming the sweep and the problem, if a part has no shard record, the parts
        disagree on the other axes, steps, metrics or the whole axis, or shards are missing
        or duplicated.
    """
    if not parts:
        raise ValueError(f"{label}: no shards to merge")
    records = [part.shard for part in parts]
    if any(record is None for record in records):
        raise ValueError(f"{label}: a result without a grid shard record cannot be merged")
    first = records[0]
    name, count = first["axis"], int(first["count"])
    for record in records:
        if (
            record["axis"] != name
            or int(record["count"]) != count
            or not np.array_equal(record["values"], first["values"])
        ):
            raise ValueError(
                f"{label}: shards disagree on the sharded axis: {record['axis']!r} "
                f"{int(record['count'])} shards {list(record['values'])} vs {name!r} {count} "
                f"shards {list(first['values'])}"
            )
    indices = sorted(int(record["index"]) for record in records)
    duplicated = sorted({i for i in indices if indices.count(i) > 1})
    if duplicated:
        raise ValueError(f"{label}: duplicated grid shards {[f'{i}/{count}' for i in duplicated]}")
    missing = sorted(set(range(count)) - set(indices))
    if missing:
        raise ValueError(f"{label}: missing grid shards {[f'{i}/{count}' for i in missing]}")
    ordered = sorted(parts, key=lambda part: int(part.shard["index"]))
    reference = ordered[0]
    for part in ordered[1:]:
        _check_same_shape(label, reference, part, name)
    values = np.concatenate([np.asarray(part.axes[name]) for part in ordered])
    if not np.array_equal(values, first["values"]):
        raise ValueError(
            f"{label}: the shards' {name!r} values {list(values)} are not the grid's "
            f"{list(first['values'])}"
        )
    join = lambda group: {  # noqa: E731
        key: np.concatenate([getattr(part, group)[key] for part in ordered])
        for key in getattr(reference, group)
    }
    diverged = None
    if all(part.diverged_at is not None for part in ordered):
        diverged = np.concatenate([part.diverged_at for part in ordered])
    return SweepResult(
        axes={**reference.axes, name: np.asarray(first["values"])},
        steps=reference.steps,
        metrics=join("metrics"),
        final=join("final"),
        diverged_at=diverged,
    )


def _check_same_shape(label: str, a: SweepResult, b: SweepResult, name: str):
    other = lambda r: {k: np.asarray(v).tolist() for k, v in r.axes.items() if k != name}  # noqa: E731
    problems = []
    if list(a.axes) != list(b.axes) or other(a) != other(b):
        problems.append(f"axes {other(a)} vs {other(b)}")
    if not np.array_equal(a.steps, b.steps):
        problems.append(f"logged steps {list(a.steps)} vs {list(b.steps)}")
    for group in ("metrics", "final"):
        if sorted(getattr(a, group)) != sorted(getattr(b, group)):
            problems.append(f"{group} {sorted(getattr(a, group))} vs {sorted(getattr(b, group))}")
    if problems:
        raise ValueError(
            f"{label}: shards {a.shard['index']} and {b.shard['index']} differ: "
            + "; ".join(problems)
        )
