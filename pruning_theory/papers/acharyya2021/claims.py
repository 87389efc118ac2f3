"""The teacher-student checks of docs/papers/acharyya2021.md ("What a reproduction must show").

Every statistic comes from measured arrays; intervals are 95% Student-t intervals over seeds of
per-seed values (paired differences where two rules are compared: every rule prunes the same
trained student). The rules and tolerances (config ``checks``) were fixed before any run:

* a directional claim over a family of cells (sizes k_n, noise levels, settings) is ONE
  paired test of the mean over the family (`claims.range_mean_test`): each seed's values are
  averaged over the cells and the interval of that average decides -- holds on the claimed
  side of the bound, fails on the other side, inconclusive otherwise;
* a claim that a quantity lies within a tolerance at every cell is one family test
  (`claims.family_test`): holds if every cell's interval is inside, fails if some cell's
  Bonferroni interval is outside, inconclusive otherwise;
* every statement lists each cell's mean [95% CI]; an inconclusive one states the interval's
  half-width, the smallest effect the run resolves.

Node rules are scored by their exact expectation over all subsets where the enumeration ran,
by the mean over sampled masks otherwise. Every rule works on any subset of >= 2 seeds (the
runner re-runs the analysis on halves of the seeds); with fewer seeds the intervals are
infinite and the verdicts inconclusive. The real-data claims C7 are in `real_data_claims`,
the k_n > M analysis C8 in `beyond_m_claims`, the baseline row B1 in `baseline_claims`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import stats

from pruning_theory.claims import (
    Claim,
    JointTest,
    family_test,
    format_ci,
    mean_ci,
    range_mean_test,
    take_seeds,
)
from pruning_theory.engine.results import SweepResult


def node_expectation(result: SweepResult, rule: str) -> np.ndarray:
    """[seed, noise, size] expected error of a node rule: exact where enumerated, else sampled."""
    exact = result.final[f"ge_{rule}_exact"]
    return np.where(np.isfinite(exact), exact, result.final[f"ge_{rule}_mean"])


# ------------------------------------------------------------------- cells and joint claims


class Cells:
    """Per-seed values ``[seed, cell]`` of a family of cells, with one label per cell."""

    def __init__(self, num_seeds: int):
        self.num_seeds = num_seeds
        self.columns: list[np.ndarray] = []
        self.labels: list[str] = []

    def add(self, label: str, values: np.ndarray) -> None:
        """Appends one cell: its label and its ``[seed]`` values."""
        self.columns.append(np.asarray(values, np.float64))
        self.labels.append(label)

    @property
    def values(self) -> np.ndarray:
        """``[seed, cell]`` (no cell: ``[seed, 0]``)."""
        if not self.columns:
            return np.zeros((self.num_seeds, 0))
        return np.stack(self.columns, axis=1)

    def text(self) -> str:
        """``label: mean [low, high]`` for every cell."""
        means, lows, highs = mean_ci(self.values)
        return "; ".join(
            f"{label}: {mean:.4g} {format_ci((low, high))}"
            for label, mean, low, high in zip(self.labels, means, lows, highs, strict=True)
        )


def resolution(test: JointTest) -> str:
    """What an inconclusive verdict could have resolved (else "")."""
    if test.verdict != "inconclusive":
        return ""
    half = (test.ci[1] - test.ci[0]) / 2
    if not math.isfinite(half):
        return " Inconclusive: fewer than two seeds or no cell to test."
    return f" Inconclusive: this run resolves effects of +-{half:.3g} (95% CI half-width)."


def half_power(values: np.ndarray) -> str:
    """What the smaller half of the seeds resolves: its 95% CI half-width from these values.

    The runner re-runs every claim on two halves of the seeds (split-half replication); with
    ``n`` seeds the smaller half has ``n // 2``, and a half resolves about
    ``t(0.975, n // 2 - 1) s / sqrt(n // 2)`` with ``s`` the spread of ``values`` over all
    seeds. An effect closer than that to its bound is not expected to replicate on the halves.
    """
    values = np.asarray(values, np.float64)
    half = len(values) // 2
    if half < 2 or not np.all(np.isfinite(values)):
        return " Split-half power: a half of the seeds has fewer than 2 seeds."
    width = stats.t.ppf(0.975, half - 1) * values.std(ddof=1) / math.sqrt(half)
    return f" Split-half power: a half of the seeds ({half}) resolves about +-{width:.3g}."


def joint_claim(
    claim_id: str,
    statement: str,
    cells: Cells,
    test: JointTest,
    theory: float | None = None,
    kind: str = "claim",
) -> Claim:
    """A `Claim` from a joint test over ``cells``: the listing, the reported statistic."""
    if not cells.labels:
        return Claim(
            claim_id, f"{statement} No cell to check.", "inconclusive", math.nan, kind=kind
        )
    reported = "the mean over the cells" if test.cell is None else cells.labels[test.cell]
    per_seed = cells.values.mean(axis=1) if test.cell is None else cells.values[:, test.cell]
    text = (
        f"{statement} Per cell (mean [95% CI] over {cells.num_seeds} seeds): {cells.text()}. "
        f"Reported: {reported}.{resolution(test)}{half_power(per_seed)}"
    )
    return Claim(claim_id, text, test.verdict, test.statistic, test.ci, theory, kind)


def setting_cells(result: SweepResult, values: np.ndarray, sizes, summary, prefix="", into=None):
    """Adds ``values[:, noise, size]`` for every noise level and size index to ``into``."""
    cells = into if into is not None else Cells(len(result.axes["seed"]))
    for n, sigma in enumerate(np.asarray(result.axes["noise"], dtype=float)):
        for s in sizes:
            cells.add(f"{prefix}sigma={sigma:g}, k_n={summary['node_counts'][s]}", values[:, n, s])
    return cells


def sizes_up_to(summary: Mapping, limit: int) -> list[int]:
    """Positions of the pruned sizes keeping at most ``limit`` nodes."""
    return [i for i, k in enumerate(summary["node_counts"]) if k <= limit]


def size_of(summary: Mapping, count: int) -> int | None:
    """Position of the pruned size keeping ``count`` nodes, or None if not in the grid."""
    counts = summary["node_counts"]
    return counts.index(count) if count in counts else None


def common_seeds(by_setting: Mapping[str, SweepResult]) -> dict[str, SweepResult]:
    """Every setting restricted to the seeds all settings hold (paired across settings)."""
    seed_lists = [[int(s) for s in np.asarray(r.axes["seed"])] for r in by_setting.values()]
    shared = (
        [s for s in seed_lists[0] if all(s in seeds for seeds in seed_lists)] if seed_lists else []
    )
    return {
        name: take_seeds(result, np.asarray([seeds.index(s) for s in shared], dtype=int))
        for (name, result), seeds in zip(by_setting.items(), seed_lists, strict=True)
    }


# ---------------------------------------------------------------------- the checks C1-C6


def check_kernel_blocks(name: str, result: SweepResult, summary: Mapping, config) -> Claim:
    """C1: at k_n = M the k-DPP keeps units of M distinct teacher groups (kernel ~ blocks)."""
    m, threshold = summary["M"], config.checks.block_probability
    statement = (
        f"C1 ({name}, M = {m}, K = {summary['K']}): the exact k-DPP probability that the "
        f"k_n = M kept units copy M distinct teacher units (groups by argmax_n |R_in|), "
        f"averaged over noise levels, is >= {threshold} (one test of the mean; fails if its "
        "CI lies below)."
    )
    index = size_of(summary, m)
    cells = Cells(len(result.axes["seed"]))
    if index is not None:
        setting_cells(
            result, result.final["dpp_distinct_groups_exact"], [index], summary, into=cells
        )
    uniform = float(np.nanmean(result.final["random_distinct_groups_exact"][:, :, index or 0]))
    blocks = float(np.mean(result.final["block_fraction"]))
    statement += (
        f" The uniform law gives {uniform:.3f}; off-diagonal kernel mass inside teacher "
        f"groups: {blocks:.3f} of the total."
    )
    test = range_mean_test(cells.values, low=threshold)
    return joint_claim("C1", statement, cells, test, theory=1.0)


def check_dpp_beats(claim_id: str, other: str, name: str, result: SweepResult, summary, config):
    """C2a / C2b (Thm 2): DPP node <= random / importance node for k_n <= M."""
    dpp_error = node_expectation(result, "dpp_node")
    other_error = (
        node_expectation(result, other) if other == "random_node" else result.final[f"ge_{other}"]
    )
    tolerance = config.checks.numerical_tol
    sizes = sizes_up_to(summary, summary["M"])
    cells = setting_cells(result, dpp_error - other_error, sizes, summary)
    theory_gap = None
    if other == "random_node" and sizes:
        theory_gap = max(summary["dpp_node"][s] - summary["random_node"][s] for s in sizes)
    statement = (
        f"{claim_id} ({name}, Thm 2): DPP node minus {other.replace('_', ' ')} error, paired, "
        f"over k_n <= M = {summary['M']} and both noise levels; holds if the CI of the mean "
        f"lies below {tolerance:g} (numerical tolerance: at k_n = 1 the normalized kernel "
        "makes the DPP uniform), fails if above."
    )
    test = range_mean_test(cells.values, high=tolerance)
    return joint_claim(claim_id, statement, cells, test, theory_gap)


def check_edge_beats_node(claim_id: str, rule: str, name: str, result, summary) -> Claim:
    """C3a / C3b (Conjecture 1): importance / random edge beats the same rule on nodes."""
    if rule == "random":
        edge, node = result.final["ge_random_edge_mean"], node_expectation(result, "random_node")
    else:
        edge, node = result.final["ge_importance_edge"], result.final["ge_importance_node"]
    sizes = range(len(summary["node_counts"]))
    cells = setting_cells(result, edge - node, sizes, summary)
    theory_gap = None
    if rule == "random":
        gaps = [e - n for e, n in zip(summary["random_edge"], summary["random_node"], strict=True)]
        theory_gap = float(np.mean(gaps))
    statement = (
        f"{claim_id} ({name}, Conjecture 1): {rule} edge minus {rule} node error at matched "
        "parameter counts (k_n : k_e), paired, over every size and both noise levels; holds "
        "if the CI of the mean lies below 0, fails if above."
    )
    if rule == "random":
        statement += " Theory: the mean over sizes of Thm 3 minus E[Lemma 2] (specialized ansatz)."
    return joint_claim(
        claim_id, statement, cells, range_mean_test(cells.values, high=0.0), theory_gap
    )


def check_random_edge_beats_dpp(name: str, result: SweepResult, summary) -> Claim:
    """C4 (Thm 4): random edge < DPP node for k_n <= M when Z >= 4."""
    sizes = sizes_up_to(summary, summary["M"])
    difference = result.final["ge_random_edge_mean"] - node_expectation(result, "dpp_node")
    cells = setting_cells(result, difference, sizes, summary)
    gaps = [summary["random_edge"][s] - summary["dpp_node"][s] for s in sizes]
    statement = (
        f"C4 ({name}, M = {summary['M']}, K = {summary['K']}, Z = {summary['Z']}, Thm 4): "
        "random edge minus DPP node error, paired, over k_n <= M and both noise levels; holds "
        "if the CI of the mean lies below 0, fails if above. (The text's 'K = 5, M = 20' "
        "means K = 20, M = 5; Thm 4 needs Z >= 4 and does not cover the Z = 3 main setting.) "
        "Theory: the mean Thm 3 - Thm 1 gap."
    )
    test = range_mean_test(cells.values, high=0.0)
    return joint_claim("C4", statement, cells, test, float(np.mean(gaps)) if gaps else None)


def check_divnet(by_setting, summaries, config) -> Claim:
    """C5: DIVNET with k_n = M reaches an error near 0 (the 'winning ticket')."""
    cells = Cells(len(next(iter(by_setting.values())).axes["seed"]))
    fraction = config.checks.near_zero_fraction
    for name, result in by_setting.items():
        summary = summaries[name]
        index = size_of(summary, summary["M"])
        if index is None:
            continue
        tolerance = fraction * summary["null_error"]
        scaled = node_expectation(result, "divnet") / tolerance
        setting_cells(result, scaled, [index], summary, prefix=f"{name}, ", into=cells)
    statement = (
        "C5: DIVNET (DPP node + reweighting, alpha = Q_SS^-1 Q_S,S^c) with k_n = M, its error "
        f"in units of the 'near 0' tolerance {fraction:g} x M v*^2 / 6 (the empty network's "
        "error), averaged over settings and noise levels; holds if the CI of the mean lies "
        "below 1, fails if above. Theory (Thm 1 with reweighting): 0."
    )
    return joint_claim("C5", statement, cells, range_mean_test(cells.values, high=1.0), 0.0)


def check_theorem5(by_setting, summaries, config) -> Claim:
    """T5 (Thm 5): DIVNET <= optimally rescaled random edge for k_n <= M."""
    cells = Cells(len(next(iter(by_setting.values())).axes["seed"]))
    gaps = []
    for name, result in by_setting.items():
        summary = summaries[name]
        difference = (
            node_expectation(result, "divnet") - result.final["ge_random_edge_rescaled_mean"]
        )
        sizes = sizes_up_to(summary, summary["M"])
        setting_cells(result, difference, sizes, summary, prefix=f"{name}, ", into=cells)
        gaps += [summary["divnet"][s] - summary["random_edge_rescaled"][s] for s in sizes]
    tolerance = config.checks.numerical_tol
    statement = (
        "T5 (Thm 5): DIVNET minus random edge with the error-minimizing scalar on v, paired, "
        f"over k_n <= M, settings and noise levels; holds if the CI of the mean lies below "
        f"{tolerance:g}, fails if above. Theory: the mean gap of the reconstruction "
        "(Thm 1 reweighted - rescaled Thm 3)."
    )
    test = range_mean_test(cells.values, high=tolerance)
    return joint_claim("T5", statement, cells, test, float(np.mean(gaps)) if gaps else None)


def check_theory_match(claim_id: str, rule: str, by_setting, summaries, config) -> Claim:
    """C6a (Thm 1, DPP node, k_n <= M) / C6b (Thm 3, random edge): relative deviation."""
    tolerance = config.checks.theory_rel_tol
    cells = Cells(len(next(iter(by_setting.values())).axes["seed"]))
    for name, result in by_setting.items():
        summary = summaries[name]
        if rule == "dpp_node":
            measured = node_expectation(result, "dpp_node")
            sizes = sizes_up_to(summary, summary["M"])
        else:
            measured = result.final["ge_random_edge_mean"]
            sizes = list(range(len(summary["node_counts"])))
        predicted = np.full(measured.shape[-1], np.nan)
        predicted[sizes] = [summary[rule][s] for s in sizes]
        relative = (measured - predicted) / predicted
        setting_cells(result, relative, sizes, summary, prefix=f"{name}, ", into=cells)
    theorem = "Thm 1" if rule == "dpp_node" else "Thm 3"
    statement = (
        f"{claim_id}: measured {rule.replace('_', ' ')} error vs {theorem} (specialized "
        "ansatz: Z copies of each teacher unit with v = v*/Z), as the relative deviation "
        f"(measured - theory) / theory; one family test: holds if every cell's CI lies within "
        f"+-{tolerance:g}, fails if some cell's Bonferroni CI lies outside."
    )
    test = family_test(cells.values, -tolerance, tolerance)
    return joint_claim(claim_id, statement, cells, test, 0.0)


def check_ode(odes: Mapping[str, SweepResult], by_setting, config) -> Claim:
    """C6c: the ODE's error at the final alpha matches SGD's, from the same initial state."""
    rel, absolute = config.checks.ode_rel_tol, config.checks.ode_abs_tol
    cells = Cells(len(next(iter(odes.values())).axes["seed"]))
    for name, ode_result in odes.items():
        sgd = by_setting[name].final["ge_trained"]
        ode_final = ode_result.metrics["ge"][..., -1]
        scaled = (sgd - ode_final) / (rel * ode_final + absolute)
        for n, sigma in enumerate(np.asarray(ode_result.axes["noise"], dtype=float)):
            label = (
                f"{name}, sigma={sigma:g} (SGD {float(np.mean(sgd[:, n])):.4g}, ODE "
                f"{float(np.mean(ode_final[:, n])):.4g})"
            )
            cells.add(label, scaled[:, n])
    statement = (
        f"C6c: SGD (N = {config.data.dimension}) vs the ODE (Euler, dt = {config.ode.dt}) from "
        f"the same initial order parameters, error at alpha = {config.train.alpha}: per seed "
        f"(SGD - ODE) / ({rel:g} ODE + {absolute:g}); one family test: holds if every cell's "
        "CI lies within +-1, fails if some cell's Bonferroni CI lies outside."
    )
    return joint_claim("C6c", statement, cells, family_test(cells.values, -1.0, 1.0), 0.0)


def check_exact_formula(by_setting, config) -> Claim:
    """C6d: the exact erf error formula equals the test 1/2 MSE on fresh samples."""
    cells = Cells(len(next(iter(by_setting.values())).axes["seed"]))
    for name, result in by_setting.items():
        exact, sampled = result.final["ge_trained"], result.final["ge_test_mc"]
        relative = (sampled - exact) / exact
        for n, sigma in enumerate(np.asarray(result.axes["noise"], dtype=float)):
            cells.add(f"{name}, sigma={sigma:g}", relative[:, n])
    statement = (
        f"C6d: test 1/2 MSE against the noiseless teacher on {config.data.test_samples} fresh "
        "inputs vs the exact erf formula from the trained weights, relative difference; one "
        "family test: holds if every cell's CI lies within +-0.05, fails if some cell's "
        "Bonferroni CI lies outside."
    )
    test = family_test(cells.values, -0.05, 0.05)
    return joint_claim("C6d", statement, cells, test, 0.0, kind="sanity")


def teacher_student_claims(
    by_setting: Mapping[str, SweepResult],
    odes: Mapping[str, SweepResult],
    summaries: Mapping,
    config,
) -> list[Claim]:
    """C1-C6 and T5 of the spec, in its order (the first setting is the main one)."""
    by_setting = common_seeds(by_setting)
    names = list(by_setting)
    main_name, main = names[0], by_setting[names[0]]
    main_summary = summaries[main_name]
    claims = [
        check_kernel_blocks(main_name, main, main_summary, config),
        check_dpp_beats("C2a", "random_node", main_name, main, main_summary, config),
        check_dpp_beats("C2b", "importance_node", main_name, main, main_summary, config),
        check_edge_beats_node("C3a", "importance", main_name, main, main_summary),
        check_edge_beats_node("C3b", "random", main_name, main, main_summary),
    ]
    wide = [n for n in names if summaries[n]["Z"] >= 4]
    if wide:
        claims.append(check_random_edge_beats_dpp(wide[0], by_setting[wide[0]], summaries[wide[0]]))
    else:
        statement = "C4: no setting with Z >= 4 (Thm 4) in this config."
        claims.append(Claim("C4", statement, "inconclusive", math.nan))
    claims += [
        check_divnet(by_setting, summaries, config),
        check_theorem5(by_setting, summaries, config),
        check_theory_match("C6a", "dpp_node", by_setting, summaries, config),
        check_theory_match("C6b", "random_edge", by_setting, summaries, config),
    ]
    if odes:
        claims.append(check_ode(odes, by_setting, config))
    claims.append(check_exact_formula(by_setting, config))
    return claims


def describe(values: np.ndarray) -> str:
    """``mean [95% CI]`` of per-seed values."""
    mean, low, high = (float(x) for x in mean_ci(np.asarray(values, np.float64)))
    return f"{mean:.4g} {format_ci((low, high))}"
