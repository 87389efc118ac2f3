"""The yang2023 experiment: exact span GD, masks, cells independent of their grid, bad input."""

import json

import chex
import jax
import numpy as np
import pytest

from launch.configs import yang2023 as configs
from pruning_theory import experiment as experiments
from pruning_theory import report, runner
from pruning_theory.engine import sweep
from pruning_theory.papers.yang2023 import experiment as yang2023


def small_config(**train):
    config = configs.get_config("tiny")
    config.grid.seed = [0, 1]
    config.grid.pruning_rate = [0.0, 0.5, 0.9]
    config.train.update(steps=12, num_logs=3, **train)
    return config


@pytest.fixture(scope="module")
def span_and_weights():
    span = yang2023.run_sweep(small_config(parametrization="span"))
    weights = yang2023.run_sweep(small_config(parametrization="weights"))
    return span, weights


def test_span_gd_equals_weight_space_gd(span_and_weights):
    span, weights = span_and_weights
    for name in ("train_loss", "signal_learning", "noise_memorization", "signal_output"):
        chex.assert_trees_all_close(span.metrics[name], weights.metrics[name], atol=1e-5, rtol=1e-4)
    chex.assert_trees_all_close(span.final["test_accuracy"], weights.final["test_accuracy"])
    assert span.metrics["train_loss"][..., -1].max() < span.metrics["train_loss"][..., 0].max()


def test_pruned_weights_never_move_and_get_zero_gradient(span_and_weights):
    for result in span_and_weights:
        assert np.all(result.final["pruned_gradient_max"] == 0)
        assert np.all(result.final["pruned_weight_drift_ulps"] <= 2)
        # ... while the kept ones do move: the drift is measured against an independent copy
        # of the net at init, not against the trained net itself.
        assert np.all(result.final["kept_weight_drift"] > 1e-4)


def test_masks_keep_one_minus_p_and_are_nested_across_rates(span_and_weights):
    span, _ = span_and_weights
    config = small_config()
    total = 2 * config.model.width * config.data.dimension
    kept = span.final["kept_weights"]  # [seed, rate]
    rates = np.asarray(config.grid.pruning_rate)
    sigma = np.sqrt(total * rates * (1 - rates))
    assert np.all(np.abs(kept - total * (1 - rates)) <= 4 * sigma)
    assert np.all(np.diff(kept, axis=1) < 0)
    # Nested: a filter keeping the signal coordinate at p = 0.9 keeps it at p = 0.5 too.
    keeps = span.final["signal_keeping_filters"]
    assert np.all(keeps[:, 2] <= keeps[:, 1])


def test_step_budget_scales_with_one_over_keep_fraction(span_and_weights):
    span, _ = span_and_weights
    np.testing.assert_array_equal(span.final["step_budget"][0], [12, 24, 60])
    num_steps, log_every = yang2023.num_engine_steps(small_config())
    assert (num_steps, log_every) == (60, 20)


def test_a_cell_alone_equals_the_same_cell_inside_the_grid(span_and_weights):
    span, _ = span_and_weights
    alone_config = small_config()
    alone_config.grid.seed = [1]
    alone_config.grid.pruning_rate = [0.9]
    alone = yang2023.run_sweep(alone_config)
    for name in ("train_loss", "signal_learning", "noise_memorization"):
        chex.assert_trees_all_close(alone.metrics[name][0, 0], span.metrics[name][1, 2], rtol=1e-5)
    assert alone.final["test_accuracy"][0, 0] == span.final["test_accuracy"][1, 2]


def test_learning_rate_scaling_runs_every_cell_for_t_steps():
    config = small_config(step_scaling="learning_rate")
    assert yang2023.num_engine_steps(config) == (12, 4)
    result = yang2023.run_sweep(config)
    np.testing.assert_array_equal(result.final["step_budget"], 12)


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("grid.pruning_rate", [0.0, 1.5], "pruning rate 1.5 is outside"),
        ("grid.pruning_rate", [0.0, float("nan")], "non-finite"),
        ("grid.pruning_rate", [], "'pruning_rate' is empty"),
        ("grid.seed", [0, 0], "duplicated values \\[0\\]"),
        ("model.width", 0, "model.width must be positive, got 0"),
        ("train.steps", -5, "train.steps must be positive, got -5"),
        ("data.num_train", 0, "data.num_train must be positive"),
        ("data.dimension", 0, "data.dimension must be positive"),
        ("train.step_scaling", "exp", "'exp' is not one of"),
        ("data.mu_kind", "sparse", "'sparse' is not one of"),
    ],
)
def test_bad_config_is_refused_before_any_compile(monkeypatch, tmp_path, path, value, message):
    config = configs.get_config("tiny")
    section, key = path.split(".")
    config[section][key] = value
    monkeypatch.setattr(sweep, "build", lambda *a, **k: pytest.fail("compiled a bad config"))
    with pytest.raises(ValueError, match=message):
        runner.run(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_unknown_variant_and_experiment_are_named():
    with pytest.raises(ValueError, match="'huge'"):
        configs.get_config("huge")
    config = configs.get_config("tiny")
    config.experiment = "nope2099"
    with pytest.raises(ValueError, match="'nope2099'"):
        experiments.get(config.experiment)


def test_tiny_job_end_to_end_writes_every_artifact_and_refuses_to_overwrite(tmp_path):
    config = configs.get_config("tiny")
    workdir = tmp_path / "run"
    document = runner.run(config, workdir, show_progress=False)
    on_disk = json.loads((workdir / "claims.json").read_text())
    assert on_disk == json.loads(json.dumps(document))
    assert on_disk["experiment"] == "yang2023" and on_disk["config"] == "tiny"
    ids = [claim["id"] for claim in on_disk["claims"]]
    assert ids == ["S1", "S2", "C1", "C2", "C3", "C4", "C5", "C6a", "C6b", "C6c", "C6d", "R1", "R2"]
    for claim in on_disk["claims"]:
        assert set(claim) == {"id", "statement", "verdict", "statistic", "ci", "theory"}
        assert claim["verdict"] in ("holds", "fails", "inconclusive")
    assert next(c for c in on_disk["claims"] if c["id"] == "S1")["verdict"] == "holds"
    for name in ("config.json", "metrics.npz", "metrics.csv", "control_dense_mu.npz",
                 "control_relu.csv", "companion.npz", "yang2023.png", "yang2023_training.png",
                 "theory.json", "claims.md", "run.json"):  # fmt: skip
        assert (workdir / name).stat().st_size > 0, name
    page = report.write([str(workdir)], tmp_path / "report", "t", overwrite=False)
    assert page.read_text().count("data:image/png;base64,") == 2
    assert all(f"| {i} |" in (tmp_path / "report" / "report.md").read_text() for i in ids)
    before = {p.name: p.stat().st_mtime_ns for p in workdir.iterdir()}
    with pytest.raises(FileExistsError, match="--overwrite"):
        runner.run(config, workdir, show_progress=False)
    assert before == {p.name: p.stat().st_mtime_ns for p in workdir.iterdir()}
    assert jax.tree.leaves(before)
