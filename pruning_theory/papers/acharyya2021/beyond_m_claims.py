"""C8: DPP node vs random node beyond k_n = M, and why (docs/papers/acharyya2021.md, "Theory").

The paper reports DPP node pruning clearly better than random node pruning at every size,
including M < k_n < K, where Thm 1-2 say nothing and the specialized ansatz makes the two equal
at k_n = K - 1 (Lemma 2: removing any one copy costs the same). Rows:

* C8 (claim): the relative difference (DPP - random) / random of the exact expected errors,
  paired, one test of the mean over M < k_n < K and the noise levels; holds if its CI lies
  below 0, fails if above. The other DPP kernel's numbers are stated beside it.
* C8b / C8c (exploratory, one per kernel of `node_edge_pruning.DPP_KERNELS`): at k_n = K - 1,
  the share of the best single drop's gain over a uniform drop that the (K-1)-DPP captures
  (`kernel_analysis.drop_one_summary`), averaged over noise levels; holds if its CI lies below
  1/2 (the DPP realizes less than half of what choosing the right unit would gain), fails if
  above. The statement carries the kernel's relative spectrum and its within- and across-group
  overlaps, which say what the DPP sees.
"""

from __future__ import annotations

import numpy as np

from pruning_theory.claims import Claim, range_mean_test
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.acharyya2021 import kernel_analysis
from pruning_theory.papers.acharyya2021 import node_edge_pruning as pruning
from pruning_theory.papers.acharyya2021.claims import (
    Cells,
    describe,
    joint_claim,
    node_expectation,
    setting_cells,
)

CAPTURE_THRESHOLD = 0.5
SECONDARY_IDS = {"linear": "C8b", "rbf": "C8c"}


def beyond_sizes(summary) -> list[int]:
    """Size indices with M < k_n < K."""
    return [i for i, k in enumerate(summary["node_counts"]) if summary["M"] < k < summary["K"]]


def relative_gap(result: SweepResult, kernel: str | None = None) -> np.ndarray:
    """[seed, noise, size] (DPP - random) / random of the exact expected node errors."""
    name = "ge_dpp_node_exact" if kernel is None else f"ge_dpp_node_exact_{kernel}"
    random = node_expectation(result, "random_node")
    return (result.final[name] - random) / random


def check_dpp_beyond_m(name: str, result: SweepResult, summary, config) -> Claim:
    """C8: DPP node beats random node for M < k_n < K (the primary kernel)."""
    sizes = beyond_sizes(summary)
    cells = setting_cells(result, relative_gap(result), sizes, summary)
    others = []
    for kernel in pruning.DPP_KERNELS if sizes else ():
        gap = relative_gap(result, kernel)[:, :, sizes]
        others.append(f"{kernel} kernel {describe(gap.reshape(len(gap), -1).mean(axis=1))}")
    statement = (
        f"C8 ({name}, M = {summary['M']}, K = {summary['K']}, kernel "
        f"{config.pruning.kernel}): DPP node beats random node beyond k_n = M: (DPP - random) "
        "/ random exact expected error, paired, one test of the mean over M < k_n < K and the "
        "noise levels; holds if its CI lies below 0, fails if above. Mean over the cells by "
        f"kernel: {'; '.join(others)}."
    )
    return joint_claim("C8", statement, cells, range_mean_test(cells.values, high=0.0))


def _kernel_picture(result: SweepResult, kernel: str, summary) -> str:
    """The spectrum and group overlaps of a kernel, as seed means over the cells."""
    matrices = result.final[kernel_analysis.KERNEL_ARRAYS[kernel]]
    spectrum = kernel_analysis.relative_spectrum(matrices).reshape(-1, summary["K"])
    within, across = kernel_analysis.group_overlaps(matrices, result.final["groups"])
    m = summary["M"]
    tail = ", ".join(f"{x:.3g}" for x in np.mean(spectrum[:, m:], axis=0))
    return (
        f"eigenvalues / largest: lambda_{m} {np.mean(spectrum[:, m - 1]):.3g}, then {tail}; "
        f"mean |L_st| within groups {np.nanmean(within):.3g}, across {np.nanmean(across):.3g}"
    )


def check_drop_one(kernel: str, name: str, result: SweepResult, summary) -> Claim:
    """C8b / C8c: how much of the best single drop's gain the (K-1)-DPP captures."""
    drop = kernel_analysis.drop_one_summary(result, kernel)

    def seed_mean(name):
        return describe(drop[name].mean(axis=1))

    cells = Cells(len(result.axes["seed"]))
    for n, sigma in enumerate(np.asarray(result.axes["noise"], dtype=float)):
        cells.add(f"sigma={sigma:g}", drop["captured"][:, n])
    statement = (
        f"{SECONDARY_IDS[kernel]} ({name}, {kernel} kernel, k_n = K - 1 = {summary['K'] - 1}): "
        "the (K-1)-DPP drops unit i with probability ~ det(L_-i); share of the best single "
        "drop's gain over a uniform drop that it captures, (random - DPP) / (random - best), "
        f"averaged over noise levels; holds if its CI lies below {CAPTURE_THRESHOLD:g}, fails "
        f"if above. Errors: DPP {seed_mean('dpp')}, uniform {seed_mean('random')}, best unit "
        f"{seed_mean('best')}; P(DPP drops the best unit) {seed_mean('best_probability')} "
        f"(uniform {1 / summary['K']:.3g}); kernel: {_kernel_picture(result, kernel, summary)}."
    )
    test = range_mean_test(cells.values, high=CAPTURE_THRESHOLD)
    return joint_claim(SECONDARY_IDS[kernel], statement, cells, test, kind="exploratory")


def beyond_m_claims(name: str, result: SweepResult, summary, config) -> list[Claim]:
    """C8 and one drop-one row per kernel, for the main setting."""
    claims = [check_dpp_beyond_m(name, result, summary, config)]
    if "ge_drop_one" in result.final:
        claims += [check_drop_one(k, name, result, summary) for k in pruning.DPP_KERNELS]
    return claims
