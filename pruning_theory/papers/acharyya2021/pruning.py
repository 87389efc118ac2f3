"""One-shot pruning of a trained teacher-student student: every method, every size, exactly.

Acharyya et al. (2021), spec docs/papers/acharyya2021.md, "Pruning". After training, the
student's first layer is (optionally) row-normalized to norm sqrt(N) (the official code's
pre-processing, so Q_ii = 1), then pruned without retraining by

* node rules keeping k_n units: ``dpp_node`` (k-DPP of the population kernel L = Q),
  ``divnet`` (the same subsets with DIVNET reweighting of v, alpha = Q_SS^-1 Q_{S,S^c}),
  ``random_node``, ``importance_node`` (largest |v|, or signed v);
* edge rules with the matched k_e: ``random_edge`` (i.i.d. Bernoulli(c = k_e / N)),
  ``random_edge_rescaled`` (the same masks with v scaled by the error-minimizing scalar, the
  network of Thm 5), ``importance_edge`` (top-k_e |w| per unit).

Every pruned network is scored by its exact generalization error from order parameters
(`theory.generalization_error`; a removed unit is one with v_i = 0). The sampled rules draw
``num_masks`` masks (vmapped) and report their mean and standard deviation; for node rules the
C(K, k_n) subsets are also enumerated, giving the exact expectation under the k-DPP (and the
uniform law) without sampling noise.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pruning_theory.papers.acharyya2021 import dpp, theory
from pruning_theory.papers.acharyya2021 import node_edge_pruning as pruning
from pruning_theory.papers.acharyya2021 import teacher_student as ts

SAMPLED = ("dpp_node", "divnet", "random_node", "random_edge", "random_edge_rescaled")
DETERMINISTIC = ("importance_node", "importance_edge")
ENUMERATED = ("dpp_node", "divnet", "random_node")
SUBSET_BATCH = 1024
EDGE_MASK_BATCH = 10


@dataclasses.dataclass(frozen=True)
class Plan:
    """Static description of what to prune and how (one per (M, K) setting).

    Attributes:
      num_units: K.
      dimension: N.
      node_counts: the k_n.
      edge_counts: the matched k_e (`pruning.matched_edges_per_unit`).
      num_masks: masks drawn per sampled rule, size and cell.
      normalize: rescale rows to norm sqrt(N) before pruning.
      importance_score: ``"abs"`` or ``"signed"``.
      subsets: per size, all C(K, k_n) subsets ``[C, k_n]``, or None beyond the limit.
      kernel: the DPP kernel of the sampled and primary rules (`pruning.unit_kernel`); every
        kernel of `pruning.DPP_KERNELS` is also evaluated exactly where subsets are enumerated.
      rbf_scale: the ``rbf`` kernel's scale (DIVNET's beta |train|).
      jitter: the ``rbf`` kernel's diagonal jitter.
    """

    num_units: int
    dimension: int
    node_counts: tuple[int, ...]
    edge_counts: tuple[int, ...]
    num_masks: int
    normalize: bool
    importance_score: str
    subsets: tuple[np.ndarray | None, ...]
    kernel: str = "linear"
    rbf_scale: float = 10.0
    jitter: float = 0.01

    @property
    def kept_fractions(self) -> np.ndarray:
        """Kept fraction of the student's parameters, k_n / K (= K (k_e + 1) / (K (N + 1)))."""
        return np.asarray(self.node_counts, dtype=float) / self.num_units


def make_plan(
    num_units: int,
    dimension: int,
    node_counts,
    num_masks: int,
    normalize: bool,
    importance_score: str,
    enumeration_limit: int,
    kernel: str = "linear",
    rbf_scale: float = 10.0,
    jitter: float = 0.01,
) -> Plan:
    """Validates the sizes and precomputes the matched k_e and the enumerated subsets.

    Raises:
      ValueError: naming the value, for a k_n outside [1, K], a k_e outside [1, N], fewer than
        one mask, an unknown importance score or kernel, or a non-positive rbf scale or jitter.
    """
    if num_masks < 1:
        raise ValueError(f"pruning.num_masks = {num_masks} must be >= 1")
    if importance_score not in pruning.IMPORTANCE_SCORES:
        raise ValueError(
            f"pruning.importance_score = {importance_score!r} is not one of "
            f"{pruning.IMPORTANCE_SCORES}"
        )
    if kernel not in pruning.DPP_KERNELS:
        raise ValueError(f"pruning.kernel = {kernel!r} is not one of {pruning.DPP_KERNELS}")
    for name, value in (("rbf_scale", rbf_scale), ("jitter", jitter)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"pruning.{name} = {value} must be positive")
    edges = tuple(pruning.matched_edges_per_unit(k, dimension, num_units) for k in node_counts)
    subsets = tuple(
        dpp.k_subsets(num_units, k) if math.comb(num_units, k) <= enumeration_limit else None
        for k in node_counts
    )
    return Plan(
        num_units,
        dimension,
        tuple(int(k) for k in node_counts),
        edges,
        num_masks,
        normalize,
        importance_score,
        subsets,
        kernel,
        float(rbf_scale),
        float(jitter),
    )


