"""Claims of a paper checked on finished sweeps: statistics over seeds, verdict rules, and
split-half replication.

Statistics over seeds are Student-t intervals (seeds are i.i.d. replicates); a `Claim` is one
checked statement of a paper with its measured statistic, confidence interval, the theory's
value where one exists, and a verdict. Its ``kind`` sets it apart: a ``claim`` (a finding about
the paper, counted in every tally), a ``sanity`` check (true by construction; mechanics) or an
``exploratory`` row (a hypothesis formed after seeing data); only claims are counted.

`replicated_analysis` is what the runner evaluates once for every experiment:

* a seed holding a diverged cell in any sweep is dropped from every sweep
  (`drop_diverged_seeds`) and the claims say so (`diverged_note`, appended once to every
  statement and kept as a run-level note);
* ``analyze`` runs on all the remaining seeds, and with the same rule on two disjoint halves
  of them (`split_seeds`: a split fixed before any run, see `SPLIT_RULE`); every claim gets its
  halves' (verdict, statistic, CI) and a replication status (`replication_status`). Figures of
  the halves are discarded.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
from scipy import stats

from pruning_theory.engine.results import NOT_DIVERGED, SweepResult, format_value

Verdict = Literal["holds", "fails", "inconclusive"]
VERDICTS = ("holds", "fails", "inconclusive")
Kind = Literal["claim", "sanity", "exploratory"]
KINDS = ("claim", "sanity", "exploratory")
KIND_TITLES = {
    "claim": "Claims",
    "sanity": "Sanity checks (true by construction; not counted)",
    "exploratory": "Exploratory (hypotheses formed after seeing data; not counted)",
}
Replication = Literal["replicated", "not replicated", "partial", "n/a"]
REPLICATIONS = ("replicated", "not replicated", "partial", "n/a")
SEED_AXIS = "seed"
SPLIT_RULE = (
    "Split-half replication: half A is the first ceil(n/2) positions of each sweep's seed axis "
    "(n = its length in the grid), half B the rest; the split is fixed before the run, seeds "
    "with a diverged cell are then dropped within each half, and every claim is re-evaluated "
    "by the same rule on each half. replicated: both halves give the verdict of all seeds; "
    "not replicated: one half holds and the other fails; partial: otherwise; n/a: a half "
    "could not be analyzed. Sweeps without a seed axis enter both halves whole."
)


# ---------------------------------------------------------------- seed statistics and rules


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


def combine_verdicts(verdicts: Iterable[str]) -> Verdict:
    """The verdict of a claim checked at several cells (rates, sizes, settings).

    Fails if any cell fails, holds if every cell holds, inconclusive otherwise. An empty list
    is "inconclusive": nothing was checked, so there is no evidence either way (it never holds
    vacuously).
    """
    verdicts = list(verdicts)
    for verdict in verdicts:
        if verdict not in VERDICTS:
            raise ValueError(f"verdict {verdict!r} is not one of {VERDICTS}")
    if "fails" in verdicts:
        return "fails"
    return "holds" if verdicts and all(v == "holds" for v in verdicts) else "inconclusive"


class JointTest(NamedTuple):
    """The outcome of one test over a family of cells (`range_mean_test`, `family_test`).

    Attributes:
      verdict: the family's verdict.
      statistic: the reported mean (the range mean, or the reported cell's mean).
      ci: its 95% interval (infinite with fewer than two replicates).
      cell: the reported cell's index among the flattened cells, or None (range mean).
    """

    verdict: Verdict
    statistic: float
    ci: tuple[float, float]
    cell: int | None = None


def _by_replicate(values) -> np.ndarray:
    """``[replicate, ...cells]`` as ``[replicate, cells]`` (float64)."""
    values = np.asarray(values, dtype=np.float64)
    return values.reshape(values.shape[0], -1) if values.ndim else values.reshape(1, 1)


def range_mean_test(
    values, low: float = -math.inf, high: float = math.inf, confidence: float = 0.95
) -> JointTest:
    """One paired test over a range of cells: each replicate's mean over the cells.

    ``values`` is ``[replicate, ...cells]`` (e.g. per-seed paired differences at every size of
    a range). Averaging each replicate over the cells first turns the range into one value per
    replicate, so a single Student-t interval decides (no multiple comparisons); the verdict
    is `verdict_within` of that interval and ``[low, high]``: holds and fails need the same
    evidence. No cell or fewer than two replicates: an infinite interval, inconclusive.
    """
    values = _by_replicate(values)
    if values.size == 0:
        return JointTest("inconclusive", math.nan, (-math.inf, math.inf))
    mean, ci_low, ci_high = (float(x) for x in mean_ci(values.mean(axis=1), 0, confidence))
    return JointTest(verdict_within((ci_low, ci_high), low, high), mean, (ci_low, ci_high))


def family_test(values, low: float, high: float, confidence: float = 0.95) -> JointTest:
    """One test that the mean of EVERY cell lies in ``[low, high]``, family-wise error controlled.

    ``values`` is ``[replicate, ...cells]``. Holds if every cell's interval lies inside (an
    intersection-union test: each cell at level ``confidence``, no correction needed); fails
    if some cell's Bonferroni interval (level 1 - (1 - confidence) / cells) lies entirely
    outside; inconclusive otherwise, for no cell, or with fewer than two replicates. Either
    wrong verdict has probability at most 1 - ``confidence``.

    Returns:
      The verdict with the reported cell: a failing cell if any, else the cell whose interval
      reaches furthest outside ``[low, high]`` (or nearest to its edge).
    """
    values = _by_replicate(values)
    cells = values.shape[1]
    if values.size == 0:
        return JointTest("inconclusive", math.nan, (-math.inf, math.inf))
    means, lows, highs = mean_ci(values, 0, confidence)
    _, wide_lows, wide_highs = mean_ci(values, 0, 1 - (1 - confidence) / cells)
    failing = (wide_highs < low) | (wide_lows > high)
    if np.any(failing):
        verdict, cell = "fails", int(np.flatnonzero(failing)[0])
    else:
        inside = (lows >= low) & (highs <= high)
        verdict = "holds" if np.all(inside) else "inconclusive"
        cell = int(np.argmax(np.maximum(low - lows, highs - high)))
    return JointTest(verdict, float(means[cell]), (float(lows[cell]), float(highs[cell])), cell)


def format_number(value: float | None, spec: str = ".4g") -> str:
    """``value`` formatted by ``spec``; "-" for None (a non-finite number in claims.json)."""
    return "-" if value is None else format(value, spec)


def format_ci(ci: Sequence[float | None] | None, spec: str = ".4g") -> str:
    """A confidence interval as ``[low, high]`` (each bound by `format_number`); "-" for None."""
    if ci is None:
        return "-"
    return f"[{format_number(ci[0], spec)}, {format_number(ci[1], spec)}]"


# ------------------------------------------------------------------------------- claims


@dataclasses.dataclass(frozen=True)
class Half:
    """A claim re-evaluated on one half of the seeds: its verdict, statistic and CI."""

    verdict: Verdict
    statistic: float
    ci: tuple[float, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The half's verdict, statistic and CI as JSON values (non-finite -> None)."""
        return {
            "verdict": self.verdict,
            "statistic": _finite_or_none(self.statistic),
            "ci": _ci_or_none(self.ci),
        }


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
      kind: ``claim`` (counted), ``sanity`` (true by construction) or ``exploratory`` (formed
        after seeing data); only claims count in the tallies.
      halves: the claim on seed halves A and B (`split_seeds`; None: that half could not be
        analyzed); set by `attach_halves`, None before.
      replication: `replication_status` of the halves; set by `attach_halves`.
    """

    id: str
    statement: str
    verdict: Verdict
    statistic: float
    ci: tuple[float, float] | None = None
    theory: float | None = None
    kind: Kind = "claim"
    halves: tuple[Half | None, Half | None] | None = None
    replication: Replication | None = None

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")
        if self.kind not in KINDS:
            raise ValueError(f"claim kind {self.kind!r} is not one of {KINDS}")
        if self.replication is not None and self.replication not in REPLICATIONS:
            raise ValueError(f"replication {self.replication!r} is not one of {REPLICATIONS}")

    def as_dict(self) -> dict[str, Any]:
        """The claim as the JSON object of claims.json (non-finite numbers -> None)."""
        halves = None
        if self.halves is not None:
            halves = [None if half is None else half.as_dict() for half in self.halves]
        return {
            "id": self.id,
            "kind": self.kind,
            "statement": self.statement,
            "verdict": self.verdict,
            "statistic": _finite_or_none(self.statistic),
            "ci": _ci_or_none(self.ci),
            "theory": None if self.theory is None else _finite_or_none(self.theory),
            "halves": halves,
            "replication": self.replication,
        }


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _ci_or_none(ci: Sequence[float] | None) -> list[float | None] | None:
    return None if ci is None else [_finite_or_none(x) for x in ci]


def noted(claim: Claim, note: str) -> Claim:
    """The claim with ``note`` appended to its statement (unchanged for an empty note)."""
    return dataclasses.replace(claim, statement=claim.statement + note) if note else claim


# ------------------------------------------------------------- seeds: divergence and halves


def take_seeds(result: SweepResult, keep: np.ndarray, axis: str = SEED_AXIS) -> SweepResult:
    """``result`` restricted to the positions ``keep`` of its axis ``axis``."""
    position = result.axis(axis)
    take = lambda v: np.take(np.asarray(v), keep, axis=position)  # noqa: E731
    diverged = result.diverged_at
    return dataclasses.replace(
        result,
        axes={k: take(v) if k == axis else v for k, v in result.axes.items()},
        metrics={k: take(v) for k, v in result.metrics.items()},
        final={k: take(v) for k, v in result.final.items()},
        diverged_at=None if diverged is None else take(diverged),
    )


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
    return take_seeds(result, np.flatnonzero(~bad), axis), np.asarray(result.axes[axis])[bad]


def diverged_note(sweep: str, axis: str, dropped: np.ndarray) -> str:
    """The sentence a claim carries when replicates were dropped for divergence ("" if none)."""
    if not len(dropped):
        return ""
    values = ", ".join(format_value(v) for v in dropped)
    return (
        f" Excluded: {len(dropped)} {axis} value(s) [{values}] of sweep {sweep!r} with a cell "
        "whose state or metrics became NaN/Inf (frozen at divergence)."
    )


def drop_diverged_seeds(
    sweeps: Mapping[str, SweepResult],
) -> tuple[dict[str, SweepResult], list[str]]:
    """Drops every seed that holds a diverged cell in any sweep from every sweep.

    A seed value diverged in one sweep leaves every sweep with a seed axis (sweeps share seed
    values to pair their runs, e.g. a training sweep and its ODE, or methods and baselines
    started from the same initialization), so comparisons across sweeps stay paired.

    Returns:
      ``(the sweeps without those seeds, one `diverged_note` per sweep where seeds diverged,
      then, if other sweeps lost them too, one sentence saying so)``.
    """
    notes, bad, own = [], [], {}
    for name, result in sweeps.items():
        if SEED_AXIS in result.axes:
            _, dropped = drop_diverged(result, SEED_AXIS)
            own[name] = set(np.asarray(dropped).tolist())
            if len(dropped):
                notes.append(diverged_note(name, SEED_AXIS, dropped))
                bad += [v for v in np.asarray(dropped).tolist() if v not in bad]
    kept, also = {}, []
    for name, result in sweeps.items():
        if SEED_AXIS not in result.axes or not bad:
            kept[name] = result
            continue
        seeds = np.asarray(result.axes[SEED_AXIS])
        leave = np.isin(seeds, bad)
        kept[name] = take_seeds(result, np.flatnonzero(~leave)) if leave.any() else result
        if set(seeds[leave].tolist()) - own[name]:
            also.append(name)
    if also:
        values = ", ".join(format_value(v) for v in bad)
        notes.append(
            f" The same seed value(s) [{values}] are left out of sweep(s) "
            f"{', '.join(repr(n) for n in also)} too, so runs stay paired across sweeps."
        )
    return kept, notes


def split_seeds(sweeps: Mapping[str, SweepResult], half: int) -> dict[str, SweepResult]:
    """Half ``half`` (0: A, 1: B) of the seeds of every sweep, by `SPLIT_RULE`.

    Half A keeps the first ceil(n/2) positions of a sweep's seed axis, half B the rest; sweeps
    with no seed axis are kept whole. The split depends only on positions in the grid, never
    on measured values, so it is the same for every experiment and fixed before any run;
    sweeps that share their seed values (e.g. a sweep and its ODE companion) split alike.

    Raises:
      ValueError: for ``half`` not 0 or 1.
    """
    if half not in (0, 1):
        raise ValueError(f"half must be 0 (A) or 1 (B), got {half!r}")
    split = {}
    for name, result in sweeps.items():
        if SEED_AXIS not in result.axes:
            split[name] = result
            continue
        count = len(result.axes[SEED_AXIS])
        first = math.ceil(count / 2)
        positions = np.arange(first) if half == 0 else np.arange(first, count)
        split[name] = take_seeds(result, positions)
    return split


def _seeds(sweeps: Mapping[str, SweepResult]) -> dict[str, list[Any]]:
    return {
        name: [np.asarray(v).item() for v in result.axes[SEED_AXIS]]
        for name, result in sweeps.items()
        if SEED_AXIS in result.axes
    }


def _emptied(sweeps: Mapping[str, SweepResult]) -> list[str]:
    """The sweeps with a seed axis and no seed left."""
    return [name for name, seeds in _seeds(sweeps).items() if not seeds]


# ---------------------------------------------------------------------------- replication


def replication_status(verdict: Verdict, halves: Sequence[Half | None] | None) -> Replication:
    """How a verdict on all seeds replicates on the two halves (`SPLIT_RULE`).

    ``replicated`` when both halves give ``verdict``; ``not replicated`` when the halves
    disagree in direction (one holds, the other fails); ``partial`` otherwise (e.g. a half is
    inconclusive); ``n/a`` when a half could not be analyzed.
    """
    if halves is None or len(halves) != 2 or any(half is None for half in halves):
        return "n/a"
    first, second = (half.verdict for half in halves)
    if first == second == verdict:
        return "replicated"
    if {first, second} == {"holds", "fails"}:
        return "not replicated"
    return "partial"


def _keyed(claims: Sequence[Claim]) -> dict[tuple[str, int], Claim]:
    """Claims by (id, occurrence), so a repeated id is matched in order."""
    seen: dict[str, int] = {}
    keyed = {}
    for claim in claims:
        occurrence = seen.get(claim.id, 0)
        seen[claim.id] = occurrence + 1
        keyed[(claim.id, occurrence)] = claim
    return keyed


def attach_halves(
    claims: Sequence[Claim], half_claims: Sequence[Sequence[Claim] | None]
) -> list[Claim]:
    """Every claim with its halves' results (matched by id) and its `replication_status`.

    Args:
      claims: the claims on all seeds.
      half_claims: the claims on half A and on half B; None for a half that could not be
        analyzed (its results are then None and the status ``n/a``).
    """
    keyed_halves = [None if half is None else _keyed(half) for half in half_claims]
    attached = []
    for key, claim in _keyed(claims).items():
        halves = []
        for keyed in keyed_halves:
            match = None if keyed is None else keyed.get(key)
            halves.append(None if match is None else Half(match.verdict, match.statistic, match.ci))
        halves = tuple(halves)
        attached.append(
            dataclasses.replace(
                claim, halves=halves, replication=replication_status(claim.verdict, halves)
            )
        )
    return attached


class Analysis(NamedTuple):
    """What `replicated_analysis` returns.

    Attributes:
      claims: the claims on all seeds, with halves and replication attached and the
        divergence notes appended to every statement.
      figures: the figures on all seeds (the halves' are discarded).
      notes: run-level notes (seeds dropped for divergence), for ``claims.json``.
      split: ``{"rule": SPLIT_RULE, "halves": [{"name", "seeds", "available", "reason"}] x 2}``.
    """

    claims: list[Claim]
    figures: dict[str, Any]
    notes: list[str]
    split: dict[str, Any]


def all_diverged_claims(emptied: Sequence[str]) -> list[Claim]:
    """The one claim a run gets when divergence left a sweep without seeds: nothing to
    analyze."""
    names = ", ".join(repr(name) for name in emptied)
    statement = (
        f"No seed is left in sweep(s) {names}: every one of its seeds has a cell whose state or "
        "metrics became NaN/Inf in some sweep (see the notes), so no claim of the experiment "
        "could be checked (lower the learning rate or the step count, or change the grid)."
    )
    return [Claim("diverged", statement, "inconclusive", math.nan)]


def _analyze_half(analyze, config, sweeps, half: int, discard) -> tuple[list | None, dict]:
    """The claims on one half (None when it cannot be analyzed) and a description of it."""
    kept, _ = drop_diverged_seeds(split_seeds(sweeps, half))
    info = {"name": "AB"[half], "seeds": _seeds(kept), "available": False, "reason": None}
    emptied = _emptied(kept)
    if emptied:
        info["reason"] = f"no seed left in sweep(s) {', '.join(emptied)}"
        return None, info
    try:
        claims, figures = analyze(config, kept)
    except Exception as error:  # noqa: BLE001 - a half too small to analyze is recorded
        info["reason"] = f"analyze raised {type(error).__name__}: {error}"
        return None, info
    discard(figures)
    info["available"] = True
    return list(claims), info


def replicated_analysis(
    analyze: Callable[[Any, Mapping[str, SweepResult]], tuple[Sequence[Claim], dict]],
    config: Any,
    sweeps: Mapping[str, SweepResult],
    discard: Callable[[dict[str, Any]], None] = lambda figures: None,
) -> Analysis:
    """Drops diverged seeds, analyzes all seeds and each half of them, attaches the halves.

    Args:
      analyze: an experiment's ``analyze(config, sweeps) -> (claims, figures)``.
      config: its config.
      sweeps: the finished sweeps, diverged cells included.
      discard: called with each half's figures (e.g. to close them).

    Returns:
      The `Analysis`. If every seed of a sweep diverged, ``analyze`` is not called and the
      claims are `all_diverged_claims`. A half whose ``analyze`` raises (e.g. too few seeds)
      is recorded as unavailable with the reason, never a crash.
    """
    kept, notes = drop_diverged_seeds(sweeps)
    note = "".join(notes)
    emptied = _emptied(kept)
    if emptied:
        claims = all_diverged_claims(emptied)
        unavailable = {"seeds": {}, "available": False, "reason": "every seed diverged"}
        halves = [{"name": name, **unavailable} for name in "AB"]
        split = {"rule": SPLIT_RULE, "halves": halves}
        return Analysis(attach_halves(claims, [None, None]), {}, _strip(notes), split)
    claims, figures = analyze(config, kept)
    results = [_analyze_half(analyze, config, sweeps, half, discard) for half in (0, 1)]
    claims = attach_halves([noted(c, note) for c in claims], [r[0] for r in results])
    split = {"rule": SPLIT_RULE, "halves": [r[1] for r in results]}
    return Analysis(claims, dict(figures), _strip(notes), split)


def _strip(notes: Sequence[str]) -> list[str]:
    return [note.strip() for note in notes if note.strip()]


# ------------------------------------------------------------------ claims.json, claims.md


def _tally(claims: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    def ids(*statuses):
        return [c["id"] for c in claims if c.get("replication") in statuses]

    replicated = [c for c in claims if c.get("replication") == "replicated"]
    return {
        "count": len(claims),
        **{v: sum(c["verdict"] == v for c in claims) for v in VERDICTS},
        "replicated": {v: sum(c["verdict"] == v for c in replicated) for v in VERDICTS},
        "not_replicated": ids("not replicated"),
        "partial": ids("partial"),
        "unavailable": ids(None, "n/a"),
    }


def summarize(claims: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Tallies per kind of the claims of a claims document (only ``claim`` counts as a
    finding): ``count``, the count of each verdict, ``replicated`` (the count of each verdict
    that replicated), and the ids ``not_replicated``, ``partial`` and ``unavailable`` (no
    halves)."""
    return {kind: _tally([c for c in claims if c.get("kind", "claim") == kind]) for kind in KINDS}


def tally_text(tally: Mapping[str, Any]) -> str:
    """One kind's tally (`summarize`) in words: ``3 holds (2 replicated), ...``."""
    text = ", ".join(f"{tally[v]} {v} ({tally['replicated'][v]} replicated)" for v in VERDICTS)
    if tally["not_replicated"]:
        text += f"; not replicated: {', '.join(tally['not_replicated'])}"
    return text


def claims_document(
    experiment: str,
    config: str,
    claims: Sequence[Claim],
    notes: Sequence[str] = (),
    split: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of ``claims.json``: the claims with their tallies (`summarize`), run-level
    notes and the split-half description (`Analysis.split`)."""
    rows = [claim.as_dict() for claim in claims]
    return {
        "experiment": experiment,
        "config": config,
        "summary": summarize(rows),
        "notes": list(notes),
        "split": None if split is None else dict(split),
        "claims": rows,
    }


def half_text(half: Mapping[str, Any] | None) -> str:
    """One half's result for a table cell: ``holds 0.52 [0.4, 0.6]``, or ``n/a``."""
    if half is None:
        return "n/a"
    parts = [half["verdict"]]
    if half["statistic"] is not None:
        parts.append(format_number(half["statistic"]))
    if half["ci"] is not None:
        parts.append(format_ci(half["ci"]))
    return " ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(
    claims: Sequence[Mapping[str, Any]],
    verdict: Callable[[str], str] = str,
    statement: Callable[[str], str] = str,
    replication: Callable[[str], str] = str,
) -> list[str]:
    """Claims (dicts of a claims document) as markdown table lines, halves beside the whole.

    ``verdict``, ``statement`` and ``replication`` format those cells (e.g. bold, or a brief
    statement).
    """
    lines = [
        "| id | verdict | replication | statistic | 95% CI | half A | half B | theory "
        "| statement |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for claim in claims:
        halves = claim.get("halves") or [None, None]
        status = replication(claim.get("replication") or "-")
        lines.append(
            f"| {claim['id']} | {verdict(claim['verdict'])} | {status} | "
            f"{format_number(claim['statistic'])} | {format_ci(claim['ci'])} | "
            f"{half_text(halves[0])} | {half_text(halves[1])} | "
            f"{format_number(claim['theory'])} | {_cell(statement(claim['statement']))} |"
        )
    return lines


def split_text(split: Mapping[str, Any] | None, with_rule: bool = True) -> list[str]:
    """The split-half rule (unless ``with_rule`` is false) and each half's seeds (or why it
    is unavailable), as lines."""
    if split is None:
        return ["No split-half replication was recorded for this run."]
    lines = [split["rule"]] if with_rule else []
    for half in split["halves"]:
        seeds = "; ".join(f"{name}: {values}" for name, values in half["seeds"].items())
        state = "analyzed" if half["available"] else f"unavailable ({half['reason']})"
        lines.append(f"Half {half['name']}: {state}; seeds {seeds or '-'}.")
    return lines


def kind_sections(claims: Sequence[Mapping[str, Any]], **table_options) -> list[str]:
    """One titled `markdown_table` per kind (`KIND_TITLES`), each preceded by a blank line;
    the claims table always, sanity checks and exploratory rows where there are any."""
    lines = []
    for kind in KINDS:
        of_kind = [c for c in claims if c.get("kind", "claim") == kind]
        if of_kind or kind == "claim":
            lines += ["", f"{KIND_TITLES[kind]}:", "", *markdown_table(of_kind, **table_options)]
    return lines


def claims_markdown(document: Mapping[str, Any]) -> str:
    """A claims document as markdown: the tallies, the claims table (halves beside the whole),
    sanity checks and exploratory rows in their own labelled tables, notes and the split."""
    claims = document["claims"]
    summary = summarize(claims)
    lines = [
        f"Claims of {document['experiment']} ({document['config']}): "
        f"{tally_text(summary['claim'])}",
        *kind_sections(claims),
    ]
    for note in document.get("notes") or []:
        lines += ["", f"Note: {note}"]
    lines += ["", *split_text(document.get("split"))]
    return "\n".join(lines) + "\n"
