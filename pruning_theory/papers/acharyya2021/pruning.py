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
    """

    num_units: int
    dimension: int
    node_counts: tuple[int, ...]
    edge_counts: tuple[int, ...]
    num_masks: int
    normalize: bool
    importance_score: str
    subsets: tuple[np.ndarray | None, ...]

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
) -> Plan:
    """Validates the sizes and precomputes the matched k_e and the enumerated subsets.

    Raises:
      ValueError: naming the value, for a k_n outside [1, K], a k_e outside [1, N], fewer than
        one mask or an unknown importance score.
    """
    if num_masks < 1:
        raise ValueError(f"pruning.num_masks = {num_masks} must be >= 1")
    if importance_score not in pruning.IMPORTANCE_SCORES:
        raise ValueError(
            f"pruning.importance_score = {importance_score!r} is not one of "
            f"{pruning.IMPORTANCE_SCORES}"
        )
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
    )


def teacher_groups(r: jax.Array, t: jax.Array) -> jax.Array:
    """The teacher unit each student unit copies: argmax_n |R_in| / sqrt(T_nn)."""
    return jnp.argmax(jnp.abs(r) / jnp.sqrt(jnp.diagonal(t))[None, :], axis=1)


def block_fraction(q: jax.Array, groups: jax.Array) -> jax.Array:
    """Share of the off-diagonal squared kernel mass inside teacher groups (1 = block-diagonal)."""
    same = (groups[:, None] == groups[None, :]) & ~jnp.eye(q.shape[0], dtype=bool)
    off = ~jnp.eye(q.shape[0], dtype=bool)
    return jnp.sum(jnp.where(same, q**2, 0.0)) / jnp.sum(jnp.where(off, q**2, 0.0))


def evaluate(
    key: jax.Array, student: ts.TwoLayer, teacher: ts.TwoLayer, plan: Plan
) -> dict[str, jax.Array]:
    """Prunes one trained student by every rule at every size; pure, vmappable over cells.

    Returns:
      ``ge_<rule>_mean`` / ``ge_<rule>_std`` over masks ``[S]`` for the sampled rules,
      ``ge_<rule>_exact`` ``[S]`` for the enumerated ones (NaN beyond the enumeration limit),
      ``ge_importance_node`` / ``ge_importance_edge`` ``[S]``; the DPP's exact probability of
      keeping units of distinct teacher groups (and the uniform law's) ``[S]``, its exact
      inclusion probabilities ``[S, K]``; the kernel Q and overlaps R after pre-processing,
      each unit's teacher group, the block fraction and the unpruned error.
    """
    w = pruning.normalize_rows(student.w) if plan.normalize else student.w
    q, r, t = theory.order_parameters(w, teacher.w)
    v, v_star = student.v, teacher.v
    num_units, num_teachers = r.shape
    groups = teacher_groups(r, t)
    group_one_hot = jax.nn.one_hot(groups, num_teachers)
    spectrum = dpp.spectrum(q)

    def node_error(unit_mask):
        return theory.generalization_error(q, r, t, v * unit_mask, v_star)

    def divnet_error(unit_mask):
        reweighted = pruning.reweight_nodes(q, unit_mask, v)
        return theory.generalization_error(q, r, t, reweighted, v_star)

    def edge_errors(edge_mask):
        q_e, r_e, _ = theory.order_parameters(w * edge_mask, teacher.w)
        return (
            theory.generalization_error(q_e, r_e, t, v, v_star),
            theory.rescaled_generalization_error(q_e, r_e, t, v, v_star),
        )

    metrics: dict[str, list] = {}

    def add(name, value):
        metrics.setdefault(name, []).append(value)

    def add_sampled(rule, errors):
        add(f"ge_{rule}_mean", jnp.mean(errors))
        add(f"ge_{rule}_std", jnp.std(errors, ddof=1) if plan.num_masks > 1 else 0.0 * errors[0])

    for index, (kept_units, kept_edges) in enumerate(
        zip(plan.node_counts, plan.edge_counts, strict=True)
    ):
        dpp_key, node_key, edge_key = jax.random.split(jax.random.fold_in(key, index), 3)
        dpp_masks = jax.vmap(lambda k: dpp.sample(k, spectrum, kept_units))(  # noqa: B023
            jax.random.split(dpp_key, plan.num_masks)
        )
        random_masks = jax.vmap(
            lambda k: pruning.random_node_mask(k, num_units, kept_units)  # noqa: B023
        )(jax.random.split(node_key, plan.num_masks))
        fraction = kept_edges / plan.dimension
        edge, rescaled = jax.lax.map(
            lambda k: edge_errors(pruning.bernoulli_edge_mask(k, w.shape, fraction)),  # noqa: B023
            jax.random.split(edge_key, plan.num_masks),
            batch_size=EDGE_MASK_BATCH,
        )
        add_sampled("dpp_node", jax.vmap(node_error)(dpp_masks))
        add_sampled("divnet", jax.vmap(divnet_error)(dpp_masks))
        add_sampled("random_node", jax.vmap(node_error)(random_masks))
        add_sampled("random_edge", edge)
        add_sampled("random_edge_rescaled", rescaled)
        importance = pruning.importance_node_mask(v, kept_units, plan.importance_score)
        add("ge_importance_node", node_error(importance))
        add(
            "ge_importance_edge",
            edge_errors(pruning.importance_edge_mask(w, kept_edges, unit_axis=0))[0],
        )
        for name, value in _enumerated(
            plan.subsets[index], q, group_one_hot, node_error, divnet_error
        ).items():
            add(name, value)

    out = {name: jnp.stack(values) for name, values in metrics.items()}
    return out | {
        "kernel": q,
        "overlap": r,
        "groups": groups,
        "block_fraction": block_fraction(q, groups),
        "ge_unpruned": theory.generalization_error(q, r, t, v, v_star),
    }


def _enumerated(subsets, q, group_one_hot, node_error, divnet_error) -> dict[str, jax.Array]:
    """Exact k-DPP and uniform expectations over all subsets of one size (NaN if skipped)."""
    num_units = q.shape[0]
    if subsets is None:
        nan = jnp.full((), jnp.nan)
        return {
            "ge_dpp_node_exact": nan,
            "ge_divnet_exact": nan,
            "ge_random_node_exact": nan,
            "dpp_distinct_groups_exact": nan,
            "random_distinct_groups_exact": nan,
            "dpp_inclusion_exact": jnp.full((num_units,), jnp.nan),
        }
    unit_masks = jnp.asarray(dpp.subset_masks(subsets, num_units))
    probabilities = jnp.exp(dpp.subset_log_probabilities(q, subsets))

    def errors(mask):
        return node_error(mask), divnet_error(mask)

    node, divnet = jax.lax.map(errors, unit_masks, batch_size=SUBSET_BATCH)
    distinct = jnp.all(unit_masks @ group_one_hot <= 1, axis=1).astype(q.dtype)
    return {
        "ge_dpp_node_exact": probabilities @ node,
        "ge_divnet_exact": probabilities @ divnet,
        "ge_random_node_exact": jnp.mean(node),
        "dpp_distinct_groups_exact": probabilities @ distinct,
        "random_distinct_groups_exact": jnp.mean(distinct),
        "dpp_inclusion_exact": probabilities @ unit_masks,
    }
