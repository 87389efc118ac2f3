"""Synthetic wolfe2021 sweeps whose truth is known, for the claims tests."""

import numpy as np

from pruning_theory.engine.results import SweepResult


def crossing_curves(t_stars: np.ndarray, steps, level: float, slope: float = -0.05):
    """Curves ``[*t_stars.shape, snapshot]`` linear in log(1 + t) through (t*, level): the
    first crossing, interpolated in log(1 + t), is exactly t* (never reached if t* > T)."""
    u = np.log1p(np.asarray(steps, dtype=float))
    return level + slope * (u - np.log1p(np.asarray(t_stars, dtype=float))[..., None])


def sweep(final: dict, seeds: int, sizes, config, metrics: dict | None = None) -> SweepResult:
    """A ``seed x num_train`` result holding ``final`` (and ``metrics``)."""
    return SweepResult(
        axes={"seed": np.arange(seeds), "num_train": np.asarray(sizes)},
        steps=np.asarray([config.train.steps]),
        metrics=metrics or {},
        final=final,
    )


def crossing_sweep(t_stars: np.ndarray, sizes, config) -> SweepResult:
    """A sweep whose greedy loss at every k crosses the t*[loss] level exactly at ``t_stars``
    (``[seed, m]``)."""
    level = config.checks.loss_fraction * 0.5
    curve = crossing_curves(t_stars, config.train.snapshot_steps, level)
    greedy_loss = np.repeat(curve[..., None], len(config.greedy.ks), axis=-1)
    return sweep({"greedy_loss": greedy_loss}, t_stars.shape[0], sizes, config)


def full_sweep(config, seeds: int = 4, noise: float = 0.01, seed: int = 0, **overrides):
    """Every final metric the claims read, in a world where the spec's claims hold.

    Greedy loss ``dense + 0.5 / k`` (plus a start at 0.45 at t = 0), dense loss decaying
    geometrically from 0.5 to ~0.005, random and magnitude subsets 0.1 worse; ``overrides``
    replace any array (``[seed, m, snapshot(, K)]``).
    """
    rng = np.random.default_rng(seed)
    steps = np.asarray(config.train.snapshot_steps, dtype=float)
    sizes = np.asarray(config.grid.num_train)
    ks = np.asarray(config.greedy.ks, dtype=float)
    shape = (seeds, len(sizes), len(steps))
    dense = 0.5 * np.exp(-4.6 * steps / steps[-1]) * (1 + noise * rng.standard_normal(shape))
    greedy = dense[..., None] + 0.5 / ks * (1 + noise * rng.standard_normal((*shape, len(ks))))
    greedy = np.minimum(greedy, 0.45)
    greedy[:, :, 0, :] = 0.45 + noise * rng.standard_normal((seeds, len(sizes), len(ks)))
    final = {
        "dense_loss": dense,
        "dense_accuracy": 1 - dense,
        "greedy_loss": greedy,
        "greedy_accuracy": 1 - greedy,
        "random_loss": greedy + 0.1,
        "magnitude_loss": greedy + 0.1,
    }
    final.update(overrides)
    return sweep(final, seeds, sizes, config)


def scratch_sweep(config, excess, dense_final: np.ndarray) -> SweepResult:
    """Width-k nets whose final loss is the dense loss plus ``excess [seed, K]``."""
    loss = dense_final[:, None] + excess
    return SweepResult(
        axes={"seed": np.arange(len(loss)), "width": np.asarray(config.greedy.ks)},
        steps=np.asarray([config.train.steps]),
        metrics={"train_loss": loss[..., None]},
    )
