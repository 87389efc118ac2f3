"""Statistical mechanics of pruning a two-layer erf network (Acharyya et al. 2021).

Acharyya, Chattoraj, Zhang, Das and Stefankovic, "Statistical Mechanical Analysis of Neural
Network Pruning", UAI 2021 (arXiv 2006.16617); spec: docs/papers/acharyya2021.md.

A student phi(x) = sum_k v_k g(w_k . x / sqrt(N)) learns a teacher with M hidden units,
g(x) = erf(x / sqrt(2)), Gaussian inputs. Everything the theory needs is a function of the order
parameters Q = w w^T / N, R = w w*^T / N, T = w* w*^T / N and the second layers v, v*:

* `order_parameters`, `field_covariance`: the covariance C = [[Q, R], [R^T, T]] of the local
  fields (lambda, nu), which are jointly Gaussian for Gaussian inputs at any N;
* the Gaussian integrals of Saad & Solla (1995) for this g: `i2`, `i3`, `i4`, `j2` as
  elementwise closed forms, and `i3_tensor`, `i4_tensor` that vectorize them over fields;
* `generalization_error`: the exact eps = <(phi - phi*)^2> / 2 = u^T I2(C) u / 2 with
  u = (-v, v*) (spec, "Order parameters and exact GE");
* the paper's closed forms for a converged, specialized student (each teacher node copied by
  Z = K / M student nodes with second-layer weight v* / Z): `lemma2_error` (Lemma 2),
  `dpp_node_error` (Thm 1, with and without reweighting), `random_node_error` (the expectation
  of Lemma 2 over uniformly random subsets, used for Thm 2), `random_edge_error` (Thm 3),
  `random_edge_rescaled_error` and `theorem5_gap` (Thm 5), `theorem4_gap` (Thm 4).

The rescaled random edge network of Thm 5 (the second layer multiplied by the scalar that
minimizes Thm 3's error) is a RECONSTRUCTION from the spec's one-line statement.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

RECONSTRUCTION = (
    "reconstruction: optimally rescaled random edge (Thm 5) derived from Thm 3's expected "
    "network; not the paper's verbatim statement"
)


def order_parameters(w: ArrayLike, w_star: ArrayLike) -> tuple[jnp.ndarray, ...]:
    """Q = w w^T / N, R = w w*^T / N, T = w* w*^T / N for first layers ``[K, N]``, ``[M, N]``."""
    w, w_star = jnp.asarray(w), jnp.asarray(w_star)
    dimension = w.shape[-1]
    return w @ w.T / dimension, w @ w_star.T / dimension, w_star @ w_star.T / dimension


def field_covariance(q: ArrayLike, r: ArrayLike, t: ArrayLike) -> jnp.ndarray:
    """C = [[Q, R], [R^T, T]]: the covariance of the local fields (lambda_1..K, nu_1..M)."""
    q, r, t = jnp.asarray(q), jnp.asarray(r), jnp.asarray(t)
    return jnp.block([[q, r], [r.T, t]])


def i2(c_aa, c_ab, c_bb):
    """I2 = <g(a) g(b)> = (2/pi) asin(C_ab / sqrt((1 + C_aa)(1 + C_bb)))."""
    return (2 / jnp.pi) * jnp.arcsin(c_ab / jnp.sqrt((1 + c_aa) * (1 + c_bb)))


def j2(c_aa, c_ab, c_bb):
    """J2 = <g'(a) g'(b)> = (2/pi) / sqrt(1 + C_aa + C_bb + C_aa C_bb - C_ab^2)."""
    return (2 / jnp.pi) / jnp.sqrt(1 + c_aa + c_bb + c_aa * c_bb - c_ab**2)


def i3(c_aa, c_ab, c_ac, c_bc, c_cc):
    """I3 = <g'(a) b g(c)> (Saad & Solla 1995, Eq. A5, for g = erf(x / sqrt 2))."""
    lambda3 = (1 + c_aa) * (1 + c_cc) - c_ac**2
    return (2 / jnp.pi) * (c_bc * (1 + c_aa) - c_ab * c_ac) / ((1 + c_aa) * jnp.sqrt(lambda3))


