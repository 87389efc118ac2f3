"""Two-layer networks of Wolfe et al. 2021 and their neurons for greedy forward selection.

* `NTKTwoLayer`: the NTK-parametrized net of Du, Zhai, Poczos and Singh (2019), used by Wolfe
  et al. (spec docs/papers/wolfe2021.md, "Model and pre-training"):
  ``f(x) = (1/sqrt(N)) sum_r a_r relu(w_r . x)``, ``w_r ~ N(0, kappa^2 I)``, output signs
  ``a_r in {+-1}^C`` drawn once and fixed (an `OutputSigns` variable, not a parameter), so
  gradient descent trains W only.
* The practical 784-N-10 variant with both layers trained is `models.MLP` with sizes
  ``(784, N, 10)``; `mlp_neurons` reads its neurons.

`ntk_neurons` and `mlp_neurons` return `greedy.Neurons`: the hidden activations, readout rows
and output offset, so that the net is the average of its neurons ``phi_r = N v_r h_r`` (plus
the offset) and the greedy subnetwork on S is the same net with the hidden unit mask
``N count_r / |S|`` (tests/papers/wolfe2021/test_greedy.py checks both forms agree).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from pruning_theory import models, nn
from pruning_theory.papers.wolfe2021 import greedy


class OutputSigns(nnx.Variable):
    """The fixed +-1 second layer of the NTK net: not an `nnx.Param`, so never trained."""


class NTKTwoLayer(nnx.Module):
    """``f(x) = (1/sqrt(N)) relu(x W) A`` with W trained and A in {+-1}^{N x C} fixed."""

    def __init__(
        self, num_inputs: int, width: int, num_outputs: int, init_std: float, *, rngs: nnx.Rngs
    ):
        """Draws ``W ~ N(0, kappa^2)`` entrywise and the signs ``A`` uniformly.

        Args:
          num_inputs: d.
          width: N, the number of hidden neurons.
          num_outputs: C.
          init_std: kappa.
          rngs: ``rngs.params()`` draws W, then the signs.
        """
        self.hidden = nn.MaskedLinear(
            num_inputs,
            width,
            use_bias=False,
            kernel_init=nnx.initializers.normal(init_std),
            rngs=rngs,
        )
        self.signs = OutputSigns(
            jax.random.rademacher(rngs.params(), (width, num_outputs), jnp.float32)
        )

    def readout(self) -> jax.Array:
        """The second layer ``A / sqrt(N)``."""
        return self.signs[...] / math.sqrt(self.signs.shape[0])

    def __call__(self, x: jax.Array) -> jax.Array:
        """Outputs ``[m, C]`` of inputs ``[m, d]``."""
        return jax.nn.relu(self.hidden(x)) @ self.readout()


def ntk_neurons(model: NTKTwoLayer, x: jax.Array) -> greedy.Neurons:
    """The neurons of an `NTKTwoLayer` on inputs ``[m, d]`` (zero offset)."""
    readout = model.readout()
    return greedy.Neurons(
        jax.nn.relu(model.hidden(x)), readout, jnp.zeros(readout.shape[1], readout.dtype)
    )


def mlp_neurons(model: models.MLP, x: jax.Array) -> greedy.Neurons:
    """The neurons of a one-hidden-layer `models.MLP` on inputs ``[m, d]``.

    Raises:
      ValueError: if the MLP does not have exactly one hidden layer.
    """
    if len(model.layers) != 2:
        raise ValueError(f"greedy selection needs one hidden layer, got {len(model.layers) - 1}")
    first, second = model.layers
    readout = second.effective_kernel()
    return greedy.Neurons(model.activation(first(x)), readout, second.bias[...])


def neurons_of(model: NTKTwoLayer | models.MLP, x: jax.Array) -> greedy.Neurons:
    """`ntk_neurons` or `mlp_neurons`, by the model's type."""
    if isinstance(model, NTKTwoLayer):
        return ntk_neurons(model, x)
    return mlp_neurons(model, x)


def hidden_layer(model: NTKTwoLayer | models.MLP) -> nn.MaskedLinear:
    """The masked hidden layer, whose unit mask selects a subnetwork."""
    return model.hidden if isinstance(model, NTKTwoLayer) else model.layers[0]


def neuron_magnitudes(model: NTKTwoLayer | models.MLP) -> jax.Array:
    """``||v_r|| ||w_r||`` per hidden neuron: the magnitude baseline's ranking score."""
    first = hidden_layer(model).effective_kernel()
    readout = (
        model.readout() if isinstance(model, NTKTwoLayer) else model.layers[1].effective_kernel()
    )
    return jnp.linalg.norm(first, axis=0) * jnp.linalg.norm(readout, axis=1)
