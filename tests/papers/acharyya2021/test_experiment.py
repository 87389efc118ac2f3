"""The acharyya2021 experiment: on-the-fly online SGD, ODE hand-off, claims, bad input, e2e."""

import gzip
import json
import pickle

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from launch.configs import acharyya2021 as configs
from pruning_theory import runner
from pruning_theory.engine import sweep
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.acharyya2021 import experiment, real_data, theory
from pruning_theory.papers.acharyya2021 import teacher_student as ts
from tests.claim_checks import assert_claim_consistent

CLAIM_IDS = ["C1", "C2a", "C2b", "C3a", "C3b", "C4", "C5", "T5", "C6a", "C6b", "C6c", "C6d",
             "C8", "C8b", "C8c", "B1", "C7a", "C7b", "C7c", "C7d"]  # fmt: skip


def small_config() -> ml_collections.ConfigDict:
    """The tiny variant shrunk further: every code path, a few seconds of compute."""
    config = configs.get_config("tiny")
    config.grid.seed = (0, 1)
    config.settings = ml_collections.ConfigDict(
        {"m2k6": {"teachers": 2, "students": 6}, "m1k4": {"teachers": 1, "students": 4}}
    )
    config.data.update(dimension=20, test_samples=4000)
    config.train.update(alpha=4, num_logs=2, num_records=4)
    config.pruning.update(node_counts=(1, 2), num_masks=4)
    config.ode.dt = 0.25
    config.real_data.update(
        layer_sizes=(784, 8, 8, 10),
        seeds=(0, 1),
        num_train=200,
        num_test=100,
        batch_size=20,
        epochs=1,
        num_logs=1,
        edge_fractions=(0.5,),
    )
    return config


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("acharyya2021") / "run"
    config = small_config()
    document = runner.run(config, workdir, show_progress=False)
    return config, workdir, document


@pytest.mark.slow
def test_end_to_end_writes_every_artifact_and_refuses_to_overwrite(finished):
    config, workdir, document = finished
    on_disk = json.loads((workdir / "claims.json").read_text())
    assert on_disk == json.loads(json.dumps(document))
    assert [c["id"] for c in on_disk["claims"]] == CLAIM_IDS
    for claim in on_disk["claims"]:
        assert_claim_consistent(claim)
    for name in ("metrics.npz", "setting_m1k4.csv", "ode_m2k6.npz", "real_data.npz",
                 "acharyya2021_pruning.png", "acharyya2021_kernel.png", "acharyya2021_ode.png",
                 "acharyya2021_real_data.png", "theory.json", "claims.md", "run.json"):  # fmt: skip
        assert (workdir / name).stat().st_size > 0, name
    with pytest.raises(FileExistsError, match="--overwrite"):
        runner.run(config, workdir, show_progress=False)


@pytest.mark.slow
def test_training_is_the_spec_online_sgd_on_inputs_drawn_from_the_step(finished):
    """Replays seed 0 by hand: fold_in(input key, step) inputs, shared across noise levels."""
    config, workdir, _ = finished
    result = SweepResult.load(workdir)
    dimension, (teachers, students) = config.data.dimension, (2, 6)
    key = jax.random.key(0)
    teacher = ts.init_teacher(
        jax.random.fold_in(key, experiment.TEACHER_STREAM), teachers, dimension, config.data.v_star
    )
    input_key = jax.random.fold_in(key, experiment.INPUT_STREAM)
    for n, noise in enumerate(result.axes["noise"]):
        student = ts.init_student(
            jax.random.fold_in(key, experiment.STUDENT_STREAM), students, dimension
        )
        for step in range(config.train.alpha * dimension):
            x, zeta = ts.draw_example(jax.random.fold_in(input_key, step), dimension)
            label = ts.label(teacher, x, zeta, noise)
            student = ts.sgd_step(student, x, label, config.train.learning_rate)
        q, r, t = theory.order_parameters(student.w, teacher.w)
        expected = theory.generalization_error(q, r, t, student.v, teacher.v)
        np.testing.assert_allclose(result.final["ge_trained"][0, n], expected, rtol=1e-4)
    final = result.final
    # Both noise levels start from the same student; the last record is the final error.
    np.testing.assert_array_equal(final["ge_initial"][:, 0], final["ge_initial"][:, 1])
    np.testing.assert_allclose(final["ge_history"][..., -1], final["ge_trained"], rtol=1e-6)
    np.testing.assert_array_equal(final["history_alpha"][0, 0], [1, 2, 3, 4])
    np.testing.assert_allclose(result.last("ge"), final["ge_trained"], rtol=1e-6)
    # Pruning results replace the trained weights in the saved results.
    assert final["ge_dpp_node_exact"].shape == (2, 2, 2) and "student_w" not in final


