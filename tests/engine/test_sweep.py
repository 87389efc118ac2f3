"""The grid engine: labelled cells, one compile per sweep, cells independent of their grid."""

import chex
import jax.numpy as jnp
import numpy as np
import pytest

from pruning_theory import engine
from tests.engine.toy import toy_program


def test_results_are_labelled_by_axes_with_data_axes_first():
    grid = engine.Grid(
        {"learning_rate": [0.01, 0.02, 0.05], "seed": [0, 1], "scale": [0.0, 1.0]},
        data_axes=("seed",),
    )
    result = engine.run_program(toy_program(), grid, name="sweep", num_steps=6, log_every=2)
    assert list(result.axes) == ["seed", "learning_rate", "scale"]
    assert result.metrics["loss"].shape == (2, 3, 2, 3)
    assert result.metrics["weights"].shape == (2, 3, 2, 3, 8)
    assert result.final["norm"].shape == (2, 3, 2)
    np.testing.assert_array_equal(result.steps, [2, 4, 6])
    # Losses fall with training in every cell.
    assert np.all(result.metrics["loss"][..., -1] < result.metrics["loss"][..., 0])
    np.testing.assert_allclose(
        result.final["norm"],
        np.linalg.norm(result.metrics["weights"][..., -1, :], axis=-1),
        rtol=1e-6,
    )


@pytest.mark.parametrize("rates", [[0.01], [0.01, 0.02, 0.03, 0.04, 0.05, 0.06]])
def test_exactly_one_compile_per_sweep_whatever_the_number_of_cells(rates):
    grid = engine.Grid({"seed": [0, 1, 2], "learning_rate": rates, "scale": [1.0]}, ("seed",))
    traces = []
    program = toy_program()
    counting = engine.Program(
        program.make_data,
        program.init,
        lambda *args: traces.append(1) or program.advance(*args),
        program.evaluate,
        program.finalize,
    )
    compiled = engine.build(counting, grid, num_steps=8, log_every=2)
    engine.run(compiled)
    assert compiled.segment._cache_size() == 1
    assert len(traces) == 1  # traced once: the four segments reuse one executable


def test_weak_typed_data_and_state_still_compile_once():
    """Python floats make weak types; the carry must keep one type across segments."""
    program = toy_program()
    weak = engine.Program(
        lambda cell: {**program.make_data(cell), "offset": jnp.full((8,), 4.0)},
        lambda cell, data: jnp.full((8,), 1.0) * cell["scale"],
        lambda state, cell, data, step: program.advance(state, cell, data, step) * 1.0,
        program.evaluate,
        program.finalize,
    )
    grid = engine.Grid({"seed": [0], "learning_rate": [0.01], "scale": [1.0]}, ("seed",))
    compiled = engine.build(weak, grid, num_steps=6, log_every=2)
    engine.run(compiled)
    assert compiled.segment._cache_size() == 1


def test_a_cell_alone_equals_the_same_cell_inside_a_grid():
    big = engine.Grid(
        {"seed": [3, 4], "learning_rate": [0.01, 0.03], "scale": [0.5, 2.0]}, ("seed",)
    )
    alone = engine.Grid({"seed": [4], "learning_rate": [0.03], "scale": [2.0]}, ("seed",))
    big_result = engine.run_program(toy_program(), big, name="sweep", num_steps=4, log_every=2)
    alone_result = engine.run_program(toy_program(), alone, name="sweep", num_steps=4, log_every=2)
    chex.assert_trees_all_close(
        big_result.metrics["loss"][1, 1, 1], alone_result.metrics["loss"][0, 0, 0], rtol=1e-5
    )


def test_grid_without_data_axes_shares_one_data_set():
    grid = engine.Grid({"seed": [0], "learning_rate": [0.01, 0.02], "scale": [1.0]})
    result = engine.run_program(toy_program(), grid, name="sweep", num_steps=2, log_every=1)
    assert result.metrics["loss"].shape == (1, 2, 1, 2)


@pytest.mark.parametrize(
    "axes, message",
    [
        ({}, "no axes"),
        ({"pruning_rate": []}, "'pruning_rate' is empty"),
        ({"pruning_rate": [0.1, 0.1]}, "duplicated values \\[0.1\\]"),
        ({"seed": [0, float("nan")]}, "non-finite"),
    ],
)
def test_bad_axes_are_refused(axes, message):
    with pytest.raises(ValueError, match=message):
        engine.validate_axes(axes)


def test_bad_step_counts_are_refused_before_compiling():
    grid = engine.Grid({"seed": [0], "learning_rate": [0.1], "scale": [1.0]})
    with pytest.raises(ValueError, match="not a multiple"):
        engine.build(toy_program(), grid, num_steps=5, log_every=2)
    with pytest.raises(ValueError, match="must be positive"):
        engine.build(toy_program(), grid, num_steps=0, log_every=1)
    with pytest.raises(ValueError, match="not grid axes"):
        engine.Grid({"seed": [0]}, data_axes=("data_seed",))
