"""Figures of the bartoldson2020 job: pruning drops, the tradeoff, rates, noise, flatness.

All figures read the labelled sweeps (`experiment.label_methods` names on the ``target``
and ``method`` axes) and show means with 95% t-intervals over seeds, or every run with the
within-seed correlation of the claims (`stability.within_seed_correlation`) in the title.
Spec: docs/papers/bartoldson2020.md, "What a reproduction must show".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import ml_collections
import numpy as np

from pruning_theory import plots
from pruning_theory.claims import mean_ci
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.bartoldson2020 import schedules, stability
from pruning_theory.papers.bartoldson2020.claims import TARGET_AXES, ordered

COLORS = {"smallest": "tab:blue", "random": "tab:orange", "largest": "tab:red"}
BASELINE_STYLE = {"none": ("k", "-"), "scratch": ("tab:gray", "--")}
MARKERS = "osD^v<>p*"


def _sawtooth(pre: np.ndarray, post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Epoch ends 1..E, each visited twice: before and after its prune."""
    epochs = np.repeat(np.arange(1, pre.size + 1), 2)
    return epochs, np.stack([pre, post], axis=-1).ravel()


def _percent(values: np.ndarray) -> np.ndarray:
    return 100 * np.asarray(values, dtype=float)


def accuracy_curves(main: SweepResult, baselines: SweepResult, rates: np.ndarray):
    """Test accuracy along training of the first seed: every prune's drop is a vertical step."""
    periods = np.asarray(main.axes["retrain_period"])
    figure, axes = plt.subplots(1, len(periods), figsize=(5 * len(periods), 4), squeeze=False)
    seed = 0
    for column, (ax, period) in enumerate(zip(axes[0], periods, strict=True)):
        for name in main.axes["target"]:
            index = {"seed": seed, "target": list(main.axes["target"]).index(name)}
            index["retrain_period"] = column
            pre, post = (_run_history(main, key, index) for key in ("pre", "post"))
            ax.plot(
                *_sawtooth(_percent(pre), _percent(post)),
                color=COLORS.get(str(name)),
                linewidth=0.8,
                label=f"Prune_{str(name)[0].upper()}",
            )
        for name in baselines.axes["method"]:
            index = {"seed": seed, "method": list(baselines.axes["method"]).index(name)}
            color, style = BASELINE_STYLE.get(str(name), ("k", ":"))
            post = _run_history(baselines, "post", index)
            ax.plot(
                np.arange(1, post.size + 1),
                _percent(post),
                color=color,
                linestyle=style,
                linewidth=0.8,
                label=str(name),
            )
        ax.set_title(f"r = {int(period)} ({100 * rates[column]:.3g}% per event)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (%), before and after each prune")
        ax.legend(fontsize=7)
    figure.suptitle(f"Test accuracy along training (seed {main.axes['seed'][seed]})")
    figure.tight_layout()
    return figure


def _run_history(result: SweepResult, which: str, index: Mapping[str, int]) -> np.ndarray:
    values = result.metrics[f"{which}_accuracy"]
    selector = tuple(index[name] for name in result.axes)
    return values[selector]


def _scatter_with_correlation(ax, x, y, colors, labels, title: str) -> None:
    """Every run of ``x``, ``y`` (``[seed, runs]``); the within-seed r in the title."""
    flat_x, flat_y = np.ravel(x), np.ravel(y)
    for color, label in sorted(set(zip(colors, labels, strict=True)), key=lambda p: p[1]):
        chosen = [(c, lab) == (color, label) for c, lab in zip(colors, labels, strict=True)]
        ax.scatter(flat_x[chosen], flat_y[chosen], s=14, color=color, label=label)
    measured = stability.within_seed_correlation(x, y)
    ax.set_title(
        f"{title}\nwithin-seed r = {measured.r:.2f} [{measured.ci[0]:.2f}, {measured.ci[1]:.2f}]",
        fontsize=9,
    )
    ax.legend(fontsize=7)


