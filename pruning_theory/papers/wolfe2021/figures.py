"""Figures of the wolfe2021 job: pruned loss vs pre-training, t*(m) with fits, loss vs k."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from pruning_theory import plots
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.wolfe2021 import claims, theory


def _step_axis(ax, last_step: float) -> None:
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlim(0, 1.15 * last_step)
    ax.set_xlabel("pre-training GD steps t (symlog)")


def _size_colors(sizes):
    return plt.cm.viridis(np.linspace(0, 0.9, len(sizes)))


def pretraining(main: SweepResult, practical, config, summary):
    """Pruned loss / accuracy vs t per m with t* marked; dense loss with the NTK bound."""
    steps = np.asarray(config.train.snapshot_steps, dtype=float)
    sizes = np.asarray(main.axes["num_train"])
    k_index = list(config.greedy.ks).index(config.checks.k_ref)
    definition = config.checks.definitions[0]
    t_stars = claims.t_star(main, config, definition)
    tau = config.checks.loss_fraction * claims.zero_predictor_loss(config.train.loss)
    figure, axes = plt.subplots(2, 2, figsize=(12, 9))
    axes = axes.ravel()
    for i, (m, color) in enumerate(zip(sizes, _size_colors(sizes), strict=True)):
        label = f"m = {int(m)}"
        plots.band(axes[0], steps, main.final["greedy_loss"][:, i, :, k_index], label=label,
                   color=color)  # fmt: skip
        plots.band(axes[1], steps, main.final["greedy_accuracy"][:, i, :, k_index], label=label,
                   color=color)  # fmt: skip
        plots.band(axes[2], steps, main.final["dense_loss"][:, i], label=label, color=color)
        if np.isfinite(t_stars[:, i]).all():
            axes[0].axvline(t_stars[:, i].mean(), color=color, linestyle="--", linewidth=1)
    axes[0].axhline(tau, color="gray", linestyle=":", label=f"tau = {tau:.3g}")
    axes[0].set_title(f"Greedy subnetwork (k = {config.checks.k_ref}): dashed = t*[{definition}]")
    axes[0].set_ylabel(f"mean training loss ({config.train.loss})")
    axes[1].axhline(config.checks.accuracy_tau, color="gray", linestyle=":")
    axes[1].set_title(f"Greedy subnetwork (k = {config.checks.k_ref}): training accuracy")
    axes[1].set_ylabel("training accuracy")
    largest = summary["by_num_train"][-1]
    initial = float(np.mean(main.final["dense_loss"][:, -1, 0]))
    bound = theory.predicted_dense_loss(
        steps, initial, largest["sum_loss_step"], largest["lambda_0"]
    )
    axes[2].plot(steps, bound, "k:", label=f"NTK bound, m = {largest['num_train']} (reconstr.)")
    axes[2].set_yscale("log")
    axes[2].set_title("Dense net: mean training loss")
    axes[2].set_ylabel("mean training loss (log)")
    if practical is not None:
        result, practical_config = practical
        p_index = list(practical_config.greedy.ks).index(practical_config.checks.k_ref)
        p_steps = np.asarray(practical_config.train.snapshot_steps, dtype=float)
        p_sizes = np.asarray(result.axes["num_train"])
        for i, (m, color) in enumerate(zip(p_sizes, _size_colors(p_sizes), strict=True)):
            accuracy = result.final["greedy_accuracy"][:, i, :, p_index]
            plots.band(axes[3], p_steps, accuracy, label=f"m = {int(m)}", color=color)
        _step_axis(axes[3], p_steps[-1])
        axes[3].legend(fontsize=7)
        axes[3].set_title(
            f"Practical 784-{practical_config.model.width}-10 MLP: greedy subnetwork "
            f"(k = {practical_config.checks.k_ref}) accuracy"
        )
        axes[3].set_ylabel("training accuracy")
    else:
        axes[3].set_visible(False)
    for ax in axes[:3]:
        _step_axis(ax, steps[-1])
        ax.legend(fontsize=7)
    figure.tight_layout()
    return figure


def thresholds(main: SweepResult, config, summary):
    """t*(m) on a log m axis for every definition, with the log and power-law fits."""
    sizes = np.asarray(main.axes["num_train"], dtype=float)
    definitions = config.checks.definitions
    figure, axes = plt.subplots(1, len(definitions), figsize=(5 * len(definitions), 4.2))
    axes = np.atleast_1d(axes)
    grid = np.geomspace(sizes.min(), sizes.max(), 50)
    for ax, definition in zip(axes, definitions, strict=True):
        t_stars = claims.t_star(main, config, definition)
        finite = np.isfinite(t_stars).all(axis=0)
        if finite.any():
            plots.band(ax, sizes[finite], t_stars[:, finite], label="measured t* (mean, 95% CI)")
        means = t_stars.mean(axis=0)
        if finite.sum() >= 3:
            a, b, r2 = claims.fit_log(sizes[finite], means[finite])
            ax.plot(
                grid, a + b * np.log(grid), "--", label=f"a + b ln m: b = {b:.3g}, R^2 {r2:.3f}"
            )
            c, p, r2 = claims.fit_power(sizes[finite], means[finite])
            if math.isfinite(c):
                ax.plot(grid, c * grid**p, ":", label=f"c m^p: p = {p:.3g}, R^2 {r2:.3f}")
        predicted = ", ".join(
            f"{row['num_train']}: {row['t_star']:.2g}" for row in summary["by_num_train"]
        )
        ax.set_xscale("log")
        ax.set_xlabel("dataset size m (log)")
        ax.set_ylabel("t* (GD steps)")
        ax.set_title(f"t*[{definition}], k = {config.checks.k_ref}", fontsize=9)
        ax.text(0.02, 0.98, f"NTK-bound t* (reconstr.):\n{predicted}", transform=ax.transAxes,
                fontsize=6, va="top")  # fmt: skip
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    return figure


def loss_vs_k(main: SweepResult, scratch: SweepResult | None, config):
    """Loss vs k on log-log axes at the largest m and t = T, slopes in the legend."""
    ks = np.asarray(config.greedy.ks, dtype=float)
    losses = claims.baseline_losses(main, scratch)
    figure, ax = plt.subplots(figsize=(6, 4.5))
    for name, values in losses.items():
        slope = float(np.mean(claims.loss_vs_k_slopes(values, ks)))
        plots.band(ax, ks, values, label=f"{name}: slope {slope:.2f}")
    initial = main.final["greedy_loss"][:, -1, 0, :]
    slope = float(np.mean(claims.loss_vs_k_slopes(initial, ks)))
    plots.band(ax, ks, initial, label=f"greedy at t = 0: slope {slope:.2f}", linestyle=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("subnetwork size k (log)")
    ax.set_ylabel(f"mean training loss ({config.train.loss}, log)")
    ax.set_title(
        f"m = {int(main.axes['num_train'][-1])}, t = {config.train.steps}: greedy vs baselines",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    figure.tight_layout()
    return figure


def figures(main, scratch, practical, config, summary) -> dict:
    return {
        "wolfe2021_pretraining": pretraining(main, practical, config, summary),
        "wolfe2021_threshold": thresholds(main, config, summary),
        "wolfe2021_loss_vs_k": loss_vs_k(main, scratch, config),
    }
