r"""Runs one experiment's sweeps into a work directory and prints its claims table.

    python -m launch.sweep --config=launch/configs/yang2023.py:cpu --workdir=runs/yang2023

Overrides: ``--config.grid.pruning_rate="(0,0.5,0.9)" --config.train.steps=400``. A finished work
directory is refused unless ``--overwrite``; an unfinished one of the same config is resumed
from its checkpoints (rerun the same command after a crash or preemption).

Dry run (``--dry_run``, ``--workdir`` optional): every sweep compiled and timed on one segment,
nothing run or written; it prints the grid (axes, cells), steps, the compiled program's peak
memory per device (XLA's analysis), the ``--memory_budget_mb`` that runs every sweep in one
chunk and the estimated time (`pruning_theory.engine.dry_run`). While a run goes, every
segment's scalar metrics per cell are in ``<workdir>/tensorboard`` (``tensorboard --logdir``).

Scale-out (BUILD.md, "Scaling out"): every local device is used; ``--memory_budget_mb`` runs
cells in chunks that fit; ``--grid_shard=i/n`` runs one of n independent batch jobs (join them
with ``python -m launch.merge``); ``--distributed`` joins a multi-process run through
``jax.distributed`` (explicit ``--coordinator_address/--num_processes/--process_id``, or
detected on TPU slices and SLURM).

SIGTERM is handled from the first line (`launch.preemption`): during start-up the run exits
with status 75 (`PREEMPTED_EXIT_CODE`) at once, nothing written; during the sweeps it saves at
the next segment boundary and exits 75; rerun the same command to resume. Once every sweep is
saved, the analysis (seconds) finishes and the run exits 0. Every other failure is one line,
``error: ...`` (exit status 2 for a bad command line or config, 1 otherwise; `launch.cli`);
``--verbose`` adds the traceback. A second run on a work directory in use is refused.
"""

# SIGTERM is handled from the first line, before the slow imports:
# ruff: noqa: E402
from launch import preemption

if __name__ == "__main__":
    preemption.exit_on_sigterm()

import os
import pathlib
import sys
import threading

import jax
from absl import app, flags
from ml_collections import config_flags

from launch import batch, cli
from pruning_theory import engine, runner
from pruning_theory.engine import distributed, dry_run, grid_shards

PREEMPTED_EXIT_CODE = preemption.PREEMPTED_EXIT_CODE

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file:variant.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for results, figures and claims.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a finished work directory.")
_GRID_SHARD = flags.DEFINE_string(
    "grid_shard", None, "i/n: run only shard i of n of every grid (merge with launch.merge)."
)
_MEMORY_BUDGET_MB = flags.DEFINE_float(
    "memory_budget_mb", None, "Per-device memory for a chunk of cells (MiB); default: no chunks."
)
_CHECKPOINT_INTERVAL_S = flags.DEFINE_float(
    "checkpoint_interval_s", 60.0, "Least seconds between two checkpoints of a sweep."
)
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "Start jax.distributed (multi-process); auto-detects without the next 3."
)
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "host:port of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes of a distributed run.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's id in [0, num_processes).")
_COMPILATION_CACHE = flags.DEFINE_string(
    "compilation_cache_dir",
    os.path.join(os.path.expanduser("~"), ".cache", "pruning_theory", "jax"),
    "JAX's persistent compilation cache: a repeated launch skips XLA compiles ('' to disable).",
)
_DRY_RUN = flags.DEFINE_bool(
    "dry_run",
    False,
    "Print the grid, steps, compiled memory per device, the --memory_budget_mb it needs and a "
    "time estimate from one timed segment per sweep; run and write nothing.",
)
flags.mark_flags_as_required(["config"])


def execution_options(stop: threading.Event) -> engine.Execution:
    """The `engine.Execution` the flags ask for (the runner adds the checkpoint folder and the
    progress bars, and passes it to the experiment).

    Raises:
      ValueError: naming a bad flag value.
    """
    budget = _MEMORY_BUDGET_MB.value
    if budget is not None and not budget > 0:
        raise ValueError(f"--memory_budget_mb must be positive, got {budget}")
    shard = None if _GRID_SHARD.value is None else grid_shards.parse_grid_shard(_GRID_SHARD.value)
    return engine.Execution(
        memory_budget_bytes=None if budget is None else int(budget * 2**20),
        checkpoint_interval_s=_CHECKPOINT_INTERVAL_S.value,
        grid_shard=shard,
        stop=stop,
    )


def start_distributed() -> None:
    """Starts jax.distributed when asked; before anything touches a device."""
    explicit = (_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
    if not _DISTRIBUTED.value:
        if any(value is not None for value in explicit):
            raise ValueError(
                "--coordinator_address/--num_processes/--process_id need --distributed"
            )
        return
    distributed.initialize(*explicit)


def main(argv):
    stop = threading.Event()
    batch.quiet_batch_job()
    with cli.usage_errors():
        if len(argv) > 1:
            raise ValueError(f"unexpected arguments {argv[1:]}")
        config = _CONFIG.value  # a config file that failed to load raises here
        options = execution_options(stop)
        # Before validation: importing an experiment may touch JAX (module-level arrays), and
        # jax.distributed must start before anything does.
        start_distributed()
        runner.validate(config)
        if _WORKDIR.value is None and not _DRY_RUN.value:
            raise ValueError("--workdir is required (except with --dry_run)")
    if _COMPILATION_CACHE.value:
        jax.config.update("jax_compilation_cache_dir", _COMPILATION_CACHE.value)
    if _DRY_RUN.value:
        with cli.runtime_errors():
            plans = runner.dry_run(config, options)
        if distributed.is_writer():
            print(dry_run.plan_table(plans, options.memory_budget_bytes), end="")
        return
    workdir = pathlib.Path(_WORKDIR.value)
    preemption.stop_on_sigterm(stop)
    try:
        with cli.runtime_errors(passing=(engine.Preempted,)):
            document = runner.run(config, workdir, overwrite=_OVERWRITE.value, execution=options)
    except engine.Preempted as stopped:
        sys.stderr.write(
            f"\nStopped on request ({stopped}); the state is saved in {workdir}. Rerun the same "
            "command to resume.\n"
        )
        sys.exit(PREEMPTED_EXIT_CODE)
    if distributed.is_writer():
        runner.print_summary(document, workdir)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
