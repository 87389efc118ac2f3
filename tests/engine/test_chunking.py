"""Chunks of cells from a memory budget: the same results as all cells at once, one compile."""

import chex
import numpy as np
import pytest

from pruning_theory import engine
from pruning_theory.engine import layout
from tests.engine.toy import toy_program

GRID = engine.Grid(
    {"seed": [0, 1], "learning_rate": [0.01, 0.02, 0.03, 0.04, 0.05], "scale": [0.5, 1.0]},
    ("seed",),
)


@pytest.fixture(scope="module")
def unchunked():
    compiled = engine.build(toy_program(64), GRID, num_steps=6, log_every=2)
    return compiled, engine.run(compiled)


def test_a_memory_budget_runs_equal_chunks_with_the_same_results(unchunked):
    compiled, whole = unchunked
    assert compiled.layout.num_chunks == 1 and compiled.layout.split == layout.MODEL
    full, smallest = compiled.peak_bytes(10), compiled.peak_bytes(1)
    assert smallest < full
    budget = (full + smallest) // 2
    options = engine.Execution(memory_budget_bytes=budget)
    chunked = engine.build(toy_program(64), GRID, num_steps=6, log_every=2, execution=options)
    assert chunked.layout.num_chunks > 1
    assert chunked.peak_bytes(chunked.layout.chunk_size) <= budget
    result = engine.run(chunked)
    assert chunked.segment._cache_size() == 1  # every chunk runs the one executable
    chex.assert_trees_all_close(result.metrics, whole.metrics, rtol=1e-6)
    chex.assert_trees_all_close(result.final, whole.final, rtol=1e-6)
    np.testing.assert_array_equal(result.diverged_at, -1)
    passed = engine.run_program(
        toy_program(64), GRID, name="sweep", num_steps=6, log_every=2, execution=options
    )
    chex.assert_trees_all_equal(passed.metrics, result.metrics)


def test_padding_cells_of_uneven_chunks_on_one_device_are_dropped(unchunked):
    compiled, whole = unchunked
    budget = (compiled.peak_bytes(4) + compiled.peak_bytes(5)) // 2
    options = engine.Execution(memory_budget_bytes=budget)
    chunked = engine.build(toy_program(64), GRID, num_steps=6, log_every=2, execution=options)
    chunk_layout = chunked.layout
    assert chunk_layout.num_devices == 1 and chunk_layout.padded_length > chunk_layout.length
    result = engine.run(chunked)
    chex.assert_trees_all_close(result.metrics, whole.metrics, rtol=1e-6)
    chex.assert_trees_all_close(result.final, whole.final, rtol=1e-6)


def test_budget_below_the_smallest_chunk_is_refused_naming_both_sizes():
    options = engine.Execution(memory_budget_bytes=64)
    with pytest.raises(ValueError, match=r"memory budget 0.000 MiB is below the .* MiB per device"):
        engine.build(toy_program(64), GRID, num_steps=6, log_every=2, execution=options)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"memory_budget_bytes": 0}, "memory budget must be positive, got 0 bytes"),
        ({"checkpoint_interval_s": -1.0}, "checkpoint interval must be >= 0 seconds, got -1.0"),
        ({"grid_shard": (2, 2)}, "grid shard 2/2 must have integers 0 <= i < n"),
    ],
)
def test_bad_execution_options_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        engine.Execution(**fields)


def test_chunk_size_for_budget_follows_the_measured_line():
    measured = []

    def peak(size):  # 1000 bytes fixed + 100 per cell
        measured.append(size)
        return 1000 + 100 * size

    assert layout.chunk_size_for_budget(peak, 37, 4, 10**6) == 40
    assert layout.chunk_size_for_budget(peak, 37, 4, 2300) == 12
    assert measured[-2:] == [4, 12]
    # Convex memory: the line from the two ends underestimates, and the result still fits.
    assert layout.chunk_size_for_budget(lambda s: 1000 + 100 * s**2, 37, 1, 30_000) == 8
    # Concave memory: the line overestimates; the estimate is lowered until it fits.
    assert layout.chunk_size_for_budget(lambda s: 1000 + 5000 * s**0.5, 37, 1, 20_000) == 14
    with pytest.raises(ValueError, match="below the"):
        layout.chunk_size_for_budget(peak, 37, 4, 1300)


@pytest.mark.parametrize(
    "length, devices, most, size, chunks, padded",
    [(14, 1, 5, 5, 3, 15), (10, 1, 8, 5, 2, 10), (10, 4, 8, 8, 2, 16), (3, 8, 8, 8, 1, 8)],
)
def test_even_layout_balances_chunks(length, devices, most, size, chunks, padded):
    cell_layout = layout.even_layout(layout.MODEL, length, devices, most)
    assert (cell_layout.chunk_size, cell_layout.num_chunks) == (size, chunks)
    assert cell_layout.padded_length == padded
    indices = np.concatenate([cell_layout.chunk_indices(c) for c in range(chunks)])
    np.testing.assert_array_equal(indices[:length], np.arange(length))
    np.testing.assert_array_equal(indices[length:], length - 1)  # padding repeats the last cell