def i4(c_aa, c_bb, c_cc, c_dd, c_ab, c_ac, c_ad, c_bc, c_bd, c_cd):
    """I4 = <g'(a) g'(b) g(c) g(d)> (Saad & Solla 1995, Eq. A6, for g = erf(x / sqrt 2))."""
    lambda4 = (1 + c_aa) * (1 + c_bb) - c_ab**2
    lambda0 = (
        lambda4 * c_cd
        - c_bc * c_bd * (1 + c_aa)
        - c_ac * c_ad * (1 + c_bb)
        + c_ab * c_ac * c_bd
        + c_ab * c_ad * c_bc
    )
    lambda1 = (
        lambda4 * (1 + c_cc) - c_bc**2 * (1 + c_aa) - c_ac**2 * (1 + c_bb) + 2 * c_ab * c_ac * c_bc
    )
    lambda2 = (
        lambda4 * (1 + c_dd) - c_bd**2 * (1 + c_aa) - c_ad**2 * (1 + c_bb) + 2 * c_ab * c_ad * c_bd
    )
    return (4 / jnp.pi**2) * jnp.arcsin(lambda0 / jnp.sqrt(lambda1 * lambda2)) / jnp.sqrt(lambda4)


def i2_matrix(cov: ArrayLike) -> jnp.ndarray:
    """I2(a, b) for all pairs of fields: ``[D, D]``."""
    cov = jnp.asarray(cov)
    diag = jnp.diagonal(cov)
    return i2(diag[:, None], cov, diag[None, :])


def j2_matrix(cov: ArrayLike) -> jnp.ndarray:
    """J2(a, b) for all pairs of fields: ``[D, D]``."""
    cov = jnp.asarray(cov)
    diag = jnp.diagonal(cov)
    return j2(diag[:, None], cov, diag[None, :])


def i3_tensor(cov: ArrayLike, num_rows: int) -> jnp.ndarray:
    """I3(a, b, c) for the first ``num_rows`` fields a and all fields b, c: ``[n, D, D]``."""
    cov = jnp.asarray(cov)
    diag = jnp.diagonal(cov)
    return i3(
        diag[:num_rows, None, None],
        cov[:num_rows, :, None],
        cov[:num_rows, None, :],
        cov[None, :, :],
        diag[None, None, :],
    )


def i4_tensor(cov: ArrayLike, num_rows: int) -> jnp.ndarray:
    """I4(a, b, c, d) for a, b among the first ``num_rows`` fields, c, d all: ``[n, n, D, D]``."""
    cov = jnp.asarray(cov)
    diag = jnp.diagonal(cov)
    n = num_rows
    return i4(
        diag[:n, None, None, None],
        diag[None, :n, None, None],
        diag[None, None, :, None],
        diag[None, None, None, :],
        cov[:n, :n, None, None],
        cov[:n, None, :, None],
        cov[:n, None, None, :],
        cov[None, :n, :, None],
        cov[None, :n, None, :],
        cov[None, None, :, :],
    )


def generalization_error(q, r, t, v, v_star) -> jnp.ndarray:
    """The exact erf generalization error eps = <(phi - phi*)^2> / 2 from order parameters.

    eps = (1/pi) [sum_ik v_i v_k asin(Q_ik / sqrt((1+Q_ii)(1+Q_kk))) + (teacher terms)
    - 2 sum_in v_i v*_n asin(R_in / sqrt((1+Q_ii)(1+T_nn)))] (spec, "exact GE"), i.e.
    u^T I2(C) u / 2 with u = (-v, v*). Exact at finite N given the weights; add sigma^2 / 2 for
    the error against noisy labels. A node with v_i = 0 contributes nothing, which is how
    node pruning is evaluated without changing shapes.

    Args:
      q: ``[K, K]`` student overlaps. r: ``[K, M]`` student-teacher overlaps.
      t: ``[M, M]`` teacher overlaps. v: ``[K]`` student second layer. v_star: ``[M]``.

    Returns:
      A scalar.
    """
    u = jnp.concatenate([-jnp.asarray(v), jnp.asarray(v_star)])
    return 0.5 * u @ i2_matrix(field_covariance(q, r, t)) @ u


