"""The wolfe2021 experiment: nested snapshots, padded sizes, scratch widths, claims, bad input."""

import json
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from launch.configs import wolfe2021 as configs
from pruning_theory import runner
from pruning_theory.engine import sweep
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.wolfe2021 import claims as wolfe2021_claims
from pruning_theory.papers.wolfe2021 import experiment as wolfe2021
from pruning_theory.papers.wolfe2021 import ntk_models
from tests.papers.wolfe2021.test_data import write_mnist_dir


def small_config(**grid):
    config = configs.get_config("tiny")
    config.baselines.scratch = False
    config.practical.enabled = False
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
    # Greedy's whole path: f_{S_k} at the listed k are entries of the path.
    ks = np.asarray(config.greedy.ks)
    chex.assert_trees_all_close(
        small.final["greedy_loss"], small.final["greedy_path_loss"][..., ks - 1]
    )


def test_write_snapshot_keeps_exactly_the_scheduled_steps():
    schedule = jnp.asarray([0, 1, 4, 6])

    def step(buffer, t):
        return wolfe2021.write_snapshot(buffer, 10.0 * t, t, schedule), None

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


def synthetic_result(t_stars: np.ndarray, config) -> SweepResult:
    """A sweep whose greedy loss at k_ref crosses the loss level exactly at ``t_stars``."""
    steps = np.asarray(config.train.snapshot_steps, dtype=float)
    level = config.checks.loss_fraction * 0.5
    # Linear in log(1 + t) through (log(1 + t*), level): interpolation recovers t* exactly.
    slope = -0.05
    curve = level + slope * (np.log1p(steps) - np.log1p(t_stars[..., None]))
    greedy_loss = np.repeat(curve[..., None], len(config.greedy.ks), axis=-1)
    return SweepResult(
        axes={"seed": np.arange(t_stars.shape[0]), "num_train": np.asarray(config.grid.num_train)},
        steps=np.asarray([config.train.steps]),
        metrics={},
        final={"greedy_loss": greedy_loss},
    )


@pytest.mark.parametrize(
    "shape, verdict",
    [(lambda m: 3 + 2 * np.log(m), "holds"), (lambda m: 60 - 5 * np.log(m), "fails")],
)
def test_threshold_claim_recovers_known_t_star_and_judges_the_fit(shape, verdict):
    config = configs.get_config("cpu")
    sizes = np.asarray(config.grid.num_train, dtype=float)
    noise = np.random.default_rng(0).normal(0, 0.05, (3, len(sizes)))
    t_stars = shape(sizes)[None, :] + noise
    result = synthetic_result(t_stars, config)
    np.testing.assert_allclose(wolfe2021_claims.t_star(result, config, "loss"), t_stars, rtol=1e-6)
    claim = wolfe2021_claims.check_threshold("C1-loss", result, config, "loss", None)
    assert claim.verdict == verdict, claim.statement
    if verdict == "holds":
        assert claim.statistic == pytest.approx(2.0, abs=0.1)


def test_fits_and_crossing_on_exact_curves():
    sizes = np.asarray([100.0, 300.0, 1000.0, 3000.0])
    a, b, r2 = wolfe2021_claims.fit_log(sizes, 1 + 4 * np.log(sizes))
    assert (a, b, r2) == pytest.approx((1, 4, 1))
    c, p, r2 = wolfe2021_claims.fit_power(sizes, 0.5 * sizes**0.3)
    assert (c, p, r2) == pytest.approx((0.5, 0.3, 1), rel=1e-4)
    steps = np.asarray([0, 1, 3])
    assert wolfe2021_claims.crossing_step(steps, np.asarray([1.0, 0.6, 0.2]), 0.4, False) == (
        pytest.approx(math.expm1(0.5 * (math.log(2) + math.log(4))))
    )
    assert math.isnan(wolfe2021_claims.crossing_step(steps, np.asarray([0.1, 0.2, 0.3]), 0.9, True))
    assert wolfe2021_claims.crossing_step(steps, np.asarray([0.1, 0.2, 0.3]), 0.15, False) == 0


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
        (lambda c, d: c.train.update(snapshot_steps=(0, 4, 4)), ValueError, "without repetition"),
        (lambda c, d: c.data.update(source=str(d / "empty")), FileNotFoundError,
         "train-images-idx3-ubyte"),
        (lambda c, d: c.data.update(source=str(d / "nowhere")), FileNotFoundError,
         "neither 'packaged' nor a directory"),
        (lambda c, d: c.data.update(scale="unit"), ValueError, "needs unit-norm inputs"),
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
    config = small_config(num_train=(20, 40))
    config.data.source = str(tmp_path)
    wolfe2021._pool.cache_clear()
    with pytest.raises(ValueError, match=f"{name}.*{message}"):
        wolfe2021.validate_all(config)


def test_full_mnist_directory_is_read_and_ordered_stratified(tmp_path):
    write_mnist_dir(tmp_path, num_train=60, gz=True)
    config = small_config(num_train=(20, 40))
    config.data.source = str(tmp_path)
    wolfe2021._pool.cache_clear()
    wolfe2021.validate_all(config)
    data = wolfe2021.seed_data(config.data.source, "l2", (20, 40), seed=0)
    assert data["x"].shape == (40, 784)
    np.testing.assert_allclose(np.linalg.norm(data["x"], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(np.bincount(data["labels"][:20], minlength=10), 2)
    config.grid.num_train = (20, 61)
    with pytest.raises(ValueError, match="61 exceeds the 60 samples"):
        wolfe2021.validate_all(config)


def test_tiny_job_end_to_end_writes_every_artifact_and_refuses_to_overwrite(tmp_path):
    config = configs.get_config("tiny")
    workdir = tmp_path / "run"
    document = runner.run(config, workdir, show_progress=False)
    on_disk = json.loads((workdir / "claims.json").read_text())
    assert on_disk == json.loads(json.dumps(document))
    ids = [claim["id"] for claim in on_disk["claims"]]
    assert ids == [
        "C1a", "C1-loss", "C1-accuracy", "C1-dense_gap", "C2", "C3a", "C3b",
        "C4a", "C4b", "C4c", "C4d", "P1a", "P1-loss", "P1-accuracy", "P1-dense_gap",
    ]  # fmt: skip
    for claim in on_disk["claims"]:
        assert claim["verdict"] in ("holds", "fails", "inconclusive")
    theory = json.loads((workdir / "theory.json").read_text())
    assert "reconstruction" in theory["label"]
    assert [row["num_train"] for row in theory["by_num_train"]] == [100, 200, 400]
    assert all(row["lambda_0"] > 0 for row in theory["by_num_train"])
    practical = np.load(workdir / "practical.npz")
    selected = practical["final/greedy_selected"]  # without replacement: distinct neurons
    assert all(len(set(path)) == len(path) for path in selected.reshape(-1, selected.shape[-1]))
    for name in ("config.json", "metrics.npz", "metrics.csv", "scratch.npz", "practical.csv",
                 "wolfe2021_pretraining.png", "wolfe2021_threshold.png",
                 "wolfe2021_loss_vs_k.png", "claims.md", "run.json"):  # fmt: skip
        assert (workdir / name).stat().st_size > 0, name
    with pytest.raises(FileExistsError, match="--overwrite"):
        runner.run(config, workdir, show_progress=False)


def test_unknown_variant_is_named():
    with pytest.raises(ValueError, match="'huge'"):
        configs.get_config("huge")
