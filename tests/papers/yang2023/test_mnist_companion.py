"""Tests of the MNIST companion of Yang et al. 2023: shapes, masks, training, claims, validation."""

import dataclasses
import math
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pruning_theory.claims import Claim, verdict_above
from pruning_theory.data import mnist
from pruning_theory.engine import sweep
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.yang2023 import mnist_companion as mc

TINY = mc.Config(hidden_sizes=(32,), num_train=500, num_test=200, num_steps=40, log_every=20)
RATES = [0.0, 0.5, 0.99]
SEEDS = [0, 1]
NUM_WEIGHTS = 784 * 32 + 32 * 10


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    return mnist.mnist_classification(TINY.num_train, TINY.num_test, mc.SPLIT_SEED)


@pytest.fixture(scope="module")
def tiny_run() -> tuple[SweepResult, list[Claim]]:
    result = mc.run_sweep(TINY, RATES, SEEDS)
    return result, mc.claims(result, TINY)


def _cell(seed: int, rate: float) -> dict[str, jax.Array]:
    return {"seed": jnp.int32(seed), "pruning_rate": jnp.float32(rate)}


def test_metrics_are_labelled_seed_rate_logs(tiny_run):
    result, _ = tiny_run
    assert list(result.axes) == ["seed", "pruning_rate"]
    np.testing.assert_array_equal(result.axes["seed"], SEEDS)
    np.testing.assert_array_equal(result.axes["pruning_rate"], RATES)
    np.testing.assert_array_equal(result.steps, [20, 40])
    assert set(result.metrics) == {"train_loss", "test_accuracy", "kept_fraction"}
    for name, values in result.metrics.items():
        assert values.shape == (len(SEEDS), len(RATES), 2), name
        assert np.all(np.isfinite(values)), name


def test_kept_fraction_matches_one_minus_rate(tiny_run):
    result, _ = tiny_run
    kept = result.last("kept_fraction")
    rates = np.asarray(RATES)
    # Five binomial standard deviations of the kept fraction of NUM_WEIGHTS i.i.d. weights.
    tolerance = 5 * np.sqrt(rates * (1 - rates) / NUM_WEIGHTS) + 1e-6
    assert np.all(np.abs(kept - (1 - rates)) <= tolerance)
    np.testing.assert_array_equal(kept[:, 0], 1.0)


def test_dense_training_beats_chance(tiny_run):
    result, _ = tiny_run
    dense = result.last("test_accuracy")[:, RATES.index(0.0)]
    assert np.all(dense > 0.5), dense
    # Training lowers the train loss of the dense model between the two logs.
    loss = result.metrics["train_loss"][:, RATES.index(0.0)]
    assert np.all(loss[:, -1] < loss[:, 0])


def test_claims_are_r1_r2_with_valid_verdicts(tiny_run):
    result, claims = tiny_run
    assert [claim.id for claim in claims] == ["R1", "R2"]
    accuracy = result.last("test_accuracy")  # [seed, rate]
    dense, mild, over = (accuracy[:, RATES.index(p)] for p in (0.0, 0.5, 0.99))
    differences = (mild - dense, dense - over)  # R1: the only mild rate is 0.5
    for claim, difference, threshold in zip(claims, differences, (0.0, mc.R2_MARGIN), strict=True):
        np.testing.assert_allclose(claim.statistic, difference.mean(), rtol=1e-6, atol=1e-9)
        assert claim.verdict == verdict_above(claim.ci, threshold)  # the stated rule
        assert math.isfinite(claim.statistic)
        low, high = claim.ci
        assert low <= claim.statistic <= high
    assert "p = 0.5" in claims[0].statement
    assert "p = 0.99" in claims[1].statement


