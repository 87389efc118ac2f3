"""Figures of the yang2023 job: accuracy, fit, feature learning and the availability mechanism.

docs/papers/yang2023.md. Theory lines are labelled by origin: "reconstruction" for the
spec's heuristic theory (eqs. (9)-(12)), "measured" for a line built from this run's arrays.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np

from pruning_theory import plots
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.yang2023 import claims as yang2023_claims
from pruning_theory.papers.yang2023 import mechanism, theory


def measured_lacking_accuracy(main: SweepResult) -> np.ndarray:
    """[R] a0(p): mean over seeds of the accuracy of a class that lacks an effective filter
    while the other has one (`mechanism`); nan at rates without such a class."""
    accuracy, _, effective = yang2023_claims.mechanism_arrays(main)
    lacking = mechanism.strata(effective)["lacking"]
    return np.asarray(
        [
            mechanism.stratum_summary(accuracy[:, k], lacking[:, k])[0]
            for k in range(accuracy.shape[1])
        ]
    )


def _accuracy_panel(ax, main: SweepResult, controls: dict[str, SweepResult], config) -> None:
    """Test accuracy vs p with the controls, the spec's bound and the measured-a0 bound."""
    rates = yang2023_claims.rates_of(main)
    width = config.model.width
    x = plots.keep_fraction_axis(ax, rates)
    plots.band(
        ax,
        x,
        main.final["test_accuracy"],
        label=f"test (q = {config.model.power:g})",
        kind="proportion",
    )
    for name, result in controls.items():
        control_x = 1 - yang2023_claims.rates_of(result)
        plots.band(
            ax,
            control_x,
            result.final["test_accuracy"],
            label=f"control: {name}",
            alpha=0.7,
            kind="proportion",
        )
    ax.plot(
        x,
        theory.signal_availability_bound(rates, width),
        "k:",
        label="bound 1 - P0/2, eq. (11) (reconstruction)",
    )
    a0 = measured_lacking_accuracy(main)
    if np.isfinite(a0).any():
        ax.plot(
            x,
            theory.availability_accuracy(rates, width, np.where(np.isfinite(a0), a0, 0.5)),
            "k-.",
            linewidth=0.8,
            label="eq. (11) with a0(p) measured (lacking class, M1; 1/2 where none)",
        )
    p_lo = theory.benign_threshold(
        config.data.num_train,
        config.data.mu_norm,
        config.data.noise_std,
        config.data.dimension,
        config.model.power,
        config.theory.constant,
    )
    p_hi = theory.over_pruning_threshold(width)
    plots.mark_rate(ax, p_lo, f"p_lo = {p_lo:.2f} (reconstruction)", color="tab:green")
    plots.mark_rate(ax, p_hi, f"p_hi = 1 - 1/m = {p_hi:.3f}", color="tab:red")
    ax.axhline(0.5, color="gray", linewidth=0.8, label="chance")
    ax.set_ylabel("test accuracy")
    ax.set_title("Random pruning at init: test accuracy")
    ax.legend(fontsize=7)


def _fit_panel(ax, main: SweepResult, config) -> None:
    """Final training loss and accuracy vs p."""
    rates = yang2023_claims.rates_of(main)
    x = plots.keep_fraction_axis(ax, rates)
    plots.band(ax, x, np.maximum(main.last("train_loss"), 1e-12), label="final training loss")
    ax.set_yscale("log")
    ax.set_ylabel("training loss (log)")
    twin = ax.twinx()
    plots.band(
        twin,
        x,
        main.last("train_accuracy"),
        label="train accuracy",
        color="tab:orange",
        kind="proportion",
    )
    twin.set_ylabel("train accuracy")
    twin.set_ylim(0.4, 1.05)
    memorizable = theory.memorization_possible(rates, config.data.dimension, config.data.num_train)
    if (~memorizable).any():
        plots.mark_rate(ax, rates[~memorizable].min(), "(1-p) d < 10 n", color="gray")
    ax.set_title("Training fit (T / (1 - p) steps)")
    plots.legend(ax, twin, loc="lower left")


def _margin_panel(ax, main: SweepResult) -> None:
    """The signal and noise parts of the own-class training margin vs p."""
    x = plots.keep_fraction_axis(ax, yang2023_claims.rates_of(main))
    floor = 1e-4  # log axis: contributions below it are drawn at it
    plots.band(ax, x, np.maximum(main.last("signal_output"), floor), label="signal part of margin")
    plots.band(ax, x, np.maximum(main.last("noise_output"), floor), label="noise part of margin")
    ax.set_yscale("log")
    ax.set_ylabel("contribution to F_y(x_i) at train points")
    ax.set_title("Signal learning vs noise memorization")
    ax.legend(fontsize=7)


