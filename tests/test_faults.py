"""Fault injection: each fault ends in a clear message or a correct result, never a wrong one.

Corrupt, truncated, torn and foreign checkpoints; concurrent runs on one work directory; a
merge onto its own input; SIGTERM during start-up; non-finite configs; a sweep where every
seed diverged; a crash in the analysis; malicious report input. Subprocesses only where a real
process is needed (signals, concurrent runs, the command line's exit status and message).
"""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from launch.configs import yang2023 as configs
from pruning_theory import report, runner, workdir
from pruning_theory.engine import checkpoint, sweep
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.yang2023 import experiment as yang2023
from tests.test_report import fake_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}

# ---------------------------------------------------------------- checkpoints (one process)


def drift_program() -> sweep.Program:
    """GD on a random quadratic with a PRNG key in the state (restored as a key)."""

    def make_data(data_cell):
        return jax.random.normal(jax.random.key(data_cell["seed"]), (8, 4))

    def init(cell, data):
        return {"w": jnp.ones(4), "key": jax.random.key(cell["seed"] + 7)}

    def advance(state, cell, data, step):
        key, noise = jax.random.split(state["key"])
        gradient = data.T @ (data @ state["w"]) / 8 + 0.01 * jax.random.normal(noise, (4,))
        return {"w": state["w"] - cell["learning_rate"] * gradient, "key": key}

    def evaluate(state, cell, data):
        return {"loss": jnp.mean((data @ state["w"]) ** 2)}

    return sweep.Program(make_data, init, advance, evaluate)


GRID = sweep.Grid({"seed": [0, 1], "learning_rate": [0.05, 0.1, 0.2]}, ("seed",))


def compile_drift(budget=None) -> sweep.CompiledSweep:
    options = sweep.Execution(
        checkpoint_interval_s=0, stop=threading.Event(), memory_budget_bytes=budget
    )
    return sweep.build(drift_program(), GRID, num_steps=12, log_every=2, execution=options)


@pytest.fixture(scope="module")
def whole() -> sweep.CompiledSweep:
    """The sweep's one compiled program, shared by every test (no compile per run)."""
    return compile_drift()


