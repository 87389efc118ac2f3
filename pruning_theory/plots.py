"""Figures: measured means with seed CIs, theory overlaid (matplotlib).

The library leaves the backend to its caller: the command-line tools in ``launch/`` select
Agg, notebooks keep their inline backend (figures saved with `save` are closed, so they are
shown only where a notebook displays them).
"""

from __future__ import annotations

import io
import pathlib

import matplotlib.pyplot as plt
import numpy as np

from pruning_theory.claims import mean_ci
from pruning_theory.workdir import atomic_write


def band(ax, x, values, *, label: str, seed_axis: int = 0, **style) -> None:
    """Plots the mean over seeds with its 95% t-interval as a shaded band."""
    mean, low, high = mean_ci(values, axis=seed_axis)
    (line,) = ax.plot(x, mean, marker="o", markersize=3, label=label, **style)
    ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)


def keep_fraction_axis(ax, rates) -> np.ndarray:
    """Puts pruning rates on a log axis of the keep fraction 1 - p, increasing p to the right.

    Returns the x coordinates of ``rates``.
    """
    rates = np.asarray(rates, dtype=float)
    ax.set_xscale("log")
    ax.invert_xaxis()
    shown = rates[rates < 1]
    ax.set_xticks(1 - shown)
    ax.set_xticklabels([f"{p:g}" for p in shown], rotation=60, fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel("pruning rate p (log scale of 1 - p)")
    return 1 - rates


def mark_rate(ax, rate: float, label: str, **style) -> None:
    """A vertical line at a pruning rate on a `keep_fraction_axis`."""
    if 0 <= rate < 1:
        ax.axvline(1 - rate, linestyle="--", linewidth=1, label=label, **style)


def save(figure, path: pathlib.Path) -> None:
    """Saves a figure as PNG atomically and closes it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    atomic_write(path, buffer.getvalue())
