"""Checkpoint and resume: a stopped or killed sweep resumes to the uninterrupted result, bitwise."""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from launch.configs import yang2023 as configs
from pruning_theory import engine, runner
from pruning_theory.engine import sweep as sweep_module
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.yang2023 import experiment as yang2023
from pruning_theory.workdir import write_json

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def noisy_program() -> engine.Program:
    """Noisy GD whose state holds a PRNG key; a huge learning rate overflows to Inf."""

    def make_data(data_cell):
        return jax.random.normal(jax.random.key(data_cell["seed"]), (8, 4))

    def init(cell, data):
        return {"w": jnp.ones(4), "key": jax.random.key(cell["seed"] + 100)}

    def advance(state, cell, data, step):
        key, noise_key = jax.random.split(state["key"])
        gradient = data.T @ (data @ state["w"]) / 8
        noise = 0.01 * jax.random.normal(noise_key, (4,))
        return {"w": state["w"] - cell["learning_rate"] * gradient + noise, "key": key}

    def evaluate(state, cell, data):
        return {"loss": jnp.mean((data @ state["w"]) ** 2), "w": state["w"]}

    return engine.Program(make_data, init, advance, evaluate)


GRID = engine.Grid({"seed": [0, 1], "learning_rate": [0.1, 0.3, 1e6]}, ("seed",))


def stop_at(event: threading.Event, step: int, seen: list):
    def report(done, total, elapsed):
        seen.append(done)
        if step is not None and done >= step:
            event.set()

    return report


def run(directory, *, stop_step=None, budget=None, grid=GRID, seen=None, name="sweep"):
    event = threading.Event()
    seen = [] if seen is None else seen
    options = engine.Execution(
        checkpoint_dir=directory,
        checkpoint_interval_s=0,
        stop=event,
        memory_budget_bytes=budget,
        progress=lambda sweep_name: stop_at(event, stop_step, seen),
    )
    return engine.run_program(
        noisy_program(), grid, name=name, num_steps=12, log_every=2, execution=options
    )


@pytest.fixture(scope="module")
def uninterrupted():
    return engine.run_program(noisy_program(), GRID, name="sweep", num_steps=12, log_every=2)


@pytest.fixture(scope="module")
def one_rate_per_chunk() -> int:
    """A budget that fits one learning rate (the split axis) per chunk but not two."""
    compiled = engine.build(noisy_program(), GRID, num_steps=12, log_every=2)
    return (compiled.peak_bytes(2) + compiled.peak_bytes(1)) // 2


def assert_equal_results(a: SweepResult, b: SweepResult):
    for group in ("metrics", "final"):
        assert sorted(getattr(a, group)) == sorted(getattr(b, group))
        for name, value in getattr(a, group).items():
            np.testing.assert_array_equal(value, getattr(b, group)[name], err_msg=name)
    np.testing.assert_array_equal(a.diverged_at, b.diverged_at)


def test_stopped_sweep_resumes_bitwise_with_keys_and_frozen_cells(tmp_path, uninterrupted):
    assert uninterrupted.num_diverged == 2  # the 1e6 learning rate of both seeds
    with pytest.raises(engine.Preempted, match="stopped at step 6 of 12"):
        run(tmp_path, stop_step=6)
    steps = []
    resumed = run(tmp_path, seen=steps)
    assert steps == [8, 10, 12]  # resumed after step 6, not restarted
    assert_equal_results(resumed, uninterrupted)
    assert not list(tmp_path.glob("*/state/*"))  # the state is dropped once the sweep is done


def test_a_sweep_resumes_from_the_folder_of_its_name_whatever_ran_before(tmp_path, uninterrupted):
    other = engine.Grid({"seed": [5], "learning_rate": [0.2]}, ("seed",))
    assert run(tmp_path, grid=other, name="first").num_diverged == 0
    with pytest.raises(engine.Preempted, match="stopped at step 6 of 12"):
        run(tmp_path, stop_step=6, name="second")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first", "second"]
    steps = []
    resumed = run(tmp_path, seen=steps, name="second")  # now without "first" before it
    assert steps == [8, 10, 12]
    assert_equal_results(resumed, uninterrupted)


def test_sweep_names_are_folder_names_and_unique_within_a_run(tmp_path):
    options = engine.Execution(checkpoint_dir=tmp_path)

    def sweep(name, execution=options):
        return engine.run_program(
            noisy_program(), GRID, name=name, num_steps=2, log_every=2, execution=execution
        )

    sweep("main")
    with pytest.raises(ValueError, match="a sweep named 'main' already ran under this Execution"):
        sweep("main")
    for bad in ("", "a/b", "../main", ".hidden", None):
        with pytest.raises(ValueError, match="must be letters, digits"):
            sweep(bad)
    assert [p.name for p in tmp_path.iterdir()] == ["main"]
    sweep("main", dataclasses.replace(options))  # a copy is a new run: its own names


