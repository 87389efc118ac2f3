"""Cells sharded over 8 simulated CPU devices equal the single-device run; cells are independent.

The device count is fixed when JAX starts, so `test_on_eight_simulated_devices` reruns this file
in a fresh pytest process with ``--xla_force_host_platform_device_count=8``; there the tests
marked `eight_devices` run, and in the main process they are skipped.
"""

import os
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest

from pruning_theory import engine
from pruning_theory.engine import grid_shards
from tests.engine.test_shared import lookup_program, seed_table
from tests.engine.toy import dataset_program, toy_dataset, toy_program

NUM_DEVICES = 8
eight_devices = pytest.mark.skipif(
    jax.device_count() != NUM_DEVICES, reason="runs in test_on_eight_simulated_devices"
)


@pytest.mark.slow
def test_on_eight_simulated_devices():
    if jax.device_count() == NUM_DEVICES:
        pytest.skip("already on eight devices")
    flags = f"--xla_force_host_platform_device_count={NUM_DEVICES}"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            __file__,
            "-vv",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
        ],
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.count(" PASSED") == 6, completed.stdout  # none skipped there


def run(grid, devices=None, budget=None, shard=None, num_steps=6):
    options = engine.Execution(devices=devices, memory_budget_bytes=budget, grid_shard=shard)
    return engine.run_program(
        toy_program(), grid, name="sweep", num_steps=num_steps, log_every=2, execution=options
    )


def assert_close(a, b):
    chex.assert_trees_all_close(a.metrics, b.metrics, rtol=1e-6, atol=1e-6)
    chex.assert_trees_all_close(a.final, b.final, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(a.diverged_at, b.diverged_at)


@eight_devices
@pytest.mark.parametrize(
    "axes, split, padded",
    [
        # 10 model cells >= 2 data cells: the model axis is split, padded to 16.
        ({"seed": [0, 1], "learning_rate": [0.01, 0.02, 0.03, 0.04, 0.05], "scale": [0.5, 1]},
         "model", 16),
        # 5 data cells > 2 model cells: the data axis is split (data sharded too), padded to 8.
        ({"seed": [0, 1, 2, 3, 4], "learning_rate": [0.01, 0.05], "scale": [1.0]}, "data", 8),
    ],
)  # fmt: skip
def test_sharded_run_equals_the_single_device_run(axes, split, padded):
    grid = engine.Grid(axes, ("seed",))
    compiled = engine.build(toy_program(), grid, num_steps=6, log_every=2)
    assert compiled.layout.to_dict()["split"] == split
    assert (compiled.layout.num_devices, compiled.layout.padded_length) == (8, padded)
    sharded = engine.run(compiled)
    assert compiled.segment._cache_size() == 1
    assert sharded.metrics["loss"].shape == (*(len(v) for v in grid.ordered_axes.values()), 3)
    assert_close(sharded, run(grid, devices=jax.devices()[:1]))


@eight_devices
def test_chunks_of_eight_device_blocks_equal_one_device():
    rates = [0.001 * (i + 1) for i in range(20)]
    grid = engine.Grid({"seed": [0], "learning_rate": rates, "scale": [1.0]}, ("seed",))
    compiled = engine.build(toy_program(), grid, num_steps=6, log_every=2)
    budget = (compiled.peak_bytes(8) + compiled.peak_bytes(16)) // 2
    chunked = engine.build(
        toy_program(),
        grid,
        num_steps=6,
        log_every=2,
        execution=engine.Execution(memory_budget_bytes=budget),
    )
    assert chunked.layout.chunk_size % 8 == 0 and chunked.layout.num_chunks > 1
    assert_close(engine.run(chunked), run(grid, devices=jax.devices()[:1]))


@eight_devices
def test_a_cell_does_not_depend_on_its_grid_chunk_shard_or_device_count():
    seeds, rates, scales = [3, 4, 5], [0.01, 0.02, 0.03, 0.04], [0.5, 2.0]
    grid = engine.Grid({"seed": seeds, "learning_rate": rates, "scale": scales}, ("seed",))
    alone = run(engine.Grid({"seed": [4], "learning_rate": [0.03], "scale": [2.0]}, ("seed",)))
    compiled = engine.build(toy_program(), grid, num_steps=6, log_every=2)
    budget = (compiled.peak_bytes(8) + compiled.peak_bytes(16)) // 2
    shard = run(grid, shard=(1, 3))
    assert shard.shard["index"] == 1 and list(shard.axes["seed"]) == [4]
    variants = {
        "8 devices": (run(grid), 1),
        "1 device": (run(grid, devices=jax.devices()[:1]), 1),
        "2 devices": (run(grid, devices=jax.devices()[:2]), 1),
        "chunks": (run(grid, budget=budget), 1),
        "shard 1/3": (shard, 0),
    }
    for label, (result, seed_index) in variants.items():
        for name in ("loss", "weights"):
            chex.assert_trees_all_close(
                result.metrics[name][seed_index, 2, 1],
                alone.metrics[name][0, 0, 0],
                rtol=1e-6,
                atol=1e-6,
                custom_message=label,
            )
    merged = grid_shards.merge_results([run(grid, shard=(i, 3)) for i in (2, 0)] + [shard])
    assert_close(merged, variants["8 devices"][0])


@eight_devices
@pytest.mark.parametrize("seeds, split", [((0, 1), "model"), ((0, 1, 2, 3, 4), "data")])
def test_shared_and_host_data_sharded_equal_one_device(seeds, split):
    rates = [0.01, 0.02, 0.03] if split == "model" else [0.01]
    grid = engine.Grid({"seed": list(seeds), "learning_rate": rates, "scale": [1.0]}, ("seed",))
    for program in (
        dataset_program(toy_dataset(64), as_constant=False),
        lookup_program(seed_table(seeds), seeds, host=True),
    ):
        compiled = engine.build(program, grid, num_steps=6, log_every=2)
        assert compiled.layout.to_dict()["split"] == split
        sharded = engine.run(compiled)
        one = engine.run_program(
            program,
            grid,
            name="one",
            num_steps=6,
            log_every=2,
            execution=engine.Execution(devices=jax.devices()[:1]),
        )
        assert_close(sharded, one)
