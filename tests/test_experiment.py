"""The Experiment interface: a toy experiment registered with one line runs end to end."""

import json

import pytest

from pruning_theory import experiment as experiments
from pruning_theory import runner
from tests import toy_experiment


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(experiments.REGISTRY, "toy", "tests.toy_experiment")


def test_every_registered_paper_is_an_experiment_record():
    for name in ("acharyya2021", "bartoldson2020", "wolfe2021", "yang2023"):
        assert experiments.get(name).name == name
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        experiments.get("nope")


def test_a_toy_experiment_runs_end_to_end_through_the_runner(registered, tmp_path):
    document = runner.run(toy_experiment.get_config(), tmp_path / "toy", show_progress=False)
    by_id = {claim["id"]: claim for claim in document["claims"]}
    assert by_id["T1"]["verdict"] == "holds"
    assert by_id["T1"]["kind"] == "claim"
    assert by_id["S1"]["kind"] == "sanity"
    assert document["summary"]["claim"]["count"] == 1  # the sanity row is not counted
    assert json.loads((tmp_path / "toy" / "claims.json").read_text()) == document
    assert (tmp_path / "toy" / "metrics.npz").exists()


def test_the_runner_validates_before_anything_is_written(registered, tmp_path):
    config = toy_experiment.get_config()
    config.num_steps = 0
    with pytest.raises(ValueError, match="num_steps=0"):
        runner.run(config, tmp_path / "toy", show_progress=False)
    assert not (tmp_path / "toy").exists()
