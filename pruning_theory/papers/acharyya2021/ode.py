"""Online-SGD ODEs of a two-layer erf student with a trained second layer (Goldt et al. 2019).

Acharyya et al. (2021) only use the fixed point of these dynamics; integrating them is our
extension (docs/papers/acharyya2021.md, "ODEs"), anchored on Saad & Solla (1995) and Goldt et
al. (2019, NeurIPS, "Dynamics of stochastic gradient descent for two-layer neural networks in
the teacher-student setup"), code github.com/sgoldt/nn2pp. With time alpha = P / N, learning
rates eta / sqrt(N) (first layer) and eta / N (second layer), u = (-v_1..-v_K, v*_1..v*_M) and
C the covariance of the local fields:

  dR_in / dalpha = eta v_i sum_c u_c I3(i, n, c)
  dQ_ik / dalpha = eta v_i sum_c u_c I3(i, k, c) + eta v_k sum_c u_c I3(k, i, c)
                   + eta^2 v_i v_k [sum_cd u_c u_d I4(i, k, c, d) + sigma^2 J2(i, k)]
  dv_i / dalpha  = eta sum_c u_c I2(i, c)

`integrate` steps them with explicit Euler (every right-hand side from the start-of-step
state, as in the anchor) inside `lax.scan`; vmap it over seeds and noise levels.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from pruning_theory.papers.acharyya2021 import theory


class OrderParameters(NamedTuple):
    """The ODE state: q ``[K, K]``, r ``[K, M]``, v ``[K]`` (T and v* are constant)."""

    q: jax.Array
    r: jax.Array
    v: jax.Array


def rhs(
    state: OrderParameters,
    t: ArrayLike,
    v_star: ArrayLike,
    learning_rate: ArrayLike,
    noise: ArrayLike,
) -> OrderParameters:
    """d(Q, R, v) / dalpha (module docstring; Goldt et al. 2019, Eqs. 8-10 with erf).

    Args:
      state: the current order parameters.
      t: ``[M, M]`` teacher overlaps.
      v_star: ``[M]`` teacher second layer.
      learning_rate: eta.
      noise: sigma, the standard deviation of the label noise.

    Returns:
      The time derivatives, as an `OrderParameters`.
    """
    q, r, v = state
    num_students = v.shape[0]
    cov = theory.field_covariance(q, r, t)
    u = jnp.concatenate([-v, jnp.asarray(v_star)])
    drive = theory.i3_tensor(cov, num_students) @ u  # [K, D]: sum_c u_c I3(i, b, c)
    student_drive = v[:, None] * drive[:, :num_students]
    second_order = i4_quadratic_form(cov, u, num_students)
    j2 = theory.j2_matrix(cov)[:num_students, :num_students]
    dq = learning_rate * (student_drive + student_drive.T) + learning_rate**2 * jnp.outer(v, v) * (
        second_order + noise**2 * j2
    )
    dr = learning_rate * v[:, None] * drive[:, num_students:]
    dv = learning_rate * theory.i2_matrix(cov)[:num_students] @ u
    return OrderParameters(dq, dr, dv)


def i4_quadratic_form(cov: ArrayLike, u: ArrayLike, num_rows: int) -> jax.Array:
    """sum_cd u_c u_d I4(i, k, c, d) for i, k among the first ``num_rows`` fields: ``[n, n]``.

    Equal to contracting `theory.i4_tensor` with u twice, at a third of the cost: I4 is
    symmetric under i <-> k and under c <-> d, so only the pairs i <= k and c <= d are
    evaluated (the ODE's hot spot: this is most of the work of an Euler step).
    """
    cov, u = jnp.asarray(cov), jnp.asarray(u)
    num_fields = cov.shape[0]
    rows_i, rows_k = np.triu_indices(num_rows)
    cols_c, cols_d = np.triu_indices(num_fields)
    weights = jnp.where(cols_c == cols_d, 1.0, 2.0) * u[cols_c] * u[cols_d]
    diag = jnp.diagonal(cov)
    pair = lambda a, b: cov[a[:, None], b[None, :]]  # noqa: E731
    values = theory.i4(
        diag[rows_i][:, None],
        diag[rows_k][:, None],
        diag[cols_c][None, :],
        diag[cols_d][None, :],
        cov[rows_i, rows_k][:, None],
        pair(rows_i, cols_c),
        pair(rows_i, cols_d),
        pair(rows_k, cols_c),
        pair(rows_k, cols_d),
        cov[cols_c, cols_d][None, :],
    )
    upper = jnp.zeros((num_rows, num_rows)).at[rows_i, rows_k].set(values @ weights)
    return upper + jnp.triu(upper, 1).T


def integrate(
    initial: OrderParameters,
    t: ArrayLike,
    v_star: ArrayLike,
    learning_rate: ArrayLike,
    noise: ArrayLike,
    *,
    dt: float,
    steps_per_record: int,
    num_records: int,
) -> tuple[OrderParameters, jax.Array]:
    """Explicit Euler in alpha from ``initial``; records eps every ``steps_per_record`` steps.

    Args:
      initial: order parameters at alpha = 0 (e.g. those of an SGD run's initial weights).
      t, v_star, learning_rate, noise: as in `rhs`.
      dt: the Euler step in alpha (the anchor uses 0.01).
      steps_per_record: Euler steps between records.
      num_records: records; the run ends at alpha = dt * steps_per_record * num_records.

    Returns:
      ``(final, errors)``: the order parameters at the end and ``[num_records + 1]``
      generalization errors at alpha = 0, dt * steps_per_record, 2 dt * steps_per_record, ...
    """

    def euler(state, _):
        derivative = rhs(state, t, v_star, learning_rate, noise)
        return jax.tree.map(lambda x, dx: x + dt * dx, state, derivative), None

    def record(state, _):
        state, _ = jax.lax.scan(euler, state, None, length=steps_per_record)
        return state, error_of(state, t, v_star)

    final, errors = jax.lax.scan(record, initial, None, length=num_records)
    return final, jnp.concatenate([error_of(initial, t, v_star)[None], errors])


def error_of(state: OrderParameters, t: ArrayLike, v_star: ArrayLike) -> jax.Array:
    """The exact generalization error of a state (`theory.generalization_error`)."""
    return theory.generalization_error(state.q, state.r, t, state.v, v_star)
