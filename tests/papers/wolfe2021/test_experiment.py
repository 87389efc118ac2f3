"""The wolfe2021 experiment: nested snapshots, padded sizes, scratch widths, claims, bad input."""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from launch.configs import wolfe2021 as configs
from pruning_theory import runner
from pruning_theory.engine import sweep
from pruning_theory.papers.wolfe2021 import experiment as wolfe2021
from pruning_theory.papers.wolfe2021 import greedy, ntk_models, pools, program
from tests.claim_checks import assert_claim_consistent
from tests.papers.wolfe2021.test_data import write_mnist_dir


def small_config(**grid):
    config = configs.get_config("tiny")
    config.baselines.scratch = False
    config.practical.enabled = False
    config.mnist1d.enabled = False
    config.grid.update(grid)
    return config


@pytest.fixture(scope="module")
def small():
    return wolfe2021.run_sweep(small_config())


def test_snapshots_along_one_trajectory_equal_the_logged_dense_metrics(small):
    """Snapshot t and the engine's log at step t see the same parameters (nested lengths)."""
    config = small_config()
    snapshot_steps = list(config.train.snapshot_steps)
    for log_index, step in enumerate(small.steps):
        if step in snapshot_steps:
            j = snapshot_steps.index(step)
            for name in ("loss", "accuracy"):
                chex.assert_trees_all_close(
                    small.final[f"dense_{name}"][..., j],
                    small.metrics[f"train_{name}"][..., log_index],
                    rtol=1e-5,
                )
    loss = small.final["dense_loss"]
    assert np.all(loss[..., -1] < loss[..., 0])
    # Greedy replayed outside the sweep on snapshot 0 (the initial network of seed 0, each m
    # alone, so unpadded) gives the listed f_{S_k}: an independent check of the wiring.
    ks = np.asarray(config.greedy.ks)
    first = snapshot_steps.index(0)
    for m_index, m in enumerate(config.grid.num_train):
        alone = small_config(num_train=(m,))
        trainer = program.make_trainer(alone)
        cell = {"seed": jnp.int32(config.grid.seed[0]), "num_train": jnp.int32(m)}
        host = trainer.host_data({"seed": np.asarray([config.grid.seed[0]])})
        data = trainer.make_data({**cell, **{k: jnp.asarray(v[0]) for k, v in host.items()}})
        neurons = ntk_models.neurons_of(trainer.initial_model(cell), data["x"])
        targets = trainer.targets(data, cell["num_train"], "mean")
        path = greedy.greedy_path(neurons, targets, program.greedy_config(alone), jax.random.key(0))
        chex.assert_trees_all_close(
            small.final["greedy_loss"][0, m_index, first], path.loss[ks - 1], rtol=1e-4
        )


def test_write_snapshot_keeps_exactly_the_scheduled_steps():
    schedule = jnp.asarray([0, 1, 4, 6])

    def step(buffer, t):
        return program.write_snapshot(buffer, 10.0 * t, t, schedule), None

    buffer, _ = jax.lax.scan(step, jnp.full(4, -1.0), jnp.arange(7))
    np.testing.assert_array_equal(buffer, [0.0, 10.0, 40.0, 60.0])


def test_a_size_alone_equals_the_same_size_padded_in_the_grid(small):
    alone = wolfe2021.run_sweep(small_config(seed=(1,), num_train=(200,)))
    inside = {name: value[1, 1] for name, value in small.final.items()}
    for name in ("dense_loss", "greedy_loss", "random_loss", "magnitude_accuracy"):
        chex.assert_trees_all_close(alone.final[name][0, 0], inside[name], rtol=2e-4, atol=1e-5)
    np.testing.assert_array_equal(
        alone.final["greedy_selected"][0, 0, :, :3], inside["greedy_selected"][:, :3]
    )


