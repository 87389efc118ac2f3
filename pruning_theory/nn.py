"""Masked Flax NNX layers for pruning experiments.

* :class:`Mask`: the variable type holding pruning masks (not an ``nnx.Param``).
* :class:`MaskedLinear` and :class:`MaskedConv`: layers with an unstructured ``kernel_mask``
  (kernel shape) and a structured ``unit_mask`` over output units.
* :class:`MaskedBatchNorm`: batch norm whose scale and bias are multiplied by a ``unit_mask``,
  so that a structurally pruned unit outputs exactly zero.
* :func:`set_unit_mask`, :func:`masks_of` and :func:`count_kept_weights`: small helpers.

All masks start as ones (nothing pruned). Models are plain NNX modules, so ``nnx.split`` gives
a state that can be stacked and ``jax.vmap``-ed over, e.g. to run many masks at once.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import ArrayLike, DTypeLike

Initializer = nnx.initializers.Initializer

_DEFAULT_KERNEL_INIT = nnx.initializers.lecun_normal()
_DEFAULT_BIAS_INIT = nnx.initializers.zeros_init()


class Mask(nnx.Variable):
    """A 0/1 pruning mask (1 = kept), stored apart from the trainable parameters.

    Masks are not ``nnx.Param``, so gradients taken with respect to ``nnx.Param`` never
    include them and optimizers filtering on ``nnx.Param`` leave them alone. The dense
    weights are kept untouched (so rewinding to earlier weights stays possible); the mask
    multiplies the kernel in the forward pass, which gives pruned weights exactly zero
    gradient.
    """


class _MaskedKernelLayer(nnx.Module):
    """Shared mask logic of layers with a ``kernel`` whose last axis indexes output units.

    Subclasses define ``kernel`` (``nnx.Param``), ``kernel_mask`` (``Mask``, kernel shape)
    and ``unit_mask`` (``Mask``, shape ``(out,)``).
    """

    kernel: nnx.Param
    kernel_mask: Mask
    unit_mask: Mask

    def kept_kernel_mask(self) -> jax.Array:
        """Returns the combined 0/1 mask of kept kernel entries (kernel and unit masks)."""
        return self.kernel_mask[...] * self.unit_mask[...]

    def effective_kernel(self) -> jax.Array:
        """Returns the kernel used in the forward pass: ``kernel * kernel_mask * unit_mask``."""
        return self.kernel[...] * self.kept_kernel_mask()

    def _masked_bias(self, bias: nnx.Param | None) -> jax.Array | None:
        """Returns ``bias * unit_mask``, or None when the layer has no bias."""
        return None if bias is None else bias[...] * self.unit_mask[...]


class MaskedLinear(_MaskedKernelLayer):
    """Dense layer ``x @ (kernel * kernel_mask * unit_mask) + bias * unit_mask``.

    Attributes:
        kernel: ``nnx.Param`` of shape ``(in_features, out_features)``.
        bias: ``nnx.Param`` of shape ``(out_features,)``, or None.
        kernel_mask: ``Mask`` of the kernel's shape (unstructured pruning).
        unit_mask: ``Mask`` of shape ``(out_features,)`` (structured pruning of output units).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        use_bias: bool = True,
        kernel_init: Initializer = _DEFAULT_KERNEL_INIT,
        bias_init: Initializer = _DEFAULT_BIAS_INIT,
        dtype: DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ) -> None:
        """Initializes the layer with all masks set to ones.

        Args:
            in_features: number of input features.
            out_features: number of output units.
            use_bias: whether to add a bias.
            kernel_init: initializer of the kernel (default LeCun normal).
            bias_init: initializer of the bias (default zeros).
            dtype: dtype of parameters and masks.
            rngs: random streams; ``rngs.params()`` initializes the parameters.
        """
        kernel_shape = (in_features, out_features)
        self.kernel = nnx.Param(kernel_init(rngs.params(), kernel_shape, dtype))
        self.bias = (
            nnx.Param(bias_init(rngs.params(), (out_features,), dtype))
            if use_bias
            else nnx.data(None)
        )
        self.kernel_mask = Mask(jnp.ones(kernel_shape, dtype))
        self.unit_mask = Mask(jnp.ones((out_features,), dtype))

    def __call__(self, x: jax.Array) -> jax.Array:
        """Applies the masked affine map to the last axis of ``x``.

        Args:
            x: inputs of shape ``(..., in_features)``.

        Returns:
            Outputs of shape ``(..., out_features)``.
        """
        y = x @ self.effective_kernel()
        bias = self._masked_bias(self.bias)
        return y if bias is None else y + bias


