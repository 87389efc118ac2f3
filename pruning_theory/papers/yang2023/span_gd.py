"""Exact full-batch gradient descent of masked linear filters, run in the span of the inputs.

If a loss sees filter ``v_c = w_c * m_c`` only through its responses ``r_{c,a} = <v_c, z_a>``
to a fixed set of vectors ``z_1..z_A`` (the training inputs), then
``dL/dw_c = sum_a (dL/dr_{c,a}) z_a * m_c``, so gradient descent keeps

    w_c(t) = w_c(0) + (sum_a C_{c,a} z_a) * m_c,    C <- C - eta dL/dr,
    r_c(t+1) = r_c(t) - eta G_c dL/dr_c,            G_c[a, b] = sum_d m_{c,d} z_{a,d} z_{b,d}.

This is the signal-noise decomposition of Cao et al. 2022 (Lemma 5.1) made exact for masked
filters: the same iterates as weight-space GD in exact arithmetic, but a step costs O(A^2)
per filter instead of O(A d). With d >> A (the regime of Yang et al. 2023, d >> n m) the
over-pruned cells' long ``T / (1 - p)`` schedules become affordable on a CPU. Pruned
coordinates never move by construction, and `span_kernel` recovers the weights.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class SpanState(NamedTuple):
    """Responses to the inputs, the span coefficients, and the per-filter masked Gram."""

    responses: jax.Array  # [C, A]  <w_c * m_c, z_a>
    coefficients: jax.Array  # [C, A]  C_{c,a}
    gram: jax.Array  # [C, A, A]  G_c


def init_span_state(kernel: jax.Array, mask: jax.Array, inputs: jax.Array) -> SpanState:
    """The state at ``w(0) = kernel``.

    Args:
      kernel: [d, C] initial weights, one filter per column.
      mask: [d, C] 0/1 mask.
      inputs: [A, d] the vectors the loss sees the filters through.
    """
    gram = jnp.einsum("ad,dc,bd->cab", inputs, mask, inputs)
    responses = (inputs @ (kernel * mask)).T
    return SpanState(responses, jnp.zeros_like(responses), gram)


def span_gd_step(state: SpanState, response_grad: jax.Array, learning_rate) -> SpanState:
    """One GD step given dL/dr [C, A]; ``learning_rate`` may be a traced scalar."""
    return SpanState(
        responses=state.responses
        - learning_rate * jnp.einsum("cab,cb->ca", state.gram, response_grad),
        coefficients=state.coefficients - learning_rate * response_grad,
        gram=state.gram,
    )


def span_kernel(
    kernel: jax.Array, mask: jax.Array, inputs: jax.Array, coefficients: jax.Array
) -> jax.Array:
    """The weights ``w(t) = w(0) + (inputs^T C^T) * mask`` as a [d, C] kernel."""
    return kernel + (inputs.T @ coefficients.T) * mask
