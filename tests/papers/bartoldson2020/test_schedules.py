"""Pruning schedules as data: the official formula on the paper's VGG numbers, bad schedules."""

import dataclasses
import math

import numpy as np
import pytest

from pruning_theory.papers.bartoldson2020 import schedules

# The paper's VGG11 schedule (official config F3_*): the last four convs, 512 filters each.
VGG_LAYERS = tuple(
    schedules.LayerSchedule(512, p, s, e)
    for p, s, e in zip((0.3, 0.3, 0.3, 0.9), (3, 4, 5, 6), (150, 150, 150, 275), strict=True)
)
VGG_EPOCHS = 325
PAPER_PERIODS = (4, 20, 40, 60, 100, 200, 300)


def official_kept(num_units: int, fraction: float, num_events: int, event: int) -> int:
    """models._prune_layer of the official code, in Python floats."""
    final = math.ceil((1 - fraction) * num_units)
    return math.ceil(final + (num_units - final) * (num_events - event) / num_events)


@pytest.mark.parametrize("period", PAPER_PERIODS)
def test_table_equals_the_official_formula_on_the_paper_vgg_schedule(period):
    table = schedules.removal_table(VGG_LAYERS, period, VGG_EPOCHS)
    assert table.shape == (VGG_EPOCHS, 4) and table.dtype == np.int32
    for column, layer in enumerate(VGG_LAYERS):
        epochs = list(range(layer.start_epoch, layer.end_epoch + 1, period))
        # At most 68 events share >= 153 units, so every event removes some.
        assert list(np.flatnonzero(table[:, column])) == epochs
        kept = 512 - np.cumsum(table[:, column])
        for i, epoch in enumerate(epochs, start=1):
            assert kept[epoch] == official_kept(512, layer.pruning_fraction, len(epochs), i)
        assert kept[-1] == math.ceil((1 - layer.pruning_fraction) * 512)
    np.testing.assert_array_equal(512 - table.sum(axis=0), [359, 359, 359, 52])


def test_iterative_pruning_rate_is_p_last_over_its_number_of_events():
    rates = [schedules.iterative_pruning_rate(VGG_LAYERS, r) for r in PAPER_PERIODS]
    # range(6, 276, r) has 68, 14, 7, 5, 3, 2, 1 events: the paper's ~1% ... 90% per event.
    np.testing.assert_allclose(rates, [0.9 / n for n in (68, 14, 7, 5, 3, 2, 1)])


def test_single_event_and_scratch_remove_the_whole_fraction_at_once():
    table = schedules.removal_table(VGG_LAYERS, 300, VGG_EPOCHS)
    np.testing.assert_array_equal(table[6], [0, 0, 0, 460])
    np.testing.assert_array_equal(schedules.scratch_removal(VGG_LAYERS), [153, 153, 153, 460])
    assert list(np.flatnonzero(schedules.pruning_epochs(table))) == [3, 4, 5, 6]


@pytest.mark.parametrize("period", PAPER_PERIODS)
def test_aligned_schedule_ends_every_period_at_the_end_epoch_with_the_official_counts(period):
    aligned = tuple(dataclasses.replace(layer, align_end=True) for layer in VGG_LAYERS)
    table = schedules.removal_table(aligned, period, VGG_EPOCHS)
    official = schedules.removal_table(VGG_LAYERS, period, VGG_EPOCHS)
    for column, layer in enumerate(aligned):
        epochs = np.flatnonzero(table[:, column])
        # As many events as the official schedule, the same removals, shifted to end at e.
        assert epochs[-1] == layer.end_epoch and epochs[0] >= layer.start_epoch
        assert len(epochs) == len(np.flatnonzero(official[:, column]))
        np.testing.assert_array_equal(
            table[epochs, column], official[official[:, column] > 0, column]
        )
        assert np.all(np.diff(epochs) == period)
    assert schedules.last_event_epoch(aligned, period) == 275
    assert schedules.iterative_pruning_rate(aligned, period) == pytest.approx(
        schedules.iterative_pruning_rate(VGG_LAYERS, period)
    )


def test_kept_counts_follow_the_ceiling_formula_exactly():
    kept = schedules.kept_after_events(10, 0.5, 3)
    # K = 5: ceil(5 + 5 * 2/3) = 9, ceil(5 + 5/3) = 7, then 5.
    np.testing.assert_array_equal(kept, [10, 9, 7, 5])


@pytest.mark.parametrize(
    "layer, message",
    [
        (schedules.LayerSchedule(8, 1.0, 0, 3), "pruning fraction 1.0 is outside"),
        (schedules.LayerSchedule(8, -0.1, 0, 3), "pruning fraction -0.1 is outside"),
        (schedules.LayerSchedule(8, 0.5, 4, 3), "start epoch 4 is after end epoch 3"),
        (schedules.LayerSchedule(8, 0.5, 0, 10), "end epoch 10 is past the last epoch 9"),
        (schedules.LayerSchedule(8, 0.5, -1, 3), "start epoch -1 is negative"),
        (schedules.LayerSchedule(0, 0.5, 0, 3), "at least one unit, got 0"),
    ],
)
def test_bad_layer_schedules_are_named(layer, message):
    with pytest.raises(ValueError, match=message):
        schedules.removal_table([layer], 1, 10)


@pytest.mark.parametrize("period", [0, -2, 1.5])
def test_bad_retrain_periods_are_named(period):
    with pytest.raises(ValueError, match=f"retrain period {period} is not an integer >= 1"):
        schedules.removal_table(VGG_LAYERS, period, VGG_EPOCHS)


def test_an_event_removing_more_units_than_are_alive_is_named():
    table = np.zeros((5, 2), np.int32)
    table[1] = [3, 1]
    table[3] = [0, 4]  # layer 1 has 6 - 1 = 5 alive; fine
    schedules.check_removals(table, [6, 5])
    table[3] = [4, 0]  # layer 0 has 6 - 3 = 3 alive
    with pytest.raises(ValueError, match="epoch 3 would remove 4 units from layer 0, which has 3"):
        schedules.check_removals(table, [6, 5])
