"""BatchNorm networks whose units can be pruned during training (Bartoldson et al. 2020).

Every network is built from `nn.MaskedLinear` / `nn.MaskedConv` / `nn.MaskedBatchNorm` and
lists its prunable units as ``(layer, batch_norm)`` pairs in forward order
(`prunable_pairs`). A unit is pruned with ``nn.set_unit_mask(mask, layer, bn)``: the mask
multiplies the unit's incoming weights, bias, and the batch norm's scale and bias, so a pruned
unit outputs exactly 0 (spec: "its mask multiplies the weight along the output axis AND the
following BatchNorm's gamma and beta").

* `BNMLP`: Linear -> BN -> ReLU hidden layers (the cpu-scale model of the spec);
* `BNCNN`: a small conv net, two 3x3 conv -> BN -> ReLU -> 2x2 max-pool blocks and a BN
  dense layer;
* `VGG11BN`: VGG11 with batch norm, configuration A, as the paper's CIFAR variant (no
  average pool, a single ``Linear(512, classes)``; torchvision initialization);
* `ResNet18`: the CIFAR ResNet18 (3x3 stem, four stages of two basic blocks). The 16 block
  convs are prunable; a pruned second conv of a block also masks the shortcut added to it,
  as the official code does, so the unit stays exactly 0.

``forward(x)`` returns the logits and, per prunable pair, the mean absolute pre-ReLU output
of each unit over the batch (and space): the statistic behind the activation score.
Inputs are NHWC images; the MLP flattens them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from pruning_theory import nn

Pair = tuple[nn.MaskedLinear | nn.MaskedConv, nn.MaskedBatchNorm]
# PyTorch's BatchNorm momentum 0.1 weighs the new batch by 0.1; Flax's momentum weighs the
# running statistic, so the same update is 0.9.
BN_MOMENTUM = 0.9
# PyTorch's default Linear/Conv init, kaiming_uniform(a=sqrt(5)): U(-1/sqrt(fan_in), ...).
_TORCH_DEFAULT_KERNEL = nnx.initializers.variance_scaling(1 / 3, "fan_in", "uniform")
# torchvision VGG: kaiming_normal(mode="fan_out", nonlinearity="relu"), zero bias.
_VGG_CONV_KERNEL = nnx.initializers.variance_scaling(2.0, "fan_out", "normal")


def _torch_default_bias(fan_in: int) -> nnx.initializers.Initializer:
    bound = 1 / math.sqrt(fan_in)
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(
        key, shape, dtype, -bound, bound
    )


def _linear(in_features: int, out_features: int, rngs: nnx.Rngs) -> nn.MaskedLinear:
    return nn.MaskedLinear(
        in_features,
        out_features,
        kernel_init=_TORCH_DEFAULT_KERNEL,
        bias_init=_torch_default_bias(in_features),
        rngs=rngs,
    )


def _conv(
    in_features: int,
    out_features: int,
    rngs: nnx.Rngs,
    *,
    size: int = 3,
    stride: int = 1,
    use_bias: bool = True,
    torchvision_vgg_init: bool = False,
) -> nn.MaskedConv:
    pad = (size - 1) // 2  # PyTorch's symmetric padding, also for stride 2
    if torchvision_vgg_init:
        kernel_init, bias_init = _VGG_CONV_KERNEL, nnx.initializers.zeros_init()
    else:
        kernel_init = _TORCH_DEFAULT_KERNEL
        bias_init = _torch_default_bias(in_features * size * size)
    return nn.MaskedConv(
        in_features,
        out_features,
        (size, size),
        strides=(stride, stride),
        padding=((pad, pad), (pad, pad)),
        use_bias=use_bias,
        kernel_init=kernel_init,
        bias_init=bias_init,
        rngs=rngs,
    )


def _batch_norm(num_features: int, rngs: nnx.Rngs) -> nn.MaskedBatchNorm:
    return nn.MaskedBatchNorm(num_features, momentum=BN_MOMENTUM, rngs=rngs)


def _unit_activity(pre_activation: jax.Array) -> jax.Array:
    """Mean |pre-ReLU output| of each unit over every axis but the last."""
    return jnp.mean(jnp.abs(pre_activation), axis=tuple(range(pre_activation.ndim - 1)))


def _max_pool(x: jax.Array) -> jax.Array:
    return nnx.max_pool(x, window_shape=(2, 2), strides=(2, 2))


class BNMLP(nnx.Module):
    """Hidden layers Linear -> BN -> ReLU, then a Linear output layer; inputs are flattened."""

    def __init__(
        self, input_shape: Sequence[int], num_classes: int, widths: Sequence[int], *, rngs
    ):
        """Builds the network; every hidden layer is prunable.

        Args:
          input_shape: shape of one input (flattened to ``prod(input_shape)`` features).
          num_classes: outputs.
          widths: hidden widths.
          rngs: ``rngs.params()`` draws the initial weights (PyTorch's default init).
        """
        sizes = (math.prod(input_shape), *widths)
        self.hidden = nnx.List([_linear(i, o, rngs) for i, o in itertools.pairwise(sizes)])
        self.norms = nnx.List([_batch_norm(o, rngs) for o in widths])
        self.output = _linear(sizes[-1], num_classes, rngs)

    def prunable_pairs(self) -> list[Pair]:
        """The ``(layer, batch norm)`` pairs whose units can be pruned, in forward order."""
        return list(zip(self.hidden, self.norms, strict=True))

    def forward(self, x: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
        """The logits and, per prunable pair, each unit's mean |pre-ReLU output|."""
        x = x.reshape(x.shape[0], -1)
        activity = []
        for layer, norm in self.prunable_pairs():
            x = norm(layer(x))
            activity.append(_unit_activity(x))
            x = jax.nn.relu(x)
        return self.output(x), tuple(activity)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.forward(x)[0]


class BNCNN(nnx.Module):
    """Two conv3x3 -> BN -> ReLU -> max-pool blocks, a Linear -> BN -> ReLU layer, output."""

    def __init__(
        self, input_shape: Sequence[int], num_classes: int, widths: Sequence[int], *, rngs
    ):
        """Builds the network; both convs and the hidden dense layer are prunable.

        Args:
          input_shape: ``(height, width, channels)``, height and width divisible by 4.
          num_classes: outputs.
          widths: ``(conv1 channels, conv2 channels, dense units)``.
          rngs: ``rngs.params()`` draws the initial weights (PyTorch's default init).
        """
        height, width, channels = input_shape
        first, second, dense = widths
        self.convs = nnx.List([_conv(channels, first, rngs), _conv(first, second, rngs)])
        self.conv_norms = nnx.List([_batch_norm(first, rngs), _batch_norm(second, rngs)])
        self.dense = _linear((height // 4) * (width // 4) * second, dense, rngs)
        self.dense_norm = _batch_norm(dense, rngs)
        self.output = _linear(dense, num_classes, rngs)

    def prunable_pairs(self) -> list[Pair]:
        """The ``(layer, batch norm)`` pairs whose units can be pruned, in forward order."""
        return [*zip(self.convs, self.conv_norms, strict=True), (self.dense, self.dense_norm)]

    def forward(self, x: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
        """The logits and, per prunable pair, each unit's mean |pre-ReLU output|."""
        activity = []
        for conv, norm in zip(self.convs, self.conv_norms, strict=True):
            x = norm(conv(x))
            activity.append(_unit_activity(x))
            x = _max_pool(jax.nn.relu(x))
        x = self.dense_norm(self.dense(x.reshape(x.shape[0], -1)))
        activity.append(_unit_activity(x))
        return self.output(jax.nn.relu(x)), tuple(activity)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.forward(x)[0]


# VGG configuration A: a 2x2 max-pool follows these conv indices.
VGG11_WIDTHS = (64, 128, 256, 256, 512, 512, 512, 512)
_VGG11_POOL_AFTER = frozenset({0, 1, 3, 5, 7})


class VGG11BN(nnx.Module):
    """VGG11-BN (configuration A) for 32x32 images: 8 conv3x3 -> BN -> ReLU, one Linear."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        widths: Sequence[int] = VGG11_WIDTHS,
        *,
        rngs,
    ):
        """Builds the network; all eight convs are prunable (the paper prunes the last four).

        Args:
          input_shape: ``(32, 32, channels)``: five max-pools reduce 32 x 32 to 1 x 1.
          num_classes: outputs.
          widths: the eight conv widths (configuration A: 64, 128, 256, 256, 512 x 4).
          rngs: ``rngs.params()`` draws the initial weights.
        """
        channels = (input_shape[-1], *widths)
        self.convs = nnx.List(
            [_conv(i, o, rngs, torchvision_vgg_init=True) for i, o in itertools.pairwise(channels)]
        )
        self.norms = nnx.List([_batch_norm(o, rngs) for o in widths])
        self.output = _linear(widths[-1], num_classes, rngs)

    def prunable_pairs(self) -> list[Pair]:
        """The ``(layer, batch norm)`` pairs whose units can be pruned, in forward order."""
        return list(zip(self.convs, self.norms, strict=True))

    def forward(self, x: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
        """The logits and, per prunable pair, each unit's mean |pre-ReLU output|."""
        activity = []
        for index, (conv, norm) in enumerate(self.prunable_pairs()):
            x = norm(conv(x))
            activity.append(_unit_activity(x))
            x = jax.nn.relu(x)
            if index in _VGG11_POOL_AFTER:
                x = _max_pool(x)
        return self.output(x.reshape(x.shape[0], -1)), tuple(activity)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.forward(x)[0]


class BasicBlock(nnx.Module):
    """ResNet basic block; the shortcut into a pruned unit of ``conv2`` is masked too."""

    def __init__(self, in_features: int, out_features: int, stride: int, *, rngs):
        self.conv1 = _conv(in_features, out_features, rngs, stride=stride, use_bias=False)
        self.bn1 = _batch_norm(out_features, rngs)
        self.conv2 = _conv(out_features, out_features, rngs, use_bias=False)
        self.bn2 = _batch_norm(out_features, rngs)
        if stride != 1 or in_features != out_features:
            self.shortcut_conv = _conv(
                in_features, out_features, rngs, size=1, stride=stride, use_bias=False
            )
            self.shortcut_norm = _batch_norm(out_features, rngs)
        else:
            self.shortcut_conv = nnx.data(None)
            self.shortcut_norm = nnx.data(None)

    def forward(self, x: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        """The block's output and the activity of its two prunable convs."""
        hidden = self.bn1(self.conv1(x))
        first = _unit_activity(hidden)
        shortcut = x
        if self.shortcut_conv is not None:
            shortcut = self.shortcut_norm(self.shortcut_conv(x))
        out = self.bn2(self.conv2(jax.nn.relu(hidden))) + shortcut * self.conv2.unit_mask[...]
        return jax.nn.relu(out), (first, _unit_activity(out))


RESNET18_WIDTHS = (64, 128, 256, 512)


class ResNet18(nnx.Module):
    """The CIFAR ResNet18: 3x3 stem, stages of two basic blocks, global average pool."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        widths: Sequence[int] = RESNET18_WIDTHS,
        *,
        rngs,
    ):
        """Builds the network; the 16 block convs are prunable, the stem and shortcuts not.

        Args:
          input_shape: ``(height, width, channels)``.
          num_classes: outputs.
          widths: the four stage widths (64, 128, 256, 512).
          rngs: ``rngs.params()`` draws the initial weights (PyTorch's default init).
        """
        self.stem = _conv(input_shape[-1], widths[0], rngs, use_bias=False)
        self.stem_norm = _batch_norm(widths[0], rngs)
        blocks, in_features = [], widths[0]
        for stage, width in enumerate(widths):
            for index in range(2):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(BasicBlock(in_features, width, stride, rngs=rngs))
                in_features = width
        self.blocks = nnx.List(blocks)
        self.output = _linear(widths[-1], num_classes, rngs)

    def prunable_pairs(self) -> list[Pair]:
        """The ``(layer, batch norm)`` pairs whose units can be pruned, in forward order."""
        pairs = []
        for block in self.blocks:
            pairs += [(block.conv1, block.bn1), (block.conv2, block.bn2)]
        return pairs

    def forward(self, x: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
        """The logits and, per prunable pair, each unit's mean |pre-ReLU output|."""
        x = jax.nn.relu(self.stem_norm(self.stem(x)))
        activity = []
        for block in self.blocks:
            x, block_activity = block.forward(x)
            activity += block_activity
        return self.output(jnp.mean(x, axis=(1, 2))), tuple(activity)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.forward(x)[0]


MODELS = {"bn_mlp": BNMLP, "bn_cnn": BNCNN, "vgg11_bn": VGG11BN, "resnet18": ResNet18}


def validate_model(name: str, input_shape: Sequence[int], widths: Sequence[int]) -> None:
    """Checks a model choice before anything is built.

    Raises:
      ValueError: naming an unknown model, a non-positive width, a wrong number of widths or
        an input the model's pooling cannot take.
    """
    if name not in MODELS:
        raise ValueError(f"model {name!r} is not one of {tuple(MODELS)}")
    if not widths or any(int(w) < 1 for w in widths):
        raise ValueError(f"model widths {tuple(widths)} must be positive integers")
    expected = {"bn_cnn": 3, "vgg11_bn": 8, "resnet18": 4}.get(name)
    if expected is not None and len(widths) != expected:
        raise ValueError(f"{name} takes {expected} widths, got {tuple(widths)}")
    if name != "bn_mlp" and len(input_shape) != 3:
        raise ValueError(f"{name} needs (height, width, channels) images, got {input_shape}")
    if name == "vgg11_bn" and tuple(input_shape[:2]) != (32, 32):
        raise ValueError(f"vgg11_bn needs 32 x 32 images, got {tuple(input_shape)}")
    if name == "bn_cnn" and any(size % 4 for size in input_shape[:2]):
        raise ValueError(f"bn_cnn needs height and width divisible by 4, got {input_shape}")


def make_model(
    name: str,
    input_shape: Sequence[int],
    num_classes: int,
    widths: Sequence[int],
    *,
    rngs: nnx.Rngs,
) -> BNMLP | BNCNN | VGG11BN | ResNet18:
    """Builds one of `MODELS` after `validate_model`."""
    validate_model(name, input_shape, widths)
    return MODELS[name](tuple(input_shape), num_classes, tuple(int(w) for w in widths), rngs=rngs)


def unit_counts(model) -> tuple[int, ...]:
    """F of every prunable layer, in forward order."""
    return tuple(int(layer.unit_mask.shape[0]) for layer, _ in model.prunable_pairs())
