"""Grid shards as independent jobs, merged back: equal to the whole run; bad merges refused."""

import json
import os
import shutil
import subprocess
import sys

import chex
import numpy as np
import pytest

from launch.configs import yang2023 as configs
from pruning_theory import engine, runner
from pruning_theory import experiment as experiments
from pruning_theory.engine import grid_shards
from pruning_theory.engine import sweep as sweep_module
from pruning_theory.engine.results import SweepResult
from pruning_theory.workdir import write_json
from tests.engine.toy import toy_program

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tiny_config():
    config = configs.get_config("tiny")
    config.run_controls = False
    return config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Shards 0/2 and 1/2 of the tiny job (main sweep and MNIST companion), and the whole job."""
    base = tmp_path_factory.mktemp("shards")
    shards = []
    for index in (0, 1):
        options = engine.Execution(grid_shard=(index, 2))
        workdir = base / f"shard{index}"
        document = runner.run(tiny_config(), workdir, show_progress=False, execution=options)
        assert document["grid_shard"] == f"{index}/2" and document["claims"] == []
        shards.append(workdir)
    whole = base / "whole"
    runner.run(tiny_config(), whole, show_progress=False)
    return base, shards, whole


@pytest.fixture
def fake_runs(tmp_path):
    """Work directories shaped like two finished shards and a whole run (nothing compiled)."""
    config = json.loads(tiny_config().to_json_best_effort())
    shards = []
    for index in (0, 1):
        workdir = tmp_path / f"shard{index}"
        workdir.mkdir()
        write_json(workdir / "config.json", config)
        write_json(workdir / "grid_shard.json", {"index": index, "count": 2})
        write_json(workdir / "sweeps.json", {"sweeps": ["metrics"]})
        shards.append(workdir)
    whole = tmp_path / "whole"
    whole.mkdir()
    write_json(whole / "config.json", config)
    write_json(whole / "sweeps.json", {"sweeps": ["metrics"]})
    return tmp_path, shards, whole


@pytest.mark.slow
def test_merged_shards_equal_the_whole_run(runs):
    base, shards, whole = runs
    assert not (shards[0] / "claims.json").exists() and (shards[0] / "sweeps.json").exists()
    part = SweepResult.load(shards[1])
    assert list(part.axes["seed"]) == [2, 3] and part.shard["index"] == 1
    merged_dir = base / "merged"
    document = runner.merge(list(reversed(shards)), merged_dir)
    expected = json.loads((whole / "claims.json").read_text())
    assert [c["id"] for c in document["claims"]] == [c["id"] for c in expected["claims"]]
    for claim, reference in zip(document["claims"], expected["claims"], strict=True):
        assert claim["verdict"] == reference["verdict"], claim["id"]
        assert (claim["statistic"] is None) == (reference["statistic"] is None), claim["id"]
        if reference["statistic"] is not None:
            np.testing.assert_allclose(claim["statistic"], reference["statistic"], rtol=1e-5)
    for name in ("metrics", "companion"):
        merged, reference = (SweepResult.load(d, name) for d in (merged_dir, whole))
        assert merged.shard is None
        chex.assert_trees_all_close(dict(merged.metrics), dict(reference.metrics), rtol=1e-5)
        chex.assert_trees_all_close(dict(merged.final), dict(reference.final), rtol=1e-5)
    assert (merged_dir / "yang2023.png").exists()
    assert "merged_from" in json.loads((merged_dir / "run.json").read_text())
    with pytest.raises(FileExistsError, match="--overwrite"):
        runner.merge(shards, merged_dir)


def copy(source, target, **edits):
    shutil.copytree(source, target)
    for key, value in edits.items():
        path = target / f"{key}.json"
        document = json.loads(path.read_text())
        section, name = value[0].split(".") if "." in value[0] else (None, value[0])
        (document[section] if section else document)[name] = value[1]
        path.write_text(json.dumps(document))
    return target


@pytest.mark.parametrize(
    "case, message",
    [
        ("config", r"hold different configs \(train.steps: 40 vs 41\)"),
        ("missing", r"missing grid shards \['1/2'\]"),
        ("duplicated", r"duplicated grid shards: 0/2 in \["),
        ("count", "split the grid differently"),
        ("whole", "is not a finished grid shard"),
        ("none", "no grid-shard workdirs to merge"),
    ],
)
def test_bad_merges_are_refused_naming_the_problem(fake_runs, tmp_path, case, message):
    _, shards, whole = fake_runs
    workdirs = {
        "config": lambda: [shards[0], copy(shards[1], tmp_path / "c", config=("train.steps", 41))],
        "missing": lambda: [shards[0]],
        "duplicated": lambda: [shards[0], copy(shards[0], tmp_path / "d"), shards[1]],
        "count": lambda: [shards[0], copy(shards[1], tmp_path / "n", grid_shard=("count", 3))],
        "whole": lambda: [whole, shards[1]],
        "none": lambda: [],
    }[case]()
    with pytest.raises(ValueError, match=message):
        runner.merge(workdirs, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_finished_shard_and_foreign_unfinished_workdirs_are_refused(
    fake_runs, tmp_path, monkeypatch
):
    _, shards, _ = fake_runs
    monkeypatch.setattr(sweep_module, "build", lambda *a, **k: pytest.fail("compiled"))
    shard0 = engine.Execution(grid_shard=(0, 2))
    with pytest.raises(FileExistsError, match="sweeps.json"):
        runner.run(tiny_config(), shards[0], show_progress=False, execution=shard0)
    unfinished = copy(shards[0], tmp_path / "u")
    (unfinished / "sweeps.json").unlink()
    with pytest.raises(ValueError, match="unfinished run of grid shard 0/2, not grid shard 1/2"):
        runner.run(
            tiny_config(),
            unfinished,
            show_progress=False,
            execution=engine.Execution(grid_shard=(1, 2)),
        )
    with pytest.raises(ValueError, match="unfinished run of grid shard 0/2, not the whole grid"):
        runner.run(tiny_config(), unfinished, show_progress=False)


def test_every_registered_experiment_is_a_record_of_functions():
    names = experiments.names()
    assert names == ("acharyya2021", "bartoldson2020", "wolfe2021", "yang2023")
    for name in names:
        experiment = experiments.get(name)
        assert experiment.name == name
        assert all(callable(f) for f in (experiment.validate, experiment.run_sweeps))
        assert callable(experiment.analyze)
    with pytest.raises(ValueError, match="unknown experiment 'yang2023_claims'"):
        experiments.get("yang2023_claims")  # a module of the package, not an experiment


def test_empty_shards_and_merge_results_checks():
    grid = engine.Grid({"seed": [0, 1], "learning_rate": [0.01, 0.02], "scale": [1.0]}, ("seed",))
    options = lambda i: engine.Execution(grid_shard=(i, 3))  # noqa: E731
    parts = [
        engine.run_program(
            toy_program(), grid, name="sweep", num_steps=4, log_every=2, execution=options(i)
        )
        for i in range(3)
    ]
    assert parts[2].metrics["loss"].shape == (0, 2, 1, 2)  # 2 seeds over 3 shards
    assert parts[2].metrics["weights"].shape == (0, 2, 1, 2, 8)
    whole = engine.run_program(toy_program(), grid, name="sweep", num_steps=4, log_every=2)
    merged = grid_shards.merge_results(parts)
    chex.assert_trees_all_close(dict(merged.metrics), dict(whole.metrics), rtol=1e-6)
    np.testing.assert_array_equal(merged.axes["seed"], [0, 1])
    with pytest.raises(ValueError, match=r"missing grid shards \['1/3'\]"):
        grid_shards.merge_results([parts[0], parts[2]])
    with pytest.raises(ValueError, match=r"duplicated grid shards \['0/3'\]"):
        grid_shards.merge_results([parts[0], *parts])
    other = engine.Grid({"seed": [0, 1], "learning_rate": [0.01, 0.03], "scale": [1.0]}, ("seed",))
    odd = engine.run_program(
        toy_program(), other, name="sweep", num_steps=4, log_every=2, execution=options(1)
    )
    with pytest.raises(ValueError, match="differ: axes"):
        grid_shards.merge_results([parts[0], odd, parts[2]])
    with pytest.raises(ValueError, match="without a grid shard record"):
        grid_shards.merge_results([whole])


@pytest.mark.parametrize("text", ["2/2", "-1/2", "1", "a/b", "0/0"])
def test_bad_grid_shard_text_is_refused(text):
    with pytest.raises(ValueError, match=f"grid shard '{text}' must be i/n"):
        grid_shards.parse_grid_shard(text)
    assert grid_shards.parse_grid_shard(" 1 / 4 ") == (1, 4)


@pytest.mark.parametrize(
    "module, flags, message",
    [
        ("launch.sweep", ["--config=launch/configs/yang2023.py:tiny", "--grid_shard=2/2"],
         "grid shard '2/2' must be i/n"),
        ("launch.sweep", ["--config=launch/configs/yang2023.py:tiny", "--memory_budget_mb=0"],
         "--memory_budget_mb must be positive, got 0.0"),
        ("launch.merge", ["--workdirs=nowhere"], "'nowhere' is not a finished grid shard"),
    ],
)  # fmt: skip
def test_launch_scripts_refuse_bad_flags(tmp_path, module, flags, message):
    completed = subprocess.run(
        [sys.executable, "-m", module, *flags, f"--workdir={tmp_path / 'run'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert completed.returncode != 0
    assert message in completed.stderr
    assert not (tmp_path / "run").exists()