def rescaled_generalization_error(q, r, t, v, v_star) -> jnp.ndarray:
    """min over a scalar s of the generalization error with second layer s v.

    eps(s) = (s^2 a - 2 s b + c) / 2 with a = v^T I2_QQ v, b = v^T I2_QR v*, c = v*^T I2_TT v*
    (blocks of I2(C)), minimized at s = b / a: eps = (c - b^2 / a) / 2. The measured
    counterpart of `random_edge_rescaled_error` (Thm 5).
    """
    v, v_star = jnp.asarray(v), jnp.asarray(v_star)
    num_students = v.shape[0]
    i2_all = i2_matrix(field_covariance(q, r, t))
    a = v @ i2_all[:num_students, :num_students] @ v
    b = v @ i2_all[:num_students, num_students:] @ v_star
    c = v_star @ i2_all[num_students:, num_students:] @ v_star
    return 0.5 * (c - b**2 / jnp.maximum(a, jnp.finfo(i2_all.dtype).tiny))


def _check_setting(num_teachers: int, copies: float, v_star: float) -> None:
    if int(num_teachers) != num_teachers or num_teachers < 1:
        raise ValueError(f"the number of teacher nodes M = {num_teachers} must be an integer >= 1")
    if not float(copies).is_integer() or copies < 1:
        raise ValueError(f"Z = K / M = {copies} must be an integer >= 1")
    if not math.isfinite(v_star):
        raise ValueError(f"v* = {v_star} must be finite")


def _check_node_count(num_kept: int, num_teachers: int, copies: float, limit: int | None) -> None:
    size = int(num_teachers * copies)
    if int(num_kept) != num_kept or not 0 <= num_kept <= size:
        raise ValueError(f"k_n = {num_kept} must be an integer in [0, K = {size}]")
    if limit is not None and num_kept > limit:
        raise ValueError(f"k_n = {num_kept} > M = {limit}: the theorem needs k_n <= M")


def _check_fraction(fraction: float) -> None:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"the kept edge fraction c = {fraction} is outside [0, 1]")


def lemma2_error(survivors: ArrayLike, copies: float, v_star: float) -> float:
    """Lemma 2: eps = (v*^2 / 6) sum_m (1 - l_m / Z)^2 when l_m nodes of group m survive.

    Raises:
      ValueError: if Z is not an integer or some l_m is outside [0, Z].
    """
    survivors = np.asarray(survivors, dtype=float)
    _check_setting(max(len(survivors), 1), copies, v_star)
    if np.any((survivors < 0) | (survivors > copies)):
        raise ValueError(f"survivors per group {survivors.tolist()} must lie in [0, Z = {copies}]")
    return float(v_star**2 / 6 * np.sum((1 - survivors / copies) ** 2))


def dpp_node_error(
    num_teachers: int, copies: float, v_star: float, num_kept: int, reweighted: bool = False
) -> float:
    """Thm 1: DPP node pruning keeps k_n <= M nodes from k_n different groups.

    eps = v*^2 [(k_n / 6)(1 - 1/Z)^2 + (M - k_n) / 6]; with DIVNET reweighting each survivor
    carries its whole group, eps = (M - k_n) v*^2 / 6.

    Raises:
      ValueError: if Z is not an integer or k_n > M.
    """
    _check_setting(num_teachers, copies, v_star)
    _check_node_count(num_kept, num_teachers, copies, limit=num_teachers)
    missing = (num_teachers - num_kept) / 6
    if reweighted:
        return float(v_star**2 * missing)
    return float(v_star**2 * (num_kept / 6 * (1 - 1 / copies) ** 2 + missing))


