"""Multi-process sweeps: two processes on 127.0.0.1 (CPU collectives) equal one process."""

import json
import os
import re
import socket
import subprocess
import sys

import chex
import numpy as np
import pytest

from launch.configs import yang2023 as configs
from pruning_theory.engine import distributed
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.yang2023 import experiment as yang2023

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OVERRIDES = ["--config.run_controls=False", "--config.companion.enabled=False"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_processes_of_two_devices_equal_a_single_process_run(tmp_path):
    workdir = tmp_path / "run"
    address = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
    }
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "launch.sweep",
                "--config=launch/configs/yang2023.py:tiny",
                *OVERRIDES,
                "--distributed",
                f"--coordinator_address={address}",
                "--num_processes=2",
                f"--process_id={index}",
                f"--workdir={workdir}",
                "--checkpoint_interval_s=0",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for index in (0, 1)
    ]
    outputs = [process.communicate(timeout=500) for process in processes]
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stdout + stderr
    claims_row = re.compile(r"^C1 +(holds|fails|inconclusive) ", re.MULTILINE)
    assert claims_row.search(outputs[0][0]) and not claims_row.search(outputs[1][0])  # process 0
    run_json = json.loads((workdir / "run.json").read_text())
    assert run_json["processes"] == 2 and run_json["devices"]["count"] == 4

    config = configs.get_config("tiny")
    config.run_controls = False
    config.companion.enabled = False
    single = yang2023.run_sweep(config)
    merged = SweepResult.load(workdir)
    chex.assert_trees_all_close(dict(merged.metrics), dict(single.metrics), rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(dict(merged.final), dict(single.final), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(merged.diverged_at, single.diverged_at)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (("127.0.0.1:1234", None, None), "go together"),
        ((None, 2, 0), "go together"),
        (("127.0.0.1:1234", 0, 0), "num_processes must be positive, got 0"),
        (("127.0.0.1:1234", 2, 2), r"process_id 2 is outside \[0, 2\)"),
    ],
)
def test_bad_distributed_arguments_are_refused_before_starting(arguments, message):
    with pytest.raises(ValueError, match=message):
        distributed.initialize(*arguments)


def test_process_flags_without_distributed_are_refused(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "launch.sweep",
            "--config=launch/configs/yang2023.py:tiny",
            "--num_processes=2",
            f"--workdir={tmp_path / 'run'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert completed.returncode != 0
    assert "need --distributed" in completed.stderr
    assert not (tmp_path / "run").exists()
