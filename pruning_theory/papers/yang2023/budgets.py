"""Step-budget groups: a sweep over pruning rates run as a few sweeps of rates with like budgets.

docs/papers/yang2023.md, "Training" and "Calibration": a cell at rate p takes T / (1 - p) GD
steps (capped), and under vmap every cell of a sweep pays for the longest budget of the grid.
A cell whose budget is spent is frozen (its GD step is zero), so from then on its logged
metrics equal its last logged ones exactly. A sweep is therefore run as up to `MAX_GROUPS`
sweeps of rates (`rate_groups`), each only as many segments as its longest budget needs, at
the log interval of the whole grid; `merge_groups` pads each group's histories with their last
logged value and puts the rates back in grid order. The result is what the whole grid would
have logged (up to the float rounding of a different batch), for a fraction of the cost: the
cpu grid's 14 rates x 20 segments become 7 x 2 + 4 x 10 + 3 x 20.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import ml_collections
import numpy as np

from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.yang2023 import program

MAX_GROUPS = 3
# What one more compile costs, in cell-steps of span GD on a CPU (~10 s vs ~10 us a step).
COMPILE_CELL_STEPS = 1_000_000


def segments_per_rate(config: ml_collections.ConfigDict) -> np.ndarray:
    """[R] segments of the grid's log interval that each rate's step budget needs."""
    _, log_every = program.num_engine_steps(config)
    rates = np.asarray(config.grid.pruning_rate, dtype=float)
    budgets = [float(program.step_budget({"pruning_rate": rate}, config.train)) for rate in rates]
    return np.asarray([max(1, math.ceil(b / log_every)) for b in budgets])


def rate_groups(config: ml_collections.ConfigDict) -> list:
    """Indices of the grid's rates in groups that minimize the estimated cost of the sweep.

    A group runs as many segments as its longest budget and costs one compile; the groups are
    contiguous in the order of the budgets, and the split minimizing seeds x cell-steps +
    `COMPILE_CELL_STEPS` x groups over at most `MAX_GROUPS` groups is taken (ties: fewer
    groups). Only the cost depends on this choice, never a result. Every index appears once.
    """
    segments = segments_per_rate(config)
    _, log_every = program.num_engine_steps(config)
    per_segment = len(config.grid.seed) * log_every
    order = np.argsort(segments, kind="stable")
    ordered = segments[order]
    best, best_cost = None, math.inf
    for count in range(1, min(MAX_GROUPS, ordered.size) + 1):
        for cuts in itertools.combinations(range(1, ordered.size), count - 1):
            bounds = (0, *cuts, ordered.size)
            steps = sum((b - a) * ordered[b - 1] for a, b in itertools.pairwise(bounds))
            cost = per_segment * steps + COMPILE_CELL_STEPS * count
            if cost < best_cost:
                best_cost = cost
                best = [order[a:b] for a, b in itertools.pairwise(bounds)]
    return [np.sort(group) for group in best]


def _pad_steps(values: np.ndarray, axis: int, length: int) -> np.ndarray:
    """``values`` extended along ``axis`` to ``length`` by repeating its last entry."""
    missing = length - values.shape[axis]
    if missing <= 0:
        return values
    last = np.take(values, [-1], axis=axis)
    return np.concatenate([values, np.repeat(last, missing, axis=axis)], axis=axis)


def merge_groups(
    parts: list[SweepResult], groups: list, rates: np.ndarray, steps: np.ndarray
) -> SweepResult:
    """One result of the whole grid from the groups' results.

    Args:
      parts: the result of each group, axes ``(seed, pruning_rate)``.
      groups: the grid indices of each group's rates (`rate_groups`).
      rates: [R] the grid's rates in grid order.
      steps: the logged steps of the whole grid.
    """
    head = parts[0]
    rate_axis, step_axis = head.axis("pruning_rate"), len(head.axes)
    inverse = np.argsort(np.concatenate(groups))

    def joined(arrays):
        return np.take(np.concatenate(arrays, axis=rate_axis), inverse, axis=rate_axis)

    metrics = {
        key: joined([_pad_steps(part.metrics[key], step_axis, steps.size) for part in parts])
        for key in head.metrics
    }
    diverged = None
    if all(part.diverged_at is not None for part in parts):
        diverged = joined([np.asarray(part.diverged_at) for part in parts])
    return dataclasses.replace(
        head,
        axes={**head.axes, "pruning_rate": np.asarray(rates)},
        steps=np.asarray(steps),
        metrics=metrics,
        final={key: joined([part.final[key] for part in parts]) for key in head.final},
        diverged_at=diverged,
    )
