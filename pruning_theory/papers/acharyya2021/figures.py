"""Figures of the acharyya2021 job: pruning curves with theory, the DPP kernel, ODE vs SGD, C7.

Spec: docs/papers/acharyya2021.md ("Theory", "What a reproduction must show"); the beyond-M
figure explains C8 (`kernel_analysis`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from pruning_theory import plots
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.acharyya2021 import beyond_m_claims, kernel_analysis
from pruning_theory.papers.acharyya2021 import claims as acharyya2021_claims
from pruning_theory.papers.acharyya2021 import real_data as acharyya2021_real_data

# rule -> (label, color, theory key in the summary or None)
RULES = {
    "dpp_node": ("DPP node", "tab:blue", "dpp_node"),
    "divnet": ("DIVNET (DPP node + reweighting)", "tab:cyan", "divnet"),
    "random_node": ("random node", "tab:orange", "random_node"),
    "importance_node": ("importance node", "tab:red", None),
    "random_edge": ("random edge", "tab:green", "random_edge"),
    "random_edge_rescaled": ("random edge, rescaled v", "tab:olive", "random_edge_rescaled"),
    "importance_edge": ("importance edge", "tab:purple", None),
}


def rule_errors(result: SweepResult, rule: str) -> np.ndarray:
    """[seed, noise, size] error of a rule: node expectations, sampled means, or deterministic."""
    if f"ge_{rule}_exact" in result.final:
        return acharyya2021_claims.node_expectation(result, rule)
    if f"ge_{rule}_mean" in result.final:
        return result.final[f"ge_{rule}_mean"]
    return result.final[f"ge_{rule}"]


def _settings_by_noise(num_settings: int, num_noise: int, height: float):
    """A figure with one row of axes per (M, K) setting and one column per noise level."""
    return plt.subplots(
        num_settings, num_noise, figsize=(6 * num_noise, height * num_settings), squeeze=False
    )


def pruning_curves(by_setting, summaries, config):
    """Error vs kept fraction of parameters for every rule, both noise levels, theory dashed."""
    names = list(by_setting)
    noise = np.asarray(config.grid.noise, dtype=float)
    figure, axes = _settings_by_noise(len(names), len(noise), height=4.5)
    for row, name in enumerate(names):
        result, summary = by_setting[name], summaries[name]
        x = np.asarray(summary["kept_fraction"])
        for col, sigma in enumerate(noise):
            ax = axes[row, col]
            for rule, (label, color, theory_key) in RULES.items():
                plots.band(ax, x, rule_errors(result, rule)[:, col], label=label, color=color)
                if theory_key is not None:
                    predicted = np.asarray(
                        [np.nan if v is None else v for v in summary[theory_key]], dtype=float
                    )
                    ax.plot(x, predicted, linestyle="--", color=color, linewidth=1,
                            label=f"{label}, theory")  # fmt: skip
            ax.axhline(summary["null_error"], color="gray", linewidth=0.8, linestyle=":",
                       label="empty network, M v*^2 / 6")  # fmt: skip
            ax.set_yscale("symlog", linthresh=1e-2)
            ax.set_ylim(bottom=0)
            ax.set_xlabel("fraction of parameters kept (k_n / K)")
            ax.set_ylabel("generalization error (exact)")
            ax.set_title(
                f"M = {summary['M']}, K = {summary['K']}, sigma = {sigma:g} "
                "(dashed: theory, specialized ansatz)"
            )
        axes[row, 0].legend(fontsize=7)
    figure.tight_layout()
    return figure


def kernel_figure(result: SweepResult, summary, seed_index: int = 0, noise_index: int = 0):
    """The DPP kernel L = Q, the overlaps R, and the DPP's inclusion probabilities at k_n = M."""
    final = result.final
    kernel = final["kernel"][seed_index, noise_index]
    overlap = final["overlap"][seed_index, noise_index]
    groups = final["groups"][seed_index, noise_index]
    seed = result.axes["seed"][seed_index]
    sigma = result.axes["noise"][noise_index]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    image = axes[0].imshow(kernel, cmap="RdBu_r", vmin=-1.2, vmax=1.2)
    axes[0].set_title(f"DPP kernel L = Q (rows normalized), seed {seed}, sigma {sigma:g}")
    figure.colorbar(image, ax=axes[0])
    image = axes[1].imshow(overlap, cmap="RdBu_r", aspect="auto")
    axes[1].set_title("R = w w*^T / N (student x teacher)")
    axes[1].set_xlabel("teacher unit")
    axes[1].set_xticks(range(overlap.shape[1]))
    figure.colorbar(image, ax=axes[1])
    for ax in axes[:2]:
        ax.set_ylabel("student unit")
    ax = axes[2]
    counts = summary["node_counts"]
    if summary["M"] in counts:
        inclusion = final["dpp_inclusion_exact"][
            seed_index, noise_index, counts.index(summary["M"])
        ]
        colors = plt.cm.tab10(groups % 10)
        ax.bar(np.arange(len(inclusion)), inclusion, color=colors)
        ax.axhline(summary["M"] / summary["K"], color="gray", linestyle=":", label="uniform")
        ax.set_title(f"exact P(unit kept) by the k-DPP at k_n = M = {summary['M']}")
        ax.set_xlabel("student unit (color: teacher group)")
        ax.legend(fontsize=7)
    else:
        ax.set_visible(False)
    figure.tight_layout()
    return figure


