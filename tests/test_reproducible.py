"""Machine-level reproducibility: a tiny config run twice, in separate processes, is bitwise equal.

BUILD.md, "Reproducibility": on one machine (same CPU model, same device count) the arrays of
a run are bitwise reproducible across processes and hash seeds; another CPU or accelerator may
round differently, and split-half replication (claims.py) is what verdicts are meant to survive.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).parents[1]


def launch(workdir: pathlib.Path, hash_seed: str) -> None:
    command = [
        sys.executable,
        "-m",
        "launch.sweep",
        "--config=launch/configs/yang2023.py:tiny",
        f"--workdir={workdir}",
        "--compilation_cache_dir=",  # every process compiles afresh
    ]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONHASHSEED": hash_seed}
    completed = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-3000:]


@pytest.mark.slow
def test_the_tiny_config_is_bitwise_equal_across_processes(tmp_path):
    launch(tmp_path / "first", "1")
    launch(tmp_path / "second", "2")
    names = sorted(p.name for p in (tmp_path / "first").glob("*.npz"))
    assert names and names == sorted(p.name for p in (tmp_path / "second").glob("*.npz"))
    for name in names:
        with np.load(tmp_path / "first" / name) as a, np.load(tmp_path / "second" / name) as b:
            assert sorted(a.files) == sorted(b.files), name
            for key in a.files:
                assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
                assert a[key].tobytes() == b[key].tobytes(), f"{name}: {key} differs"
    claims = [json.loads((tmp_path / d / "claims.json").read_text()) for d in ("first", "second")]
    assert claims[0] == claims[1]
    machine = [json.loads((tmp_path / d / "run.json").read_text()) for d in ("first", "second")]
    assert machine[0]["cpu"] == machine[1]["cpu"] and "xla_flags" in machine[0]
