"""Tests of pruning_theory.masks: hand-computed masks, exact counts, nesting, vmap and jit."""

from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from pruning_theory import masks

KEY = jax.random.key(0)
RATES = (0.0, 0.1, 0.25, 0.5, 0.77, 1.0)


@pytest.fixture(params=[False, True], ids=["eager", "jit"])
def apply_rate(request) -> Callable:
    """Calls ``rule(rate)``, under jit with the rate traced when the param is True."""

    def apply(rule: Callable, rate: float) -> jax.Array:
        fn = jax.jit(rule) if request.param else rule
        return fn(jnp.float32(rate))

    return apply


# Two equal smallest magnitudes (0.5 at flat indices 0 and 4).
LAYER_W = jnp.array([[0.5, -3.0, 2.0], [-1.0, 0.5, 4.0]])

# Units are columns (unit_axis=-1): |column 0| = [0.1, 2, 3], |column 1| = [5, 1, 1].
UNIT_W = jnp.array([[0.1, -5.0], [-2.0, 1.0], [3.0, 1.0]])


@pytest.mark.parametrize(
    ("rate", "prune", "expected"),
    [
        # 1/6 of 6 -> 1 pruned: of the tied 0.5s, the lower flat index goes first.
        (1 / 6, "smallest", [[0, 1, 1], [1, 1, 1]]),
        (1 / 3, "smallest", [[0, 1, 1], [1, 0, 1]]),
        (0.5, "smallest", [[0, 1, 1], [0, 0, 1]]),
        (0.5, "largest", [[1, 0, 0], [1, 1, 0]]),
        # 0.25 * 6 = 1.5 rounds half up to 2 pruned.
        (0.25, "largest", [[1, 0, 1], [1, 1, 0]]),
    ],
)
def test_magnitude_mask_layer_scope(apply_rate, rate, prune, expected):
    mask = apply_rate(lambda p: masks.magnitude_mask(LAYER_W, p, prune=prune), rate)
    chex.assert_trees_all_close(mask, jnp.array(expected, jnp.float32))


def test_magnitude_mask_largest_ties_prune_lower_index_first(apply_rate):
    weights = jnp.array([2.0, -2.0, 1.0])
    mask = apply_rate(lambda p: masks.magnitude_mask(weights, p, prune="largest"), 1 / 3)
    chex.assert_trees_all_close(mask, jnp.array([0.0, 1.0, 1.0]))


@pytest.mark.parametrize(
    ("rate", "prune", "unit_axis", "expected"),
    [
        # One weight per column; column 1 ties 1.0 at rows 1 and 2, so row 1 goes.
        (1 / 3, "smallest", -1, [[0, 1], [1, 0], [1, 1]]),
        (2 / 3, "smallest", -1, [[0, 1], [0, 0], [1, 0]]),
        (1 / 3, "largest", -1, [[1, 0], [1, 1], [0, 1]]),
        # Units are rows: one weight pruned per row.
        (0.5, "smallest", 0, [[0, 1], [1, 0], [1, 0]]),
        (0.5, "largest", 0, [[1, 0], [0, 1], [0, 1]]),
    ],
)
def test_magnitude_mask_unit_scope(apply_rate, rate, prune, unit_axis, expected):
    mask = apply_rate(
        lambda p: masks.magnitude_mask(UNIT_W, p, prune=prune, scope="unit", unit_axis=unit_axis),
        rate,
    )
    chex.assert_trees_all_close(mask, jnp.array(expected, jnp.float32))


def test_magnitude_mask_unit_scope_conv_kernel_prunes_smallest_per_unit():
    kernel = jax.random.normal(KEY, (2, 2, 3, 4))
    mask = masks.magnitude_mask(kernel, 0.25, scope="unit")
    # Each output channel has 12 weights and loses floor(3 + 0.5) = 3 of them.
    chex.assert_trees_all_close(mask.sum(axis=(0, 1, 2)), jnp.full((4,), 9.0))
    magnitudes = jnp.abs(kernel).reshape(-1, 4)
    flat_mask = mask.reshape(-1, 4)
    largest_pruned = jnp.max(jnp.where(flat_mask == 0, magnitudes, -jnp.inf), axis=0)
    smallest_kept = jnp.min(jnp.where(flat_mask == 1, magnitudes, jnp.inf), axis=0)
    assert bool(jnp.all(largest_pruned < smallest_kept))