@pytest.mark.slow
def test_ode_starts_from_each_run_initial_order_parameters(finished):
    config, workdir, _ = finished
    sgd = SweepResult.load(workdir)
    ode_result = SweepResult.load(workdir, "ode_m2k6")
    assert ode_result.metrics["ge"].shape == (2, 2, config.train.alpha + 1)
    np.testing.assert_allclose(ode_result.metrics["ge"][..., 0], sgd.final["ge_initial"], rtol=1e-5)
    np.testing.assert_array_equal(ode_result.steps, np.arange(5) * config.data.dimension)


@pytest.mark.slow
def test_real_data_results_per_seed_and_fraction(finished):
    _, workdir, _ = finished
    real = SweepResult.load(workdir, "real_data")
    for rule in real_data.RULES:
        values = real.final[f"test_error_{rule}"]
        assert values.shape == (2, 1) and np.all((values >= 0) & (values <= 1)), rule
    assert not any(name.startswith("param_") for name in real.final)


@pytest.mark.slow
def test_real_data_rerun_is_bitwise_identical(finished):
    """Determinism: training and pruning the real data again gives the very same errors."""
    config, workdir, _ = finished
    saved = SweepResult.load(workdir, "real_data")
    again = real_data.run(config.real_data)
    assert set(again.final) == set(saved.final)
    for name, values in saved.final.items():
        np.testing.assert_array_equal(again.final[name], values, err_msg=name)


@pytest.mark.slow
def test_grid_shards_with_an_empty_one_merge_into_the_whole_run(finished, tmp_path):
    """More grid shards than seeds: the empty shard runs (pruning, ODE, real data) and merges.

    2 seeds over 3 shards leave shard 2/3 without cells; merging the three gives the unsharded
    run's keys and shapes, and its training curves up to float32 rounding (one cell alone is
    compiled apart from two side by side, so the sums are not bitwise equal).
    """
    config, workdir, _ = finished
    shards = [tmp_path / f"shard{i}" for i in range(3)]
    for i, shard in enumerate(shards):
        runner.run(config, shard, show_progress=False, execution=sweep.Execution(grid_shard=(i, 3)))
    empty = SweepResult.load(shards[2], "ode_m2k6")
    assert empty.metrics["ge"].shape == (0, 2, config.train.alpha + 1)
    assert SweepResult.load(shards[2], "real_data").final["test_error_divnet"].shape == (0, 1)
    runner.merge(shards, tmp_path / "merged")
    names = json.loads((workdir / "sweeps.json").read_text())["sweeps"]
    for name in names:
        whole, merged = SweepResult.load(workdir, name), SweepResult.load(tmp_path / "merged", name)
        for group in ("metrics", "final"):
            assert sorted(getattr(merged, group)) == sorted(getattr(whole, group)), name
            for key, values in getattr(whole, group).items():
                assert getattr(merged, group)[key].shape == values.shape, (name, key)
        for key, values in whole.metrics.items():
            np.testing.assert_allclose(merged.metrics[key], values, rtol=1e-4, err_msg=key)


