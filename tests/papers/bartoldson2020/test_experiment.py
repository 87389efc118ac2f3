"""The bartoldson2020 job: the tiny sweep end to end (MNIST-1D), a reduced gpu config on fake
CIFAR-10, the data splits, and bad input refused before compiling."""

import json
import pickle

import numpy as np
import pytest

from launch.configs import bartoldson2020 as configs
from pruning_theory import runner
from pruning_theory.engine import sweep
from pruning_theory.papers.bartoldson2020 import experiment as bartoldson2020
from pruning_theory.papers.bartoldson2020 import schedules, validation
from pruning_theory.papers.bartoldson2020 import setup as bartoldson2020_setup
from tests.claim_checks import assert_claim_consistent

CLAIM_IDS = ["M1", "M2", "M3", "M4", "M5", "M6", "C1", "C1f", "C2", "C3", "C4", "C5", "C6",
             "C7a", "C7b", "C7c"]  # fmt: skip
SANITY = {"M1", "M2", "M3", "M6"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("b2020") / "run"
    document = runner.run(configs.get_config("tiny"), workdir, show_progress=False)
    return workdir, document


@pytest.mark.slow
def test_tiny_job_writes_every_artifact_and_its_mechanics_hold(tiny_run):
    workdir, document = tiny_run
    on_disk = json.loads((workdir / "claims.json").read_text())
    assert on_disk == json.loads(json.dumps(document))
    assert [claim["id"] for claim in on_disk["claims"]] == CLAIM_IDS
    verdicts = {claim["id"]: claim["verdict"] for claim in on_disk["claims"]}
    # Schedule, masking, baselines and temporary pruning must hold at any scale.
    assert {verdicts[k] for k in SANITY} == {"holds"}
    for claim in on_disk["claims"]:
        assert_claim_consistent(claim)
    kinds = {claim["id"]: claim["kind"] for claim in on_disk["claims"]}
    assert {k for k, kind in kinds.items() if kind == "sanity"} == SANITY
    # The runner re-analyzed both halves of the 3 seeds (2 and 1): analyze takes any subset.
    assert [half["available"] for half in on_disk["split"]["halves"]] == [True, True]
    one_seed = {c["id"]: c["halves"][1]["verdict"] for c in on_disk["claims"]}
    assert {one_seed[k] for k in ("M4", "M5", "C3", "C4", "C5", "C6")} == {"inconclusive"}
    for name in ("metrics.npz", "baselines.csv", "noise.npz", "theory.json", "run.json",
                 "bartoldson2020_curves.png", "bartoldson2020_tradeoff.png",
                 "bartoldson2020_rates.png", "bartoldson2020_noise.png",
                 "bartoldson2020_flatness.png"):  # fmt: skip
        assert (workdir / name).stat().st_size > 0, name


@pytest.mark.slow
def test_tiny_job_records_what_the_spec_defines(tiny_run):
    workdir, _ = tiny_run
    config = configs.get_config("tiny")
    with np.load(workdir / "metrics.npz") as npz:
        targets = list(npz["axis/target"])
        pre, post = npz["metric/pre_accuracy"], npz["metric/post_accuracy"]
        removed, stable = npz["metric/removed"], npz["final/mean_stability"]
        eigenvalues = npz["final/hessian_eigenvalues"]
    assert targets == ["smallest", "random", "largest"]
    with np.load(workdir / "metrics.npz") as npz:
        final_accuracy, best = npz["final/final_accuracy"], npz["final/best_accuracy"]
    np.testing.assert_array_equal(final_accuracy, post[..., -1])
    assert np.all(best >= final_accuracy)
    epochs = config.train.num_epochs
    assert pre.shape == (3, 3, 2, epochs) and removed.shape == (3, 3, 2, epochs, 2)
    # Accuracies change only at epochs with a prune.
    unpruned = removed.sum(-1) == 0
    np.testing.assert_array_equal(pre[unpruned], post[unpruned])
    assert np.any(pre[~unpruned] != post[~unpruned])
    np.testing.assert_allclose(
        stable, 100 * (1 - np.nanmean(np.where(unpruned, np.nan, (pre - post) / pre), -1))
    )
    assert np.all(np.diff(eigenvalues, axis=-1) <= 1e-4)  # descending top-k
    theory = json.loads((workdir / "theory.json").read_text())
    assert theory["final_kept"] == [23, 4]
    # Aligned schedules: both layers prune last at their end epochs (4, 5) for every period.
    assert theory["event_epochs"]["3"] == [[1, 4], [2, 5]]
    assert theory["event_epochs"]["1"][1] == [1, 2, 3, 4, 5]
    assert theory["comparison_epoch"] == 5
    with np.load(workdir / "noise.npz") as npz:
        assert set(npz["axis/method"]) == {"zeroing", "gaussian"}
        assert np.all(npz["final/alive"] == 32)


@pytest.mark.slow
def test_finished_job_is_not_overwritten(tiny_run):
    workdir, _ = tiny_run
    before = {p.name: p.stat().st_mtime_ns for p in workdir.iterdir()}
    with pytest.raises(FileExistsError, match="--overwrite"):
        runner.run(configs.get_config("tiny"), workdir, show_progress=False)
    assert before == {p.name: p.stat().st_mtime_ns for p in workdir.iterdir()}


def write_fake_cifar(root, images_per_batch=20):
    """The official cifar-10-batches-py layout with random images."""
    directory = root / "cifar-10-batches-py"
    directory.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (images_per_batch, 3072), dtype=np.uint8),
            b"labels": [i % 10 for i in range(images_per_batch)],
        }
        (directory / name).write_bytes(pickle.dumps(batch, protocol=3))
    return directory


