"""Data every cell shares (``Program.shared``) and host data per data cell (``host_data``).

Both reach the compiled program as arguments: the results equal those of the same arithmetic
with the arrays closed over as constants, and the program does not grow with the dataset.
"""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pruning_theory import engine
from pruning_theory.benchmarks import cells, flops, phases
from tests.engine.toy import dataset_program, toy_dataset

GRID = engine.Grid({"seed": [0, 1], "learning_rate": [0.01, 0.05], "scale": [1.0]}, ("seed",))


def run(program, grid=GRID, **options):
    execution = engine.Execution(**options)
    return engine.run_program(
        program, grid, name="toy", num_steps=6, log_every=2, execution=execution
    )


def assert_equal_results(a, b):
    chex.assert_trees_all_equal(dict(a.metrics), dict(b.metrics))
    chex.assert_trees_all_equal(dict(a.final), dict(b.final))
    np.testing.assert_array_equal(a.diverged_at, b.diverged_at)


def test_shared_data_gives_the_results_of_the_same_arrays_as_constants():
    dataset = toy_dataset(64)
    shared = run(dataset_program(dataset, as_constant=False))
    constant = run(dataset_program(dataset, as_constant=True))
    assert_equal_results(shared, constant)
    assert np.all(shared.metrics["loss"][..., -1] < shared.metrics["loss"][..., 0])


def hlo_size(program) -> int:
    return len(engine.build(program, GRID, num_steps=6, log_every=2).lower().as_text())


def test_shared_data_is_an_argument_of_the_program_not_a_constant():
    small, large = toy_dataset(64), toy_dataset(4096)
    # Closed over, the dataset is baked into the program: 64x more rows, a far larger program.
    growth = hlo_size(dataset_program(large, as_constant=True)) - hlo_size(
        dataset_program(small, as_constant=True)
    )
    assert growth > 100_000
    # Shared, only the argument shapes' digits change.
    growth = hlo_size(dataset_program(large, as_constant=False)) - hlo_size(
        dataset_program(small, as_constant=False)
    )
    assert abs(growth) < 200
    compiled = engine.build(
        dataset_program(large, as_constant=False), GRID, num_steps=6, log_every=2
    )
    shapes = [arg.shape for arg in jax.tree.leaves(compiled.lower().args_info)]
    assert (4096, 8) in shapes and (4096,) in shapes


def lookup_program(table: dict[str, np.ndarray], seeds, *, host: bool) -> engine.Program:
    """GD on each seed's own rows of ``table`` (``[seed, n, d]``): handed over per data cell
    (``host_data``), or looked up by seed value in a constant table (the old way)."""
    constant = {k: jnp.asarray(v) for k, v in table.items()}
    seed_values = jnp.asarray(seeds)

    def make_data(data_cell):
        if host:
            return {"inputs": data_cell["inputs"], "targets": data_cell["targets"]}
        position = jnp.argmax(seed_values == data_cell["seed"])
        return {k: v[position] for k, v in constant.items()}

    def loss(weights, data):
        return jnp.mean((data["inputs"] @ weights - data["targets"]) ** 2)

    def host_data(data_cells):
        position = [list(seeds).index(int(seed)) for seed in data_cells["seed"]]
        return {k: v[position] for k, v in table.items()}

    return engine.Program(
        make_data,
        lambda cell, data: cell["scale"] * jnp.ones(table["inputs"].shape[-1]),
        lambda state, cell, data, step: state - cell["learning_rate"] * jax.grad(loss)(state, data),
        lambda state, cell, data: {"loss": loss(state, data)},
        host_data=host_data if host else None,
    )


def seed_table(seeds, num_examples: int = 16, dimension: int = 4) -> dict[str, np.ndarray]:
    rows = [toy_dataset(num_examples + seed, dimension) for seed in seeds]
    return {k: np.stack([r[k][:num_examples] for r in rows]) for k in ("inputs", "targets")}


@pytest.mark.parametrize("shard", [None, (1, 2)])
def test_host_data_reaches_each_data_cell_as_a_lookup_would(shard):
    seeds = (3, 1, 2)
    table = seed_table(seeds)
    grid = engine.Grid({"seed": list(seeds), "learning_rate": [0.01], "scale": [1.0]}, ("seed",))
    host = run(lookup_program(table, seeds, host=True), grid, grid_shard=shard)
    looked_up = run(lookup_program(table, seeds, host=False), grid, grid_shard=shard)
    assert_equal_results(host, looked_up)
    assert host.metrics["loss"].shape[0] == (3 if shard is None else 1)


def test_host_data_is_checked_against_the_grid():
    seeds = (0, 1)
    program = lookup_program(seed_table(seeds), seeds, host=True)
    axes = {"seed": [0, 1], "inputs": [1.0], "learning_rate": [0.1], "scale": [1.0]}
    clash = engine.Grid(axes, ("seed",))
    with pytest.raises(ValueError, match=r"host data \['inputs'\] would hide grid axes"):
        engine.build(program, clash, num_steps=2, log_every=2)
    rows = dataclasses.replace(program, host_data=lambda cells: {"x": np.zeros((5, 2))})
    grid = engine.Grid({"seed": [0, 1], "learning_rate": [0.1], "scale": [1.0]}, ("seed",))
    with pytest.raises(ValueError, match=r"must have one row per data cell \(2\)"):
        engine.build(rows, grid, num_steps=2, log_every=2)


def test_benchmark_tools_pass_shared_and_host_data():
    seeds = (0, 1)
    for program in (
        dataset_program(toy_dataset(32), as_constant=False),
        lookup_program(seed_table(seeds), seeds, host=True),
    ):
        steps = {"num_steps": 4, "log_every": 2}
        grid = cells.run_grid(program, GRID, **steps)
        loop = cells.run_per_cell(program, GRID, **steps)
        np.testing.assert_allclose(grid.metrics["loss"], loop.metrics["loss"], rtol=1e-6)
        assert flops.cell_flops(program, GRID, **steps)["step"] > 0
        assert phases.phase_seconds(program, GRID, num_steps=4)["steps"] > 0