class MaskedConv(_MaskedKernelLayer):
    """2-D convolution (NHWC inputs, HWIO kernel) with a kernel mask and a unit mask.

    Computes ``conv(x, kernel * kernel_mask * unit_mask) + bias * unit_mask``.

    Attributes:
        kernel: ``nnx.Param`` of shape ``(kh, kw, in_features, out_features)``.
        bias: ``nnx.Param`` of shape ``(out_features,)``, or None.
        kernel_mask: ``Mask`` of the kernel's shape (unstructured pruning).
        unit_mask: ``Mask`` of shape ``(out_features,)`` (structured pruning of channels).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: tuple[int, int],
        *,
        strides: tuple[int, int] = (1, 1),
        padding: str | Sequence[tuple[int, int]] = "SAME",
        use_bias: bool = True,
        kernel_init: Initializer = _DEFAULT_KERNEL_INIT,
        bias_init: Initializer = _DEFAULT_BIAS_INIT,
        dtype: DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ) -> None:
        """Initializes the layer with all masks set to ones.

        Args:
            in_features: number of input channels.
            out_features: number of output channels (units).
            kernel_size: spatial size ``(kh, kw)`` of the kernel.
            strides: spatial strides.
            padding: ``"SAME"``, ``"VALID"`` or explicit ``(low, high)`` pairs per spatial
                axis, as accepted by ``jax.lax.conv_general_dilated``.
            use_bias: whether to add a bias.
            kernel_init: initializer of the kernel (default LeCun normal).
            bias_init: initializer of the bias (default zeros).
            dtype: dtype of parameters and masks.
            rngs: random streams; ``rngs.params()`` initializes the parameters.
        """
        kernel_shape = (*kernel_size, in_features, out_features)
        self.kernel = nnx.Param(kernel_init(rngs.params(), kernel_shape, dtype))
        self.bias = (
            nnx.Param(bias_init(rngs.params(), (out_features,), dtype))
            if use_bias
            else nnx.data(None)
        )
        self.kernel_mask = Mask(jnp.ones(kernel_shape, dtype))
        self.unit_mask = Mask(jnp.ones((out_features,), dtype))
        self.strides = tuple(strides)
        self.padding = padding if isinstance(padding, str) else tuple(map(tuple, padding))

    def __call__(self, x: jax.Array) -> jax.Array:
        """Applies the masked convolution.

        Args:
            x: inputs of shape ``(batch, height, width, in_features)``.

        Returns:
            Outputs of shape ``(batch, out_height, out_width, out_features)``.
        """
        y = jax.lax.conv_general_dilated(
            x,
            self.effective_kernel(),
            window_strides=self.strides,
            padding=self.padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        bias = self._masked_bias(self.bias)
        return y if bias is None else y + bias


class MaskedBatchNorm(nnx.Module):
    """Batch norm over the last axis whose scale and bias are multiplied by a unit mask.

    A unit with ``unit_mask == 0`` outputs exactly zero, in train and eval mode alike. The
    batch statistics are handled by an inner ``nnx.BatchNorm`` without scale or bias, so
    ``model.train()`` / ``model.eval()`` and ``nnx.view(model, use_running_average=...)``
    switch between batch statistics (with a momentum update of the running mean and
    variance) and the running statistics, as for ``nnx.BatchNorm``.

    Attributes:
        norm: inner ``nnx.BatchNorm`` holding the running mean and variance.
        scale: ``nnx.Param`` of shape ``(num_features,)``.
        bias: ``nnx.Param`` of shape ``(num_features,)``.
        unit_mask: ``Mask`` of shape ``(num_features,)``.
    """

    def __init__(
        self,
        num_features: int,
        *,
        use_running_average: bool = False,
        momentum: float = 0.99,
        epsilon: float = 1e-5,
        dtype: DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ) -> None:
        """Initializes scale to ones, bias to zeros and the unit mask to ones.

        Args:
            num_features: size of the last (feature) axis.
            use_running_average: if True, normalize with the running statistics (eval
                mode); otherwise with batch statistics, updating the running ones.
            momentum: decay rate of the running statistics.
            epsilon: added to the variance for numerical stability.
            dtype: dtype of parameters and the mask.
            rngs: random streams (required by ``nnx.BatchNorm``; nothing random is drawn).
        """
        self.norm = nnx.BatchNorm(
            num_features,
            use_running_average=use_running_average,
            momentum=momentum,
            epsilon=epsilon,
            use_scale=False,
            use_bias=False,
            rngs=rngs,
        )
        self.scale = nnx.Param(jnp.ones((num_features,), dtype))
        self.bias = nnx.Param(jnp.zeros((num_features,), dtype))
        self.unit_mask = Mask(jnp.ones((num_features,), dtype))

    def __call__(self, x: jax.Array, use_running_average: bool | None = None) -> jax.Array:
        """Normalizes ``x`` over all axes but the last and applies the masked affine map.

        Args:
            x: inputs of shape ``(..., num_features)``.
            use_running_average: overrides the mode set at construction or by
                ``train()`` / ``eval()`` when not None.

        Returns:
            Outputs of the shape of ``x``.
        """
        normalized = self.norm(x, use_running_average=use_running_average)
        unit_mask = self.unit_mask[...]
        return normalized * (self.scale[...] * unit_mask) + self.bias[...] * unit_mask


def set_unit_mask(
    unit_mask: ArrayLike, *layers: MaskedLinear | MaskedConv | MaskedBatchNorm
) -> None:
    """Sets the same output-unit mask on a layer and the batch norm(s) that follow it.

    This is the structured form of pruning: masking a unit in both the layer and its batch
    norm makes the unit output exactly zero.

    Args:
        unit_mask: 0/1 vector of shape ``(num_units,)``.
        *layers: layers whose ``unit_mask`` is set, e.g. ``(conv, bn)``.

    Raises:
        ValueError: if ``unit_mask`` does not match a layer's unit-mask shape.
    """
    for layer in layers:
        current = layer.unit_mask[...]
        if jnp.shape(unit_mask) != current.shape:
            raise ValueError(
                f"unit_mask of shape {jnp.shape(unit_mask)} does not match the "
                f"{type(layer).__name__} unit mask of shape {current.shape}."
            )
        layer.unit_mask[...] = jnp.asarray(unit_mask, current.dtype)


def masks_of(model: nnx.Module) -> nnx.State:
    """Returns the state of all ``Mask`` variables of a model."""
    return nnx.state(model, Mask)


def count_kept_weights(model: nnx.Module) -> jax.Array:
    """Returns the number of kept kernel weights over all masked kernel layers of a model.

    A weight counts as kept where both its kernel mask and its unit's mask are nonzero.

    Args:
        model: a module containing :class:`MaskedLinear` / :class:`MaskedConv` layers.

    Returns:
        An integer scalar.
    """
    counts = [
        jnp.count_nonzero(module.kept_kernel_mask())
        for _, module in nnx.iter_modules(model)
        if isinstance(module, _MaskedKernelLayer)
    ]
    return sum(counts, jnp.zeros((), jnp.int32))
