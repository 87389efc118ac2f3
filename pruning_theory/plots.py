r"""Figures: measured means with seed CIs, theory overlaid (matplotlib), saved paper-ready.

`band` draws the mean over seeds with a 95% Student-t interval. For a quantity with known
bounds (``kind="proportion"``: accuracies and probabilities in [0, 1], or ``bounds=(low,
high)``) the interval is clipped to them: clipping drops only impossible values, so the
coverage stays that of the t-interval. (A percentile bootstrap of the mean also stays in the
bounds, but with 3 to 5 seeds it covered a known mean 68-82% of the time in a simulation of
per-seed accuracies around 0.9 and 0.97, against 85-93% for the clipped t-interval;
`tests/test_plots.py` checks 4 seeds. It is ``interval="bootstrap"``, for many seeds.)
``interval="clopper-pearson"`` gives the exact binomial interval of the fraction
of seeds where a 0/1 event happened. `seed_interval` computes the same for error bars and
spans. The figure remembers which intervals its bands used, and `save` names them in the
caption.

`save` writes a PNG (200 dpi) and a PDF beside it, with a caption line under the figure
(`caption_line`: experiment, config, seeds, commit; then how the bands were computed); it adds
a legend to any axes whose labelled lines are in no legend, and logs a warning for lines
without a label and for TeX markup outside ``$...$`` (write labels in mathtext:
``r"$\gamma_{j,r}$"``). `figure_problems` lists those for tests.

The library leaves the backend to its caller: the command-line tools in ``launch/`` select
Agg, notebooks keep their inline backend (figures saved with `save` are closed, so they are
shown only where a notebook displays them).
"""

from __future__ import annotations

import io
import pathlib
import re
import textwrap
import weakref

import matplotlib.pyplot as plt
import numpy as np
from absl import logging
from matplotlib.container import ErrorbarContainer
from matplotlib.text import Text

from pruning_theory.claims import binomial_ci, mean_ci
from pruning_theory.workdir import atomic_write

DPI = 200
CONFIDENCE = 0.95
RESAMPLES = 2000
CAPTION_FONTSIZE = 7
KINDS = ("mean", "proportion")
INTERVALS = ("t", "bootstrap", "clopper-pearson")
_DESCRIPTIONS = {
    "t": "95% Student-t intervals of the mean over seeds",
    "bootstrap": f"95% percentile-bootstrap intervals of the mean over seeds ({RESAMPLES} "
    "resamples of the seeds)",
    "clopper-pearson": "95% Clopper-Pearson intervals of the fraction of seeds",
}
# Figure -> the descriptions of the intervals its bands used, in order (for the caption).
_INTERVALS_USED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# TeX markup outside $...$: a backslash command, or a braced sub- or superscript.
_RAW_TEX = re.compile(r"\\[A-Za-z]+|[_^]\{")


def bootstrap_mean_ci(
    values, axis: int = 0, confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed=0
):
    """Mean and percentile-bootstrap interval of the mean over the replicates along ``axis``.

    The replicates are resampled with replacement (a fixed ``seed``, so a figure is
    reproducible); the interval lies within the range of the data. With one replicate the
    interval is infinite, as in `claims.mean_ci`.

    Returns:
      ``(mean, low, high)`` arrays with ``axis`` reduced.
    """
    values = np.moveaxis(np.asarray(values, dtype=np.float64), axis, 0)
    count, shape = values.shape[0], values.shape[1:]
    mean = values.mean(axis=0)
    if count < 2:
        return mean, np.full_like(mean, -np.inf), np.full_like(mean, np.inf)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(count, np.full(count, 1 / count), size=resamples) / count
    means = weights @ values.reshape(count, -1)  # [resamples, cells]
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail], axis=0)
    return mean, low.reshape(shape), high.reshape(shape)


def fraction_ci(events, axis: int = 0, confidence: float = CONFIDENCE):
    """Fraction of replicates where a 0/1 event happened, with its Clopper-Pearson interval.

    Raises:
      ValueError: naming the value, if ``events`` holds anything but 0 and 1.
    """
    events = np.moveaxis(np.asarray(events, dtype=np.float64), axis, 0)
    odd = events[(events != 0) & (events != 1)]
    if odd.size:
        raise ValueError(
            f"a Clopper-Pearson band needs 0/1 events per seed, got {float(odd.flat[0])!r}"
        )
    count, shape = events.shape[0], events.shape[1:]
    successes = events.sum(axis=0).ravel()
    bounds = np.asarray([binomial_ci(int(k), count, confidence) for k in successes], dtype=float)
    return events.mean(axis=0), bounds[:, 0].reshape(shape), bounds[:, 1].reshape(shape)


