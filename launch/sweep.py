r"""Runs one experiment's sweeps into a work directory and prints its claims table.

    python -m launch.sweep --config=launch/configs/yang2023.py:cpu --workdir=runs/yang2023

Overrides: ``--config.grid.pruning_rate="(0,0.5,0.9)" --config.train.steps=400``. A finished work
directory is refused unless ``--overwrite``; an unfinished one of the same config is resumed
from its checkpoints (rerun the same command after a crash or preemption).

Scale-out (BUILD.md, "Scaling out"): every local device is used; ``--memory_budget_mb`` runs
cells in chunks that fit; ``--grid_shard=i/n`` runs one of n independent batch jobs (join them
with ``python -m launch.merge``); ``--distributed`` joins a multi-process run through
``jax.distributed`` (explicit ``--coordinator_address/--num_processes/--process_id``, or
detected on TPU slices and SLURM).

SIGTERM makes the run save at the next segment boundary and exit with status 75
(`PREEMPTED_EXIT_CODE`); rerun the same command to resume.
"""

import os
import pathlib
import signal
import sys
import threading

import jax
from absl import app, flags
from ml_collections import config_flags

from launch import batch
from pruning_theory import runner
from pruning_theory.engine import distributed, grid_shards, sweep

PREEMPTED_EXIT_CODE = 75  # EX_TEMPFAIL: stopped on request, state saved, rerun to resume

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
flags.mark_flags_as_required(["config", "workdir"])


def execution_options(stop: threading.Event) -> sweep.Execution:
    """The `sweep.Execution` the flags ask for.

    Raises:
      ValueError: naming a bad flag value.
    """
    budget = _MEMORY_BUDGET_MB.value
    if budget is not None and not budget > 0:
        raise ValueError(f"--memory_budget_mb must be positive, got {budget}")
    shard = None if _GRID_SHARD.value is None else grid_shards.parse_grid_shard(_GRID_SHARD.value)
    return sweep.Execution(
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
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    batch.quiet_batch_job()
    if _COMPILATION_CACHE.value:
        jax.config.update("jax_compilation_cache_dir", _COMPILATION_CACHE.value)
    stop = threading.Event()
    options = execution_options(stop)
    start_distributed()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    workdir = pathlib.Path(_WORKDIR.value)
    try:
        document = runner.run(_CONFIG.value, workdir, overwrite=_OVERWRITE.value, execution=options)
    except sweep.Preempted as stopped:
        sys.stderr.write(
            f"\nStopped on request ({stopped}); the state is saved in {workdir}. Rerun the same "
            "command to resume.\n"
        )
        sys.exit(PREEMPTED_EXIT_CODE)
    if distributed.is_writer():
        runner.print_summary(document, workdir)


if __name__ == "__main__":
    app.run(main)
