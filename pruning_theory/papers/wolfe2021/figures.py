"""Figures of the wolfe2021 job (spec docs/papers/wolfe2021.md, "What a reproduction must show").

* ``wolfe2021_pretraining``: per sweep, the greedy subnetwork's loss and accuracy against the
  pre-training steps t (one curve per m, the t* levels dotted) and the dense loss with the NTK
  bound (spec eq. (9), reconstruction);
* ``wolfe2021_threshold``: t*(m) on log-log axes per sweep and definition, with the log and
  power-law fits of C1 and the reconstruction's t*(m) (spec eq. (11)) at the run's loss
  normalization, on the same axes so that their gap shows;
* ``wolfe2021_loss_vs_k``: the excess loss over the dense net against k (C4d) with the
  greedy bound's slope -1 (spec eq. (8)).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import ticker

from pruning_theory import plots
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.wolfe2021 import claims, theory, thresholds

TITLES = {"metrics": "MNIST, NTK net", "mnist1d": "MNIST-1D, NTK net", "practical": "MNIST, MLP"}


def _step_axis(ax, last_step: float) -> None:
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlim(0, 1.15 * last_step)
    ax.set_xlabel("pre-training GD steps t (symlog)")


def _size_colors(sizes):
    return plt.cm.viridis(np.linspace(0, 0.9, len(sizes)))


def _pretraining_row(axes, name: str, result: SweepResult, config, rows) -> None:
    """Pruned loss and accuracy vs t per m, and the dense loss with the NTK bound."""
    steps = np.asarray(config.train.snapshot_steps, dtype=float)
    sizes = np.asarray(result.axes["num_train"])
    k_index = list(config.greedy.ks).index(config.checks.k_ref)
    for i, (m, color) in enumerate(zip(sizes, _size_colors(sizes), strict=True)):
        label = f"m = {int(m)}"
        plots.band(axes[0], steps, result.final["greedy_loss"][:, i, :, k_index], label=label,
                   color=color)  # fmt: skip
        plots.band(axes[1], steps, result.final["greedy_accuracy"][:, i, :, k_index],
                   label=label, color=color, kind="proportion")  # fmt: skip
        plots.band(axes[2], steps, result.final["dense_loss"][:, i], label=label, color=color)
    level = config.checks.loss_fraction * claims.zero_predictor_loss(config.train.loss)
    axes[0].axhline(level, color="gray", linestyle=":", label=f"t*[loss] level {level:.3g}")
    axes[1].axhline(config.checks.accuracy_tau, color="gray", linestyle=":",
                    label=f"t*[accuracy] level {config.checks.accuracy_tau:g}")  # fmt: skip
    title = f"{TITLES[name]}: greedy subnetwork, k = {config.checks.k_ref}"
    axes[0].set(title=title, ylabel=f"mean training loss ({config.train.loss})")
    axes[1].set(title=title, ylabel="training accuracy")
    if rows:
        largest = rows[-1]
        if largest["lambda_0"] is not None:
            initial = float(np.mean(result.final["dense_loss"][:, -1, 0]))
            bound = theory.predicted_dense_loss(
                steps, initial, largest["sum_loss_step"], largest["lambda_0"]
            )
            label = f"NTK bound eq. (9), m = {largest['num_train']} (reconstr.)"
            axes[2].plot(steps, bound, "k:", label=label)
    axes[2].set_yscale("log")
    axes[2].set(title=f"{TITLES[name]}: dense net", ylabel="mean training loss (log)")
    for ax in axes:
        _step_axis(ax, steps[-1])
        ax.legend(fontsize=6)


def pretraining(sweeps: Mapping[str, SweepResult], configs, rows):
    """One row per pruned sweep: pruned loss and accuracy vs t per m, dense loss and bound."""
    names = list(configs)
    figure, axes = plt.subplots(len(names), 3, figsize=(15, 4.2 * len(names)), squeeze=False)
    for row, name in zip(axes, names, strict=True):
        _pretraining_row(row, name, sweeps[name], configs[name], rows.get(name))
    figure.tight_layout()
    return figure


def _threshold_panel(ax, name: str, result: SweepResult, config, definition: str, rows) -> None:
    """Measured t*(m) with both fits of C1 and the reconstruction's t*(m), log-log."""
    sizes = np.asarray(result.axes["num_train"], dtype=float)
    t_stars = claims.t_star(result, config, definition)
    finite = np.isfinite(t_stars).all(axis=0)
    if finite.any():
        plots.band(ax, sizes[finite], t_stars[:, finite], label="measured t* (mean)")
    grid = np.geomspace(sizes.min(), sizes.max(), 60)
    if finite.sum() >= thresholds.MIN_SIZES:
        means = t_stars[:, finite].mean(axis=0)
        a, b, r2 = thresholds.fit_log(sizes[finite], means)
        ax.plot(grid, np.maximum(a + b * np.log(grid), 1e-1), "--",
                label=f"a + b ln m: b = {b:.3g}, $R^2$ {r2:.3f}")  # fmt: skip
        c, p, r2 = thresholds.fit_power(sizes[finite], means)
        if math.isfinite(c):
            ax.plot(grid, c * grid**p, ":", label=f"c m^p: p = {p:.3g}, $R^2$ {r2:.3f}")
    if not finite.all():
        ax.text(0.02, 0.02, f"t* censored (never reached in T steps) at {int((~finite).sum())} "
                "of the m", transform=ax.transAxes, fontsize=7)  # fmt: skip
    predicted = [(r["num_train"], r["t_star"]) for r in rows or [] if r["t_star"] is not None]
    if predicted:
        m, t = np.asarray(predicted, dtype=float).T
        label = f"eq. (11) at the run's {config.data.normalization} loss (reconstr.)"
        ax.plot(m, t, "k^-", markersize=4, label=label)
    ax.set(xscale="log", yscale="log", xlabel="dataset size m (log)", ylabel="t* (GD steps, log)")
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())  # under one decade they overlap
    ax.set_title(f"{TITLES[name]}: t*[{definition}], k = {config.checks.k_ref}", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, loc="best")