def _check_bounds(values, bounds, label: str) -> None:
    low, high = bounds
    values = np.asarray(values, dtype=float)
    outside = values[np.isfinite(values) & ((values < low) | (values > high))]
    if outside.size:
        raise ValueError(
            f"band {label!r}: value {float(outside.flat[0])!r} is outside its bounds "
            f"[{low}, {high}]"
        )


def seed_interval(
    values,
    *,
    seed_axis: int = 0,
    kind: str = "mean",
    bounds: tuple[float, float] | None = None,
    interval: str | None = None,
    figure=None,
    label: str = "values",
):
    """The mean over seeds and its 95% interval, as `band` draws them (for error bars, spans).

    Args:
      values: measured values with one axis of seeds (``seed_axis``).
      kind: ``"mean"`` (any quantity) or ``"proportion"`` (accuracies, probabilities: the same
        as ``bounds=(0, 1)``).
      bounds: the range the quantity lies in, e.g. ``(0, 100)`` for accuracies in percent;
        values outside it raise ValueError.
      interval: ``"t"`` (default; clipped to the bounds), ``"bootstrap"`` (percentile
        bootstrap of the mean: for many seeds only) or ``"clopper-pearson"`` (``values`` are
        0/1 events per seed; the mean is their fraction).
      figure: where given, the interval's description is recorded for `save`'s caption.
      label: names the values in errors.

    Returns:
      ``(mean, low, high)`` with the seed axis reduced.

    Raises:
      ValueError: naming the value, for an unknown kind or interval, or values outside bounds.
    """
    if kind not in KINDS:
        raise ValueError(f"band kind {kind!r} is not one of {KINDS}")
    if kind == "proportion":
        bounds = (0.0, 1.0) if bounds is None else bounds
    interval = interval or "t"
    if interval not in INTERVALS:
        raise ValueError(f"band interval {interval!r} is not one of {INTERVALS}")
    description = _DESCRIPTIONS[interval]
    if interval == "clopper-pearson":
        mean, low, high = fraction_ci(values, axis=seed_axis)
    elif interval == "bootstrap":
        mean, low, high = bootstrap_mean_ci(values, axis=seed_axis)
    else:
        mean, low, high = mean_ci(values, axis=seed_axis)
    if bounds is not None:
        _check_bounds(values, bounds, label)
        low, high = np.clip(low, *bounds), np.clip(high, *bounds)
        if interval == "t":
            description += f", clipped to [{bounds[0]:g}, {bounds[1]:g}]"
    if figure is not None:
        _INTERVALS_USED.setdefault(figure, {})[description] = None
    return mean, low, high


def band(ax, x, values, *, label: str, seed_axis: int = 0, **options) -> None:
    """Plots the mean over seeds with its 95% interval as a shaded band.

    Args:
      ax: the axes.
      x: the x coordinates, one per point of the curve.
      values: measured values with one axis of seeds (``seed_axis``).
      label: the legend entry.
      **options: ``kind``, ``bounds`` and ``interval`` of `seed_interval` (an accuracy in
        [0, 1]: ``kind="proportion"``; in percent: ``bounds=(0, 100)``); the rest is passed to
        ``ax.plot``.

    Raises:
      ValueError: naming the value, for an unknown kind or interval, or values outside bounds.
    """
    chosen = {key: options.pop(key) for key in ("kind", "bounds", "interval") if key in options}
    mean, low, high = seed_interval(
        values, seed_axis=seed_axis, figure=ax.figure, label=label, **chosen
    )
    (line,) = ax.plot(x, mean, marker="o", markersize=3, label=label, **options)
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
    ax.set_xlabel("pruning rate $p$ (log scale of $1 - p$)")
    return 1 - rates


def mark_rate(ax, rate: float, label: str, **style) -> None:
    """A vertical line at a pruning rate on a `keep_fraction_axis`."""
    if 0 <= rate < 1:
        ax.axvline(1 - rate, linestyle="--", linewidth=1, label=label, **style)


def legend(ax, *twins, **options) -> None:
    """One legend on ``ax`` for the labelled lines of ``ax`` and its ``twins`` (``twinx()``)."""
    handles, labels = [], []
    for axes in (ax, *twins):
        more_handles, more_labels = axes.get_legend_handles_labels()
        handles += more_handles
        labels += more_labels
    options.setdefault("fontsize", 7)
    ax.legend(handles, labels, **options)


