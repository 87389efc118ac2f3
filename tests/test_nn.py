"""Tests of pruning_theory.nn: masked forward passes, exact zero gradients, BN unit masks, vmap."""

from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp
import optax
import pytest
from flax import nnx

from pruning_theory import nn

KERNEL = jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
BIAS = jnp.array([0.5, -1.0])
KERNEL_MASK = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
X = jnp.array([[1.0, 2.0, 3.0], [2.0, 0.0, -1.0]])


def _linear(kernel_mask: jax.Array = KERNEL_MASK) -> nn.MaskedLinear:
    """A MaskedLinear(3, 2) with the hand-set KERNEL, BIAS and the given kernel mask."""
    layer = nn.MaskedLinear(3, 2, rngs=nnx.Rngs(0))
    layer.kernel[...] = KERNEL
    layer.bias[...] = BIAS
    layer.kernel_mask[...] = kernel_mask
    return layer


def _apply(model: nnx.Module, x: jax.Array, use_jit: bool) -> jax.Array:
    """Runs ``model(x)`` functionally, optionally under jax.jit."""
    graphdef, state = nnx.split(model)

    def forward(state: nnx.State, x: jax.Array) -> jax.Array:
        return nnx.merge(graphdef, state)(x)

    return (jax.jit(forward) if use_jit else forward)(state, x)


def _param_grads(model: nnx.Module, loss: Callable[[jax.Array], jax.Array], x: jax.Array):
    """Gradient of ``loss(model(x))`` with respect to the model's nnx.Param state only."""

    def objective(model: nnx.Module) -> jax.Array:
        return loss(model(x))

    return nnx.grad(objective, argnums=nnx.DiffState(0, nnx.Param))(model)


@pytest.mark.parametrize("use_jit", [False, True])
def test_linear_forward_matches_hand_computed(use_jit):
    layer = _linear()
    # Effective kernel [[1, 0], [0, 4], [5, 6]].
    chex.assert_trees_all_close(_apply(layer, X, use_jit), jnp.array([[16.5, 25.0], [-2.5, -7.0]]))
    nn.set_unit_mask(jnp.array([1.0, 0.0]), layer)
    chex.assert_trees_all_close(_apply(layer, X, use_jit), jnp.array([[16.5, 0.0], [-2.5, 0.0]]))
    chex.assert_trees_all_close(layer.effective_kernel(), jnp.array([[1, 0], [0, 0], [5, 0.0]]))


def test_linear_without_bias():
    layer = nn.MaskedLinear(3, 2, use_bias=False, rngs=nnx.Rngs(0))
    layer.kernel[...] = KERNEL
    layer.kernel_mask[...] = KERNEL_MASK
    assert layer.bias is None
    chex.assert_trees_all_close(layer(X), jnp.array([[16.0, 26.0], [-3.0, -6.0]]))


def test_masks_start_as_ones_and_are_not_params():
    layer = nn.MaskedLinear(3, 2, rngs=nnx.Rngs(0))
    chex.assert_trees_all_close(layer.kernel_mask[...], jnp.ones((3, 2)))
    chex.assert_trees_all_close(layer.unit_mask[...], jnp.ones(2))
    assert isinstance(layer.kernel_mask, nn.Mask)
    assert not isinstance(layer.kernel_mask, nnx.Param)
    assert set(nnx.state(layer, nnx.Param).keys()) == {"kernel", "bias"}
    assert set(nn.masks_of(layer).keys()) == {"kernel_mask", "unit_mask"}