def _centered(values: np.ndarray) -> np.ndarray:
    """``[seed, runs]`` with every seed's mean removed."""
    values = np.asarray(values, np.float64).reshape(len(values), -1)
    return values - values.mean(axis=1, keepdims=True)


def _run_labels(main: SweepResult, baselines: SweepResult | None) -> tuple[list, list]:
    """Colors and labels of the runs of `_main_then_baselines`, in its (seed-major) order."""
    colors, labels = [], []
    for _ in main.axes["seed"]:
        for target, _ in np.ndindex(*ordered(main, "mean_stability", TARGET_AXES).shape[1:]):
            name = str(main.axes["target"][target])
            colors.append(COLORS.get(name, "k"))
            labels.append(f"Prune_{name[0].upper()}")
        for method in [] if baselines is None else baselines.axes["method"]:
            colors.append(BASELINE_STYLE.get(str(method), ("k", ""))[0])
            labels.append(str(method))
    return colors, labels


def _main_then_baselines(main, baselines, name: str) -> np.ndarray:
    """``[seed, runs, ...]``: every seed's target runs, then its baseline runs (if given)."""
    target = ordered(main, name, TARGET_AXES)
    parts = [target.reshape(target.shape[0], -1, *target.shape[3:])]
    if baselines is not None:
        parts.append(ordered(baselines, name, ("seed", "method")))
    return np.concatenate(parts, axis=1)


def tradeoff(main: SweepResult):
    """Best and final-epoch test accuracy against mean stability, seed means removed (C1)."""
    colors, labels = _run_labels(main, None)
    stable = _main_then_baselines(main, None, "mean_stability")
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, name, label in (
        (axes[0], "best_accuracy", "best test accuracy after the last prune"),
        (axes[1], "final_accuracy", "final-epoch test accuracy"),
    ):
        values = _percent(_main_then_baselines(main, None, name))
        _scatter_with_correlation(ax, _centered(stable), _centered(values), colors, labels, label)
        ax.set_xlabel("mean stability minus its seed's mean (points)")
        ax.set_ylabel("test accuracy minus its seed's mean (points)")
    figure.suptitle("Generalization-stability tradeoff within seeds (every target run)")
    figure.tight_layout()
    return figure


def _baseline_band(ax, baselines: SweepResult, name: str, scale: float = 100.0) -> None:
    values = ordered(baselines, name, ("seed", "method"))
    for column, method in enumerate(baselines.axes["method"]):
        mean, low, high = mean_ci(scale * values[:, column])
        color, style = BASELINE_STYLE.get(str(method), ("k", ":"))
        ax.axhline(mean, color=color, linestyle=style, linewidth=1, label=str(method))
        if np.isfinite([low, high]).all():  # no band for a measure a baseline lacks
            ax.axhspan(low, high, color=color, alpha=0.1)


def rates_figure(main: SweepResult, baselines: SweepResult, rates: np.ndarray):
    """Mean stability and best accuracy against the iterative pruning rate, per target."""
    order = np.argsort(rates)
    x = 100 * rates[order]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, name, scale, label in (
        (axes[0], "mean_stability", 1.0, "mean stability (%)"),
        (axes[1], "best_accuracy", 100.0, "best test accuracy after the last prune (%)"),
    ):
        values = ordered(main, name, ("seed", "target", "retrain_period"))
        for index, target in enumerate(main.axes["target"]):
            plots.band(
                ax,
                x,
                scale * values[:, index][:, order],
                label=f"Prune_{str(target)[0].upper()}",
                color=COLORS.get(str(target)),
            )
        if name == "best_accuracy":
            _baseline_band(ax, baselines, name)
        ax.set_xscale("log")
        ax.set_xticks(x)
        ax.set_xticklabels([f"{value:.3g}" for value in x])
        ax.minorticks_off()
        ax.set_xlabel("iterative pruning rate (% of the last layer per event, log scale)")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    figure.suptitle("Stability and generalization against the per-event pruning rate")
    figure.tight_layout()
    return figure