def teacher_groups(r: jax.Array, t: jax.Array) -> jax.Array:
    """The teacher unit each student unit copies: argmax_n |R_in| / sqrt(T_nn)."""
    return jnp.argmax(jnp.abs(r) / jnp.sqrt(jnp.diagonal(t))[None, :], axis=1)


def block_fraction(q: jax.Array, groups: jax.Array) -> jax.Array:
    """Share of the off-diagonal squared kernel mass inside teacher groups (1 = block-diagonal)."""
    same = (groups[:, None] == groups[None, :]) & ~jnp.eye(q.shape[0], dtype=bool)
    off = ~jnp.eye(q.shape[0], dtype=bool)
    return jnp.sum(jnp.where(same, q**2, 0.0)) / jnp.sum(jnp.where(off, q**2, 0.0))


class _Scorer(NamedTuple):
    """Exact errors of one trained student's pruned versions (pure functions of masks)."""

    node: Callable[[jax.Array], jax.Array]  # unit mask -> error with v_i = 0 off the mask
    divnet: Callable[[jax.Array], jax.Array]  # unit mask -> error after DIVNET reweighting
    edges: Callable[[jax.Array], tuple[jax.Array, jax.Array]]  # edge mask -> (plain, rescaled)


def _scorer(w: jax.Array, teacher: ts.TwoLayer, v: jax.Array) -> _Scorer:
    """The `_Scorer` of a (row-normalized) first layer ``w`` and second layer ``v``."""
    q, r, t = theory.order_parameters(w, teacher.w)

    def node(unit_mask):
        return theory.generalization_error(q, r, t, v * unit_mask, teacher.v)

    def divnet(unit_mask):
        reweighted = pruning.reweight_nodes(q, unit_mask, v)
        return theory.generalization_error(q, r, t, reweighted, teacher.v)

    def edges(edge_mask):
        q_e, r_e, _ = theory.order_parameters(w * edge_mask, teacher.w)
        return (
            theory.generalization_error(q_e, r_e, t, v, teacher.v),
            theory.rescaled_generalization_error(q_e, r_e, t, v, teacher.v),
        )

    return _Scorer(node, divnet, edges)


def _sampled(errors: jax.Array, num_masks: int) -> tuple[jax.Array, jax.Array]:
    """Mean and standard deviation (ddof 1; 0 for one mask) of a rule's errors over masks."""
    spread = jnp.std(errors, ddof=1) if num_masks > 1 else 0.0 * errors[0]
    return jnp.mean(errors), spread


def _prune_size(key, index: int, plan: Plan, spectrum, scorer: _Scorer, w, v) -> dict:
    """Every rule at the size ``plan.node_counts[index]`` (k_n units, k_e edges per unit)."""
    kept_units, kept_edges = plan.node_counts[index], plan.edge_counts[index]
    dpp_key, node_key, edge_key = jax.random.split(key, 3)
    dpp_masks = jax.vmap(lambda k: dpp.sample(k, spectrum, kept_units))(
        jax.random.split(dpp_key, plan.num_masks)
    )
    random_masks = jax.vmap(lambda k: pruning.random_node_mask(k, plan.num_units, kept_units))(
        jax.random.split(node_key, plan.num_masks)
    )
    fraction = kept_edges / plan.dimension
    edge, rescaled = jax.lax.map(
        lambda k: scorer.edges(pruning.bernoulli_edge_mask(k, w.shape, fraction)),
        jax.random.split(edge_key, plan.num_masks),
        batch_size=EDGE_MASK_BATCH,
    )
    sampled = {
        "dpp_node": jax.vmap(scorer.node)(dpp_masks),
        "divnet": jax.vmap(scorer.divnet)(dpp_masks),
        "random_node": jax.vmap(scorer.node)(random_masks),
        "random_edge": edge,
        "random_edge_rescaled": rescaled,
    }
    out = {}
    for rule, errors in sampled.items():
        out[f"ge_{rule}_mean"], out[f"ge_{rule}_std"] = _sampled(errors, plan.num_masks)
    importance = pruning.importance_node_mask(v, kept_units, plan.importance_score)
    out["ge_importance_node"] = scorer.node(importance)
    out["ge_importance_edge"] = scorer.edges(
        pruning.importance_edge_mask(w, kept_edges, unit_axis=0)
    )[0]
    return out