def test_scratch_mask_makes_a_width_k_ntk_net():
    """Width K with unit mask sqrt(K/k) 1[r < k] = the width-k net, outputs and gradients."""
    big, small_width = 12, 5
    x = jax.random.normal(jax.random.key(0), (7, 4))
    model = ntk_models.NTKTwoLayer(4, big, 3, 1.0, rngs=nnx.Rngs(params=0))
    model.hidden.unit_mask[...] = jnp.sqrt(big / small_width) * (jnp.arange(big) < small_width)
    kernel = model.hidden.kernel[...][:, :small_width]
    signs = model.signs[...][:small_width]

    def width_k(w):
        return jax.nn.relu(x @ w) @ signs / jnp.sqrt(small_width)

    chex.assert_trees_all_close(model(x), width_k(kernel), rtol=1e-5)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    grads = jax.grad(lambda p: jnp.sum(nnx.merge(graphdef, p, rest)(x) ** 2))(params)
    masked = grads["hidden"]["kernel"][...]
    chex.assert_trees_all_close(masked[:, :small_width], jax.grad(
        lambda w: jnp.sum(width_k(w) ** 2))(kernel), rtol=1e-5)  # fmt: skip
    assert np.all(masked[:, small_width:] == 0)


def test_size_groups_bound_the_padding_and_join_back_into_one_result(small):
    assert wolfe2021.size_groups((78, 156, 312, 624, 1248), 2.0) == [(78, 156), (312, 624), (1248,)]
    assert wolfe2021.size_groups((100, 200, 400), None) == [(100, 200, 400)]
    config = small_config()
    config.data.max_pad_ratio = 2.0  # programs (100, 200) padded to 200, and (400,)
    grouped = wolfe2021.run_sweep(config)
    np.testing.assert_array_equal(grouped.axes["num_train"], [100, 200, 400])
    for name in ("dense_loss", "greedy_loss", "random_loss", "magnitude_accuracy"):
        chex.assert_trees_all_close(grouped.final[name], small.final[name], rtol=2e-4, atol=1e-5)
    assert grouped.metrics["train_loss"].shape == small.metrics["train_loss"].shape


def corrupt_file(directory, name, payload_edit):
    path = directory / name
    path.write_bytes(payload_edit(path.read_bytes()))


@pytest.mark.parametrize(
    "edit, error, message",
    [
        (lambda c, d: c.greedy.update(replacement=False, ks=(8, 65)), ValueError, "k <= N"),
        (lambda c, d: c.greedy.update(num_candidates=0), ValueError, "empty candidate set"),
        (lambda c, d: c.grid.update(num_train=(100, 5001)), ValueError, "5001 exceeds the 5000"),
        (lambda c, d: c.train.update(snapshot_steps=(0, 4, 32)), ValueError,
         "snapshot step 32 is beyond the training length train.steps = 16"),
        (lambda c, d: c.train.update(snapshot_steps=(0, 4, 4, 16)), ValueError,
         "without repetition"),
        (lambda c, d: c.data.update(source=str(d / "empty")), FileNotFoundError,
         "train-images-idx3-ubyte"),
        (lambda c, d: c.data.update(source=str(d / "nowhere")), FileNotFoundError,
         "neither 'packaged', 'mnist1d' nor a directory"),
        (lambda c, d: c.data.update(scale="unit"), ValueError, "needs the 'ntk' net on unit-norm"),
        (lambda c, d: c.data.update(max_pad_ratio=0.5), ValueError, "max_pad_ratio = 0.5"),
        (lambda c, d: c.grid.update(num_train=(200, 100, 400)), ValueError, "must increase"),
        (lambda c, d: c.grid.update(num_train=(100, 200)), ValueError, "at least 3 dataset sizes"),
        (lambda c, d: c.train.update(snapshot_steps=(0, 4, 8)), ValueError,
         "must start at 0 and end at train.steps = 16"),
        (lambda c, d: c.mnist1d.overrides.data.update(pool_size=300), ValueError,
         "400 exceeds the 300 samples"),
        (lambda c, d: c.mnist1d.overrides.update({"data": {"scale": "unit"}}), ValueError,
         "mnist1d signals take only 'l2'"),
        (lambda c, d: c.mnist1d.overrides.checks.update(k_ref=5), ValueError, "k_ref = 5"),
        (lambda c, d: c.data.update(normalization="median"), ValueError, "'median'"),
        (lambda c, d: c.checks.update(k_ref=5), ValueError, "k_ref = 5"),
        (lambda c, d: c.checks.update(definitions=("loss", "vibes")), ValueError, "'vibes'"),
        (lambda c, d: c.practical.overrides.model.update(width=0), ValueError,
         "model.width must be positive, got 0"),
    ],
)  # fmt: skip
def test_bad_config_is_refused_before_any_compile(monkeypatch, tmp_path, edit, error, message):
    (tmp_path / "empty").mkdir()
    config = configs.get_config("tiny")
    edit(config, tmp_path)
    monkeypatch.setattr(sweep, "build", lambda *a, **k: pytest.fail("compiled a bad config"))
    with pytest.raises(error, match=message):
        runner.run(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "name, edit, message",
    [
        ("train-images-idx3-ubyte", lambda b: b"\x00\x00\x07" + b[3:], "bad IDX magic"),
        ("train-labels-idx1-ubyte", lambda b: b[:-3], "data bytes follow"),
        ("t10k-images-idx3-ubyte", lambda b: b + b"\x00", "data bytes follow"),
    ],
)
def test_a_data_directory_with_a_corrupt_idx_file_is_named(tmp_path, name, edit, message):
    write_mnist_dir(tmp_path)
    corrupt_file(tmp_path, name, edit)
    config = small_config(num_train=(20, 30, 40))
    config.data.source = str(tmp_path)
    pools._mnist_pool.cache_clear()
    with pytest.raises(ValueError, match=f"{name}.*{message}"):
        wolfe2021.validate_all(config)