def thresholds_figure(sweeps: Mapping[str, SweepResult], configs, rows):
    """t*(m) per pruned sweep (rows) and definition (columns), on log-log axes."""
    names = list(configs)
    columns = max(len(configs[name].checks.definitions) for name in names)
    figure, axes = plt.subplots(len(names), columns, figsize=(5.2 * columns, 4.2 * len(names)),
                                squeeze=False)  # fmt: skip
    for row, name in zip(axes, names, strict=True):
        definitions = tuple(configs[name].checks.definitions)
        for ax, definition in zip(row, definitions, strict=False):
            _threshold_panel(ax, name, sweeps[name], configs[name], definition, rows.get(name))
        for ax in row[len(definitions) :]:
            ax.set_visible(False)
    figure.tight_layout()
    return figure


def loss_vs_k(main: SweepResult, scratch: SweepResult | None, config):
    """Excess loss over the dense net vs k on log-log axes (largest m, t = T), slopes (C4d)."""
    ks = np.asarray(config.greedy.ks, dtype=float)
    losses = claims.baseline_losses(main, scratch)
    dense = main.final["dense_loss"][:, -1, -1]
    figure, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, values in losses.items():
        excess = values - dense[:, None]
        slope = np.nanmean(claims.excess_slopes(values, dense, ks))
        plots.band(ax, ks, excess, label=f"{name}: slope {slope:.2f}")
    reference = float(np.mean(losses["greedy"][:, 0] - dense))
    ax.plot(ks, reference * ks[0] / ks, "k:", label="slope -1 (greedy bound, eq. (8))")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("subnetwork size k (log)")
    ax.set_ylabel(f"loss - dense loss ({config.train.loss}, symlog)")
    ax.set_title(f"MNIST m = {int(main.axes['num_train'][-1])}, t = {config.train.steps}: "
                 "excess loss of greedy and baselines", fontsize=9)  # fmt: skip
    ax.legend(fontsize=7)
    figure.tight_layout()
    return figure


def figures(sweeps: Mapping[str, SweepResult], configs, rows) -> dict:
    """Every figure of the job, by file name (`experiment.analyze`'s arguments)."""
    return {
        "wolfe2021_pretraining": pretraining(sweeps, configs, rows),
        "wolfe2021_threshold": thresholds_figure(sweeps, configs, rows),
        "wolfe2021_loss_vs_k": loss_vs_k(
            sweeps["metrics"], sweeps.get("scratch"), configs["metrics"]
        ),  # fmt: skip
    }
