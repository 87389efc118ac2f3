"""The papers' networks, built from the masked layers of `pruning_theory.nn`.

* `PatchNet`: the two-layer convolutional (patch) network of Cao et al. 2022 / Yang et al.
  2023, f(W, x) = F_{+1}(x) - F_{-1}(x), F_j(x) = (1/m) sum_r sum_k sigma(<w_{j,r} * m_{j,r},
  x_k>), sigma(z) = max(0, z)^q, second layer fixed at +-1/m.
* `patch_net_output`: the same function written on the filters' responses, shared by the
  weight-space and the span parametrizations of gradient descent (`pruning_theory.span_gd`).
* `MLP`: a multilayer perceptron of `nn.MaskedLinear` layers (the real-data companions).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from pruning_theory import nn

CLASS_SIGNS = jnp.array([1.0, -1.0])  # filter bank j = 0 is F_{+1}, j = 1 is F_{-1}


def relu_power(z: jax.Array, power: float) -> jax.Array:
    """sigma(z) = max(0, z)^q (Cao et al. 2022, Eq. 3.1; q > 2 in their theory)."""
    return jnp.maximum(z, 0.0) ** power


def patch_net_output(
    signal_responses: jax.Array, noise_responses: jax.Array, labels: jax.Array, power: float
) -> jax.Array:
    """f(W, x_i) for examples ``x_i = [y_i mu, xi_i]`` from the filters' responses.

    Args:
      signal_responses: [2, m] the responses <w_{j,r} * m_{j,r}, mu>.
      noise_responses: [2, m, n] the responses <w_{j,r} * m_{j,r}, xi_i>.
      labels: [n] the y_i, so that the signal patch's response is y_i <w * m, mu>.
      power: q.

    Returns:
      [n] network outputs F_{+1} - F_{-1}.
    """
    signal = relu_power(signal_responses[:, :, None] * labels[None, None, :], power)
    noise = relu_power(noise_responses, power)
    per_class = jnp.mean(signal + noise, axis=1)  # (1/m) sum_r, shape [2, n]
    return per_class[0] - per_class[1]


class PatchNet(nnx.Module):
    """Two-layer patch network whose first layer is a `nn.MaskedLinear` filter bank.

    The kernel is ``[d, 2 m]``; column ``j m + r`` is filter w_{j,r}. Only the first layer is
    trained (the second is fixed at +-1/m), so the model is exactly the kernel and its mask.
    """

    def __init__(self, dimension: int, width: int, init_std: float, *, rngs: nnx.Rngs):
        self.width = width
        self.filters = nn.MaskedLinear(
            dimension,
            2 * width,
            use_bias=False,
            kernel_init=nnx.initializers.normal(init_std),
            rngs=rngs,
        )

    def responses(self, inputs: jax.Array) -> jax.Array:
        """<w_{j,r} * m_{j,r}, x> for inputs [n, d] -> [2, m, n]."""
        out = self.filters(inputs)  # [n, 2m]
        return out.T.reshape(2, self.width, inputs.shape[0])

    def __call__(self, labels: jax.Array, noise: jax.Array, mu: jax.Array, power: float):
        """f on examples [y_i mu, xi_i]; the signal patch is rank one, so it costs one matvec."""
        signal = self.responses(mu[None, :])[:, :, 0]
        return patch_net_output(signal, self.responses(noise), labels, power)


class MLP(nnx.Module):
    """A multilayer perceptron of `nn.MaskedLinear` layers."""

    def __init__(
        self, sizes: Sequence[int], activation: Callable[[jax.Array], jax.Array], *, rngs: nnx.Rngs
    ):
        """Builds the layers ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` with all masks ones.

        Args:
          sizes: input width, hidden widths, then the number of classes.
          activation: the hidden nonlinearity.
          rngs: ``rngs.params()`` draws the initial weights.
        """
        self.layers = nnx.List(
            [nn.MaskedLinear(i, o, rngs=rngs) for i, o in itertools.pairwise(sizes)]
        )
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        """Returns the logits of inputs ``x`` of shape ``(batch, sizes[0])``."""
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)
