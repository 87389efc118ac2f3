"""BN networks: pruned units output exactly 0 with BatchNorm masked; paper-size parameter counts."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from pruning_theory import nn
from pruning_theory.papers.bartoldson2020 import vision_models

SMALL = {
    "bn_mlp": ((28, 28, 1), (12, 10)),
    "bn_cnn": ((28, 28, 1), (4, 6, 8)),
    "resnet18": ((8, 8, 3), (4, 6, 6, 8)),
}


def small_model(name: str, seed: int = 0):
    shape, widths = SMALL[name]
    return vision_models.make_model(name, shape, 10, widths, rngs=nnx.Rngs(params=seed))


def prune_every_other_unit(model) -> list[np.ndarray]:
    pruned = []
    for layer, norm in model.prunable_pairs():
        mask = np.arange(layer.unit_mask.shape[0]) % 2 == 0
        nn.set_unit_mask(jnp.asarray(mask, jnp.float32), layer, norm)
        pruned.append(~mask)
    return pruned


# VGG11-BN's wiring is checked through the experiment (tests/test_bartoldson2020.py).
@pytest.mark.parametrize("name", ["bn_mlp", "bn_cnn", "resnet18"])
def test_pruned_units_output_exactly_zero_with_batch_norm_masked(name):
    @jax.jit  # one compile instead of an eager op-by-op model build
    def activities(images):
        model = small_model(name)
        prune_every_other_unit(model)
        # Push the batch norms away from their identity init so an unmasked shift would show.
        for _, norm in model.prunable_pairs():
            norm.bias[...] = jnp.full(norm.bias.shape, 0.7)
            norm.scale[...] = jnp.full(norm.scale.shape, 1.3)
        outputs = [model.forward(images)]
        if name in ("bn_mlp", "bn_cnn"):  # the same MaskedBatchNorm in every model
            model.eval()
            outputs.append(model.forward(images))
        return outputs[0][0], *(activity for _, activity in outputs)

    images = jax.random.normal(jax.random.key(1), (6, *SMALL[name][0]))
    logits, *modes = activities(images)
    pruned = [np.arange(n) % 2 == 1 for n in SMALL[name][1]]
    if name == "resnet18":
        pruned = [np.arange(w) % 2 == 1 for w in SMALL[name][1] for _ in range(4)]
    assert logits.shape == (6, 10) and np.all(np.isfinite(logits))
    for activity in modes:
        assert len(activity) == len(pruned)
        for unit_activity, off in zip(activity, pruned, strict=True):
            assert np.all(np.asarray(unit_activity)[off] == 0.0)
            assert np.all(np.asarray(unit_activity)[~off] > 0.0)


def test_masking_the_weights_alone_leaves_the_batch_norm_shift():
    model = small_model("bn_mlp")
    layer, norm = model.prunable_pairs()[0]
    norm.bias[...] = jnp.full(norm.bias.shape, 0.7)
    nn.set_unit_mask(jnp.zeros(layer.unit_mask.shape), layer)  # weights only, not the BN
    model.eval()
    _, activity = model.forward(jnp.ones((3, 28, 28, 1)))
    # Fresh running statistics (mean 0, variance 1): the unit still outputs beta.
    np.testing.assert_allclose(activity[0], 0.7, rtol=1e-5)


def test_resnet_masks_the_shortcut_into_a_pruned_second_conv():
    block = vision_models.BasicBlock(4, 4, 1, rngs=nnx.Rngs(params=0))
    mask = jnp.asarray(np.arange(4) != 1, jnp.float32)  # the shortcut is the identity
    nn.set_unit_mask(mask, block.conv2, block.bn2)
    x = jax.nn.relu(jax.random.normal(jax.random.key(2), (2, 6, 6, 4))) + 1.0
    out, (_, second) = block.forward(x)
    assert np.all(np.asarray(out)[..., 1] == 0.0) and second[1] == 0.0
    assert np.all(np.asarray(out)[..., 0] >= 0.0) and np.any(np.asarray(out)[..., 0] > 0.0)


def count_params(name: str, widths) -> int:
    shape = (32, 32, 3) if name != "bn_mlp" else (28, 28, 1)
    model = nnx.eval_shape(
        lambda: vision_models.make_model(name, shape, 10, widths, rngs=nnx.Rngs(params=0))
    )
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(nnx.state(model, nnx.Param)))


def test_paper_networks_have_their_published_sizes():
    # VGG11-BN for CIFAR with a single Linear(512, 10): 9,231,114 parameters.
    assert count_params("vgg11_bn", vision_models.VGG11_WIDTHS) == 9_231_114
    # The CIFAR ResNet18 (kuangliu/pytorch-cifar): 11,173,962 parameters.
    assert count_params("resnet18", vision_models.RESNET18_WIDTHS) == 11_173_962
    assert (
        count_params("bn_mlp", (512, 512)) == 784 * 512 + 512 * 512 + 5120 + 4 * 512 + 2 * 512 + 10
    )
    model = nnx.eval_shape(
        lambda: vision_models.make_model(
            "vgg11_bn", (32, 32, 3), 10, vision_models.VGG11_WIDTHS, rngs=nnx.Rngs(params=0)
        )
    )
    assert vision_models.unit_counts(model) == vision_models.VGG11_WIDTHS


def test_torchvision_vgg_init_and_pytorch_default_init():
    @jax.jit
    def weights():
        model = vision_models.make_model(
            "vgg11_bn", (32, 32, 3), 10, (16, 16, 16, 16, 32, 32, 32, 64), rngs=nnx.Rngs(params=0)
        )
        conv = model.convs[-1]
        return conv.kernel[...], conv.bias[...], model.output.kernel[...], model.output.bias[...]

    kernel, bias, output_kernel, output_bias = weights()
    # kaiming_normal(fan_out): std sqrt(2 / (9 * 64)); zero bias.
    np.testing.assert_allclose(np.std(kernel), math.sqrt(2 / (9 * 64)), rtol=0.05)
    assert np.all(bias == 0)
    # PyTorch's default Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
    bound = 1 / math.sqrt(64)
    assert np.max(np.abs(output_kernel)) <= bound and np.max(np.abs(output_bias)) <= bound
    assert np.max(np.abs(output_kernel)) > 0.9 * bound


@pytest.mark.parametrize(
    "name, shape, widths, message",
    [
        ("alexnet", (28, 28, 1), (8,), "model 'alexnet' is not one of"),
        ("bn_mlp", (28, 28, 1), (8, 0), "must be positive integers"),
        ("bn_cnn", (28, 28, 1), (4, 8), "bn_cnn takes 3 widths"),
        ("vgg11_bn", (28, 28, 1), (4,) * 8, "vgg11_bn needs 32 x 32 images"),
        ("bn_cnn", (30, 30, 1), (4, 4, 4), "divisible by 4"),
    ],
)
def test_bad_models_are_named(name, shape, widths, message):
    with pytest.raises(ValueError, match=message):
        vision_models.make_model(name, shape, 10, widths, rngs=nnx.Rngs(params=0))
