"""The interface every paper implements, and the registry of papers.

An `Experiment` is a typed record of pure functions (in the style of optax's
``GradientTransformation``): the runner (`pruning_theory.runner`) calls ``validate`` once,
``run_sweeps`` to train the grids, and ``analyze`` on the finished sweeps; everything around
them (work directory, checkpoints, progress, dropping diverged seeds, saving sweeps, claims and
figures) is the runner's, once for every paper. To add a paper, copy a folder of
`pruning_theory.papers`, export an ``EXPERIMENT`` from its ``experiment`` module and add one
line to `REGISTRY`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import ml_collections

from pruning_theory.claims import Claim
from pruning_theory.engine.results import SweepResult

Config = ml_collections.ConfigDict
Sweeps = Mapping[str, SweepResult]


class Experiment(NamedTuple):
    """One paper's experiment as pure functions of its config and sweeps.

    Attributes:
      name: the registry name, also ``config.experiment``.
      validate: raises ValueError naming the bad value; called once per run, before any
        compile.
      run_sweeps: ``(config, execution) -> {sweep name: SweepResult}``, the training grids;
        ``execution`` (an `engine.Execution`: devices, memory budget, checkpoints, grid
        shard, stop request, progress) goes to every ``engine.run_program`` call, each with
        its own sweep ``name``.
      analyze: ``(config, sweeps) -> (claims, figures)``; a pure function of the sweeps, so it
        can also be evaluated on a subset of the seeds.
      theory: ``config -> dict`` of theory values written to ``theory.json``, or None.
    """

    name: str
    validate: Callable[[Config], None]
    run_sweeps: Callable[..., dict[str, SweepResult]]
    analyze: Callable[[Config, Sweeps], tuple[list[Claim], dict[str, Any]]]
    theory: Callable[[Config], dict[str, Any]] | None = None


# One line per paper: name -> module exporting ``EXPERIMENT``.
REGISTRY: dict[str, str] = {
    "yang2023": "pruning_theory.papers.yang2023.experiment",
    "bartoldson2020": "pruning_theory.papers.bartoldson2020.experiment",
    "acharyya2021": "pruning_theory.papers.acharyya2021.experiment",
    "wolfe2021": "pruning_theory.papers.wolfe2021.experiment",
}


def names() -> tuple[str, ...]:
    """The registered experiments, sorted."""
    return tuple(sorted(REGISTRY))


def get(name: str) -> Experiment:
    """The registered experiment ``name`` (its module is imported only now).

    Raises:
      ValueError: naming the experiment if it is not registered.
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown experiment {name!r}; expected one of {names()}")
    experiment = importlib.import_module(REGISTRY[name]).EXPERIMENT
    if experiment.name != name:
        raise ValueError(f"registry entry {name!r} holds experiment {experiment.name!r}")
    return experiment
