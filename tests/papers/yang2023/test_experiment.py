"""The yang2023 experiment: exact span GD, masks, cells independent of their grid, bad input."""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from launch.configs import yang2023 as configs
from pruning_theory import experiment as experiments
from pruning_theory import models, report, runner
from pruning_theory.data import synthetic
from pruning_theory.engine import sweep
from pruning_theory.papers.yang2023 import budgets, program
from pruning_theory.papers.yang2023 import experiment as yang2023
from tests.claim_checks import assert_claim_consistent


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
        ("grid.pruning_rate", [0.0, float("nan")], "non-finite|not a finite number"),
        ("grid.pruning_rate", [], "'pruning_rate' is empty"),
        ("grid.seed", [0, 0], "duplicated values \\[0\\]"),
        ("model.width", 0, "model.width must be positive, got 0"),
        ("train.steps", -5, "train.steps must be positive, got -5"),
        ("data.num_train", 0, "data.num_train must be positive"),
        ("data.dimension", 0, "data.dimension must be positive"),
        ("train.step_scaling", "exp", "'exp' is not one of"),
        ("data.mu_kind", "sparse", "'sparse' is not one of"),
        ("data.test_sampling", "exact", "'exact' is not one of"),
        ("checks.bound_tolerance", 0.0, "checks.bound_tolerance must be positive, got 0.0"),
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


@pytest.mark.slow
def test_tiny_job_end_to_end_writes_every_artifact_and_refuses_to_overwrite(tmp_path):
    config = configs.get_config("tiny")
    workdir = tmp_path / "run"
    document = runner.run(config, workdir, show_progress=False)
    on_disk = json.loads((workdir / "claims.json").read_text())
    assert on_disk == json.loads(json.dumps(document))
    assert on_disk["experiment"] == "yang2023" and on_disk["config"] == "tiny"
    ids = [claim["id"] for claim in on_disk["claims"]]
    assert ids == [
        *("S1", "S2", "C1", "C2", "C3", "C4", "C5", "C6a", "C6b", "C6c", "M1", "M2", "R1", "R2")
    ]
    kinds = {claim["id"]: claim["kind"] for claim in on_disk["claims"]}
    assert kinds["S1"] == kinds["S2"] == "sanity" and kinds["M2"] == "exploratory"
    assert all(kinds[i] == "claim" for i in ids if i not in ("S1", "S2", "M2"))
    for claim in on_disk["claims"]:
        assert claim["verdict"] in ("holds", "fails", "inconclusive")
        assert_claim_consistent(claim)
    assert next(c for c in on_disk["claims"] if c["id"] == "S1")["verdict"] == "holds"
    for name in ("config.json", "metrics.npz", "metrics.csv", "control_dense_mu.npz",
                 "control_relu.csv", "companion.npz", "yang2023.png", "yang2023_training.png",
                 "yang2023_mechanism.png", "theory.json", "claims.md", "run.json"):  # fmt: skip
        assert (workdir / name).stat().st_size > 0, name
    page = report.write([str(workdir)], tmp_path / "report", "t", overwrite=False)
    assert page.read_text().count("data:image/png;base64,") == 3
    assert all(f"| {i} |" in (tmp_path / "report" / "report.md").read_text() for i in ids)
    before = {p.name: p.stat().st_mtime_ns for p in workdir.iterdir()}
    with pytest.raises(FileExistsError, match="--overwrite"):
        runner.run(config, workdir, show_progress=False)
    assert before == {p.name: p.stat().st_mtime_ns for p in workdir.iterdir()}
    assert {"claims.json", "config.json", "metrics.npz", "run.json"} <= set(before)


def test_gram_sampling_gives_the_direct_methods_accuracy_distribution():
    """The same trained cells tested on d-dimensional inputs and on 2m-dimensional response
    draws: each cell's accuracies agree within sampling error, and across the cells the
    standardized differences have mean 0 and variance about 1 (docs/papers/yang2023.md)."""
    config = small_config()
    config.grid.seed = list(range(12))
    config.data.num_test = 400
    results = {}
    for sampling in ("gram", "inputs"):
        config.data.test_sampling = sampling
        results[sampling] = yang2023.run_sweep(config)
    np.testing.assert_array_equal(
        results["gram"].last("train_loss"), results["inputs"].last("train_loss")
    )
    # The two entries of a noise-only prediction sum to 1: one of them carries it all.
    points = {"test_accuracy": 1, "class_test_accuracy": 2, "noise_only_prediction": 1}
    for name, share in points.items():
        gram, direct = results["gram"].final[name], results["inputs"].final[name]
        if name == "noise_only_prediction":
            gram, direct = gram[..., 0], direct[..., 0]
        pooled = (gram + direct) / 2
        variance = 2 * pooled * (1 - pooled) / (config.data.num_test / share)
        varied = variance > 0
        assert varied.sum() >= 12, name  # enough cells that are not exactly 0 or 1
        np.testing.assert_array_equal(gram[~varied], direct[~varied])
        z = (gram - direct)[varied] / np.sqrt(variance[varied])
        assert np.max(np.abs(z)) < 4.5, name
        assert abs(z.mean()) * np.sqrt(z.size) < 4, name
        assert stats.chi2.sf(np.sum(z**2), z.size) > 1e-4, name


