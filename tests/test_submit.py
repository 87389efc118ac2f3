"""launch.submit: grid shards as one submitit array job and the merge as a job after them.

The end-to-end test runs the command line with submitit's local executor (the shards and the
merge are real processes) and compares the merged run with a single run of the same config.
The SLURM test puts a fake ``sbatch`` on ``PATH`` and reads the submission files.
"""

import json
import os
import pathlib
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from launch import submit
from launch.configs import yang2023 as configs
from pruning_theory import runner
from pruning_theory.engine.results import SweepResult
from pruning_theory.workdir import write_json

ROOT = pathlib.Path(__file__).resolve().parents[1]
OVERRIDES = ("--config.run_controls=False", "--config.train.steps=20")


def tiny_config():
    config = configs.get_config("tiny")
    config.run_controls = False
    config.train.steps = 20
    return config


def test_config_arguments_keep_the_config_flags_verbatim():
    argv = [
        "--config=launch/configs/yang2023.py:tiny",
        "--workdir=runs/x",
        "--config.grid.pruning_rate=(0,0.5)",
        "--shards=2",
        "--config.train.step_scaling",
        "learning_rate",
        "--noconfig.run_controls",
        "--executor=local",
    ]
    assert submit.config_arguments(argv) == [
        "--config=launch/configs/yang2023.py:tiny",
        "--config.grid.pruning_rate=(0,0.5)",
        "--config.train.step_scaling",
        "learning_rate",
        "--noconfig.run_controls",
    ]


def test_commands_run_each_shard_then_merge_them(tmp_path):
    flags = ["--config=c.py:tiny", "--config.train.steps=5"]
    sweeps, merge = submit.commands(flags, tmp_path, 3, sweep_flags=["--memory_budget_mb=9"])
    shards = submit.shard_workdirs(tmp_path, 3)
    assert len(sweeps) == 3
    for index, command in enumerate(sweeps):
        assert command[:3] == [sys.executable, "-m", "launch.sweep"]
        assert command[3:] == [
            *flags,
            f"--grid_shard={index}/3",
            f"--workdir={shards[index]}",
            "--memory_budget_mb=9",
        ]
    assert merge[1:3] == ["-m", "launch.merge"]
    assert merge[3:] == [f"--workdirs={','.join(map(str, shards))}", f"--workdir={tmp_path}"]
    overwrite = submit.commands(flags, tmp_path, 1, overwrite=True)
    assert overwrite[0][0][-1] == "--overwrite" and overwrite[1][-1] == "--overwrite"