def test_full_mnist_directory_is_read_and_ordered_stratified(tmp_path):
    write_mnist_dir(tmp_path, num_train=60, gz=True)
    config = small_config(num_train=(20, 30, 40))
    config.data.source = str(tmp_path)
    pools._mnist_pool.cache_clear()
    wolfe2021.validate_all(config)
    data = pools.seed_data(config.data, 40, seed=0)
    assert data["x"].shape == (40, 784)
    np.testing.assert_allclose(np.linalg.norm(data["x"], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(np.bincount(data["labels"][:20], minlength=10), 2)
    config.grid.num_train = (20, 40, 61)
    with pytest.raises(ValueError, match="61 exceeds the 60 samples"):
        wolfe2021.validate_all(config)


@pytest.mark.slow
def test_tiny_job_end_to_end_writes_every_artifact_and_refuses_to_overwrite(tmp_path):
    config = configs.get_config("tiny")
    workdir = tmp_path / "run"
    document = runner.run(config, workdir, show_progress=False)
    on_disk = json.loads((workdir / "claims.json").read_text())
    assert on_disk == json.loads(json.dumps(document))
    ids = [claim["id"] for claim in on_disk["claims"]]
    assert ids == [
        "C1a", "C1b-loss", "C1b-accuracy", "C1-loss", "C1-accuracy", "C2", "C3a",
        "C4a", "C4b", "C4c", "C4d",
        "C1a-1d", "C1b-loss-1d", "C1b-accuracy-1d", "C1-loss-1d", "C1-accuracy-1d",
        "P1a", "P1b-loss", "P1b-accuracy", "P1-loss", "P1-accuracy",
    ]  # fmt: skip
    for claim in on_disk["claims"]:
        assert_claim_consistent(claim)
    assert "[MNIST-1D]" in on_disk["claims"][11]["statement"]
    theory = json.loads((workdir / "theory.json").read_text())
    assert "reconstruction" in theory["label"]
    for name in ("metrics", "mnist1d"):
        rows = theory["sweeps"][name]["by_num_train"]
        assert [row["num_train"] for row in rows] == [100, 200, 400]
        assert all(row["lambda_0"] > 0 and row["t_star"] > 0 for row in rows)
    mnist1d = np.load(workdir / "mnist1d.npz")
    assert mnist1d["final/greedy_loss"].shape[:3] == (2, 3, len(config.train.snapshot_steps))
    practical = np.load(workdir / "practical.npz")
    selected = practical["final/greedy_selected"]  # without replacement: distinct neurons
    assert all(len(set(path)) == len(path) for path in selected.reshape(-1, selected.shape[-1]))
    for name in ("config.json", "metrics.npz", "metrics.csv", "scratch.npz", "practical.csv",
                 "mnist1d.csv",
                 "wolfe2021_pretraining.png", "wolfe2021_threshold.png",
                 "wolfe2021_loss_vs_k.png", "claims.md", "run.json"):  # fmt: skip
        assert (workdir / name).stat().st_size > 0, name
    with pytest.raises(FileExistsError, match="--overwrite"):
        runner.run(config, workdir, show_progress=False)


def test_unknown_variant_is_named():
    with pytest.raises(ValueError, match="'huge'"):
        configs.get_config("huge")