def test_masked_weights_stay_at_their_initial_values(data):
    program = mc.make_program(TINY, data)
    program = program.bind(jax.tree.map(jnp.asarray, program.shared))  # the split, bound
    cell = _cell(seed=0, rate=0.5)
    data_key = program.make_data(cell)
    start = program.init(cell, data_key)

    @jax.jit
    def train(state):
        def step(state, index):
            return program.advance(state, cell, data_key, index), None

        return jax.lax.scan(step, state, jnp.arange(TINY.num_steps))[0]

    params, kernel_masks, _ = train(start)
    chex.assert_trees_all_equal(kernel_masks, start[1])
    for index in range(len(TINY.hidden_sizes) + 1):
        before = start[0]["layers"][index]["kernel"][...]
        after = params["layers"][index]["kernel"][...]
        pruned = kernel_masks["layers"][index]["kernel_mask"][...] == 0
        assert pruned.any() and (~pruned).any()
        np.testing.assert_array_equal(after[pruned], before[pruned])
        assert np.any(after[~pruned] != before[~pruned])


def test_rates_of_one_seed_share_initial_weights_and_nested_masks(data):
    program = mc.make_program(TINY, data)
    program = program.bind(jax.tree.map(jnp.asarray, program.shared))  # the split, bound
    states = [
        program.init(cell, program.make_data(cell)) for cell in (_cell(3, 0.3), _cell(3, 0.6))
    ]
    chex.assert_trees_all_equal(states[0][0], states[1][0])
    mild, strong = (state[1]["layers"][0]["kernel_mask"][...] for state in states)
    assert np.all(strong <= mild) and strong.sum() < mild.sum()


def test_cell_alone_equals_the_same_cell_in_the_grid(data):
    program = mc.make_program(TINY, data)
    steps = {"name": "companion", "num_steps": 20, "log_every": 10}
    grid = sweep.run_program(program, mc.make_grid(RATES, SEEDS), **steps)
    alone = sweep.run_program(program, mc.make_grid([0.5], [1]), **steps)
    in_grid = {name: values[1, 1] for name, values in grid.metrics.items()}
    chex.assert_trees_all_close(
        {name: values[0, 0] for name, values in alone.metrics.items()}, in_grid, atol=1e-5
    )


@pytest.mark.parametrize(
    ("changes", "rates", "seeds", "named"),
    [
        ({"num_steps": 0}, RATES, SEEDS, "num_steps=0"),
        ({"hidden_sizes": (32, -4)}, RATES, SEEDS, "-4"),
        ({"num_steps": 50}, RATES, SEEDS, "num_steps=50"),
        ({"num_train": 4500, "num_test": 1000}, RATES, SEEDS, "4500 + 1000"),
        ({"batch_size": 600}, RATES, SEEDS, "batch_size=600"),
        ({"learning_rate": -1e-3}, RATES, SEEDS, "learning_rate=-0.001"),
        ({"activation": "sigmoid"}, RATES, SEEDS, "'sigmoid'"),
        ({}, [0.0, 0.5, 1.5], SEEDS, "1.5"),
        ({}, [0.0, float("nan"), 0.99], SEEDS, "nan"),
        ({}, [], SEEDS, "'pruning_rate' is empty"),
        ({}, [0.0, 0.5, 0.5, 0.99], SEEDS, "[0.5]"),
        ({}, RATES, [0, 1, 1], "[1]"),
        ({}, RATES, [0, -1], "seed -1"),
        ({}, RATES, [0, 1.5], "seed 1.5"),
        ({}, [0.3, 0.99], SEEDS, "[0.3, 0.99]"),
        ({}, [0.0, 0.7, 0.99], SEEDS, "[0.0, 0.7, 0.99]"),
        ({}, [0.0, 0.5, 0.9], SEEDS, "0.9"),
    ],
)
def test_validate_names_the_bad_value(changes, rates, seeds, named):
    config = dataclasses.replace(TINY, **changes)
    with pytest.raises(ValueError, match=re.escape(named)):
        mc.validate(config, rates, seeds)


def test_run_validates_before_loading_or_compiling():
    with pytest.raises(ValueError, match="outside"):
        mc.run_sweep(TINY, [0.0, 0.5, 2.0], SEEDS)
