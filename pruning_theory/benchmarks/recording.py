"""What a run does, seen from outside: its sweeps, and its stages on a `stages.StageClock`.

Every experiment starts its sweeps through `pruning_theory.engine.run_program`, and the
runner reaches every experiment through `pruning_theory.experiment.get` and saves every figure
through `pruning_theory.plots.save`. The context managers here replace those three module
attributes for the duration of a ``with`` block (and restore them after), so any registered
experiment can be profiled from its config without a line of benchmark code in it:

* `record_sweeps`: each ``run_program`` call is recorded (`SweepRecord`: the program, the grid,
  the step counts) and timed as the stage ``sweep <i>: <name>``; with ``dry_run`` it runs an
  empty grid shard instead (the engine's own result of a shard without cells: no compile, no
  training), so that the sweeps of a config too large for this machine can still be listed;
* `staged_runner`: ``run_sweeps``, ``analyze``, ``theory`` and the figure saving are timed as
  the stages ``sweeps``, ``analysis``, ``theory`` and ``figures``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import ml_collections
import numpy as np

from pruning_theory import engine, plots, runner
from pruning_theory import experiment as experiments
from pruning_theory.benchmarks.stages import StageClock
from pruning_theory.data import cifar10
from pruning_theory.engine import sweep


@dataclasses.dataclass(frozen=True)
class SweepRecord:
    """One ``run_program`` call of a run, in the order the run started them."""

    index: int
    name: str
    program: sweep.Program
    grid: sweep.Grid
    num_steps: int
    log_every: int

    @property
    def stage(self) -> str:
        """The stage label of this sweep in the phases table."""
        return f"sweep {self.index}: {self.name}"

    @property
    def num_cells(self) -> int:
        """Cells of the sweep's grid."""
        return self.grid.num_cells


def _empty_shard(options: Any, grid: sweep.Grid) -> sweep.Execution:
    """The options of a grid shard without cells: slice ``n`` of ``n + 1`` of the first axis."""
    options = options or sweep.Execution()
    length = len(next(iter(grid.ordered_axes.values())))
    return dataclasses.replace(options, grid_shard=(length, length + 1), checkpoint_dir=None)


@contextlib.contextmanager
def record_sweeps(
    clock: StageClock | None = None, *, dry_run: bool = False
) -> Iterator[list[SweepRecord]]:
    """Records (and times on ``clock``) every sweep started inside the block.

    Yields:
      The list the records are appended to, in start order.

    Raises:
      TypeError: if ``run_program`` no longer takes ``program``, ``grid``, ``num_steps``,
        ``log_every`` (and, for a dry run, ``execution``) arguments.
    """
    original = sweep.run_program
    signature = inspect.signature(original)
    records: list[SweepRecord] = []

    @functools.wraps(original)
    def run_program(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        given = bound.arguments
        record = SweepRecord(
            len(records),
            given.get("name") or "sweep",
            given["program"],
            given["grid"],
            int(given["num_steps"]),
            int(given["log_every"]),
        )
        records.append(record)
        if dry_run:
            if "execution" not in signature.parameters:
                raise TypeError("sweep.run_program takes no execution: cannot run a dry run")
            given["execution"] = _empty_shard(given.get("execution"), record.grid)
        with clock.stage(record.stage) if clock else contextlib.nullcontext():
            return original(*bound.args, **bound.kwargs)

    # Experiments call it as `engine.run_program` (the package's name for it) or
    # `sweep.run_program`: both names are replaced.
    sweep.run_program = engine.run_program = run_program
    try:
        yield records
    finally:
        sweep.run_program = engine.run_program = original


def _timed(clock: StageClock, name: str, function: Callable) -> Callable:
    @functools.wraps(function)
    def timed(*args, **kwargs):
        with clock.stage(name):
            return function(*args, **kwargs)

    return timed


def _replace(record: Any, **fields) -> Any:
    """A NamedTuple's or dataclass's copy with ``fields`` replaced."""
    if hasattr(record, "_replace"):
        return record._replace(**fields)
    return dataclasses.replace(record, **fields)


@contextlib.contextmanager
def staged_runner(clock: StageClock) -> Iterator[None]:
    """Times every experiment's ``run_sweeps``, ``analyze``, ``theory`` and figure saving."""
    original_get, original_save = experiments.get, plots.save

    @functools.wraps(original_get)
    def get(name: str):
        experiment = original_get(name)
        fields = {
            "run_sweeps": _timed(clock, "sweeps", experiment.run_sweeps),
            "analyze": _timed(clock, "analysis", experiment.analyze),
        }
        if experiment.theory is not None:
            fields["theory"] = _timed(clock, "theory", experiment.theory)
        return _replace(experiment, **fields)

    experiments.get = get
    plots.save = _timed(clock, "figures", original_save)
    try:
        yield
    finally:
        experiments.get, plots.save = original_get, original_save


@contextlib.contextmanager
def cifar10_stand_in() -> Iterator[None]:
    """CIFAR-10 of the right shapes (random pixels) where the real files are missing: the
    costs depend only on shapes, and a dry run must not need the data set on this machine."""
    original = cifar10.load_cifar10

    def load(directory):
        try:
            return original(directory)
        except FileNotFoundError:
            rng = np.random.default_rng(0)
            split = lambda n: (  # noqa: E731
                rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                np.arange(n, dtype=np.int32) % 10,
            )
            return {"train": split(50000), "test": split(10000)}

    cifar10.load_cifar10 = load
    try:
        yield
    finally:
        cifar10.load_cifar10 = original


def dry_run(config: ml_collections.ConfigDict) -> tuple[list[SweepRecord], str | None]:
    """The sweeps ``config`` runs (none trained), and why the dry run stopped early, if it did.

    The experiment's ``run_sweeps`` runs with every sweep an empty grid shard, so its work
    outside the engine runs on no cells; an error there ends the list (returned, not raised).
    """
    with cifar10_stand_in(), record_sweeps(dry_run=True) as records:
        experiment = runner.validate(config)  # a bad config raises here
        parameters = inspect.signature(experiment.run_sweeps).parameters
        extra = {"execution": sweep.Execution()} if "execution" in parameters else {}
        try:
            experiment.run_sweeps(config, **extra)
        except Exception as error:  # the sweeps recorded so far are still priced
            return records, f"{type(error).__name__}: {error}"
    return records, None
