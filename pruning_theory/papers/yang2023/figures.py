"""Figures of the yang2023 job: accuracy, loss and feature learning vs p, theory overlaid."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np

from pruning_theory import plots
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.yang2023 import claims as yang2023_claims
from pruning_theory.papers.yang2023 import theory


def overview(main: SweepResult, controls: dict[str, SweepResult], companion, config):
    """Test accuracy, training fit and signal vs noise against p; the MNIST companion."""
    summary_rates = np.asarray(main.axes["pruning_rate"], dtype=float)
    p_lo = theory.benign_threshold(
        config.data.num_train,
        config.data.mu_norm,
        config.data.noise_std,
        config.data.dimension,
        config.model.power,
        config.theory.constant,
    )
    p_hi = theory.over_pruning_threshold(config.model.width)
    figure, axes = plt.subplots(2, 2, figsize=(12, 9.5))
    axes = axes.ravel()

    ax = axes[0]
    x = plots.keep_fraction_axis(ax, summary_rates)
    plots.band(ax, x, main.final["test_accuracy"], label=f"test (q = {config.model.power:g})")
    for name, result in controls.items():
        plots.band(ax, x, result.final["test_accuracy"], label=f"control: {name}", alpha=0.7)
    bound = theory.signal_availability_bound(summary_rates, config.model.width)
    ax.plot(x, bound, "k:", label="availability bound 1 - P0/2 (reconstr.)")
    one_sided = theory.one_sided_detection_bound(summary_rates, config.model.width)
    ax.plot(x, one_sided, "k-.", linewidth=0.8, label="one-sided bound 1 - P0^2/2 (post hoc)")
    plots.mark_rate(ax, p_lo, f"p_lo = {p_lo:.2f} (reconstr.)", color="tab:green")
    plots.mark_rate(ax, p_hi, f"p_hi = 1 - 1/m = {p_hi:.3f}", color="tab:red")
    ax.axhline(0.5, color="gray", linewidth=0.8)
    ax.set_ylabel("test accuracy")
    ax.set_title("Random pruning at init: test accuracy")
    ax.legend(fontsize=7)

    ax = axes[1]
    x = plots.keep_fraction_axis(ax, summary_rates)
    plots.band(ax, x, np.maximum(main.last("train_loss"), 1e-12), label="final training loss")
    ax.set_yscale("log")
    ax.set_ylabel("training loss (log)")
    twin = ax.twinx()
    plots.band(twin, x, main.last("train_accuracy"), label="train accuracy", color="tab:orange")
    twin.set_ylabel("train accuracy")
    twin.set_ylim(0.4, 1.05)
    memorizable = theory.memorization_possible(
        summary_rates, config.data.dimension, config.data.num_train
    )
    if (~memorizable).any():
        plots.mark_rate(ax, summary_rates[~memorizable].min(), "(1-p) d < 10 n", color="gray")
    ax.set_title("Training fit (T / (1 - p) steps)")
    ax.legend(fontsize=7, loc="lower left")

    ax = axes[2]
    x = plots.keep_fraction_axis(ax, summary_rates)
    floor = 1e-4  # log axis: contributions below it are drawn at it
    plots.band(ax, x, np.maximum(main.last("signal_output"), floor), label="signal part of margin")
    plots.band(ax, x, np.maximum(main.last("noise_output"), floor), label="noise part of margin")
    ax.set_yscale("log")
    ax.set_ylabel("contribution to F_y(x_i) at train points")
    ax.set_title("Signal learning vs noise memorization")
    ax.legend(fontsize=7)

    if companion is not None:
        ax = axes[3]
        rates = np.asarray(companion.axes["pruning_rate"], dtype=float)
        x = plots.keep_fraction_axis(ax, rates)
        plots.band(ax, x, companion.last("test_accuracy"), label="MLP on MNIST subset")
        ax.set_ylabel("test accuracy")
        ax.set_title("Real-data companion: MNIST (5000-image subset)")
        ax.legend(fontsize=7)
    else:
        axes[3].set_visible(False)
    figure.tight_layout()
    return figure


def training_curves(main: SweepResult, config, best: int):
    """Signal learning and noise memorization along training at p = 0, p* and the largest p."""
    rates = np.asarray(main.axes["pruning_rate"], dtype=float)
    chosen = sorted({0, best if best >= 0 else 0, len(rates) - 1})
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for index in chosen:
        label = f"p = {rates[index]:g}"
        plots.band(axes[0], main.steps, main.metrics["signal_learning"][:, index], label=label)
        plots.band(axes[1], main.steps, main.metrics["noise_memorization"][:, index], label=label)
    axes[0].set_title("signal learning: mean_j max_r gamma_{j,r}")
    axes[1].set_title("noise memorization: mean_i max_r rho_{y_i,r,i}")
    for ax in axes:
        ax.set_xlabel("GD step")
        ax.set_yscale("symlog", linthresh=1e-2)
        ax.legend(fontsize=7)
    figure.tight_layout()
    return figure


def figures(main, controls, companion, config, note: str = "") -> dict:
    """The job's figures; ``note`` (e.g. seeds excluded for divergence) titles each of them."""
    best, _ = yang2023_claims.best_mild_rate(main, config)
    named = {
        "yang2023": overview(main, controls, companion, config),
        "yang2023_training": training_curves(main, config, best),
    }
    if note:
        for figure in named.values():
            figure.suptitle(textwrap.fill(note, 150), fontsize=8, color="tab:red")
            figure.tight_layout()
    return named