def test_bad_requests_are_refused_before_submitting(tmp_path):
    with pytest.raises(ValueError, match="--shards must be a positive integer, got 0"):
        submit.check_request(tiny_config(), 0)
    bad = tiny_config()
    bad.grid.pruning_rate = (0.0, 1.5)
    with pytest.raises(ValueError, match="pruning rate 1.5 is outside"):
        submit.check_request(bad, 2)
    write_json(tmp_path / "claims.json", {"claims": []})
    with pytest.raises(FileExistsError, match="--overwrite"):
        submit.pending_shards(tiny_config(), tmp_path, 2, overwrite=False)
    assert submit.pending_shards(tiny_config(), tmp_path, 2, overwrite=True) == [0, 1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["claims.json"]


def test_finished_shards_are_kept_and_foreign_ones_refused(tmp_path):
    config = tiny_config()
    finished, unfinished = submit.shard_workdirs(tmp_path, 2)
    write_json(finished / "config.json", json.loads(config.to_json_best_effort()))
    write_json(finished / "sweeps.json", {"sweeps": ["metrics"]})
    assert submit.pending_shards(config, tmp_path, 2, overwrite=False) == [1]
    other = json.loads(config.to_json_best_effort())
    other["train"]["steps"] = 41
    write_json(unfinished / "config.json", other)
    with pytest.raises(ValueError, match=r"different config \(.*train.steps: 41 vs 20"):
        submit.pending_shards(config, tmp_path, 2, overwrite=False)


FAKE_SBATCH = """#!/bin/sh
# Records the submission file and answers like sbatch, with job ids 4000, 4001, ...
count=$(ls "{log}" 2>/dev/null | wc -l)
cp "$1" "{log}/$count.sh"
echo "Submitted batch job $((4000 + count))"
"""


def test_slurm_submits_an_array_and_a_merge_after_it(tmp_path, monkeypatch):
    log = tmp_path / "sbatch"
    log.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH.format(log=log))
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")  # submitit looks for it; never run
    for tool in ("sbatch", "srun"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    folder = tmp_path / "jobs" / "%j"
    parameters = {"timeout_min": 60, "gpus_per_node": 1, "slurm_partition": "gpu"}
    sweeps, merge = submit.commands(["--config=c.py:tiny"], tmp_path / "run", 2)
    jobs, merge_job = submit.submit(
        submit.executor_for("slurm", folder, "shards", parameters),
        submit.executor_for("slurm", folder, "merge", parameters, gpus=False),
        {f"shard {i}": submit.Command(command, str(ROOT)) for i, command in enumerate(sweeps)},
        submit.Command(merge, str(ROOT)),
        wait=False,
    )
    assert [job.job_id for job in jobs] == ["4000_0", "4000_1"] and merge_job.job_id == "4001"
    array, after = ((log / f"{i}.sh").read_text().splitlines() for i in (0, 1))
    assert "#SBATCH --array=0-1%2" in array and "#SBATCH --gpus-per-node=1" in array
    assert "#SBATCH --partition=gpu" in array and "#SBATCH --time=60" in array
    assert "#SBATCH --dependency=afterok:4000" in after
    assert "#SBATCH --kill-on-invalid-dep=yes" in after
    assert not any(line.startswith("#SBATCH --dependency") for line in array)
    assert not any(line.startswith("#SBATCH --gpus") for line in after)
    submitted = [pickle.loads(job.paths.submitted_pickle.read_bytes()) for job in jobs]
    assert [s.function.argv for s in submitted] == sweeps
    assert pickle.loads(merge_job.paths.submitted_pickle.read_bytes()).function.argv == merge


@pytest.mark.slow
def test_a_failed_shard_is_named_and_stops_the_merge(tmp_path):
    fail = [sys.executable, "-c", "import sys; sys.exit(3)"]
    succeed = [sys.executable, "-c", "pass"]
    executor = submit.executor_for("local", tmp_path / "jobs" / "%j", "t", {"timeout_min": 5})
    with pytest.raises(RuntimeError, match=r"grid shard 1/2 \(job \d+\) failed; its log: ") as info:
        submit.submit(
            executor,
            executor,
            {
                "grid shard 0/2": submit.Command(succeed, str(tmp_path)),
                "grid shard 1/2": submit.Command(fail, str(tmp_path)),
            },
            submit.Command(["false-merge-never-runs"], str(tmp_path)),
            wait=True,
        )
    log = pathlib.Path(str(info.value).split("its log: ")[1])
    assert "exited with status 3" in log.read_text()
    job_folders = [p for p in (tmp_path / "jobs").iterdir() if p.name != "%j"]
    assert len(job_folders) == 2  # the two shards' logs; the merge was never submitted


# A command that is stopped by SIGTERM on its first run (exit 75, as launch.sweep saves and
# exits) and finishes at once when it runs again.
STOPPABLE = """
import pathlib, signal, sys, time
log = pathlib.Path(sys.argv[1])
if log.exists():
    log.open("a").write("start\\n")
    sys.exit(0)
def stop(signum, frame):
    log.open("a").write("stopped\\n")
    sys.exit(75)
signal.signal(signal.SIGTERM, stop)
log.open("a").write("start\\n")
time.sleep(600)
"""


@pytest.mark.slow
def test_a_job_signalled_before_its_time_limit_stops_its_command_and_is_requeued(tmp_path):
    log = tmp_path / "log"
    executor = submit.executor_for("local", tmp_path / "jobs" / "%j", "t", {"timeout_min": 10})
    command = submit.Command([sys.executable, "-c", STOPPABLE, str(log)], str(tmp_path))
    job = executor.submit(command)
    deadline = time.monotonic() + 300
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert log.exists(), "the command did not start"
    # What submitit's controller sends its task before a time limit (or on preemption).
    controller = job._process.pid
    (task,) = pathlib.Path(f"/proc/{controller}/task/{controller}/children").read_text().split()
    os.kill(int(task), signal.SIGUSR2)
    job.result()
    assert log.read_text().split() == ["start", "stopped", "start"]


@pytest.mark.slow
def test_local_array_job_and_merge_equal_a_single_run(tmp_path):
    workdir = tmp_path / "submitted"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "launch.submit",
            "--config=launch/configs/yang2023.py:tiny",
            *OVERRIDES,
            f"--workdir={workdir}",
            "--shards=2",
            "--executor=local",
            "--timeout_min=30",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert "merge: job" in completed.stdout and "Claims of yang2023" in completed.stdout
    shards = submit.shard_workdirs(workdir, 2)
    for index, shard in enumerate(shards):
        assert json.loads((shard / "grid_shard.json").read_text()) == {"index": index, "count": 2}
    whole = tmp_path / "whole"
    runner.run(tiny_config(), whole, show_progress=False)
    merged, single = (json.loads((d / "claims.json").read_text()) for d in (workdir, whole))
    assert merged["summary"] == single["summary"]
    assert [c["id"] for c in merged["claims"]] == [c["id"] for c in single["claims"]]
    for claim, reference in zip(merged["claims"], single["claims"], strict=True):
        assert claim["verdict"] == reference["verdict"], claim["id"]
        for key in ("statistic", "ci"):
            np.testing.assert_allclose(
                np.asarray(claim[key], dtype=float),
                np.asarray(reference[key], dtype=float),
                rtol=1e-5,
                err_msg=f"{claim['id']} {key}",
            )
    names = json.loads((whole / "sweeps.json").read_text())["sweeps"]
    assert json.loads((workdir / "sweeps.json").read_text())["sweeps"] == names
    for name in names:
        merged_sweep, single_sweep = (SweepResult.load(d, name) for d in (workdir, whole))
        for group in ("metrics", "final"):
            a, b = getattr(merged_sweep, group), getattr(single_sweep, group)
            assert sorted(a) == sorted(b)
            for key in a:
                np.testing.assert_allclose(a[key], b[key], rtol=1e-5, err_msg=f"{name} {key}")
    assert "merged_from" in json.loads((workdir / "run.json").read_text())