def noise_figure(main: SweepResult, baselines: SweepResult, noise: SweepResult, period: int):
    """Best accuracy and stability of temporary pruning next to Prune_L and no pruning."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    periods = list(np.asarray(main.axes["retrain_period"]).astype(int))
    targets = [str(t) for t in main.axes["target"]]
    for ax, name, scale, label in (
        (axes[0], "best_accuracy", 100.0, "best test accuracy after the last prune (%)"),
        (axes[1], "mean_stability", 1.0, "mean stability (%)"),
    ):
        entries = []
        values = ordered(noise, name, ("seed", "method", "window"))
        for i, kind in enumerate(noise.axes["method"]):
            for j, window in enumerate(noise.axes["window"]):
                entries.append((f"{kind}\n{int(window)}", scale * values[:, i, j]))
        if period in periods and "largest" in targets:
            prune = ordered(main, name, ("seed", "target", "retrain_period"))
            entries.append(
                ("Prune_L", scale * prune[:, targets.index("largest"), periods.index(period)])
            )
        base = ordered(baselines, name, ("seed", "method"))
        for k, method in enumerate(baselines.axes["method"]):
            entries.append((str(method), scale * base[:, k]))
        for position, (_, sample) in enumerate(entries):
            mean, low, high = mean_ci(sample)
            ax.errorbar(position, mean, yerr=[[mean - low], [high - mean]], fmt="o", capsize=3)
        ax.set_xticks(range(len(entries)))
        ax.set_xticklabels([text for text, _ in entries], fontsize=7)
        ax.set_ylabel(label)
    figure.suptitle(
        f"Pruning ~ noise: temporary pruning of the Prune_L targets (r = {period}), "
        "window in training batches"
    )
    figure.tight_layout()
    return figure


def flatness_figure(main: SweepResult, baselines: SweepResult, config):
    """Flatness at ~97% of training against mean stability, every run (C7a-c)."""
    colors, labels = _run_labels(main, baselines)
    stable = _main_then_baselines(main, baselines, "mean_stability")
    radius = np.mean(
        np.minimum(
            _main_then_baselines(main, baselines, "sharpness_radius"),
            config.flatness.epsilon_max,
        ),
        axis=-1,
    )
    panels = (
        (
            _main_then_baselines(main, baselines, "hessian_trace_top"),
            f"Tr(H_{config.flatness.num_eigenvalues})",
        ),
        (_main_then_baselines(main, baselines, "gradient_covariance_trace"), "Tr(C)"),
        (radius, "epsilon-sharpness radius"),
    )
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, (values, label) in zip(axes, panels, strict=True):
        _scatter_with_correlation(ax, stable, values, colors, labels, label)
        ax.set_xlabel("mean stability (%)")
        ax.set_ylabel(label)
        ax.set_yscale("log")
    figure.suptitle(
        f"Flatness at {round(config.flatness.at_fraction * 100)}% of "
        f"training on {config.flatness.num_images} test images"
    )
    figure.tight_layout()
    return figure


def figures(
    sweeps: Mapping[str, SweepResult],
    config: ml_collections.ConfigDict,
    layers: Sequence[schedules.LayerSchedule],
) -> dict:
    """Every figure of the job, by file name."""
    main, baselines = sweeps["metrics"], sweeps["baselines"]
    rates = np.asarray(
        [schedules.iterative_pruning_rate(layers, int(p)) for p in main.axes["retrain_period"]]
    )
    named = {
        "bartoldson2020_curves": accuracy_curves(main, baselines, rates),
        "bartoldson2020_tradeoff": tradeoff(main),
        "bartoldson2020_rates": rates_figure(main, baselines, rates),
    }
    if "noise" in sweeps:
        period = int(config.noise.retrain_period)
        named["bartoldson2020_noise"] = noise_figure(main, baselines, sweeps["noise"], period)
    if "hessian_trace_top" in main.final:
        named["bartoldson2020_flatness"] = flatness_figure(main, baselines, config)
    return named