def test_resume_in_a_later_chunk(tmp_path, uninterrupted, one_rate_per_chunk):
    budget = one_rate_per_chunk
    reference = run(tmp_path / "reference", budget=budget)  # bitwise needs the same layout
    seen = []
    with pytest.raises(engine.Preempted, match=r"chunk 1\)"):
        run(tmp_path, stop_step=12 + 4, budget=budget, seen=seen)
    assert max(seen) == 16  # chunk 0 finished, chunk 1 stopped after 4 of its 12 steps
    seen = []
    resumed = run(tmp_path, budget=budget, seen=seen)
    assert seen == list(range(18, 37, 2))  # chunk 0 loaded, chunk 1 resumed after its step 4
    assert_equal_results(resumed, reference)
    chex.assert_trees_all_close(resumed.metrics, uninterrupted.metrics, rtol=1e-5)


def test_a_checkpoint_of_another_grid_or_layout_is_refused(tmp_path, one_rate_per_chunk):
    with pytest.raises(engine.Preempted):
        run(tmp_path, stop_step=2)
    other = engine.Grid({"seed": [0, 1], "learning_rate": [0.1, 0.2, 1e6]}, ("seed",))
    with pytest.raises(ValueError, match=r"different sweep or cell layout \(axes: .*0.3.*0.2"):
        run(tmp_path, grid=other)
    with pytest.raises(ValueError, match="chunk_size: 3 -> 1"):
        run(tmp_path, budget=one_rate_per_chunk)


def tiny_config():
    config = configs.get_config("tiny")
    config.run_controls = False
    config.companion.enabled = False
    config.train.update(steps=4000, num_logs=100)  # 200 steps a segment
    return config


COMMAND = [
    sys.executable,
    "-m",
    "launch.sweep",
    "--config=launch/configs/yang2023.py:tiny",
    "--config.run_controls=False",
    "--config.companion.enabled=False",
    "--config.train.steps=4000",
    "--config.train.num_logs=100",
    "--checkpoint_interval_s=0.1",
]


def saved_steps(workdir) -> list[int]:
    """The steps saved whole: committed by orbax and with their integrity record (a kill
    between the two leaves a torn save, which a resume drops for the previous step)."""
    sweep_dir = workdir / "checkpoints" / "metrics"
    names = os.listdir(sweep_dir / "state") if (sweep_dir / "state").exists() else []
    steps = [int(name) for name in names if name.isdigit()]
    return sorted(s for s in steps if (sweep_dir / f"state_{s:012d}.sha256.json").exists())


def start(workdir) -> subprocess.Popen:
    return subprocess.Popen(
        [*COMMAND, f"--workdir={workdir}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )


def interrupt_after_a_save(process, workdir, after: int, signum) -> str:
    """Sends ``signum`` once a checkpoint beyond step ``after`` is committed."""
    deadline = time.monotonic() + 240
    while not [s for s in saved_steps(workdir) if s > after]:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    return stderr


def first_reported_step(stderr: str) -> int:
    return int(re.search(r"first segment done at step (\d+) of", stderr)[1])


@pytest.mark.slow
def test_sigterm_then_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    workdir = tmp_path / "run"
    first = start(workdir)
    stderr = interrupt_after_a_save(first, workdir, 0, signal.SIGTERM)
    assert first.returncode == 75, stderr
    assert "Rerun the same command to resume" in stderr
    assert not (workdir / "claims.json").exists()
    saved = max(saved_steps(workdir))

    second = start(workdir)
    stderr = interrupt_after_a_save(second, workdir, saved, signal.SIGKILL)
    assert second.returncode == -signal.SIGKILL
    assert first_reported_step(stderr) > 200  # resumed, not restarted
    saved = max(saved_steps(workdir))

    third = subprocess.run(
        [*COMMAND, f"--workdir={workdir}"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert third.returncode == 0, third.stderr
    assert first_reported_step(third.stderr) == saved + 200
    assert not (workdir / "checkpoints").exists()

    reference = yang2023.run_sweep(tiny_config())
    assert_equal_results(SweepResult.load(workdir), reference)
    run_json = json.loads((workdir / "run.json").read_text())
    assert set(run_json["versions"]) == {"jax", "flax", "optax", "orbax_checkpoint"}
    assert run_json["devices"]["count"] == 1 and run_json["git_commit"]


def test_an_unfinished_workdir_of_another_config_is_refused_before_compiling(tmp_path, monkeypatch):
    config = tiny_config()
    workdir = tmp_path / "run"
    workdir.mkdir()
    write_json(workdir / "config.json", json.loads(config.to_json_best_effort()))
    config.train.steps = 41
    monkeypatch.setattr(sweep_module, "build", lambda *a, **k: pytest.fail("compiled"))
    with pytest.raises(ValueError, match=r"different config \(workdir vs this run: "
                       r"train.steps: 4000 vs 41\)"):  # fmt: skip
        runner.run(config, workdir, show_progress=False)
