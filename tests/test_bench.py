"""The performance harness: grid and per-cell loop agree, one compile each, reports written.

Correctness of the harness only; no timing threshold is asserted (performance claims live in
BENCHMARKS.md, measured by launch/bench.py).
"""

import dataclasses
import json
import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pruning_theory.benchmarks import cells, flops, phases, targets, timing
from pruning_theory.engine import sweep


def linear_program(dimension: int = 8) -> sweep.Program:
    """Linear regression by GD; the seed drives the data, the learning rate is swept."""

    def make_data(data_cell):
        inputs = jax.random.normal(jax.random.key(data_cell["seed"]), (16, dimension))
        return {"inputs": inputs, "targets": inputs @ jnp.arange(dimension, dtype=jnp.float32)}

    def loss(weights, data):
        return jnp.mean((data["inputs"] @ weights - data["targets"]) ** 2)

    def advance(state, cell, data, step):
        return state - cell["learning_rate"] * jax.grad(loss)(state, data)

    return sweep.Program(
        make_data,
        lambda cell, data: jnp.zeros(dimension),
        advance,
        lambda state, cell, data: {"loss": loss(state, data)},
    )


GRID = sweep.Grid({"seed": (0, 1), "learning_rate": (0.01, 0.02, 0.05)}, data_axes=("seed",))


def test_grid_and_per_cell_loop_compile_once_and_agree():
    grid = cells.run_grid(linear_program(), GRID, num_steps=20, log_every=5)
    loop = cells.run_per_cell(linear_program(), GRID, num_steps=20, log_every=5)
    assert grid.segment_compiles == 1
    assert loop.segment_compiles == 1  # one executable reused for all six cells
    assert grid.metrics["loss"].shape == loop.metrics["loss"].shape == (6,)
    np.testing.assert_allclose(grid.metrics["loss"], loop.metrics["loss"], rtol=1e-5)
    # Cell order is the grid's: the largest learning rate of seed 0 trains furthest.
    assert grid.metrics["loss"][2] < grid.metrics["loss"][0]
    for side in (grid, loop):
        assert 0 < side.warm_s and math.isfinite(side.warm_s)
        assert side.backend_compiles >= side.segment_compiles


def test_compile_counter_counts_only_new_compiles():
    function = jax.jit(lambda x: jnp.sin(x) * 3.0)
    x = jnp.ones(5).block_until_ready()  # built outside: creating it compiles too
    with timing.CompileCounter() as counter:
        function(x).block_until_ready()
        function(x).block_until_ready()
    assert counter.count == 1 and counter.seconds > 0
    with timing.CompileCounter() as again:
        function(x).block_until_ready()
    assert again.count == 0


def test_cell_flops_adds_init_steps_and_logs():
    work = flops.cell_flops(linear_program(), GRID, num_steps=20, log_every=5)
    # One GD step: two [16, 8] matvecs at least (forward and backward).
    assert work["step"] >= 2 * 2 * 16 * 8
    assert work["finalize"] == 0.0  # the program has none
    assert work["total"] == pytest.approx(work["init"] + 20 * work["step"] + 4 * work["evaluate"])


def test_matmul_peak_is_positive_finite():
    peak = timing.matmul_peak(size=64, repeats=2)
    assert 0 < peak < 1e16


def test_torch_references_train():
    pytest.importorskip("torch")
    from pruning_theory.benchmarks import torch_reference

    sizes = dict(
        dimension=200, num_train=6, width=4, power=3.0, init_std=0.01, mu_norm=5.0, noise_std=1.0
    )
    frozen = torch_reference.yang2023_weights_gd(
        [(0, 0.0)], **sizes, learning_rate=0.0, num_steps=4, log_every=2
    )
    trained = torch_reference.yang2023_weights_gd(
        [(0, 0.0), (1, 0.5)], **sizes, learning_rate=1.0, num_steps=40, log_every=20, num_test=50
    )
    assert frozen[0][0] == pytest.approx(math.log(2), abs=0.01)  # outputs ~ 0 at a small init
    assert math.isnan(frozen[0][1])  # no test set asked for
    assert len(trained) == 2 and trained[0][0] < frozen[0][0]
    assert all(0.0 <= accuracy <= 1.0 for _, accuracy in trained)
    errors = torch_reference.committee_online_sgd(
        [(0, 0.0), (1, 0.25)],
        dimension=30,
        teachers=2,
        students=3,
        v_star=1.0,
        learning_rate=0.5,
        num_steps=8,
        log_every=4,
    )
    assert len(errors) == 2 and all(math.isfinite(e) and e >= 0 for e in errors)


def test_bench_writes_reports(tmp_path):
    out, report = tmp_path / "bench.md", tmp_path / "bench.json"
    command = [
        sys.executable,
        "-m",
        "launch.bench",
        f"--out={out}",
        f"--json={report}",
        "--scale=tiny",
        "--cases=yang2023_weights",
        "--cell_counts=1",
        "--weights_steps=8",
        "--matmul_size=128",
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    data = json.loads(report.read_text())
    (case,) = data["cases"]
    assert case["grid_segment_compiles"] == 1 and case["loop_segment_compiles"] == 1
    assert case["max_metric_difference"] < 1e-3
    ratios = [case["loop_over_grid"], case["grid_utilization"]]
    ratios += [case["torch_over_grid"]] if "torch_s" in case else []
    assert all(0 < r and math.isfinite(r) for r in ratios)
    assert [s["cells"] for s in case["scaling"]] == [1]
    assert case["scaling"][0]["segment_compiles"] == 1
    assert "yang2023_weights" in out.read_text() and "% of peak" in out.read_text()
    verdicts = {target: verdict for target, _, verdict in targets.cpu_targets(data)}
    assert verdicts["yang2023_weights: one compile per sweep"] == "met"
    expected = "met" if case["loop_over_grid"] >= 1.5 else "**missed**"
    assert verdicts["yang2023_weights: grid >= 1.5x faster than the per-cell loop"] == expected
    assert "| yang2023_weights: one compile per sweep | segment compiles [1]" in out.read_text()


def test_bench_rejects_unknown_case_before_compiling(tmp_path):
    command = [sys.executable, "-m", "launch.bench", "--cases=nope", f"--out={tmp_path}/x.md"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert finished.returncode != 0 and "nope" in finished.stderr


def test_best_timed_repeats_short_calls_and_keeps_the_fastest():
    calls = []
    out, best = timing.best_timed(lambda: calls.append(1) or len(calls), min_total_s=10.0)
    assert len(calls) == 5 and out == 5 and best >= 0  # short: up to max_repeats calls
    calls.clear()
    timing.best_timed(lambda: calls.append(1), min_total_s=0.0)
    assert len(calls) == 1  # long enough already: one call


def test_phases_time_each_part_of_a_sweep():
    program = linear_program()
    with_finalize = dataclasses.replace(program, finalize=lambda s, cell, data: {"n": s.sum()})
    seconds = phases.phase_seconds(with_finalize, GRID, num_steps=6)
    assert seconds["model_cells"] == 3 and seconds["num_steps"] == 6
    assert all(seconds[k] > 0 for k in ("data", "init", "steps", "finalize"))
    assert phases.phase_seconds(program, GRID, num_steps=6)["finalize"] == 0.0
