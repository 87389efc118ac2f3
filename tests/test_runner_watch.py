"""Watching a run: live TensorBoard metrics in the work directory, the console's lines."""

import io

import numpy as np
import pytest

from pruning_theory import engine, runner
from pruning_theory import experiment as experiments
from pruning_theory.engine import tensorboard
from tests import toy_experiment
from tests.engine.test_tensorboard import hparams, read_events, scalars


@pytest.fixture
def registered(monkeypatch, tmp_path):
    monkeypatch.setitem(experiments.REGISTRY, "toy", "tests.toy_experiment")
    monkeypatch.setattr(runner, "SWEEP_COUNTS", tmp_path / "sweep_counts.json")


def test_a_run_leaves_live_metrics_per_cell_with_hparams(registered, tmp_path):
    workdir = tmp_path / "toy"
    runner.run(toy_experiment.get_config(), workdir, show_progress=False)
    result = engine.SweepResult.load(workdir, "metrics")
    logdir = workdir / runner.TENSORBOARD / "metrics"
    assert len(list(logdir.iterdir())) == 8  # 4 seeds x 2 learning rates
    for s, seed in enumerate(result.axes["seed"]):
        for r, rate in enumerate(result.axes["learning_rate"]):
            cell = {"seed": seed, "learning_rate": rate, "scale": 1.0}
            events = read_events(logdir / tensorboard.cell_name(cell))
            logged = scalars(events)["loss"]
            assert sorted(logged) == result.steps.tolist()
            np.testing.assert_allclose(
                [logged[step] for step in result.steps], result.metrics["loss"][s, r, 0], rtol=1e-6
            )
            assert hparams(events) == pytest.approx({"sweep": "metrics", **cell})
    # A run with --overwrite starts its logs afresh: one event file per cell.
    runner.run(toy_experiment.get_config(), workdir, overwrite=True, show_progress=False)
    assert all(len(list(cell.iterdir())) == 1 for cell in logdir.iterdir())


def test_progress_numbers_the_sweeps_once_their_count_is_known(registered, tmp_path, capsys):
    runner.run(toy_experiment.get_config(), tmp_path / "first")
    first = capsys.readouterr().err
    assert "[sweep 1] toy/metrics: compiling and running 8 cells" in first
    runner.run(toy_experiment.get_config(), tmp_path / "second")  # the count is known now
    assert "[sweep 1 of 1] toy/metrics: compiling and running 8 cells" in capsys.readouterr().err


def test_a_resumed_run_says_which_sweeps_it_restores(tmp_path):
    (tmp_path / runner.CHECKPOINTS / "metrics").mkdir(parents=True)
    stream = io.StringIO()
    runner._announce_resume(tmp_path, stream)
    assert stream.getvalue() == (
        f"Resuming the unfinished run in {tmp_path}: checkpoints of 1 sweep(s) (metrics); "
        "sweeps saved whole are not rerun.\n"
    )
    fresh = io.StringIO()
    runner._announce_resume(tmp_path / "new", fresh)
    assert fresh.getvalue() == ""


def _document(config: str) -> dict:
    claims = [
        {"id": "C1", "verdict": "holds", "statistic": 0.5, "ci": [0.4, 0.6], "kind": "claim"},
        {"id": "S1", "verdict": "fails", "statistic": None, "ci": None, "kind": "sanity"},
    ]
    return {"experiment": "toy", "config": config, "claims": claims}


def test_the_console_summary_is_compact_and_points_to_claims_md(tmp_path):
    stream = io.StringIO()
    runner.print_summary(_document("cpu"), tmp_path, stream)
    text = stream.getvalue()
    assert "C1           holds    0.5        [0.4, 0.6]" in text
    assert "S1 (sanity)  fails    -          -" in text
    assert f"Statements, seed halves and notes: {tmp_path / 'claims.md'}" in text
    assert f"tensorboard --logdir {tmp_path / 'tensorboard'}" in text
    assert "smoke test" not in text
    tiny = io.StringIO()
    runner.print_summary(_document("tiny"), tmp_path, tiny)
    assert "its verdicts are a smoke test of the pipeline, not evidence" in tiny.getvalue()