def caption_line(experiment: str, config: str, seeds: int | None, commit: str) -> str:
    """``experiment yang2023, config cpu, 16 seeds, commit 46fe0fb3c1a2 (dirty)``."""
    head, dirty = commit.removesuffix("-dirty"), commit.endswith("-dirty")
    parts = [f"experiment {experiment}", f"config {config}"]
    if seeds is not None:
        parts.append(f"{seeds} seed{'s' if seeds != 1 else ''}")
    parts.append(f"commit {head[:12]}{' (dirty)' if dirty else ''}")
    return ", ".join(parts)


def intervals_sentence(figure) -> str:
    """How the figure's bands were computed, e.g. ``Bands: 95% Student-t intervals ...``."""
    used = list(_INTERVALS_USED.get(figure, {}))
    return f"Bands: {'; '.join(used)}." if used else ""


def _unlegended(figure) -> list[tuple[object, list, list]]:
    """(axes, handles, labels) of labelled artists shown in no legend of the figure."""
    legends = [ax.get_legend() for ax in figure.axes] + list(figure.legends)
    shown = {text.get_text() for item in legends if item is not None for text in item.texts}
    missing = []
    for ax in figure.axes:
        if not ax.get_visible():
            continue
        handles, labels = ax.get_legend_handles_labels()
        pairs = [(h, lab) for h, lab in zip(handles, labels, strict=True) if lab not in shown]
        if pairs:
            missing.append((ax, [h for h, _ in pairs], [lab for _, lab in pairs]))
    return missing


def figure_problems(figure) -> list[str]:
    """What keeps a figure from being paper-ready: data lines without a legend label or in no
    legend, and TeX markup outside ``$...$`` (shown verbatim by matplotlib)."""
    problems = []
    for ax in figure.axes:
        name = ax.get_title() or f"axes {figure.axes.index(ax)}"
        in_container = {id(a) for c in ax.containers for a in c.get_children()}
        unlabelled = [
            line
            for line in ax.get_lines()
            if line.get_label().startswith("_")
            and line.get_visible()
            and id(line) not in in_container
        ]
        unlabelled += [
            bars
            for bars in ax.containers
            if isinstance(bars, ErrorbarContainer) and bars.get_label().startswith("_")
        ]
        if ax.get_visible() and unlabelled:
            problems.append(f"{name!r}: {len(unlabelled)} line(s) without a legend label")
    for ax, _, labels in _unlegended(figure):
        problems.append(f"{ax.get_title()!r}: {labels} in no legend")
    for text in figure.findobj(Text):
        outside_math = re.sub(r"\$[^$]*\$", "", text.get_text())
        if _RAW_TEX.search(outside_math):
            problems.append(f"TeX outside $...$ in {text.get_text()!r} (use mathtext)")
    return problems


def _add_missing_legends(figure) -> None:
    for ax, handles, labels in _unlegended(figure):
        ax.legend(handles, labels, fontsize=7, loc="best")


def _add_caption(figure, text: str) -> None:
    """The caption under the figure, wrapped to its width (``bbox_inches="tight"`` keeps it)."""
    characters = max(40, int(figure.get_figwidth() * 72 / (0.55 * CAPTION_FONTSIZE)))
    figure.text(
        0.01,
        0.0,
        textwrap.fill(text, characters),
        ha="left",
        va="top",
        fontsize=CAPTION_FONTSIZE,
        color="0.25",
    )


def save(figure, path: pathlib.Path, caption: str | None = None, dpi: int = DPI) -> str:
    """Saves a figure as ``<path>.png`` (``dpi``) and ``<path>.pdf`` atomically, and closes it.

    Args:
      figure: the figure.
      path: the PNG's path; the PDF gets the same name with ``.pdf``.
      caption: the caption line (`caption_line`), drawn under the figure followed by how its
        bands were computed.
      dpi: the PNG's resolution.

    Returns:
      The caption drawn (empty if none): for a report beside the figure.
    """
    path = pathlib.Path(path)
    _add_missing_legends(figure)
    for problem in figure_problems(figure):
        logging.warning("figure %s: %s", path.name, problem)
    sentences = [caption.rstrip(".") + "." if caption else "", intervals_sentence(figure)]
    text = " ".join(sentence for sentence in sentences if sentence)
    if text:
        _add_caption(figure, text)
    for suffix, options in ((".png", {"dpi": dpi}), (".pdf", {"metadata": {"CreationDate": None}})):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=suffix[1:], bbox_inches="tight", **options)
        atomic_write(path.with_suffix(suffix), buffer.getvalue())
    plt.close(figure)
    return text