def test_linear_grad_exactly_zero_at_masked_entries():
    layer = _linear()
    # d sum(y) / d kernel[i, j] = mask[i, j] * sum_b x[b, i], with column sums of X = [3, 2, 2].
    grads = _param_grads(layer, jnp.sum, X)
    chex.assert_trees_all_equal(
        grads["kernel"][...], jnp.array([[3.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    )
    chex.assert_trees_all_equal(grads["bias"][...], jnp.array([2.0, 2.0]))
    assert set(grads.keys()) == {"kernel", "bias"}

    grads = _param_grads(layer, lambda y: jnp.sum(jnp.sin(y) ** 2), X)
    kernel_grad = grads["kernel"][...]
    assert bool(jnp.all(kernel_grad[KERNEL_MASK == 0] == 0.0))
    assert bool(jnp.all(kernel_grad[KERNEL_MASK == 1] != 0.0))


def test_masking_keeps_dense_weights_and_unmasking_restores_output():
    layer = _linear(kernel_mask=jnp.ones((3, 2)))
    dense_out = layer(X)
    layer.kernel_mask[...] = KERNEL_MASK
    nn.set_unit_mask(jnp.array([0.0, 1.0]), layer)
    chex.assert_trees_all_equal(layer.kernel[...], KERNEL)
    layer.kernel_mask[...] = jnp.ones((3, 2))
    nn.set_unit_mask(jnp.ones(2), layer)
    chex.assert_trees_all_equal(layer(X), dense_out)


def test_optimizer_on_params_leaves_masks_and_masked_weights_unchanged():
    layer = _linear()
    optimizer = nnx.Optimizer(layer, optax.sgd(0.1), wrt=nnx.Param)
    grads = _param_grads(layer, lambda y: jnp.sum(y**2), X)
    optimizer.update(layer, grads)
    chex.assert_trees_all_equal(layer.kernel_mask[...], KERNEL_MASK)
    chex.assert_trees_all_equal(layer.kernel[...][KERNEL_MASK == 0], KERNEL[KERNEL_MASK == 0])
    assert bool(jnp.all(layer.kernel[...][KERNEL_MASK == 1] != KERNEL[KERNEL_MASK == 1]))


def test_count_kept_weights():
    class Net(nnx.Module):
        def __init__(self, rngs: nnx.Rngs):
            self.conv = nn.MaskedConv(2, 3, (2, 2), rngs=rngs)
            self.bn = nn.MaskedBatchNorm(3, rngs=rngs)
            self.linear = nn.MaskedLinear(3, 2, rngs=rngs)

    net = Net(nnx.Rngs(0))
    assert int(nn.count_kept_weights(net)) == 2 * 2 * 2 * 3 + 3 * 2
    net.linear.kernel_mask[...] = KERNEL_MASK
    # Pruning conv channel 0 removes its 8 weights; the linear layer keeps 4 of 6.
    nn.set_unit_mask(jnp.array([0.0, 1.0, 1.0]), net.conv, net.bn)
    assert int(nn.count_kept_weights(net)) == 16 + 4


class LinearBN(nnx.Module):
    """MaskedLinear(3, 4) followed by MaskedBatchNorm(4) with non-trivial scale and bias."""

    def __init__(self, rngs: nnx.Rngs):
        self.linear = nn.MaskedLinear(3, 4, bias_init=nnx.initializers.normal(1.0), rngs=rngs)
        self.bn = nn.MaskedBatchNorm(4, rngs=rngs)
        # Non-zero BN bias: an unmasked BN would output the bias for a zeroed unit.
        self.bn.scale[...] = jnp.array([1.5, 2.0, 0.5, -1.0])
        self.bn.bias[...] = jnp.array([0.1, 0.2, 0.3, 0.4])

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.bn(self.linear(x))


UNIT_MASK = jnp.array([1.0, 0.0, 1.0, 1.0])
BN_X = jax.random.normal(jax.random.key(1), (8, 3))


def _pruned_block() -> LinearBN:
    block = LinearBN(nnx.Rngs(0))
    nn.set_unit_mask(UNIT_MASK, block.linear, block.bn)
    return block


@pytest.mark.parametrize("use_jit", [False, True])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_unit_masked_linear_bn_outputs_exact_zero(use_jit, mode):
    block = _pruned_block()
    block(BN_X)  # One train step so the running statistics are not at their initial values.
    getattr(block, mode)()
    out = _apply(block, BN_X, use_jit)
    chex.assert_trees_all_equal(out[:, 1], jnp.zeros(8))
    assert bool(jnp.all(out[:, UNIT_MASK == 1] != 0.0))


def test_batchnorm_train_and_eval_modes():
    bn = nn.MaskedBatchNorm(2, momentum=0.9, epsilon=0.0, rngs=nnx.Rngs(0))
    bn.scale[...] = jnp.array([2.0, 1.0])
    bn.bias[...] = jnp.array([1.0, -1.0])
    x = jnp.array([[1.0, 0.0], [3.0, 4.0]])  # batch mean [2, 2], batch variance [1, 4]
    # Train: normalize with batch statistics, running stats move 10% from (0, 1).
    chex.assert_trees_all_close(bn(x), jnp.array([[-1.0, -2.0], [3.0, 0.0]]))
    chex.assert_trees_all_close(bn.norm.mean[...], jnp.array([0.2, 0.2]))
    chex.assert_trees_all_close(bn.norm.var[...], jnp.array([1.0, 1.3]))
    # Eval: normalize with running statistics and leave them unchanged.
    bn.eval()
    expected = (x - 0.2) / jnp.sqrt(jnp.array([1.0, 1.3])) * jnp.array([2.0, 1.0]) + jnp.array(
        [1.0, -1.0]
    )
    chex.assert_trees_all_close(bn(x), expected)
    chex.assert_trees_all_close(bn.norm.mean[...], jnp.array([0.2, 0.2]))
    bn.train()
    chex.assert_trees_all_close(bn(x), jnp.array([[-1.0, -2.0], [3.0, 0.0]]))


def test_unit_masked_linear_bn_grads_exactly_zero_for_pruned_unit():
    block = _pruned_block()
    target = jax.random.normal(jax.random.key(2), (8, 4))
    grads = _param_grads(block, lambda y: jnp.sum((y - target) ** 2), BN_X)
    kernel_grad = grads["linear"]["kernel"][...]
    chex.assert_trees_all_equal(kernel_grad[:, 1], jnp.zeros(3))
    assert bool(jnp.all(kernel_grad[:, UNIT_MASK == 1] != 0.0))
    for grad in (grads["linear"]["bias"], grads["bn"]["scale"], grads["bn"]["bias"]):
        assert float(grad[...][1]) == 0.0
        assert bool(jnp.all(grad[...][UNIT_MASK == 1] != 0.0))


def test_set_unit_mask_rejects_wrong_shape():
    layer = nn.MaskedLinear(3, 2, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="shape"):
        nn.set_unit_mask(jnp.ones(3), layer)


@pytest.mark.parametrize("use_jit", [False, True])
def test_conv_hand_computed(use_jit):
    conv = nn.MaskedConv(1, 1, (2, 2), padding="VALID", rngs=nnx.Rngs(0))
    conv.kernel[...] = jnp.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)
    conv.kernel_mask[...] = jnp.array([[1.0, 0.0], [0.0, 1.0]]).reshape(2, 2, 1, 1)
    x = jnp.arange(9.0).reshape(1, 3, 3, 1)
    # out[i, j] = x[i, j] + 4 x[i + 1, j + 1] for x = [[0, 1, 2], [3, 4, 5], [6, 7, 8]].
    expected = jnp.array([[16.0, 21.0], [31.0, 36.0]]).reshape(1, 2, 2, 1)
    chex.assert_trees_all_close(_apply(conv, x, use_jit), expected)


@pytest.mark.parametrize("use_jit", [False, True])
def test_conv_matches_nnx_conv_with_masked_kernel(use_jit):
    rngs = nnx.Rngs(0)
    conv = nn.MaskedConv(3, 4, (3, 3), strides=(2, 2), bias_init=nnx.initializers.ones, rngs=rngs)
    kernel_mask = jax.random.bernoulli(jax.random.key(3), 0.5, (3, 3, 3, 4)).astype(jnp.float32)
    unit_mask = jnp.array([1.0, 0.0, 1.0, 1.0])
    conv.kernel_mask[...] = kernel_mask
    nn.set_unit_mask(unit_mask, conv)

    reference = nnx.Conv(3, 4, (3, 3), strides=(2, 2), padding="SAME", rngs=rngs)
    reference.kernel[...] = conv.kernel[...] * kernel_mask * unit_mask
    reference.bias[...] = unit_mask
    x = jax.random.normal(jax.random.key(4), (2, 7, 7, 3))
    out = _apply(conv, x, use_jit)
    chex.assert_shape(out, (2, 4, 4, 4))
    chex.assert_trees_all_close(out, reference(x), atol=1e-5)
    chex.assert_trees_all_equal(out[..., 1], jnp.zeros((2, 4, 4)))


def test_conv_grad_exactly_zero_at_masked_entries():
    conv = nn.MaskedConv(2, 3, (3, 3), rngs=nnx.Rngs(0))
    kernel_mask = jax.random.bernoulli(jax.random.key(5), 0.5, (3, 3, 2, 3)).astype(jnp.float32)
    conv.kernel_mask[...] = kernel_mask
    x = jax.random.normal(jax.random.key(6), (2, 5, 5, 2))
    kernel_grad = _param_grads(conv, lambda y: jnp.sum(y**2), x)["kernel"][...]
    assert bool(jnp.all(kernel_grad[kernel_mask == 0] == 0.0))
    assert bool(jnp.all(kernel_grad[kernel_mask == 1] != 0.0))


def test_vmap_over_stacked_states_matches_per_copy():
    block = LinearBN(nnx.Rngs(0))
    graphdef, _ = nnx.split(block)
    unit_masks = [jnp.ones(4), UNIT_MASK, jnp.array([0.0, 0.0, 1.0, 1.0])]
    kernel_masks = [jnp.ones((3, 4)), jnp.ones((3, 4)).at[0, 2].set(0.0), jnp.eye(3, 4)]
    states = []
    for unit_mask, kernel_mask in zip(unit_masks, kernel_masks, strict=True):
        block.linear.kernel_mask[...] = kernel_mask
        nn.set_unit_mask(unit_mask, block.linear, block.bn)
        states.append(nnx.state(nnx.clone(block)))
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *states)

    def forward(state: nnx.State) -> jax.Array:
        return nnx.merge(graphdef, state)(BN_X)

    batched = jax.vmap(forward)(stacked)
    expected = jnp.stack([forward(state) for state in states])
    chex.assert_trees_all_close(batched, expected, atol=1e-6)
    # The copies must really differ, else the comparison would not test the masks.
    assert not bool(jnp.allclose(expected[0], expected[1]))
    assert not bool(jnp.allclose(expected[1], expected[2]))