def random_node_error(num_teachers: int, copies: float, v_star: float, num_kept: int) -> float:
    """E[Lemma 2] over k_n nodes drawn uniformly: l_m ~ Hypergeometric(K, Z, k_n).

    E[(1 - l/Z)^2] = (1 - E[l]/Z)^2 + Var[l]/Z^2, summed over the M groups.

    Raises:
      ValueError: if Z is not an integer or k_n is outside [0, K].
    """
    _check_setting(num_teachers, copies, v_star)
    _check_node_count(num_kept, num_teachers, copies, limit=None)
    size = num_teachers * copies
    share = copies / size
    mean = num_kept * share
    variance = num_kept * share * (1 - share) * (size - num_kept) / max(size - 1, 1)
    per_group = (1 - mean / copies) ** 2 + variance / copies**2
    return float(v_star**2 / 6 * num_teachers * per_group)


def _random_edge_terms(copies: float, fraction: float) -> tuple[float, float]:
    """(A, B) with Thm 3's eps = (M v*^2 / pi) [A + pi/6 - 2 B] for an unscaled second layer."""
    c = fraction
    a = (1 / copies) * math.asin(c / (1 + c)) + (1 - 1 / copies) * math.asin(c**2 / (1 + c))
    b = math.asin(c / math.sqrt(2 * (1 + c)))
    return a, b


def random_edge_error(num_teachers: int, copies: float, v_star: float, fraction: float) -> float:
    """Thm 3: random edge pruning keeping a fraction c = k_e / N, expected network.

    eps = (M v*^2 / pi) [(1/Z) asin(c/(1+c)) + (1 - 1/Z) asin(c^2/(1+c)) + pi/6
    - 2 asin(c / sqrt(2 (1+c)))].

    Raises:
      ValueError: if Z is not an integer or c is outside [0, 1].
    """
    _check_setting(num_teachers, copies, v_star)
    _check_fraction(fraction)
    a, b = _random_edge_terms(copies, fraction)
    return float(num_teachers * v_star**2 / math.pi * (a + math.pi / 6 - 2 * b))


def random_edge_rescaled_error(
    num_teachers: int, copies: float, v_star: float, fraction: float
) -> float:
    """Thm 5's comparison network: random edge with v scaled by the optimal scalar s = B / A.

    With v -> s v in Thm 3, eps(s) = (M v*^2 / pi)[s^2 A + pi/6 - 2 s B], minimized at
    s = B / A: eps = (M v*^2 / pi)(pi/6 - B^2 / A). RECONSTRUCTION (see module docstring).

    Raises:
      ValueError: if Z is not an integer or c is outside (0, 1].
    """
    _check_setting(num_teachers, copies, v_star)
    _check_fraction(fraction)
    if fraction == 0:
        raise ValueError("c = 0 keeps no edge; the rescaled network is undefined")
    a, b = _random_edge_terms(copies, fraction)
    return float(num_teachers * v_star**2 / math.pi * (math.pi / 6 - b**2 / a))


def theorem4_gap(
    num_teachers: int, copies: float, v_star: float, fraction: float, num_kept: int
) -> float:
    """Thm 4: random edge minus DPP node error; the theorem says <= 0 for c <= 1/Z, Z >= 4.

    The paper proves it numerically; for Z = 2, 3 the gap can be positive (spec).
    """
    return random_edge_error(num_teachers, copies, v_star, fraction) - dpp_node_error(
        num_teachers, copies, v_star, num_kept
    )


def theorem4_applies(copies: float, fraction: float) -> bool:
    """Thm 4's hypotheses: c <= 1/Z and Z >= 4."""
    return copies >= 4 and fraction <= 1 / copies


def theorem5_gap(
    num_teachers: int, copies: float, v_star: float, fraction: float, num_kept: int
) -> float:
    """Thm 5: reweighted DPP node minus optimally rescaled random edge error (says <= 0)."""
    return dpp_node_error(
        num_teachers, copies, v_star, num_kept, reweighted=True
    ) - random_edge_rescaled_error(num_teachers, copies, v_star, fraction)


def null_error(num_teachers: int, v_star: float) -> float:
    """eps of the empty student (phi = 0) against an orthonormal teacher: M v*^2 / 6."""
    return float(num_teachers * v_star**2 / 6)