def reduced_gpu_config(cifar_dir):
    """The paper's VGG11 grid, shrunk to compile and run a few steps on CPU."""
    config = configs.get_config("gpu")
    config.data.update(cifar_dir=str(cifar_dir), num_train=80, num_test=20)
    config.model.widths = (4, 4, 4, 4, 8, 8, 8, 8)
    config.train.update(
        batch_size=20, num_epochs=3, lr_decay_epochs=(2,), eval_batch_size=10, augment=True
    )
    config.pruning.update(start_epochs=(0, 0, 1, 1), end_epochs=(1, 1, 2, 2))
    config.grid.update(seed=(0,), retrain_period=(1,))
    config.noise.update(retrain_period=1, windows=(1, 2))
    config.flatness.update(num_images=8, num_eigenvalues=2, lanczos_iterations=3,
                           num_directions=1, num_epsilons=4, example_chunk=4)  # fmt: skip
    return config


@pytest.mark.slow
def test_reduced_gpu_config_compiles_and_prunes_vgg_on_fake_cifar(tmp_path):
    config = reduced_gpu_config(write_fake_cifar(tmp_path))
    validation.validate_all(config)
    setup = bartoldson2020_setup.make_setup(config)
    spec = bartoldson2020.sweep_specs(config)["metrics"]
    result = bartoldson2020.run_sweep(config, setup, "metrics", spec)
    # The last four convs end at ceil((1 - p) F) of F = (8, 8, 8, 8): 6, 6, 6, 1.
    np.testing.assert_array_equal(
        result.final["alive"], np.broadcast_to([6, 6, 6, 1], (1, 3, 1, 4))
    )
    assert np.all(result.metrics["pruned_activity_max"] == 0)
    assert np.all(np.isfinite(result.metrics["post_accuracy"]))