GLOBAL_TREE = {"a": jnp.array([[1.0, -4.0], [0.5, 2.0]]), "b": jnp.array([3.0, -0.25, 1.0])}


@pytest.mark.parametrize(
    ("rate", "prune", "expected"),
    [
        # Flat |w| in leaf order: a = [1, 4, 0.5, 2], b = [3, 0.25, 1]; 3 of 7 pruned. The
        # tied 1.0s are a[0, 0] (flat 0) and b[2] (flat 6): a[0, 0] is pruned.
        (3 / 7, "smallest", {"a": [[0, 1], [0, 1]], "b": [1, 0, 1]}),
        (2 / 7, "largest", {"a": [[1, 0], [1, 1]], "b": [0, 1, 1]}),
    ],
)
def test_global_magnitude_masks(apply_rate, rate, prune, expected):
    tree = apply_rate(lambda p: masks.global_magnitude_masks(GLOBAL_TREE, p, prune=prune), rate)
    chex.assert_trees_all_close(tree, {k: jnp.array(v, jnp.float32) for k, v in expected.items()})


def test_global_magnitude_masks_differ_from_layerwise():
    # One threshold: all of "b" survives because its entries are large relative to "a".
    tree = {"a": jnp.array([0.1, 0.2, 0.3, 0.4]), "b": jnp.array([5.0, 6.0, 7.0, 8.0])}
    global_masks = masks.global_magnitude_masks(tree, 0.5)
    chex.assert_trees_all_close(global_masks, {"a": jnp.zeros(4), "b": jnp.ones(4)})


@pytest.mark.parametrize(
    ("rate", "prune", "alive", "expected"),
    [
        (0.4, "smallest", None, [1, 0, 1, 1, 0]),
        # Third pruned unit ties 0.3 at indices 0 and 2: index 0 goes.
        (0.6, "smallest", None, [0, 0, 1, 1, 0]),
        (0.4, "largest", None, [0, 1, 1, 0, 1]),
        # Dead unit 1 has the smallest score but does not use up the budget of 2 of 4.
        (0.5, "smallest", [1, 0, 1, 1, 1], [0, 0, 1, 1, 0]),
        # 0.25 * 4 alive = 1 pruned: the largest alive score is the tied 0.3 at index 0.
        (0.25, "largest", [1, 1, 1, 0, 1], [0, 1, 1, 0, 1]),
    ],
)
def test_importance_unit_mask(apply_rate, rate, prune, alive, expected):
    scores = jnp.array([0.3, 0.1, 0.3, 0.9, 0.1])
    alive_arr = None if alive is None else jnp.array(alive, jnp.float32)
    mask = apply_rate(
        lambda p: masks.importance_unit_mask(scores, p, prune=prune, alive=alive_arr), rate
    )
    chex.assert_trees_all_close(mask, jnp.array(expected, jnp.float32))


ALIVE = jnp.array([1, 0, 1, 1, 0, 1, 1, 1], jnp.float32)
# 6 alive: pruned = floor(6p + 0.5) = 0, 1, 2, 3, 5, 6 (1.5 -> 2 and 4.5 -> 5 round up).
ALIVE_RATES = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)
ALIVE_KEPT = (6, 5, 4, 3, 1, 0)


@pytest.mark.parametrize(("rate", "kept"), list(zip(ALIVE_RATES, ALIVE_KEPT, strict=True)))
def test_random_unit_mask_with_alive_counts_and_dead_stay_dead(apply_rate, rate, kept):
    mask = apply_rate(lambda p: masks.random_unit_mask(KEY, 8, p, alive=ALIVE), rate)
    assert int(mask.sum()) == kept
    assert bool(jnp.all(mask <= ALIVE))


@pytest.mark.parametrize(("rate", "kept"), list(zip(ALIVE_RATES, ALIVE_KEPT, strict=True)))
def test_importance_unit_mask_with_alive_counts_and_dead_stay_dead(apply_rate, rate, kept):
    scores = jax.random.normal(KEY, (8,))
    mask = apply_rate(lambda p: masks.importance_unit_mask(scores, p, alive=ALIVE), rate)
    assert int(mask.sum()) == kept
    assert bool(jnp.all(mask <= ALIVE))


def test_random_unit_mask_is_uniform_over_units():
    keys = jax.random.split(KEY, 4000)
    unit_masks = jax.vmap(lambda k: masks.random_unit_mask(k, 5, 0.4))(keys)
    # Exactly 2 of 5 pruned each draw, and every unit pruned with frequency 0.4.
    chex.assert_trees_all_close(unit_masks.sum(axis=1), jnp.full((4000,), 3.0))
    band = 4 * np.sqrt(0.4 * 0.6 / 4000)
    np.testing.assert_allclose(unit_masks.mean(axis=0), 0.6, atol=band)


