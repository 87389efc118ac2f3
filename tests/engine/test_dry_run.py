"""Dry runs: grid, steps, XLA's memory and a timed segment, nothing run or written."""

import os
import subprocess
import sys

import numpy as np
import pytest

from pruning_theory import engine, runner
from pruning_theory import experiment as experiments
from pruning_theory.engine import dry_run
from tests import toy_experiment
from tests.engine.toy import toy_program

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GRID = engine.Grid(
    {"seed": [0, 1], "learning_rate": [0.01, 0.05, 0.1], "scale": [1.0]}, data_axes=("seed",)
)


def test_a_dry_run_plans_without_running_or_writing(tmp_path):
    plans = []
    options = engine.Execution(
        dry_run=plans, checkpoint_dir=tmp_path / "ckpt", metrics_dir=tmp_path / "tb"
    )
    placeholder = engine.run_program(
        toy_program(), GRID, name="toy", num_steps=8, log_every=2, execution=options
    )
    real = engine.run_program(toy_program(), GRID, name="toy", num_steps=8, log_every=2)
    assert list(tmp_path.iterdir()) == []
    # The placeholder has the real result's shapes and is NaN where the result is measured.
    assert {k: v.shape for k, v in placeholder.metrics.items()} == {
        k: v.shape for k, v in real.metrics.items()
    }
    assert {k: v.shape for k, v in placeholder.final.items()} == {
        k: v.shape for k, v in real.final.items()
    }
    assert np.all(np.isnan(placeholder.metrics["loss"])) and placeholder.num_diverged == 0
    (plan,) = plans
    compiled = engine.build(toy_program(), GRID, num_steps=8, log_every=2)
    assert plan.name == "toy" and plan.num_cells == 6
    assert plan.axes == {"seed": 2, "learning_rate": 3, "scale": 1}
    assert plan.peak_bytes == compiled.peak_bytes(compiled.layout.chunk_size)
    assert plan.whole_peak_bytes == plan.peak_bytes and plan.num_chunks == 1
    assert plan.compile_s > 0 and plan.segment_s > 0
    expected = plan.compile_s + plan.first_segment_s + 3 * plan.segment_s
    assert plan.estimate_s == pytest.approx(expected)


def test_a_budget_is_planned_in_chunks_and_the_table_advises_the_whole_budget():
    compiled = engine.build(toy_program(), GRID, num_steps=4, log_every=2)
    budget = compiled.peak_bytes(1)  # one learning rate per chunk
    plans = []
    options = engine.Execution(dry_run=plans, memory_budget_bytes=budget)
    engine.run_program(toy_program(), GRID, name="toy", num_steps=4, log_every=2, execution=options)
    (plan,) = plans
    assert plan.num_chunks == 3 and plan.peak_bytes <= budget < plan.whole_peak_bytes
    table = dry_run.plan_table(plans, budget)
    need = -(-plan.whole_peak_bytes // dry_run.MIB)
    assert f"--memory_budget_mb={need} runs every sweep in one chunk" in table
    assert "sweep 1 of 1 toy: 6 cells (seed 2 x learning_rate 3 x scale 1)" in table


def test_a_budget_below_one_cell_is_refused_before_the_run():
    options = engine.Execution(dry_run=[], memory_budget_bytes=1)
    with pytest.raises(ValueError, match="raise the budget"):
        engine.run_program(
            toy_program(), GRID, name="toy", num_steps=4, log_every=2, execution=options
        )


def test_a_chunk_larger_than_the_device_is_refused_with_a_budget_to_pass():
    compiled = engine.build(toy_program(), GRID, num_steps=4, log_every=2)
    peak = compiled.peak_bytes(compiled.layout.chunk_size)
    dry_run.check_fits(compiled, "toy", limit_bytes=peak)  # fits exactly
    dry_run.check_fits(compiled, "toy", limit_bytes=None)  # the device does not say (CPU)
    with pytest.raises(ValueError, match=r"sweep 'toy' needs .* pass --memory_budget_mb=\d+"):
        dry_run.check_fits(compiled, "toy", limit_bytes=peak - 1)


def test_the_runner_dry_run_plans_every_sweep(monkeypatch, tmp_path):
    monkeypatch.setitem(experiments.REGISTRY, "toy", "tests.toy_experiment")
    monkeypatch.setattr(runner, "SWEEP_COUNTS", tmp_path / "counts.json")
    plans = runner.dry_run(toy_experiment.get_config())
    assert [plan.name for plan in plans] == ["metrics"]
    assert plans[0].axes == {"seed": 4, "learning_rate": 2, "scale": 1}
    digest = runner.sha256_json(runner._config_json(toy_experiment.get_config()))
    assert runner.recorded_sweep_count(digest) == 1


@pytest.mark.slow
def test_launch_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    workdir = tmp_path / "run"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "launch.sweep",
            "--config=launch/configs/yang2023.py:tiny",
            f"--workdir={workdir}",
            "--dry_run",
            "--compilation_cache_dir=",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "JAX_PLATFORMS": "cpu", "HOME": str(tmp_path)},
    )
    assert completed.returncode == 0, completed.stderr
    assert "Dry run: 4 sweep(s); nothing was written." in completed.stdout
    assert "sweep 1 of 4 metrics: 16 cells (seed 4 x pruning_rate 4), 200 steps" in completed.stdout
    assert "--memory_budget_mb=" in completed.stdout and "Estimated time" in completed.stdout
    assert not workdir.exists()