def test_test_metrics_per_class_and_noise_only_by_hand():
    """A net whose class +1 bank holds e_1 (detects +mu) and e_2 (fires on noise) only."""
    config = configs.get_config("tiny")
    config.data.test_sampling = "inputs"
    dimension, width = config.data.dimension, config.model.width
    model = program.patch_net(config, jax.random.key(0))
    kernel = np.zeros((dimension, 2 * width), np.float32)
    kernel[0, 0] = kernel[1, 1] = 1.0
    model.filters.kernel[...] = kernel
    labels = np.array([1.0, -1.0] * 1000, np.float32)
    noise = np.array(jax.random.normal(jax.random.key(1), (2000, dimension)))
    noise[:, 0] = 0.0  # orthogonal to mu = ||mu|| e_1
    mu = np.zeros(dimension, np.float32)
    mu[0] = config.data.mu_norm
    data = {"mu": mu, "test": synthetic.PatchData(labels, noise)}
    measured = program.test_metrics(model, data, config)
    # Class +1 is always detected; class -1 never (F_{-1} = 0, F_{+1} >= 0); noise alone
    # is assigned to class +1 when its e_2 coordinate is positive, never to class -1.
    np.testing.assert_allclose(measured["class_test_accuracy"], [1.0, 0.0])
    assert measured["test_accuracy"] == 0.5
    assigned = measured["noise_only_prediction"]
    assert assigned[1] == 0 and assigned[0] == pytest.approx(np.mean(noise[:, 1] > 0))


def test_analyze_works_on_small_subsets_of_seeds(span_and_weights):
    """Split-half replication analyzes subsets: 2 seeds give claims, never a crash."""
    span, _ = span_and_weights
    config = small_config()
    config.run_controls = False
    config.companion.enabled = False
    claims, figures = yang2023.analyze(config, {"metrics": span})
    by_id = {claim.id: claim for claim in claims}
    assert by_id["C3"].verdict == "inconclusive" and "Not evaluated" in by_id["C3"].statement
    assert set(figures) == {"yang2023", "yang2023_training", "yang2023_mechanism"}


def test_configs_controls_and_the_mechanism_study():
    cpu, study = configs.get_config("cpu"), configs.get_config("cpu_mechanism")
    width = cpu.model.width
    assert len(study.grid.seed) >= 64 and not set(study.grid.seed) & set(cpu.grid.seed)
    over = [p for p in study.grid.pruning_rate if width * (1 - p) <= 0.5]
    assert len(over) >= 2 and {0.0, 0.9, 0.95, 0.97}.issubset(study.grid.pruning_rate)
    for control in cpu.controls.values():
        assert all(width * (1 - p) > 0.5 for p in control.grid.pruning_rate)
        assert 0.0 in control.grid.pruning_rate
    assert cpu.controls.relu.model.power == 1.0 and cpu.controls.relu.data.mu_norm < 20
    assert tuple(cpu.controls.relu.grid.seed) == tuple(cpu.grid.seed)
    assert set(cpu.controls.dense_mu.grid.seed) < set(cpu.grid.seed)
    for variant in configs.VARIANTS:
        yang2023.validate_all(configs.get_config(variant))


def test_step_budget_groups_give_the_whole_grids_result(span_and_weights, monkeypatch):
    """Rates run in budget groups (each only as long as its longest budget, histories padded
    with their last value) equal the whole grid run as one sweep (docs/papers/yang2023.md)."""
    span, _ = span_and_weights  # one group: the grid is small, a compile costs more
    monkeypatch.setattr(budgets, "COMPILE_CELL_STEPS", 0)
    config = small_config()
    groups = budgets.rate_groups(config)
    assert [g.tolist() for g in groups] == [[0], [1], [2]]  # 1, 2 and 3 segments
    grouped = yang2023.run_sweep(config)
    np.testing.assert_array_equal(grouped.steps, span.steps)
    np.testing.assert_array_equal(grouped.axes["pruning_rate"], span.axes["pruning_rate"])
    for name in span.metrics:
        chex.assert_trees_all_close(grouped.metrics[name], span.metrics[name], rtol=1e-4, atol=1e-8)
    for name in ("step_budget", "effective_filters", "kept_weights"):
        np.testing.assert_array_equal(grouped.final[name], span.final[name])
    chex.assert_trees_all_close(grouped.final["test_accuracy"], span.final["test_accuracy"])


def test_rate_groups_cover_every_rate_once_and_cut_the_cell_segments():
    config = configs.get_config("cpu")
    groups = budgets.rate_groups(config)
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(config.grid.pruning_rate)))
    segments = budgets.segments_per_rate(config)
    grouped = sum(len(g) * segments[g].max() for g in groups)
    assert 1 < len(groups) <= budgets.MAX_GROUPS and grouped < 0.6 * segments.size * segments.max()


def test_outputs_of_responses_equal_the_patch_net_outputs():
    width, num_train = 5, 7
    responses = jax.random.normal(jax.random.key(0), (2 * width, num_train + 1))
    labels = jnp.array([1.0, -1.0, -1.0, 1.0, 1.0, -1.0, 1.0])
    for power in (1.0, 3.0):
        fast = program.outputs_of_responses(responses, labels, width, power)
        reference = models.patch_net_output(
            responses[:, 0].reshape(2, width), responses[:, 1:].reshape(2, width, -1), labels, power
        )
        np.testing.assert_allclose(fast, reference, rtol=1e-6, atol=1e-7)