def test_record_alphas_and_parameter_matching():
    np.testing.assert_array_equal(experiment.record_alphas(1600, 5), [1, 6, 40, 253, 1600])
    summary = experiment.theory_summary(configs.get_config("cpu"))
    assert summary["m2k6"]["edge_counts"] == [83, 166, 250, 333, 417]
    assert summary["m5k20"]["edge_counts"] == [24, 49, 74, 99, 124]
    assert summary["m2k6"]["dpp_node"][2:] == [None, None, None]  # Thm 1 needs k_n <= M
    assert summary["m5k20"]["theorem4_applies"] == [True] * 5
    real = configs.get_config("cpu").real_data
    assert real_data.edges_and_units(real, 0.2) == (156, 256)  # official cal_param_MNIST


def _set(config, path, value):
    *sections, key = path.split(".")
    node = config
    for section in sections:
        node = node[section]
    node[key] = value


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("pruning.node_counts", (1, 7), "k_n = 7 must be an integer in \\[1, K = 6\\]"),
        ("grid.noise", (0.0, -0.25), "noise level sigma = -0.25 is negative"),
        ("train.learning_rate", -0.5, "train.learning_rate = -0.5 must be positive"),
        ("settings.m2k6.students", 5, "Z = K / M = 5 / 2 = 2.5 is not an integer"),
        ("real_data.edge_fractions", (0.2, 1.5), "edge fraction 1.5 is outside \\(0, 1\\]"),
        ("pruning.importance_score", "largest", "'largest' is not one of"),
        ("ode.dt", 0.3, "1 / dt must be an integer"),
        ("ode.settings", ("m9k9",), "\\['m9k9'\\] are not settings"),
        ("train.alpha", 0, "train.alpha must be a positive integer, got 0"),
        ("real_data.dataset", "cifar10", "needs real_data.source = a directory"),
        ("real_data.layer_sizes", (784, 500, 10), "at least two hidden layers"),
        ("grid.seed", (0, 0), "duplicated values \\[0\\]"),
    ],
)
def test_bad_config_is_refused_before_any_compile(monkeypatch, tmp_path, path, value, message):
    config = configs.get_config("tiny")
    _set(config, path, value)
    monkeypatch.setattr(sweep, "build", lambda *a, **k: pytest.fail("compiled a bad config"))
    with pytest.raises(ValueError, match=message):
        runner.run(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_unknown_variant_is_named():
    with pytest.raises(ValueError, match="'huge'"):
        configs.get_config("huge")


def _write_idx(path, array: np.ndarray) -> None:
    codes = {np.dtype("uint8"): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as file:
        file.write(header + array.tobytes())


def test_real_data_reads_full_mnist_idx_and_cifar10_directories(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(10, dtype=np.uint8), 3)
    mnist_dir = tmp_path / "mnist"
    mnist_dir.mkdir()
    for prefix in ("train", "t10k"):
        images = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
        _write_idx(mnist_dir / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(mnist_dir / f"{prefix}-labels-idx1-ubyte.gz", labels)
    real = configs.get_config("tiny").real_data
    real.update(source=str(mnist_dir), num_train=20, num_test=10)
    arrays = real_data.load_arrays(real)
    assert arrays["x_train"].shape == (20, 784) and arrays["x_test"].shape == (10, 784)

    cifar_dir = tmp_path / "cifar-10-batches-py"
    cifar_dir.mkdir()
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {
            b"data": rng.integers(0, 256, size=(10, 3072), dtype=np.uint8),
            b"labels": list(range(10)),
        }
        (cifar_dir / name).write_bytes(pickle.dumps(batch))
    real.update(dataset="cifar10", source=str(tmp_path), layer_sizes=(3072, 16, 16, 10))
    real_data.validate(real)
    arrays = real_data.load_arrays(real)
    assert arrays["x_train"].shape == (20, 3072) and arrays["x_test"].shape == (10, 3072)
    assert set(np.unique(arrays["y_train"])) == set(range(10))
    assert jnp.isfinite(jnp.asarray(arrays["x_train"])).all()