def ode_figure(odes, by_setting, config):
    """Error vs alpha: SGD (per seed and mean) against the ODE from the same initial state."""
    names = list(odes)
    noise = np.asarray(config.grid.noise, dtype=float)
    figure, axes = _settings_by_noise(len(names), len(noise), height=4.2)
    for row, name in enumerate(names):
        ode_result, result = odes[name], by_setting[name]
        record = result.final["history_alpha"][0, 0]
        alphas = ode_result.steps / config.data.dimension
        history = result.final["ge_history"]
        for col, sigma in enumerate(noise):
            ax = axes[row, col]
            plots.band(ax, record, history[:, col], label="SGD (mean, 95% CI)", color="tab:blue")
            # The ODE records every unit of alpha; its band is drawn at the SGD's record alphas.
            at_records = np.searchsorted(alphas, record)
            plots.band(
                ax,
                record,
                ode_result.metrics["ge"][:, col, at_records],
                label="ODE (mean, 95% CI)",
                color="tab:red",
            )
            ax.plot(record, history[0, col], color="tab:blue", linewidth=0.6, alpha=0.6,
                    label="SGD, seed 0")  # fmt: skip
            ax.plot(alphas[1:], ode_result.metrics["ge"][0, col, 1:], "--", color="tab:red",
                    linewidth=0.6, label="seed 0")  # fmt: skip
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("alpha = P / N")
            ax.set_ylabel("generalization error")
            ax.set_title(f"{name}: SGD (N = {config.data.dimension}) vs ODE, sigma = {sigma:g}")
            ax.legend(fontsize=7)
    figure.tight_layout()
    return figure


def real_data_figure(real: SweepResult, config):
    """C7: test error vs the edge keep fraction p of the first hidden layer, every rule (left),
    and the paired differences the C7 claims test (right)."""
    fractions = np.asarray(config.real_data.edge_fractions, dtype=float)
    final = real.final
    figure, (ax, right) = plt.subplots(1, 2, figsize=(14, 4.5))
    for rule in acharyya2021_real_data.RULES:
        style = {} if "reweighted" in rule or rule == "divnet" else {"linestyle": ":"}
        plots.band(ax, fractions, final[f"test_error_{rule}"], label=rule, kind="proportion",
                   **style)  # fmt: skip
    ax.axhline(float(np.mean(final["test_error_dense"])), color="gray", label="dense")
    differences = {
        "DIVNET - random edge + rwt (C7a-c)": final["test_error_divnet"]
        - final["test_error_random_edge_reweighted"],
        "importance edge + rwt - DIVNET (C7d)": final["test_error_importance_edge_reweighted"]
        - final["test_error_divnet"],
    }
    for label, values in differences.items():
        plots.band(right, fractions, values, label=label)
    right.axhline(0.0, color="gray", linewidth=0.8, label="no difference")
    for axis in (ax, right):
        axis.axvline(config.checks.real_crossover, color="gray", linestyle="--", linewidth=0.8,
                     label="paper's MNIST crossover")  # fmt: skip
        axis.set_xlabel("edge keep fraction p (k_e = floor(p N) per unit; k_n matched)")
        axis.legend(fontsize=7)
    ax.set_ylabel("test error")
    right.set_ylabel("paired difference of test errors")
    ax.set_title(
        f"{config.real_data.dataset}: first hidden layer pruned one-shot, "
        f"{tuple(config.real_data.layer_sizes)}"
    )
    right.set_title("the paired differences the C7 claims test")
    figure.tight_layout()
    return figure


