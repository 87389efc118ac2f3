"""Claims of a paper checked on finished sweeps: statistics over seeds and verdict rules.

Statistics over seeds are Student-t intervals (seeds are i.i.d. replicates); a `Claim` is one
checked statement of a paper with its measured statistic, confidence interval, the theory's
value where one exists, and a verdict. `drop_diverged` removes the replicates holding diverged
cells before statistics, and `diverged_note` says so in the claims, so exclusions are visible,
never silent.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from scipy import stats

from pruning_theory.engine.results import NOT_DIVERGED, SweepResult, format_value

Verdict = Literal["holds", "fails", "inconclusive"]
VERDICTS = ("holds", "fails", "inconclusive")


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
    values = ", ".join(format_value(v) for v in dropped)
    return (
        f" Excluded: {len(dropped)} {axis} value(s) [{values}] of sweep {sweep!r} with a cell "
        "whose state or metrics became NaN/Inf (frozen at divergence)."
    )


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
