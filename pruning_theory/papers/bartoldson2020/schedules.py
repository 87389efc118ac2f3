"""Iterative structured-pruning schedules as data (Bartoldson et al. 2020).

Bartoldson, Morcos, Barbu and Erlebacher (2020), "The Generalization-Stability Tradeoff in
Neural Network Pruning" (NeurIPS; arXiv 1906.03728), prune whole units of a few layers during
training. Layer ``l`` with ``F`` units, final pruning fraction ``p_l``, start epoch ``s_l``,
end epoch ``e_l`` and retrain period ``r`` is pruned at the end of the (0-based) epochs
``range(s_l, e_l + 1, r)`` (``N_l`` events). With ``K_final = ceil((1 - p_l) F)`` it keeps

    kept_i = ceil(K_final + (F - K_final) (N_l - i) / N_l)        after event i = 1 .. N_l,

so it ends with exactly ``K_final`` units (official code, ``models._prune_layer``). The
"iterative pruning rate" of a schedule is ``p_last / N_last``, the share of the last layer
removed per event. With ``align_end`` the events are counted back from the end epoch instead,
``e_l, e_l - r, ...`` down to ``s_l``, so that every retrain period prunes last at the same
epoch (docs/papers/bartoldson2020.md, "Schedule" and "CPU-scale protocol").

Everything here is host-side numpy: :func:`removal_table` turns a schedule into an integer
table ``[num_epochs, num_layers]`` of units removed at the end of each epoch, so that runs with
different retrain periods share shapes and a compiled program looks their counts up by index.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class LayerSchedule:
    """The pruning schedule of one prunable layer.

    Attributes:
      num_units: F, the layer's units (hidden units or conv filters).
      pruning_fraction: p_l in [0, 1), the fraction removed by the end.
      start_epoch: s_l, the 0-based epoch at whose end the first event happens.
      end_epoch: e_l, the last epoch an event may happen at.
      align_end: if True, events are at ``e_l, e_l - r, ...`` (>= s_l), so the last event is
        at ``e_l`` for every retrain period; if False (the official code), at
        ``s_l, s_l + r, ...`` (<= e_l).
    """

    num_units: int
    pruning_fraction: float
    start_epoch: int
    end_epoch: int
    align_end: bool = False


def validate_layer(layer: LayerSchedule, num_epochs: int) -> None:
    """Checks one layer's schedule against a training length.

    Raises:
      ValueError: naming the bad value (fraction outside [0, 1), start after end, an end past
        the last epoch, a non-positive unit count).
    """
    if layer.num_units < 1:
        raise ValueError(f"a prunable layer needs at least one unit, got {layer.num_units}")
    if not 0.0 <= layer.pruning_fraction < 1.0:
        raise ValueError(f"pruning fraction {layer.pruning_fraction} is outside [0, 1)")
    if layer.start_epoch < 0:
        raise ValueError(f"start epoch {layer.start_epoch} is negative")
    if layer.start_epoch > layer.end_epoch:
        raise ValueError(f"start epoch {layer.start_epoch} is after end epoch {layer.end_epoch}")
    if layer.end_epoch >= num_epochs:
        raise ValueError(
            f"end epoch {layer.end_epoch} is past the last epoch {num_epochs - 1} of training"
        )


def validate_retrain_period(retrain_period: int) -> None:
    """Raises ValueError naming a retrain period that is not an integer >= 1."""
    if retrain_period != int(retrain_period) or retrain_period < 1:
        raise ValueError(f"retrain period {retrain_period} is not an integer >= 1")


def final_kept(num_units: int, pruning_fraction: float) -> int:
    """K_final = ceil((1 - p) F), evaluated in float64 as the official code does."""
    return math.ceil((1 - pruning_fraction) * num_units)


def event_epochs(layer: LayerSchedule, retrain_period: int) -> range:
    """The 0-based epochs at whose end the layer is pruned.

    ``range(s, e + 1, r)`` as the official code; with ``layer.align_end`` the same number of
    events shifted to end at ``e``: ``range(e - r floor((e - s) / r), e + 1, r)``.
    """
    validate_retrain_period(retrain_period)
    period = int(retrain_period)
    first = layer.start_epoch
    if layer.align_end:
        first = layer.end_epoch - period * ((layer.end_epoch - layer.start_epoch) // period)
    return range(first, layer.end_epoch + 1, period)


def kept_after_events(num_units: int, pruning_fraction: float, num_events: int) -> np.ndarray:
    """Units kept after events 0 .. N: ``[F, kept_1, ..., kept_N = K_final]``.

    ``(F - K_final)(N - i)`` is an integer, so the ceiling is computed exactly in integers.
    """
    keep = final_kept(num_units, pruning_fraction)
    steps = np.arange(num_events + 1)
    return keep - (-((num_units - keep) * (num_events - steps)) // num_events)


def removal_table(
    layers: Sequence[LayerSchedule], retrain_period: int, num_epochs: int
) -> np.ndarray:
    """Units removed from each layer at the end of each epoch.

    Args:
      layers: the prunable layers' schedules, in forward order.
      retrain_period: r, epochs between events.
      num_epochs: training length.

    Returns:
      int32 ``[num_epochs, len(layers)]``; row ``e`` is removed after training epoch ``e``.

    Raises:
      ValueError: for a bad schedule (see `validate_layer`, `validate_retrain_period`).
    """
    table = np.zeros((num_epochs, len(layers)), np.int32)
    for index, layer in enumerate(layers):
        validate_layer(layer, num_epochs)
        epochs = event_epochs(layer, retrain_period)
        kept = kept_after_events(layer.num_units, layer.pruning_fraction, len(epochs))
        table[list(epochs), index] = -np.diff(kept)
    check_removals(table, [layer.num_units for layer in layers])
    return table


def scratch_removal(layers: Sequence[LayerSchedule]) -> np.ndarray:
    """Units removed at initialization by scratch pruning: ``F - K_final`` per layer."""
    return np.asarray(
        [layer.num_units - final_kept(layer.num_units, layer.pruning_fraction) for layer in layers],
        np.int32,
    )


def check_removals(table: np.ndarray, num_units: Sequence[int]) -> None:
    """Checks that no event removes a negative count or more units than are alive.

    Args:
      table: ``[num_epochs, num_layers]`` removal counts.
      num_units: F per layer.

    Raises:
      ValueError: naming the epoch, the layer and the counts of the first bad event.
    """
    table = np.asarray(table)
    alive = np.asarray(num_units, np.int64) - np.cumsum(table, axis=0)
    bad = np.argwhere((table < 0) | (alive < 0))
    if bad.size:
        epoch, layer = bad[0]
        before = int(alive[epoch, layer] + table[epoch, layer])
        raise ValueError(
            f"the event at epoch {epoch} would remove {int(table[epoch, layer])} units from "
            f"layer {layer}, which has {before} alive"
        )


def last_event_epoch(layers: Sequence[LayerSchedule], retrain_period: int) -> int:
    """The epoch at whose end the schedule's last event happens (over every layer)."""
    return max(event_epochs(layer, retrain_period)[-1] for layer in layers)


def pruning_epochs(table: np.ndarray) -> np.ndarray:
    """Boolean ``[num_epochs]``: epochs at whose end some layer loses a unit."""
    return np.asarray(table).sum(axis=-1) > 0


def iterative_pruning_rate(layers: Sequence[LayerSchedule], retrain_period: int) -> float:
    """p_last / N_last: the share of the last prunable layer removed per event."""
    last = layers[-1]
    return last.pruning_fraction / len(event_epochs(last, retrain_period))
