"""Runs an experiment into a work directory: config, metrics, figures, claims (atomically).

The work directory of a finished run holds ``config.json`` (the resolved config),
``<sweep>.npz`` / ``<sweep>.csv`` (labelled metric arrays and a tidy table per sweep),
``<figure>.png``, ``theory.json`` where the experiment has theory, ``claims.md`` and, written
last as the mark of a finished run, ``claims.json``. A finished work directory is refused
unless ``overwrite`` is set.
"""

from __future__ import annotations

import importlib
import pathlib
import pkgutil
import sys
import time
from typing import Any

import ml_collections

from pruning_theory import plots, results, sweep

PACKAGE = "pruning_theory.experiments"


def experiment_names() -> tuple[str, ...]:
    """The experiments: modules of this package that define `run` and `validate_all`."""
    package = importlib.import_module(PACKAGE)
    names = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{PACKAGE}.{info.name}")
        if hasattr(module, "run") and hasattr(module, "validate_all"):
            names.append(info.name)
    return tuple(sorted(names))


def experiment_module(name: str):
    """The module of a named experiment.

    Raises:
      ValueError: naming the experiment if unknown.
    """
    names = experiment_names()
    if name not in names:
        raise ValueError(f"unknown experiment {name!r}; expected one of {names}")
    return importlib.import_module(f"{PACKAGE}.{name}")


def run(
    config: ml_collections.ConfigDict,
    workdir: str | pathlib.Path,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Validates, runs and saves an experiment; returns its claims document.

    Raises:
      ValueError: for a bad config (before any compile).
      FileExistsError: for a finished workdir without ``overwrite``.
    """
    module = experiment_module(config.experiment)
    module.validate_all(config)
    directory = results.prepare_workdir(pathlib.Path(workdir), overwrite=overwrite)
    (directory / results.FINISHED_MARKER).unlink(missing_ok=True)
    results.atomic_write(directory / "config.json", config.to_json_best_effort(indent=2).encode())
    started = time.perf_counter()
    sweeps, claims, figures = module.run(
        config, progress=sweep.print_progress if show_progress else None
    )
    for name, result in sweeps.items():
        result.save(directory, prefix=name)
    for name, figure in figures.items():
        plots.save(figure, directory / f"{name}.png")
    if hasattr(module, "theory_summary"):
        results.write_json(directory / "theory.json", module.theory_summary(config))
    results.write_json(directory / "run.json", environment(time.perf_counter() - started))
    document = results.claims_document(config.experiment, config.variant, claims)
    results.atomic_write(directory / "claims.md", results.claims_markdown(document).encode())
    results.write_json(directory / results.FINISHED_MARKER, document)
    return document


def environment(seconds: float) -> dict[str, Any]:
    """What produced a run: wall time, library versions, devices."""
    import flax
    import jax
    import optax

    return {
        "seconds": round(seconds, 1),
        "versions": {"jax": jax.__version__, "flax": flax.__version__, "optax": optax.__version__},
        "devices": {"kind": jax.devices()[0].device_kind, "count": jax.device_count()},
    }


def print_summary(document: dict[str, Any], workdir: pathlib.Path, stream=sys.stdout) -> None:
    stream.write("\n" + results.claims_markdown(document))
    figures = sorted(str(p) for p in pathlib.Path(workdir).glob("*.png"))
    stream.write(f"\nWork directory: {workdir}\n")
    stream.write("Figures: " + ", ".join(figures) + "\n")
