"""Labelled sweep results, seed statistics, claims, and the work directory they are saved in.

A `SweepResult` holds metric histories shaped ``[*grid axis sizes, num_logged_steps, ...]``
with the axis values beside them. Statistics over seeds are Student-t intervals (seeds are
i.i.d. replicates); a `Claim` is one checked statement of a paper with its measured statistic,
confidence interval, the theory's value where one exists, and a verdict.

Every file is written atomically (temporary file + rename) and a finished work directory is
never overwritten unless the caller says so explicitly.

A cell whose training state or metrics became NaN or Inf is frozen by the engine and flagged in
``SweepResult.diverged_at``; `drop_diverged` removes the replicates holding such cells before
statistics, and `diverged_note` says so in the claims, so exclusions are visible, never silent.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import pathlib
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from scipy import stats

Verdict = Literal["holds", "fails", "inconclusive"]
VERDICTS = ("holds", "fails", "inconclusive")
FINISHED_MARKER = "claims.json"
SWEEPS_MARKER = "sweeps.json"
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
            writer.writerow([_format(x) for x in row])
        return out.getvalue()


def drop_diverged(result: SweepResult, axis: str) -> tuple[SweepResult, np.ndarray]:
    """Removes every value of ``axis`` (a replicate axis, e.g. ``seed``) with a diverged cell.

    Dropping whole replicates keeps comparisons paired and arrays rectangular: a seed that
    diverged at one pruning rate leaves every rate.

    Returns:
      ``(result without those values, the dropped values)``.
    """
    if result.diverged_at is None or not result.num_diverged:
        return result, np.asarray(result.axes[axis])[:0]
    position = result.axis(axis)
    other = tuple(i for i in range(len(result.axes)) if i != position)
    bad = np.any(np.asarray(result.diverged_at) != NOT_DIVERGED, axis=other)
    keep = np.flatnonzero(~bad)
    take = lambda v: np.take(v, keep, axis=position)  # noqa: E731
    kept = dataclasses.replace(
        result,
        axes={k: take(v) if k == axis else v for k, v in result.axes.items()},
        metrics={k: take(v) for k, v in result.metrics.items()},
        final={k: take(v) for k, v in result.final.items()},
        diverged_at=take(np.asarray(result.diverged_at)),
    )
    return kept, np.asarray(result.axes[axis])[bad]


def diverged_note(sweep: str, axis: str, dropped: np.ndarray) -> str:
    """The sentence a claim carries when replicates were dropped for divergence ("" if none)."""
    if not len(dropped):
        return ""
    values = ", ".join(_format(v) for v in dropped)
    return (
        f" Excluded: {len(dropped)} {axis} value(s) [{values}] of sweep {sweep!r} with a cell "
        "whose state or metrics became NaN/Inf (frozen at divergence)."
    )


def _format(value: Any) -> str:
    if isinstance(value, str):
        return value
    value = np.asarray(value).item()
    return repr(value) if isinstance(value, float) else str(value)


def mean_ci(values: np.ndarray, axis: int = 0, confidence: float = 0.95):
    """Mean and Student-t confidence interval over the replicates along ``axis``.

    Returns:
      ``(mean, low, high)`` arrays with ``axis`` reduced. With one replicate the interval is
      infinite rather than pretending to certainty.
    """
    values = np.asarray(values, dtype=np.float64)
    count = values.shape[axis]
    mean = values.mean(axis=axis)
    if count < 2:
        return mean, np.full_like(mean, -np.inf), np.full_like(mean, np.inf)
    sem = values.std(axis=axis, ddof=1) / math.sqrt(count)
    half = stats.t.ppf(0.5 + confidence / 2, df=count - 1) * sem
    return mean, mean - half, mean + half


def binomial_ci(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval for a binomial proportion."""
    result = stats.binomtest(int(successes), int(trials)).proportion_ci(confidence, "exact")
    return float(result.low), float(result.high)


def verdict_within(ci: Sequence[float], low: float, high: float) -> Verdict:
    """Holds if the CI lies inside [low, high], fails if it lies outside, else inconclusive."""
    lo, hi = ci
    if low <= lo and hi <= high:
        return "holds"
    if hi < low or lo > high:
        return "fails"
    return "inconclusive"


def verdict_above(ci: Sequence[float], threshold: float) -> Verdict:
    """Holds if the CI lies above ``threshold``, fails if below, else inconclusive."""
    return verdict_within(ci, threshold, math.inf)


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of a paper checked on a sweep.

    Attributes:
      id: the spec's id (``C1``, ``S2``, ...).
      statement: what is claimed and how it is measured, in one or two sentences.
      verdict: ``holds``, ``fails`` or ``inconclusive`` at this scale.
      statistic: the measured number the verdict is based on.
      ci: its 95% confidence interval over seeds, or None where none applies.
      theory: the theory's prediction of the statistic, or None.
    """

    id: str
    statement: str
    verdict: Verdict
    statistic: float
    ci: tuple[float, float] | None = None
    theory: float | None = None

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")

    def as_dict(self) -> dict[str, Any]:
        ci = None if self.ci is None else [_finite_or_none(x) for x in self.ci]
        theory = None if self.theory is None else _finite_or_none(self.theory)
        return {
            "id": self.id,
            "statement": self.statement,
            "verdict": self.verdict,
            "statistic": _finite_or_none(self.statistic),
            "ci": ci,
            "theory": theory,
        }


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def claims_document(experiment: str, config: str, claims: Sequence[Claim]) -> dict[str, Any]:
    """The content of ``claims.json``."""
    return {"experiment": experiment, "config": config, "claims": [c.as_dict() for c in claims]}


def claims_markdown(document: Mapping[str, Any]) -> str:
    """The claims of a ``claims.json`` document as a markdown table."""

    def number(x):
        return "-" if x is None else f"{x:.4g}"

    lines = [
        f"Claims of {document['experiment']} ({document['config']})",
        "",
        "| id | verdict | statistic | 95% CI | theory | statement |",
        "|---|---|---|---|---|---|",
    ]
    for claim in document["claims"]:
        ci = claim["ci"]
        ci_text = "-" if ci is None else f"[{number(ci[0])}, {number(ci[1])}]"
        lines.append(
            f"| {claim['id']} | {claim['verdict']} | {number(claim['statistic'])} | {ci_text}"
            f" | {number(claim['theory'])} | {claim['statement']} |"
        )
    return "\n".join(lines) + "\n"


def atomic_write(path: pathlib.Path, content: bytes) -> None:
    """Writes ``content`` to ``path`` via a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide results from other users
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: pathlib.Path, document: Any) -> None:
    atomic_write(path, (json.dumps(document, indent=2, default=_json_default) + "\n").encode())


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def prepare_workdir(
    directory: pathlib.Path, *, overwrite: bool = False, marker: str = FINISHED_MARKER
) -> pathlib.Path:
    """Creates a work directory, refusing to reuse a finished one unless ``overwrite``.

    Args:
      directory: the work directory.
      overwrite: allow replacing a finished one.
      marker: the file that marks a finished run (`SWEEPS_MARKER` for a grid shard's run).

    Raises:
      FileExistsError: naming the directory when it holds a finished sweep (its claims file)
        and ``overwrite`` is False.
      NotADirectoryError: when the path exists and is a file.
    """
    directory = pathlib.Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"workdir {str(directory)!r} exists and is not a directory")
    if (directory / marker).exists() and not overwrite:
        raise FileExistsError(
            f"workdir {str(directory)!r} holds a finished sweep ({marker}); "
            "choose another workdir or pass --overwrite to replace it"
        )
    directory.mkdir(parents=True, exist_ok=True)
    return directory