def beyond_m_figure(result: SweepResult, summary, config):
    """C8: what the DPP kernel sees beyond k_n = M, and what it picks.

    Left: each kernel's eigenvalues over the largest (mean over seeds, 95% band). Middle: at
    k_n = K - 1, every unit's (K-1)-DPP drop probability against the error of removing it,
    relative to the mean over its student's units. Right: (DPP - random) / random expected
    error by k_n for both kernels.
    """
    noise = np.asarray(result.axes["noise"], dtype=float)
    figure, axes = plt.subplots(1, 3, figsize=(17, 4.5))
    ranks = np.arange(1, summary["K"] + 1)
    for kernel, style in (("linear", "-"), ("rbf", "--")):
        matrices = result.final[kernel_analysis.KERNEL_ARRAYS[kernel]]
        spectrum = kernel_analysis.relative_spectrum(matrices)
        for n, sigma in enumerate(noise):
            label = f"{kernel}, sigma={sigma:g}"
            plots.band(axes[0], ranks, spectrum[:, n], label=label, linestyle=style)
        errors = result.final["ge_drop_one"]
        relative = errors / errors.mean(axis=-1, keepdims=True)
        probability = result.final[f"drop_probability_{kernel}"]
        axes[1].scatter(relative.ravel(), probability.ravel(), s=10, alpha=0.6, label=kernel,
                        marker="o" if kernel == "linear" else "x")  # fmt: skip
        gap = beyond_m_claims.relative_gap(result, kernel)
        for n, sigma in enumerate(noise):
            label = f"{kernel}, sigma={sigma:g}"
            plots.band(axes[2], summary["node_counts"], gap[:, n], label=label, linestyle=style)
    axes[0].set_yscale("log")
    axes[0].axvline(summary["M"] + 0.5, color="gray", linestyle=":", label="rank M | M + 1")
    axes[0].set(xlabel="eigenvalue rank", ylabel="eigenvalue / largest",
                title=f"DPP kernel spectrum (M = {summary['M']}, K = {summary['K']})")  # fmt: skip
    axes[1].axhline(1 / summary["K"], color="gray", linestyle=":", label="uniform 1/K")
    axes[1].set(xlabel="error after removing the unit / mean over units",
                ylabel="P((K-1)-DPP removes the unit)",
                title=f"which unit a (K-1)-DPP removes (k_n = {summary['K'] - 1})")  # fmt: skip
    axes[2].axhline(0.0, color="gray", linewidth=0.8, label="no difference")
    axes[2].axvline(summary["M"], color="gray", linestyle=":", label="k_n = M")
    axes[2].set(xlabel="k_n", ylabel="(DPP - random) / random expected error",
                title="DPP vs random node, exact expectations")  # fmt: skip
    for ax in axes:
        ax.legend(fontsize=7)
    figure.tight_layout()
    return figure


def figures(by_setting, odes, real, summaries, config) -> dict:
    """Every figure of the job, by file name (the beyond-M one where its arrays exist)."""
    main = next(iter(by_setting))
    out = {
        "acharyya2021_pruning": pruning_curves(by_setting, summaries, config),
        "acharyya2021_kernel": kernel_figure(by_setting[main], summaries[main]),
    }
    if "ge_drop_one" in by_setting[main].final:
        out["acharyya2021_beyond_m"] = beyond_m_figure(by_setting[main], summaries[main], config)
    if odes:
        out["acharyya2021_ode"] = ode_figure(odes, by_setting, config)
    if real is not None:
        out["acharyya2021_real_data"] = real_data_figure(real, config)
    return out
