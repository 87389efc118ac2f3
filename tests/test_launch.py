"""The command line: bad input exits non-zero with a message naming the value."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def launch(*flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "launch.sweep", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--config=launch/configs/yang2023.py:huge"], "unknown variant 'huge'"),
        (["--config=launch/configs/yang2023.py:tiny", "--config.train.nope=1"], "nope"),
        (
            ["--config=launch/configs/yang2023.py:tiny", "--config.grid.pruning_rate=(0,1.5)"],
            "pruning rate 1.5 is outside",
        ),
        (["--config=launch/configs/yang2023.py:tiny", "--config.model.width=0"], "width"),
        (["--config=launch/configs/nope.py:tiny"], "nope.py"),
    ],
)
def test_bad_input_exits_with_a_message(tmp_path, flags, message):
    completed = launch(*flags, f"--workdir={tmp_path / 'run'}")
    assert completed.returncode != 0
    assert message in completed.stderr + completed.stdout
    assert not (tmp_path / "run" / "claims.json").exists()


def test_finished_workdir_is_refused_and_kept(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "claims.json").write_text('{"claims": []}')
    completed = launch("--config=launch/configs/yang2023.py:tiny", f"--workdir={workdir}")
    assert completed.returncode != 0
    assert "--overwrite" in completed.stderr
    assert (workdir / "claims.json").read_text() == '{"claims": []}'
    assert sorted(p.name for p in workdir.iterdir()) == ["claims.json"]