def test_cifar_directory_with_a_missing_or_malformed_batch_is_named(tmp_path):
    directory = write_fake_cifar(tmp_path)
    config = reduced_gpu_config(directory)
    (directory / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        validation.validate_all(config)
    bad = {b"data": np.zeros((4, 100), np.uint8), b"labels": [0, 1, 2, 3]}
    (directory / "data_batch_3").write_bytes(pickle.dumps(bad, protocol=3))
    with pytest.raises(ValueError, match="data_batch_3: expected uint8 data \\[N, 3072\\]"):
        validation.validate_all(config)


def mnist_config():
    """The MNIST setting, shrunk."""
    config = configs.get_config("cpu_mnist")
    config.data.update(num_train=400, num_test=200)
    return config


def test_mnist1d_split_is_generated_once_as_float_signals():
    config = configs.get_config("tiny")
    data = bartoldson2020_setup.load_data(config)
    assert data.x_train.shape == (400, 40) and data.x_train.dtype == np.float32
    assert data.x_test.shape == (200, 40) and data.y_test.dtype == np.int32
    assert set(np.unique(data.y_train)) == set(range(10))
    # The generator standardized the pool; the job adds nothing.
    np.testing.assert_array_equal([data.mean, data.std], [[0.0], [1.0]])
    again = bartoldson2020_setup.load_data(config)
    np.testing.assert_array_equal(again.x_train, data.x_train)


def test_data_split_standardizes_and_flips_labels_as_asked():
    config = mnist_config()
    clean = bartoldson2020_setup.load_data(config)
    assert clean.x_train.shape == (400, 28, 28, 1) and clean.x_train.dtype == np.uint8
    assert np.bincount(clean.y_test).tolist() == [20] * 10
    config.data.label_noise = 0.25
    noisy = bartoldson2020_setup.load_data(config)
    flipped = np.mean(noisy.y_train != clean.y_train)
    assert 0.15 < flipped < 0.35
    np.testing.assert_array_equal(noisy.x_train, clean.x_train)


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("pruning.fractions", (0.3, 1.0), "pruning fraction 1.0 is outside \\[0, 1\\)"),
        ("pruning.start_epochs", (5, 1), "start epoch 5 is after end epoch 4"),
        ("pruning.end_epochs", (4, 8), "end epoch 8 is past the last epoch 7"),
        ("grid.retrain_period", (1, 0), "retrain period 0 is not an integer >= 1"),
        ("pruning.score", "taylor", "unknown score 'taylor'"),
        ("grid.target", ("smallest", "median"), "unknown target 'median'"),
        ("noise.kinds", ("zeroing", "dropout"), "unknown noise kind 'dropout'"),
        ("baselines", ("none", "lottery"), "unknown baseline 'lottery'"),
        ("noise.windows", (1, 0), "noise window 0 is not >= 1"),
        ("model.name", "alexnet", "model 'alexnet' is not one of"),
        ("train.optimizer", "lamb", "train.optimizer 'lamb' is not one of"),
        ("data.source", "svhn", "data.source 'svhn' is not one of"),
        ("train.eval_batch_size", 30, "not a multiple of train.eval_batch_size 30"),
        ("train.augment", True, "does not apply to mnist1d"),
        ("model.widths", (32, 0), "model widths \\(32, 0\\) must be positive"),
        ("flatness.num_eigenvalues", 40, "need 1 <= flatness.num_directions"),
        ("pruning.fractions", (0.3, 0.3, 0.3), "of one length"),
    ],
)
def test_bad_config_is_refused_before_any_compile(monkeypatch, tmp_path, path, value, message):
    config = configs.get_config("tiny")
    *sections, key = path.split(".")
    target = config
    for section in sections:
        target = target[section]
    target[key] = value
    monkeypatch.setattr(sweep, "build", lambda *a, **k: pytest.fail("compiled a bad config"))
    with pytest.raises(ValueError, match=message):
        runner.run(config, tmp_path / "run", show_progress=False)
    assert not (tmp_path / "run").exists()


def test_mnist_sizes_beyond_the_packaged_subset_are_refused(monkeypatch):
    config = mnist_config()
    config.data.num_train = 4900
    monkeypatch.setattr(sweep, "build", lambda *a, **k: pytest.fail("compiled a bad config"))
    with pytest.raises(ValueError, match="exceeds the 5000 images"):
        validation.validate_all(config)


def test_unknown_variant_is_named():
    with pytest.raises(ValueError, match="'huge'"):
        configs.get_config("huge")


def test_schedules_of_the_configs_match_the_spec():
    cpu = configs.get_config("cpu")
    layers = bartoldson2020_setup.layer_schedules(cpu, (256, 256))
    rates = [schedules.iterative_pruning_rate(layers, r) for r in cpu.grid.retrain_period]
    np.testing.assert_allclose(rates, [0.5 / 21, 0.5 / 6, 0.5])  # 2.4%, 8.3%, 50%
    assert {schedules.last_event_epoch(layers, r) for r in cpu.grid.retrain_period} == {42}
    assert bartoldson2020_setup.comparison_epoch(cpu, layers) == 42
    assert bartoldson2020_setup.flatness_epoch(cpu) == 47
    assert (cpu.data.source, cpu.pruning.score) == ("mnist1d", "ebn")
    mnist = configs.get_config("cpu_mnist")
    layers = bartoldson2020_setup.layer_schedules(mnist, (256, 256))
    rates = [schedules.iterative_pruning_rate(layers, r) for r in mnist.grid.retrain_period]
    np.testing.assert_allclose(rates, [0.9 / 33, 0.9 / 7, 0.9 / 3])  # ~2.7%, ~13%, 30%
    assert bartoldson2020_setup.flatness_epoch(mnist) == 115
    gpu = configs.get_config("gpu")
    assert bartoldson2020_setup.flatness_epoch(gpu) == 314  # the official code's epoch
    assert (gpu.pruning.align_end, gpu.pruning.score) == (False, "l2")  # the official code's