def test_random_unit_mask_with_alive_is_uniform_over_alive_units():
    keys = jax.random.split(KEY, 4000)
    unit_masks = jax.vmap(lambda k: masks.random_unit_mask(k, 8, 0.5, alive=ALIVE))(keys)
    alive_freq = unit_masks.mean(axis=0)[ALIVE == 1]
    band = 4 * np.sqrt(0.5 * 0.5 / 4000)
    np.testing.assert_allclose(alive_freq, 0.5, atol=band)


# floor(p * 63 + 0.5) for RATES; 0.5 * 63 = 31.5 rounds up to 32.
EXACT_PRUNED_OF_63 = (0, 6, 16, 32, 49, 63)


@pytest.mark.parametrize(("rate", "pruned"), list(zip(RATES, EXACT_PRUNED_OF_63, strict=True)))
def test_exact_count_rules(apply_rate, rate, pruned):
    weights = jax.random.normal(KEY, (7, 9))
    rules = {
        "random_exact": lambda p: masks.random_exact_mask(KEY, (7, 9), p),
        "magnitude_smallest": lambda p: masks.magnitude_mask(weights, p),
        "magnitude_largest": lambda p: masks.magnitude_mask(weights, p, prune="largest"),
        "global": lambda p: masks.global_magnitude_masks({"w": weights}, p)["w"],
        "random_unit": lambda p: masks.random_unit_mask(KEY, 63, p),
        "importance_unit": lambda p: masks.importance_unit_mask(weights.ravel(), p),
    }
    for name, rule in rules.items():
        mask = apply_rate(rule, rate)
        assert int((mask == 0).sum()) == pruned, name


def test_magnitude_mask_unit_scope_counts_per_unit(apply_rate):
    weights = jax.random.normal(KEY, (7, 5))
    for rate, pruned in zip((0.0, 0.2, 0.5, 0.8, 1.0), (0, 1, 4, 6, 7), strict=True):
        mask = apply_rate(lambda p: masks.magnitude_mask(weights, p, scope="unit"), rate)
        chex.assert_trees_all_close(mask.sum(axis=0), jnp.full((5,), 7.0 - pruned))


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_bernoulli_kept_fraction_within_binomial_band(rate):
    shape = (400, 500)
    mask = masks.bernoulli_mask(KEY, shape, rate)
    n = shape[0] * shape[1]
    band = 4 * np.sqrt(rate * (1 - rate) / n)
    assert abs(float(masks.kept_fraction(mask)) - (1 - rate)) <= band


NESTED_RULES = {
    "bernoulli": lambda p: masks.bernoulli_mask(KEY, (20, 30), p),
    "random_exact": lambda p: masks.random_exact_mask(KEY, (20, 30), p),
    "random_unit": lambda p: masks.random_unit_mask(KEY, 50, p),
    "random_unit_alive": lambda p: masks.random_unit_mask(KEY, 8, p, alive=ALIVE),
}


@pytest.mark.parametrize("name", NESTED_RULES)
def test_random_masks_are_nested_across_rates(name):
    rates = jnp.linspace(0.0, 1.0, 21)
    stacked = jax.vmap(NESTED_RULES[name])(rates)
    assert bool(jnp.all(stacked[1:] <= stacked[:-1]))
    # Nesting alone would also hold for constant masks: the kept count must strictly drop.
    assert int(stacked[0].sum()) > int(stacked[10].sum()) > int(stacked[-1].sum())


def _all_rules(p: jax.Array) -> dict[str, jax.Array]:
    """Every rule at rate ``p`` on fixed inputs."""
    weights = jax.random.normal(KEY, (6, 4))
    return {
        "bernoulli": masks.bernoulli_mask(KEY, (6, 4), p),
        "random_exact": masks.random_exact_mask(KEY, (6, 4), p),
        "magnitude_layer": masks.magnitude_mask(weights, p),
        "magnitude_unit": masks.magnitude_mask(weights, p, scope="unit", prune="largest"),
        "global": masks.global_magnitude_masks({"a": weights, "b": weights[0]}, p),
        "random_unit": masks.random_unit_mask(KEY, 6, p, alive=ALIVE[:6]),
        "importance_unit": masks.importance_unit_mask(weights[:, 0], p, alive=ALIVE[:6]),
    }


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_rate_zero_keeps_all_and_rate_one_prunes_all(apply_rate, rate):
    result = apply_rate(_all_rules, rate)
    fill = 1.0 - rate
    expected = jax.tree.map(lambda m: jnp.full(m.shape, fill), result)
    # Structured rules with ``alive`` can only keep the alive units.
    expected["random_unit"] = expected["importance_unit"] = fill * ALIVE[:6]
    chex.assert_trees_all_close(result, expected)