def overview(main: SweepResult, controls: dict[str, SweepResult], companion, config):
    """Test accuracy, training fit and signal vs noise against p; the MNIST companion."""
    figure, axes = plt.subplots(2, 2, figsize=(12, 9.5))
    axes = axes.ravel()
    _accuracy_panel(axes[0], main, controls, config)
    _fit_panel(axes[1], main, config)
    _margin_panel(axes[2], main)
    if companion is not None:
        ax = axes[3]
        x = plots.keep_fraction_axis(ax, np.asarray(companion.axes["pruning_rate"], dtype=float))
        plots.band(
            ax, x, companion.last("test_accuracy"), label="MLP on MNIST subset", kind="proportion"
        )
        ax.set_ylabel("test accuracy")
        ax.set_title("Real-data companion: MNIST (5000-image subset)")
        ax.legend(fontsize=7)
    else:
        axes[3].set_visible(False)
    figure.tight_layout()
    return figure


def training_curves(main: SweepResult, best: int):
    """Signal learning and noise memorization along training at p = 0, p* and the largest p."""
    rates = yang2023_claims.rates_of(main)
    chosen = sorted({0, best if best >= 0 else 0, len(rates) - 1})
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for index in chosen:
        label = f"p = {rates[index]:g}"
        plots.band(axes[0], main.steps, main.metrics["signal_learning"][:, index], label=label)
        plots.band(axes[1], main.steps, main.metrics["noise_memorization"][:, index], label=label)
    axes[0].set_title(r"signal learning: mean$_j$ max$_r$ $\gamma_{j,r}$")
    axes[1].set_title(r"noise memorization: mean$_i$ max$_r$ $\rho_{y_i,r,i}$")
    for ax in axes:
        ax.set_xlabel("GD step")
        ax.set_yscale("symlog", linthresh=1e-2)
        ax.legend(fontsize=7)
    figure.tight_layout()
    return figure


def _errorbars(ax, x, summaries, label: str, **style) -> None:
    """Means with their 95% t intervals over seeds, clipped to [0, 1] (points without >= 2
    seeds are skipped)."""
    points = [(xi, m, lo, hi) for xi, (m, (lo, hi), n) in zip(x, summaries, strict=True) if n >= 2]
    if not points:
        return
    xs, means, lows, highs = (np.asarray(v) for v in zip(*points, strict=True))
    lows, highs = np.clip(lows, 0, 1), np.clip(highs, 0, 1)  # accuracies: shown within [0, 1]
    ax.errorbar(
        xs,
        means,
        yerr=[means - lows, highs - means],
        marker="o",
        markersize=3,
        capsize=2,
        label=label,
        **style,
    )


def mechanism_figure(main: SweepResult, config):
    """The availability mechanism per rate: classes without an effective filter, per-class
    accuracy by stratum with the noise-only default, and the table of `mechanism`."""
    rates = yang2023_claims.rates_of(main)
    accuracy, default, effective = yang2023_claims.mechanism_arrays(main)
    rows = mechanism.mechanism_table(rates, config.model.width, effective, accuracy, default)
    figure = plt.figure(figsize=(13, 10))
    grid = figure.add_gridspec(2, 2, height_ratios=[1, 0.9])
    left, right = figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1])
    x = plots.keep_fraction_axis(left, rates)
    plots.band(
        left,
        x,
        (effective == 0).mean(-1),
        label="classes without an effective filter (measured)",
        kind="proportion",
    )
    left.plot(
        x,
        theory.probability_class_without_effective_filter(rates, config.model.width),
        "k:",
        label="P0 = ((1+p)/2)^m, eq. (10) (reconstruction)",
    )
    left.set_ylabel("fraction of classes")
    left.set_title("Signal availability: classes without an effective filter")
    left.legend(fontsize=7)
    x = plots.keep_fraction_axis(right, rates)
    for name, color in zip(mechanism.STRATA, ("tab:blue", "tab:orange", "tab:gray"), strict=True):
        _errorbars(right, x, [row[name] for row in rows], f"class accuracy: {name}", color=color)
    _errorbars(
        right,
        x,
        [row["lacking_noise_default"] for row in rows],
        "noise-only default of a lacking class",
        color="tab:red",
        linestyle="--",
    )
    right.axhline(
        0.5,
        color="k",
        linestyle=":",
        linewidth=1,
        label="spec: lacking class at 0.5 (reconstruction)",
    )
    right.set_ylabel("per-class test accuracy (95% t CI over seeds, clipped to [0, 1])")
    right.set_title("Per-class accuracy by availability stratum")
    right.legend(fontsize=7)
    table_ax = figure.add_subplot(grid[1, :])
    table_ax.axis("off")
    header, cells = mechanism.table_text(rows)
    table = table_ax.table(cellText=cells, colLabels=header, loc="upper center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1, 1.6)
    table_ax.set_title("Per rate: mean [95% t CI] (seeds in the stratum)", fontsize=9)
    figure.tight_layout()
    return figure


def figures(main, controls, companion, config, note: str = "") -> dict:
    """The job's figures; ``note`` (e.g. seeds excluded for divergence) titles each of them."""
    best, _ = yang2023_claims.best_mild_rate(main, config)
    named = {
        "yang2023": overview(main, controls, companion, config),
        "yang2023_training": training_curves(main, best),
        "yang2023_mechanism": mechanism_figure(main, config),
    }
    if note:
        for figure in named.values():
            figure.suptitle(textwrap.fill(note, 150), fontsize=8, color="tab:red")
            figure.tight_layout()
    return named
