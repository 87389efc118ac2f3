"""Seed statistics, claims documents, atomic saving and the work-directory guard."""

import json

import numpy as np
import pytest
from scipy import stats

from pruning_theory.claims import (
    Claim,
    binomial_ci,
    claims_document,
    claims_markdown,
    mean_ci,
    verdict_within,
)
from pruning_theory.engine.results import SweepResult
from pruning_theory.workdir import FINISHED_MARKER, atomic_write, prepare_workdir, write_json


def test_mean_ci_is_the_student_t_interval():
    values = np.array([[1.0, 10.0], [2.0, 20.0], [4.0, 30.0]])
    mean, low, high = mean_ci(values, axis=0)
    np.testing.assert_allclose(mean, [7 / 3, 20.0])
    half = stats.t.ppf(0.975, 2) * np.array([np.std([1, 2, 4], ddof=1), 10.0]) / np.sqrt(3)
    np.testing.assert_allclose(high - mean, half)
    np.testing.assert_allclose(mean - low, half)


def test_mean_ci_of_one_replicate_is_unbounded():
    _, low, high = mean_ci(np.array([0.7]))
    assert low == -np.inf and high == np.inf


def test_binomial_ci_contains_the_proportion_and_narrows_with_trials():
    low, high = binomial_ci(50, 100)
    assert low < 0.5 < high
    low_big, high_big = binomial_ci(5000, 10000)
    assert high_big - low_big < (high - low) / 5


@pytest.mark.parametrize(
    "ci, verdict",
    [((0.45, 0.55), "holds"), ((0.65, 0.7), "fails"), ((0.55, 0.65), "inconclusive")],
)
def test_verdict_within_band(ci, verdict):
    assert verdict_within(ci, 0.4, 0.6) == verdict


def test_claims_document_and_markdown():
    claims = [
        Claim("C1", "loss goes to zero", "holds", 1e-3, None, 0.0),
        Claim("C2", "near chance", "inconclusive", 0.55, (0.45, float("inf"))),
    ]
    document = claims_document("yang2023", "tiny", claims)
    assert json.loads(json.dumps(document)) == {
        "experiment": "yang2023",
        "config": "tiny",
        "claims": [
            {"id": "C1", "statement": "loss goes to zero", "verdict": "holds",
             "statistic": 1e-3, "ci": None, "theory": 0.0},
            {"id": "C2", "statement": "near chance", "verdict": "inconclusive",
             "statistic": 0.55, "ci": [0.45, None], "theory": None},
        ],
    }  # fmt: skip
    table = claims_markdown(document)
    assert "| C2 | inconclusive | 0.55 | [0.45, -] | - | near chance |" in table


def test_bad_verdict_is_refused():
    with pytest.raises(ValueError, match="'maybe'"):
        Claim("C1", "x", "maybe", 0.0)


def test_sweep_result_round_trip_and_tidy_csv(tmp_path):
    result = SweepResult(
        axes={"seed": np.array([0, 1]), "pruning_rate": np.array([0.0, 0.5, 0.9])},
        steps=np.array([10, 20]),
        metrics={"loss": np.arange(12.0).reshape(2, 3, 2), "vector": np.zeros((2, 3, 2, 4))},
        final={"test_accuracy": np.full((2, 3), 0.75)},
    )
    result.save(tmp_path)
    loaded = SweepResult.load(tmp_path)
    np.testing.assert_array_equal(loaded.metrics["loss"], result.metrics["loss"])
    np.testing.assert_array_equal(loaded.final["test_accuracy"], result.final["test_accuracy"])
    np.testing.assert_array_equal(loaded.axes["pruning_rate"], [0.0, 0.5, 0.9])
    assert list(loaded.axes) == ["seed", "pruning_rate"]
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "seed,pruning_rate,step,loss,test_accuracy"
    assert len(lines) == 1 + 2 * 3 * 2
    assert lines[1] == "0,0.0,10,0.0,"
    assert lines[2] == "0,0.0,20,1.0,0.75"
    np.testing.assert_array_equal(result.last("loss"), result.metrics["loss"][..., -1])


def test_finished_workdir_is_refused_without_overwrite(tmp_path):
    workdir = prepare_workdir(tmp_path / "run")
    write_json(workdir / FINISHED_MARKER, {"claims": []})
    with pytest.raises(FileExistsError, match="run.*--overwrite"):
        prepare_workdir(workdir)
    assert prepare_workdir(workdir, overwrite=True) == workdir
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="file"):
        prepare_workdir(tmp_path / "file")


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write(tmp_path / "a.txt", b"hello")
    atomic_write(tmp_path / "a.txt", b"world")
    assert (tmp_path / "a.txt").read_bytes() == b"world"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