@pytest.fixture(scope="module")
def chunked(whole) -> sweep.CompiledSweep:
    """The same sweep in chunks of one learning rate (a budget between 1 and 2 per chunk)."""
    compiled = compile_drift((whole.peak_bytes(2) + whole.peak_bytes(1)) // 2)
    assert compiled.layout.num_chunks == 3
    return compiled


def run_drift(compiled, directory, *, stop_step=None, config_sha256=None, seen=None):
    """Runs ``compiled`` with checkpoints in ``directory/sweep``, stopping after ``stop_step``."""
    seen = [] if seen is None else seen
    options = dataclasses.replace(compiled.execution, config_sha256=config_sha256)
    compiled = dataclasses.replace(compiled, execution=options)
    options.stop.clear()

    def progress(done, total, elapsed):
        seen.append(done)
        if stop_step is not None and done >= stop_step:
            options.stop.set()

    try:
        return sweep.run(compiled, progress=progress, checkpoint_dir=directory / "sweep")
    finally:
        options.stop.clear()


def stopped_at_step_8(compiled, directory):
    """A sweep stopped after step 8: committed steps 6 and 8 with their records."""
    with pytest.raises(sweep.Preempted, match="stopped at step 8"):
        run_drift(compiled, directory, stop_step=8)
    sweep_dir = directory / "sweep"
    steps = sorted(int(p.name) for p in (sweep_dir / "state").iterdir() if p.name.isdigit())
    assert steps == [6, 8]
    return sweep_dir


def largest_file(directory):
    return max((p for p in directory.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def flip_bytes(path, count=64):
    data = bytearray(path.read_bytes())
    for i in range(min(count, len(data))):
        data[len(data) // 2 - count // 2 + i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_corrupt_or_truncated_state_is_refused_naming_the_file(whole, tmp_path, damage):
    sweep_dir = stopped_at_step_8(whole, tmp_path)
    victim = largest_file(sweep_dir / "state" / "8")
    if damage == "flip":
        flip_bytes(victim)
    else:
        victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    with pytest.raises(checkpoint.CheckpointError) as raised:
        run_drift(whole, tmp_path)
    message = str(raised.value)
    assert "\n" not in message
    assert f"'{victim}' is corrupt or truncated" in message
    assert f"delete '{sweep_dir / 'state' / '8'}' to resume from the previous save" in message
    assert "--overwrite" in message and f"delete '{sweep_dir}'" in message
    # The way out the message gives loses nothing: the previous save resumes to the same numbers.
    shutil.rmtree(sweep_dir / "state" / "8")
    seen = []
    resumed = run_drift(whole, tmp_path, seen=seen)
    assert seen == [8, 10, 12]
    for name, value in sweep.run(whole).metrics.items():
        np.testing.assert_array_equal(resumed.metrics[name], value, err_msg=name)


def test_a_torn_save_falls_back_to_the_previous_step_and_equals_an_uninterrupted_run(
    whole, tmp_path, capsys
):
    uninterrupted = sweep.run(whole)
    sweep_dir = stopped_at_step_8(whole, tmp_path)
    # Killed after orbax committed step 8 but before its integrity record was written.
    (sweep_dir / "state_000000000008.sha256.json").unlink()
    seen = []
    resumed = run_drift(whole, tmp_path, seen=seen)
    assert seen == [8, 10, 12]  # resumed after step 6, the previous good save
    assert "Checkpoint step 8" in capsys.readouterr().err
    for name, value in uninterrupted.metrics.items():
        np.testing.assert_array_equal(resumed.metrics[name], value, err_msg=name)


def test_a_corrupt_chunk_and_a_chunk_of_another_config_are_refused(chunked, tmp_path):
    with pytest.raises(sweep.Preempted, match=r"chunk 1\)"):
        run_drift(chunked, tmp_path, stop_step=12 + 4, config_sha256="a" * 64)
    sweep_dir = tmp_path / "sweep"
    chunk = sweep_dir / "chunk_00000.npz"
    good = chunk.read_bytes()
    flip_bytes(chunk, 8)
    with pytest.raises(checkpoint.CheckpointError, match=f"'{chunk}' is corrupt or truncated"):
        run_drift(chunked, tmp_path, config_sha256="a" * 64)
    chunk.write_bytes(good)
    # Another config's run rewrote the manifest (as after an --overwrite racing this run);
    # the chunk's own record still names the config it was computed for.
    (sweep_dir / "sweep.json").unlink()
    with pytest.raises(checkpoint.CheckpointError, match="belongs to another config or sweep"):
        run_drift(chunked, tmp_path, config_sha256="b" * 64)


def test_a_garbage_manifest_is_refused_naming_it(whole, tmp_path):
    with pytest.raises(sweep.Preempted):
        run_drift(whole, tmp_path, stop_step=2)
    manifest = tmp_path / "sweep" / "sweep.json"
    manifest.write_bytes(b"\x00garbage{")
    with pytest.raises(checkpoint.CheckpointError, match=f"'{manifest}' is unreadable"):
        run_drift(whole, tmp_path)


# ------------------------------------------------------------------- the runner, in process


def tiny_config():
    config = configs.get_config("tiny")
    config.run_controls = False
    config.companion.enabled = False
    return config


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("train.learning_rate", float("inf"), "train.learning_rate = inf is not a finite"),
        ("model.init_std", float("nan"), "model.init_std = nan is not a finite"),
        ("controls.relu.model.power", float("-inf"), "controls.relu.model.power = -inf"),
    ],
)
def test_a_non_finite_config_value_is_refused_before_anything(monkeypatch, tmp_path, path, value,
                                                              message):  # fmt: skip
    config = tiny_config()
    *sections, key = path.split(".")
    node = config
    for section in sections:
        node = node[section]
    node[key] = value
    monkeypatch.setattr(sweep, "build", lambda *a, **k: pytest.fail("compiled"))
    with pytest.raises(ValueError, match=message):
        runner.run(config, tmp_path / "run", show_progress=False)
    assert not (tmp_path / "run").exists()


def test_every_seed_diverged_writes_claims_that_say_so(tmp_path):
    config = tiny_config()
    config.train.learning_rate = 1e30  # finite, so accepted; every cell overflows
    document = runner.run(config, tmp_path / "run", show_progress=False)
    saved = SweepResult.load(tmp_path / "run")
    assert np.all(saved.diverged_at != -1)  # every cell flagged, none reported as a number
    assert [c["id"] for c in document["claims"]] == ["diverged"]
    claim = document["claims"][0]
    assert claim["verdict"] == "inconclusive" and claim["statistic"] is None
    assert "'metrics'" in claim["statement"] and "NaN/Inf" in claim["statement"]
    assert json.loads((tmp_path / "run" / "claims.json").read_text()) == json.loads(
        json.dumps(document)
    )


def test_sweeps_are_saved_before_the_analysis_and_a_rerun_finishes(tmp_path, monkeypatch):
    config = tiny_config()
    directory = tmp_path / "run"

    def broken(*args):
        raise RuntimeError("analysis bug")

    with monkeypatch.context() as patch:
        patch.setattr(runner, "analyze", broken)
        with pytest.raises(RuntimeError, match="analysis bug"):
            runner.run(config, directory, show_progress=False)
    saved = json.loads((directory / "sweeps.json").read_text())
    assert saved["sweeps"] == ["metrics"]
    assert saved["sha256"]["metrics"] == checkpoint.sha256_file(directory / "metrics.npz")
    assert not (directory / "claims.json").exists()
    assert (directory / "checkpoints").exists()  # the finished chunks stay for the rerun
    document = runner.run(config, directory, show_progress=False)  # the bug fixed
    assert document["claims"] and (directory / "claims.json").exists()
    assert not (directory / "checkpoints").exists()


def test_a_held_workdir_is_refused_even_with_overwrite_and_a_stale_lock_is_taken_over(tmp_path):
    directory = tmp_path / "run"
    directory.mkdir()
    (directory / "keep.txt").write_text("another run's file")
    with workdir.locked(directory):
        holder = (directory / workdir.LOCK).read_text().split()
        assert holder[0] == str(os.getpid())
        for overwrite in (False, True):
            with pytest.raises(
                workdir.WorkdirBusy, match=f"in use by another run \\(pid {holder[0]}"
            ):
                runner.run(tiny_config(), directory, overwrite=overwrite, show_progress=False)
    assert sorted(p.name for p in directory.iterdir()) == [workdir.LOCK, "keep.txt"]
    assert (directory / workdir.LOCK).read_text() == ""  # released
    # A lock file left by a process that died (the kernel released its flock).
    (directory / workdir.LOCK).write_text("4194999 gone-host\n")
    notes = []
    with workdir.locked(directory, stream=type("S", (), {"write": notes.append})()):
        pass
    assert notes and "stale lock" in notes[0] and "pid 4194999 on host gone-host" in notes[0]


def shard_dirs(tmp_path, metrics: bytes = b"not an npz"):
    """Two directories shaped like finished grid shards; ``metrics.npz`` as given."""
    config = json.loads(tiny_config().to_json_best_effort())
    shards = []
    for index in (0, 1):
        directory = tmp_path / f"shard{index}"
        directory.mkdir()
        workdir.write_json(directory / "config.json", config)
        workdir.write_json(directory / "grid_shard.json", {"index": index, "count": 2})
        (directory / "metrics.npz").write_bytes(metrics)
        digest = checkpoint.sha256_file(directory / "metrics.npz")
        workdir.write_json(
            directory / "sweeps.json", {"sweeps": ["metrics"], "sha256": {"metrics": digest}}
        )
        shards.append(directory)
    return shards


def test_merge_refuses_an_output_that_is_an_input_and_duplicates(tmp_path):
    shards = shard_dirs(tmp_path)
    before = {p: p.read_bytes() for s in shards for p in s.iterdir()}
    cases = [
        (shards, shards[0], "is the grid shard"),
        (shards, shards[1] / "merged", "is the grid shard"),
        ([shards[0], tmp_path / "x" / ".." / "shard0", shards[1]], tmp_path / "m", "same dir"),
    ]
    for sources, output, message in cases:
        with pytest.raises(ValueError, match=message):
            runner.merge(sources, output)
    assert before == {p: p.read_bytes() for s in shards for p in s.iterdir()}
    assert not (tmp_path / "m").exists() and not (shards[1] / "merged").exists()


def test_merge_refuses_a_corrupt_shard_sweep_naming_the_file(tmp_path):
    shards = shard_dirs(tmp_path, metrics=b"PK\x03\x04 a torn zip")
    (shards[0] / "metrics.npz").write_bytes(b"PK\x03\x04 flipped")
    with pytest.raises(ValueError, match=r"shard0/metrics.npz' does not match the sha256"):
        runner.merge(shards, tmp_path / "merged")
    (shards[0] / "sweeps.json").write_text('{"sweeps": ["metrics"]}')  # no digest: still read
    with pytest.raises(ValueError, match=r"shard0/metrics.npz' is unreadable \(BadZipFile"):
        runner.merge(shards, tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_the_report_reads_no_symlink_writes_nothing_outside_and_escapes_markdown(tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"\x89PNG secret")
    good = fake_run(tmp_path / "good", "yang2023")
    (good / "leak.png").symlink_to(outside)
    claims = json.loads((good / "claims.json").read_text())
    claims["claims"][0]["statement"] = "<script>alert(1)</script> [x](javascript:alert(1)) `a`"
    (good / "claims.json").write_text(json.dumps(claims))
    out = tmp_path / "out"
    page = report.write([good], out)
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".png") == ["yang2023_curves.png"]
    assert b"secret" not in page.read_bytes() and "leak" not in page.read_text()
    markdown = (out / "report.md").read_text()
    assert "<script>" not in markdown and "[x](javascript" not in markdown  # no live link
    assert "\\<script\\>alert(1)\\</script\\> [x\\](javascript:alert(1)) \\`a\\`" in markdown
    assert "<script>" not in page.read_text()

    evil = fake_run(tmp_path / "evil", "yang2023")
    claims = json.loads((evil / "claims.json").read_text())
    claims["experiment"] = "../escape/pwn"
    (evil / "claims.json").write_text(json.dumps(claims))
    with pytest.raises(ValueError, match=r"invalid experiment name '../escape/pwn'"):
        report.write([evil], tmp_path / "out2")
    linked = fake_run(tmp_path / "linked", "wolfe2021")
    (linked / "run.json").unlink()
    (linked / "run.json").symlink_to(good / "run.json")
    with pytest.raises(ValueError, match="never symlinks"):
        report.write([linked], tmp_path / "out3")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "evil", "good", "linked", "out", "secret.png"
    ]  # fmt: skip


# ------------------------------------------------------------------ real processes: the CLI

TINY = [
    "--config=launch/configs/yang2023.py:tiny",
    "--config.run_controls=False",
    "--config.companion.enabled=False",
]


def launch(module, *flags, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", module, *flags],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        **kwargs,
    )


def finish(process, timeout=240):
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


def handles_sigterm(pid) -> bool:
    """Whether the process has installed a SIGTERM handler (Linux: /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status") as status:
        caught = next(line for line in status if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_sigterm_during_start_up_exits_75_and_writes_nothing(tmp_path):
    process = launch("launch.sweep", *TINY, f"--workdir={tmp_path / 'run'}")
    deadline = time.monotonic() + 60
    while not handles_sigterm(process.pid):  # the first line of the entry point has run
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.002)
    process.send_signal(signal.SIGTERM)
    status, _, stderr = finish(process)
    assert status == 75, stderr
    assert "Stopped on request while starting" in stderr
    assert not (tmp_path / "run").exists()


def test_concurrent_runs_on_one_workdir_the_second_is_refused_and_the_first_is_intact(tmp_path):
    directory = tmp_path / "run"
    first = launch("launch.sweep", *TINY, f"--workdir={directory}", "--checkpoint_interval_s=0")
    lock = directory / workdir.LOCK
    deadline = time.monotonic() + 120
    while not (lock.exists() and lock.read_text().strip()):
        assert first.poll() is None, finish(first)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    others = [
        launch("launch.sweep", *TINY, f"--workdir={directory}"),  # the same run twice
        launch(
            "launch.sweep",
            *TINY,
            "--config.train.learning_rate=0.2",
            "--overwrite",
            f"--workdir={directory}",
        ),
    ]
    for other in others:
        status, _, stderr = finish(other)
        assert status == 1, stderr
        lines = stderr.strip().splitlines()
        assert lines[-1].startswith("error: workdir ") and "Traceback" not in stderr, stderr
        assert f"in use by another run (pid {first.pid} on host" in lines[-1]
    status, _, stderr = finish(first)
    assert status == 0, stderr
    config = json.loads((directory / "config.json").read_text())
    assert config["train"]["learning_rate"] == 0.1
    reference = yang2023.run_sweep(tiny_config())
    saved = SweepResult.load(directory)
    for name, value in reference.metrics.items():
        np.testing.assert_allclose(saved.metrics[name], value, rtol=1e-6, err_msg=name)


def test_the_command_line_names_a_corrupt_checkpoint_and_merge_onto_an_input(tmp_path):
    directory = tmp_path / "run"
    stop = threading.Event()
    stop.set()  # saves after the first segment, then stops
    options = sweep.Execution(stop=stop, checkpoint_interval_s=0)
    with pytest.raises(sweep.Preempted):
        runner.run(tiny_config(), directory, show_progress=False, execution=options)
    state = directory / "checkpoints" / "metrics" / "state"
    victim = largest_file(state)
    flip_bytes(victim)
    shards = shard_dirs(tmp_path)
    processes = [
        launch("launch.sweep", *TINY, f"--workdir={directory}", "--verbose"),
        launch("launch.merge", f"--workdirs={shards[0]},{shards[1]}", f"--workdir={shards[0]}"),
    ]
    (status, _, stderr), (merge_status, _, merge_stderr) = map(finish, processes)
    assert status == 1
    assert "Traceback (most recent call last)" in stderr  # --verbose
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: checkpoint file '{victim}' is corrupt or truncated")
    assert "--overwrite" in last
    assert not (directory / "claims.json").exists()
    assert merge_status == 2
    assert merge_stderr.strip().splitlines() == [
        f"error: the merged workdir '{shards[0]}' is the grid shard '{shards[0]}' or inside it, "
        "which the merge would overwrite; choose a --workdir outside every shard"
    ]
