"""Two-layer erf teacher and student, Gaussian data drawn on the fly, online SGD.

The setting of Saad & Solla (1995), Goldt et al. (2019) and Acharyya et al. (2021, spec
docs/papers/acharyya2021.md, "Setup"):

* inputs x ~ N(0, I_N); g(x) = erf(x / sqrt(2));
* a network phi(x) = sum_k v_k g(w_k . x / sqrt(N)) is a `TwoLayer` (w ``[K, N]``, v ``[K]``);
* the teacher has w* ~ N(0, 1) entries and v*_m = v* for all m, labels
  y = phi*(x) + sigma zeta with zeta ~ N(0, 1);
* the student starts from w, v ~ N(0, 1) and learns by online SGD, one fresh example per step:
  w_k += (eta / sqrt(N)) v_k g'(lambda_k) Delta x,  v_k += (eta / N) Delta g(lambda_k),
  lambda_k = w_k . x / sqrt(N), Delta = y - phi(x).

No data set is ever materialized: `draw_example` turns a key (e.g. ``fold_in(key, step)``)
into one input and its label noise.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


class TwoLayer(NamedTuple):
    """A two-layer erf network: first layer ``w [K, N]``, second layer ``v [K]``."""

    w: jax.Array
    v: jax.Array


def activation(x: jax.Array) -> jax.Array:
    """g(x) = erf(x / sqrt(2))."""
    return jax.scipy.special.erf(x / math.sqrt(2))


def activation_derivative(x: jax.Array) -> jax.Array:
    """g'(x) = sqrt(2 / pi) exp(-x^2 / 2)."""
    return math.sqrt(2 / math.pi) * jnp.exp(-(x**2) / 2)


def local_fields(network: TwoLayer, x: jax.Array) -> jax.Array:
    """lambda = w x / sqrt(N) for inputs ``[..., N]``: ``[..., K]``."""
    return x @ network.w.T / math.sqrt(network.w.shape[-1])


def output(network: TwoLayer, x: jax.Array) -> jax.Array:
    """phi(x) = sum_k v_k g(lambda_k) for inputs ``[..., N]``."""
    return activation(local_fields(network, x)) @ network.v


def init_teacher(key: jax.Array, num_hidden: int, dimension: int, v_star: float) -> TwoLayer:
    """w* with N(0, 1) entries and v*_m = v_star for every m."""
    return TwoLayer(
        jax.random.normal(key, (num_hidden, dimension)),
        jnp.full((num_hidden,), v_star, dtype=jnp.float32),
    )


def init_student(key: jax.Array, num_hidden: int, dimension: int) -> TwoLayer:
    """w and v with N(0, 1) entries (the spec's and the official code's initialization)."""
    w_key, v_key = jax.random.split(key)
    return TwoLayer(
        jax.random.normal(w_key, (num_hidden, dimension)),
        jax.random.normal(v_key, (num_hidden,)),
    )


def draw_example(key: jax.Array, dimension: int) -> tuple[jax.Array, jax.Array]:
    """One input x ~ N(0, I_N) and one label-noise draw zeta ~ N(0, 1)."""
    input_key, noise_key = jax.random.split(key)
    return jax.random.normal(input_key, (dimension,)), jax.random.normal(noise_key, ())


def sgd_step(student: TwoLayer, x: jax.Array, label: jax.Array, learning_rate) -> TwoLayer:
    """One online SGD step on (x, y) with the spec's learning rates eta / sqrt(N), eta / N.

    This is gradient descent on the loss Delta^2 / 2 with the first-layer gradient scaled by
    sqrt(N) (Goldt et al. 2019, Eq. 5; the official code's manual gradient rescaling).
    """
    dimension = student.w.shape[-1]
    fields = local_fields(student, x)
    hidden = activation(fields)
    delta = label - hidden @ student.v
    w_step = (student.v * activation_derivative(fields) * delta)[:, None] * x[None, :]
    return TwoLayer(
        student.w + learning_rate / math.sqrt(dimension) * w_step,
        student.v + learning_rate / dimension * delta * hidden,
    )


def monte_carlo_error(
    key: jax.Array,
    student: TwoLayer,
    teacher: TwoLayer,
    num_samples: int,
    chunk_size: int = 4000,
) -> jax.Array:
    """(1/2) mean (phi(x) - phi*(x))^2 over fresh Gaussian inputs, drawn chunk by chunk.

    The test set is never held in memory whole: ``num_samples / chunk_size`` chunks of
    ``[chunk_size, N]`` inputs are drawn inside a scan.

    Raises:
      ValueError: if ``num_samples`` is not a positive multiple of ``chunk_size``.
    """
    if num_samples <= 0 or num_samples % chunk_size:
        raise ValueError(
            f"num_samples = {num_samples} must be a positive multiple of chunk_size = {chunk_size}"
        )
    dimension = student.w.shape[-1]

    def add_chunk(total, chunk_key):
        x = jax.random.normal(chunk_key, (chunk_size, dimension))
        return total + jnp.sum((output(student, x) - output(teacher, x)) ** 2), None

    keys = jax.random.split(key, num_samples // chunk_size)
    total, _ = jax.lax.scan(add_chunk, jnp.zeros(()), keys)
    return total / (2 * num_samples)


def label(teacher: TwoLayer, x: jax.Array, zeta: jax.Array, noise: ArrayLike) -> jax.Array:
    """y = phi*(x) + sigma zeta."""
    return output(teacher, x) + noise * zeta