def test_vmap_over_rates_matches_python_loop():
    rates = jnp.array(RATES, jnp.float32)
    batched = jax.vmap(_all_rules)(rates)
    looped = [_all_rules(float(p)) for p in RATES]
    expected = jax.tree.map(lambda *xs: jnp.stack(xs), *looped)
    chex.assert_trees_all_close(batched, expected)


def test_jit_with_traced_rate_matches_eager():
    jitted = jax.jit(_all_rules)
    for rate in RATES:
        chex.assert_trees_all_close(jitted(jnp.float32(rate)), _all_rules(rate))


def test_masks_have_requested_dtype():
    mask = masks.magnitude_mask(LAYER_W, 0.5, dtype=jnp.bfloat16)
    assert mask.dtype == jnp.bfloat16
    assert masks.bernoulli_mask(KEY, (3,), 0.5).dtype == jnp.float32


def test_unit_scores():
    kernel = jnp.array([[3.0, -1.0], [4.0, 2.0]])
    chex.assert_trees_all_close(masks.unit_scores_l2(kernel), jnp.array([5.0, np.sqrt(5.0)]))
    chex.assert_trees_all_close(masks.unit_scores_l1(kernel), jnp.array([7.0, 3.0]))
    chex.assert_trees_all_close(
        masks.unit_scores_l2(kernel, unit_axis=0), jnp.array([np.sqrt(10.0), np.sqrt(20.0)])
    )
    chex.assert_trees_all_close(masks.unit_scores_l1(kernel, unit_axis=0), jnp.array([4.0, 6.0]))
    conv_kernel = jnp.arange(24.0).reshape(2, 2, 3, 2)
    # Unit 0 holds the even numbers 0..22, unit 1 the odd numbers 1..23.
    chex.assert_trees_all_close(masks.unit_scores_l1(conv_kernel), jnp.array([132.0, 144.0]))


@pytest.mark.parametrize("use_jit", [False, True], ids=["eager", "jit"])
def test_unit_scores_expected_bn_is_the_mean_of_relu_of_a_gaussian(use_jit):
    scale = jnp.array([1.0, -2.0, 0.5, 0.0, 0.0])
    bias = jnp.array([0.3, -1.0, 2.0, 0.7, -0.4])
    expected = [
        integrate.quad(lambda z, g=g, b=b: max(g * z + b, 0.0) * stats.norm.pdf(z), -12, 12)[0]
        for g, b in zip(np.asarray(scale), np.asarray(bias), strict=True)
    ]
    score = jax.jit(masks.unit_scores_expected_bn) if use_jit else masks.unit_scores_expected_bn
    chex.assert_trees_all_close(score(scale, bias), np.float32(expected), atol=1e-5)


def test_kept_fraction():
    chex.assert_trees_all_close(masks.kept_fraction(jnp.array([[1.0, 0.0], [1.0, 1.0]])), 0.75)
    # Pooled over all entries (2 of 5), not the mean of per-leaf fractions.
    tree = {"a": jnp.array([1.0, 0.0]), "b": jnp.array([[0.0, 0.0, 1.0]])}
    chex.assert_trees_all_close(masks.kept_fraction(tree), 0.4)
    with pytest.raises(ValueError, match="empty"):
        masks.kept_fraction({})


@pytest.mark.parametrize(
    ("call", "bad_value"),
    [
        (lambda: masks.magnitude_mask(LAYER_W, 0.5, prune="middle"), "middle"),
        (lambda: masks.magnitude_mask(LAYER_W, 0.5, scope="row"), "row"),
        (lambda: masks.global_magnitude_masks(GLOBAL_TREE, 0.5, prune="biggest"), "biggest"),
        (lambda: masks.importance_unit_mask(jnp.ones(3), 0.5, prune="random"), "random"),
    ],
)
def test_invalid_static_arguments_raise(call, bad_value):
    with pytest.raises(ValueError, match=bad_value):
        call()
