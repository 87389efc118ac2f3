"""Divergence isolation: a cell that turns NaN/Inf is frozen and flagged, the others carry on."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from launch.configs import yang2023 as configs
from pruning_theory import engine
from pruning_theory.claims import diverged_note, drop_diverged
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.yang2023 import claims as yang2023_claims
from pruning_theory.papers.yang2023 import experiment as yang2023


def growth_program() -> engine.Program:
    """x <- growth * x from x = 1: float32 overflows to Inf at step 4 when growth = 1e10."""

    def make_data(data_cell):
        return {"offset": data_cell["seed"].astype(jnp.float32)}

    def init(cell, data):
        return {"x": jnp.ones(()) + 0 * data["offset"], "steps": jnp.zeros((), jnp.int32)}

    def advance(state, cell, data, step):
        return {"x": state["x"] * cell["growth"], "steps": state["steps"] + 1}

    def evaluate(state, cell, data):
        return {"x": state["x"], "loss": state["x"] - state["x"], "steps": state["steps"]}

    def finalize(state, cell, data):
        return {"final_x": state["x"]}

    return engine.Program(make_data, init, advance, evaluate, finalize)


@pytest.fixture(scope="module")
def diverging():
    grid = engine.Grid({"seed": [0, 1], "growth": [0.5, 1e10, 1.0]}, ("seed",))
    return engine.run_program(growth_program(), grid, name="sweep", num_steps=8, log_every=2)


def test_diverged_cell_is_frozen_at_its_last_finite_state_and_flagged(diverging):
    # Steps 1..3 give 1e10, 1e20, 1e30; step 4 overflows: seen at the end of segment [2, 4).
    np.testing.assert_array_equal(diverging.diverged_at, [[-1, 4, -1], [-1, 4, -1]])
    np.testing.assert_array_equal(diverging.metrics["x"][:, 1], np.float32(1e20))
    np.testing.assert_array_equal(diverging.metrics["steps"][:, 1], 2)
    np.testing.assert_array_equal(diverging.final["final_x"][:, 1], np.float32(1e20))
    assert np.all(np.isfinite(diverging.metrics["loss"]))
    assert diverging.num_diverged == 2


def test_other_cells_are_unaffected_by_a_diverging_neighbour(diverging):
    healthy = engine.Grid({"seed": [0, 1], "growth": [0.5, 1.0]}, ("seed",))
    alone = engine.run_program(growth_program(), healthy, name="sweep", num_steps=8, log_every=2)
    for name in ("x", "loss", "steps"):
        np.testing.assert_array_equal(diverging.metrics[name][:, [0, 2]], alone.metrics[name])
    np.testing.assert_array_equal(alone.diverged_at, -1)
    np.testing.assert_array_equal(diverging.metrics["steps"][:, [0, 2], -1], 8)


def test_divergence_in_the_first_segment_logs_nan_and_the_first_logged_step():
    grid = engine.Grid({"seed": [0], "growth": [1e30]}, ("seed",))
    result = engine.run_program(growth_program(), grid, name="sweep", num_steps=6, log_every=2)
    np.testing.assert_array_equal(result.diverged_at, [[2]])
    assert np.all(np.isnan(result.metrics["x"]))
    np.testing.assert_array_equal(result.final["final_x"], [[1.0]])  # frozen at init


def test_drop_diverged_removes_whole_replicates_and_says_so(diverging):
    grid = engine.Grid({"seed": [0, 1, 2], "growth": [0.5, 2.0]}, ("seed",))
    result = engine.run_program(growth_program(), grid, name="sweep", num_steps=4, log_every=2)
    flagged = dataclasses.replace(result, diverged_at=np.array([[-1, -1], [-1, 4], [-1, -1]]))
    kept, dropped = drop_diverged(flagged, "seed")
    np.testing.assert_array_equal(kept.axes["seed"], [0, 2])
    np.testing.assert_array_equal(dropped, [1])
    np.testing.assert_array_equal(kept.metrics["x"], result.metrics["x"][[0, 2]])
    np.testing.assert_array_equal(kept.final["final_x"], result.final["final_x"][[0, 2]])
    note = diverged_note("metrics", "seed", dropped)
    assert "1 seed value(s) [1]" in note and "'metrics'" in note
    assert diverged_note("metrics", "seed", dropped[:0]) == ""
    unchanged, none = drop_diverged(result, "seed")
    assert unchanged is result and none.size == 0


def test_diverged_at_and_shard_survive_save_and_load_and_reach_the_csv(tmp_path, diverging):
    record = {"axis": "seed", "values": np.array([0, 1, 2]), "index": 1, "count": 2}
    result = dataclasses.replace(diverging, shard=record)
    result.save(tmp_path)
    loaded = SweepResult.load(tmp_path)
    np.testing.assert_array_equal(loaded.diverged_at, diverging.diverged_at)
    assert loaded.shard["axis"] == "seed" and loaded.shard["index"] == 1
    np.testing.assert_array_equal(loaded.shard["values"], [0, 1, 2])
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0].endswith(",final_x,diverged_at")
    assert lines[1].endswith(",-1") and any(line.endswith(",4") for line in lines)


def test_yang2023_claims_exclude_diverged_seeds_visibly():
    config = configs.get_config("tiny")
    config.grid.seed = [0, 1, 2]
    config.grid.pruning_rate = [0.0, 0.5, 0.99]
    config.train.update(steps=12, num_logs=3)
    config.run_controls = False
    config.companion.enabled = False
    result = yang2023.run_sweep(config)
    diverged = np.full((3, 3), -1)
    diverged[1, 2] = 20
    flagged = dataclasses.replace(result, diverged_at=diverged)
    claims, figures = yang2023.analyze(config, {"metrics": flagged})
    by_seed = lambda v: v[[0, 2]]  # noqa: E731
    without = SweepResult(
        axes={"seed": np.array([0, 2]), "pruning_rate": result.axes["pruning_rate"]},
        steps=result.steps,
        metrics={k: by_seed(v) for k, v in result.metrics.items()},
        final={k: by_seed(v) for k, v in result.final.items()},
    )
    expected = yang2023_claims.yang2023_claims(without, {}, config)
    assert [c.id for c in claims] == [c.id for c in expected]
    for claim, reference in zip(claims, expected, strict=True):
        assert "Excluded: 1 seed value(s) [1] of sweep 'metrics'" in claim.statement
        assert claim.verdict == reference.verdict
        np.testing.assert_equal(claim.statistic, reference.statistic)
    assert "Excluded" in figures["yang2023"].get_suptitle()