def evaluate(
    key: jax.Array, student: ts.TwoLayer, teacher: ts.TwoLayer, plan: Plan
) -> dict[str, jax.Array]:
    """Prunes one trained student by every rule at every size; pure, vmappable over cells.

    Returns:
      ``ge_<rule>_mean`` / ``ge_<rule>_std`` over masks ``[S]`` for the sampled rules,
      ``ge_<rule>_exact`` ``[S]`` for the enumerated ones (NaN beyond the enumeration limit;
      the DPP rules with ``plan.kernel``, and ``ge_dpp_node_exact_<kernel>`` /
      ``ge_divnet_exact_<kernel>`` for every kernel), ``ge_importance_node`` /
      ``ge_importance_edge`` ``[S]``; the DPP's exact probability of keeping units of distinct
      teacher groups (and the uniform law's) ``[S]``, its exact inclusion probabilities
      ``[S, K]``; the (K-1)-DPP analysis of `drop_one`; the kernels after pre-processing
      (``kernel`` = Q, ``kernel_rbf``), the overlaps R, each unit's teacher group, the block
      fraction and the unpruned error.
    """
    w = pruning.normalize_rows(student.w) if plan.normalize else student.w
    q, r, t = theory.order_parameters(w, teacher.w)
    groups = teacher_groups(r, t)
    kernels = {
        kind: pruning.unit_kernel(q, kind, plan.rbf_scale, plan.jitter)
        for kind in pruning.DPP_KERNELS
    }
    scorer = _scorer(w, teacher, student.v)
    spectrum = dpp.spectrum(kernels[plan.kernel])
    metrics: dict[str, list] = {}
    for index in range(len(plan.node_counts)):
        size_key = jax.random.fold_in(key, index)
        size = _prune_size(size_key, index, plan, spectrum, scorer, w, student.v)
        size |= _enumerated(plan.subsets[index], kernels, plan.kernel, groups, r.shape[1], scorer)
        for name, value in size.items():
            metrics.setdefault(name, []).append(value)
    out = {name: jnp.stack(values) for name, values in metrics.items()}
    return (
        out
        | drop_one(kernels, scorer)
        | {
            "kernel": q,
            "kernel_rbf": kernels["rbf"],
            "overlap": r,
            "groups": groups,
            "block_fraction": block_fraction(q, groups),
            "ge_unpruned": theory.generalization_error(q, r, t, student.v, teacher.v),
        }
    )


def drop_one(kernels: dict[str, jax.Array], scorer: _Scorer) -> dict[str, jax.Array]:
    """Which single unit a (K-1)-DPP removes, against the error of removing each unit.

    A (K-1)-DPP keeps all but unit i with probability det(L_{-i}) / sum_j det(L_{-j}) (spec,
    "Exact k-DPP sampling"); beside it, the exact error of the student without unit i.

    Returns:
      ``ge_drop_one`` ``[K]`` (error with unit i removed) and ``drop_probability_<kernel>``
      ``[K]`` for every kernel.
    """
    num_units = next(iter(kernels.values())).shape[0]
    rest = np.asarray([[j for j in range(num_units) if j != i] for i in range(num_units)])
    out = {"ge_drop_one": jax.vmap(scorer.node)(1.0 - jnp.eye(num_units))}
    for kind, kernel in kernels.items():
        out[f"drop_probability_{kind}"] = jnp.exp(dpp.subset_log_probabilities(kernel, rest))
    return out


def _enumerated(subsets, kernels, primary, groups, num_teachers, scorer) -> dict[str, jax.Array]:
    """Exact k-DPP (every kernel) and uniform expectations over all subsets of one size.

    NaN where the size was not enumerated. The unprefixed DPP names use the ``primary`` kernel.
    """
    num_units = groups.shape[0]
    names = ["ge_dpp_node_exact", "ge_divnet_exact", "ge_random_node_exact"]
    names += ["dpp_distinct_groups_exact", "random_distinct_groups_exact"]
    names += [f"ge_{rule}_exact_{kind}" for kind in kernels for rule in ("dpp_node", "divnet")]
    if subsets is None:
        nan = jnp.full((), jnp.nan)
        return dict.fromkeys(names, nan) | {"dpp_inclusion_exact": jnp.full((num_units,), jnp.nan)}
    unit_masks = jnp.asarray(dpp.subset_masks(subsets, num_units))
    node, divnet = jax.lax.map(
        lambda mask: (scorer.node(mask), scorer.divnet(mask)), unit_masks, batch_size=SUBSET_BATCH
    )
    group_one_hot = jax.nn.one_hot(groups, num_teachers)
    distinct = jnp.all(unit_masks @ group_one_hot <= 1, axis=1).astype(node.dtype)
    out = {
        "ge_random_node_exact": jnp.mean(node),
        "random_distinct_groups_exact": jnp.mean(distinct),
    }
    for kind, kernel in kernels.items():
        probabilities = jnp.exp(dpp.subset_log_probabilities(kernel, subsets))
        out[f"ge_dpp_node_exact_{kind}"] = probabilities @ node
        out[f"ge_divnet_exact_{kind}"] = probabilities @ divnet
        if kind == primary:
            out["ge_dpp_node_exact"] = probabilities @ node
            out["ge_divnet_exact"] = probabilities @ divnet
            out["dpp_distinct_groups_exact"] = probabilities @ distinct
            out["dpp_inclusion_exact"] = probabilities @ unit_masks
    return out
