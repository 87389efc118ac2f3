r"""Submits a run as n grid-shard batch jobs (one array job) and their merge (a job after them).

    python -m launch.submit --config=launch/configs/yang2023.py:gpu --workdir=runs/yang2023 \
        --shards=4 --slurm_partition=gpu --gpus_per_node=1 --timeout_min=240

Shard ``i`` runs ``python -m launch.sweep --grid_shard=i/n`` (same ``--config`` flags and
overrides, verbatim) into ``<workdir>/grid_shards/<i>-of-<n>``; the merge runs
``python -m launch.merge`` into ``<workdir>`` once every shard has finished. Jobs go through
submitit (the optional extra ``batch``: ``pip install -e ".[batch]"``):

* ``--executor=slurm`` (default): the shards are one SLURM array job and the merge a job with
  ``--dependency=afterok:<array>`` (cancelled by SLURM if a shard fails). The command returns
  once both are queued (``--wait`` waits for the merge). A shard that reaches its time limit
  is requeued by submitit and resumes from its sweeps' checkpoints.
* ``--executor=local``: the shards run as processes on this machine, side by side; submitit's
  local executor has no job dependencies, so this command waits for the shards, then runs the
  merge and prints its claims.

The config is validated before anything is submitted. Rerunning the same command after a
failure resubmits only the shards that have not finished (unfinished ones resume from their
checkpoints); ``--overwrite`` reruns everything. Job logs: ``<workdir>/jobs/`` (``--jobs_dir``).
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import subprocess
import sys
from collections.abc import Sequence

from absl import app, flags
from ml_collections import config_flags

from launch import cli
from pruning_theory import runner
from pruning_theory.workdir import FINISHED_MARKER, SWEEPS_MARKER

try:
    import submitit
except ImportError as missing:  # the optional extra `batch`
    raise ImportError('launch.submit needs submitit: pip install -e ".[batch]"') from missing

EXECUTORS = ("slurm", "local")
STOP_GRACE_S = 60  # a stopped command's time to save (submitit signals 90 s before a limit)

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file:variant.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Work directory of the merged run.")
_SHARDS = flags.DEFINE_integer("shards", None, "Number of grid shards (array jobs), n >= 1.")
_EXECUTOR = flags.DEFINE_enum("executor", "slurm", EXECUTORS, "Where the jobs run.")
_JOBS_DIR = flags.DEFINE_string("jobs_dir", None, "submitit's logs (default <workdir>/jobs).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Rerun every shard and replace the merge.")
_WAIT = flags.DEFINE_bool("wait", False, "slurm: wait for the merge and print its claims.")
_SWEEP_FLAGS = flags.DEFINE_multi_string(
    "sweep_flag", [], "Extra flag for every shard's launch.sweep, e.g. --memory_budget_mb=2000."
)
_TIMEOUT_MIN = flags.DEFINE_integer("timeout_min", 240, "Time limit of each job (minutes).")
_GPUS = flags.DEFINE_integer("gpus_per_node", None, "GPUs of each shard job.")
_CPUS = flags.DEFINE_integer("cpus_per_task", None, "CPU cores of each job.")
_MEM_GB = flags.DEFINE_float("mem_gb", None, "Memory of each job (GB).")
_PARTITION = flags.DEFINE_string("slurm_partition", None, "SLURM partition.")
_ACCOUNT = flags.DEFINE_string("slurm_account", None, "SLURM account.")
_QOS = flags.DEFINE_string("slurm_qos", None, "SLURM quality of service.")
_CONSTRAINT = flags.DEFINE_string("slurm_constraint", None, "SLURM node constraint.")
_SETUP = flags.DEFINE_multi_string(
    "slurm_setup", [], "Shell line run before each job, e.g. 'module load cuda'."
)
_PARALLELISM = flags.DEFINE_integer(
    "slurm_array_parallelism", None, "At most this many shards run at once."
)
flags.mark_flags_as_required(["config", "workdir", "shards"])


class Command(submitit.helpers.Checkpointable):
    """A command line run as a job, its output in the job's log.

    On the signal submitit gets before a time limit or a preemption, `checkpoint` stops the
    command with SIGTERM (``launch.sweep`` then saves at its next segment boundary and exits)
    and the job is requeued with the same command, which resumes from the saved state.
    """

    def __init__(self, argv: Sequence[str], cwd: str):
        self.argv = list(argv)
        self.cwd = cwd
        self._process = None

    def __call__(self) -> str:
        self._process = subprocess.Popen(self.argv, cwd=self.cwd)
        code = self._process.wait()
        if code:
            raise RuntimeError(f"{shlex.join(self.argv)} exited with status {code}")
        return shlex.join(self.argv)

    def checkpoint(self, *args, **kwargs) -> submitit.helpers.DelayedSubmission:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()  # its last checkpoint is kept
        return submitit.helpers.DelayedSubmission(Command(self.argv, self.cwd))

    def __getstate__(self):
        return {"argv": self.argv, "cwd": self.cwd, "_process": None}


def config_arguments(argv: Sequence[str]) -> list[str]:
    """The ``--config`` flags of a command line (file and overrides), verbatim and in order."""
    kept, tokens, index = [], list(argv), 0
    while index < len(tokens):
        token = tokens[index]
        name = token.lstrip("-").split("=", 1)[0].removeprefix("no")
        if token.startswith("-") and (name == "config" or name.startswith("config.")):
            kept.append(token)
            separate_value = index + 1 < len(tokens) and not tokens[index + 1].startswith("-")
            if "=" not in token and separate_value:
                kept.append(tokens[index + 1])
                index += 1
        index += 1
    return kept


def shard_workdirs(workdir: pathlib.Path, count: int) -> list[pathlib.Path]:
    """``<workdir>/grid_shards/<i>-of-<n>`` for i in [0, n)."""
    return [workdir / "grid_shards" / f"{index}-of-{count}" for index in range(count)]


def commands(
    config_flags_: Sequence[str],
    workdir: pathlib.Path,
    count: int,
    *,
    sweep_flags: Sequence[str] = (),
    overwrite: bool = False,
) -> tuple[list[list[str]], list[str]]:
    """The n shards' ``launch.sweep`` command lines and the ``launch.merge`` one."""
    extra = ["--overwrite"] if overwrite else []
    shards = shard_workdirs(workdir, count)
    sweep = [sys.executable, "-m", "launch.sweep", *config_flags_]
    sweeps = [
        [*sweep, f"--grid_shard={index}/{count}", f"--workdir={shard}", *sweep_flags, *extra]
        for index, shard in enumerate(shards)
    ]
    joined = ",".join(str(shard) for shard in shards)
    merge = [sys.executable, "-m", "launch.merge", f"--workdirs={joined}", f"--workdir={workdir}"]
    return sweeps, merge + extra


def check_request(config, count) -> None:
    """Refuses a bad request before anything is submitted.

    Raises:
      ValueError: naming the value, for ``count`` < 1 or a bad config (`runner.validate`).
    """
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"--shards must be a positive integer, got {count!r}")
    runner.validate(config)


def pending_shards(config, workdir: pathlib.Path, count: int, *, overwrite: bool) -> list[int]:
    """The shards to (re)submit: all with ``overwrite``, else those not finished.

    Raises:
      FileExistsError: for a finished ``workdir`` without ``overwrite``.
      ValueError: for a shard work directory that holds another config.
    """
    if (workdir / FINISHED_MARKER).exists() and not overwrite:
        raise FileExistsError(
            f"workdir {str(workdir)!r} holds a finished run ({FINISHED_MARKER}); "
            "choose another workdir or pass --overwrite to replace it"
        )
    if overwrite:
        return list(range(count))
    resolved = json.loads(config.to_json_best_effort())
    pending = []
    for index, shard in enumerate(shard_workdirs(workdir, count)):
        saved = shard / runner.CONFIG
        if saved.exists():
            differences = runner.config_differences(json.loads(saved.read_text()), resolved)
            if differences:
                raise ValueError(
                    f"grid shard workdir {str(shard)!r} holds a run of a different config "
                    f"(workdir vs this run: {'; '.join(differences)}); pass --overwrite"
                )
        if not (shard / SWEEPS_MARKER).exists():
            pending.append(index)
    return pending


def resources() -> dict[str, object]:
    """The job resources the flags ask for, as submitit AutoExecutor parameters."""
    chosen = {
        "timeout_min": _TIMEOUT_MIN.value,
        "gpus_per_node": _GPUS.value,
        "cpus_per_task": _CPUS.value,
        "mem_gb": _MEM_GB.value,
        "slurm_partition": _PARTITION.value,
        "slurm_account": _ACCOUNT.value,
        "slurm_qos": _QOS.value,
        "slurm_constraint": _CONSTRAINT.value,
        "slurm_setup": list(_SETUP.value) or None,
        "slurm_array_parallelism": _PARALLELISM.value,
    }
    return {key: value for key, value in chosen.items() if value is not None}


def executor_for(kind: str, folder: pathlib.Path, name: str, parameters, *, gpus: bool = True):
    """A submitit executor of ``kind`` (``EXECUTORS``) with ``parameters`` (`resources`).

    ``gpus=False`` drops the GPU request (the merge needs none); ``slurm_*`` parameters are
    ignored by the local executor.
    """
    executor = submitit.AutoExecutor(folder=folder, cluster=kind)
    chosen = {
        key: value
        for key, value in parameters.items()
        if (gpus or key != "gpus_per_node") and (kind == "slurm" or not key.startswith("slurm_"))
    }
    executor.update_parameters(name=name, **chosen)
    return executor


def submit(
    shard_executor,
    merge_executor,
    shard_commands: dict[str, Command],
    merge_command: Command,
    *,
    wait: bool,
):
    """Submits the shards as one array job and the merge after them; returns the jobs.

    Args:
      shard_executor: the executor of the shards (`executor_for`).
      merge_executor: the executor of the merge.
      shard_commands: each shard's command, by a name for messages ("grid shard 0/4").
      merge_command: the merge's command.
      wait: wait for the merge (always so without SLURM).

    With a SLURM executor the merge depends on the array (``afterok``); other executors have no
    dependencies, so the shards are waited for before the merge is submitted.

    Raises:
      RuntimeError: naming the shard (or the merge) that failed and its log.
    """
    jobs = shard_executor.submit_array(list(shard_commands.values())) if shard_commands else []
    for name, job in zip(shard_commands, jobs, strict=True):
        print(f"{name}: job {job.job_id}, log {job.paths.stdout}", flush=True)
    slurm = shard_executor.cluster == "slurm"
    if slurm and jobs:
        array = jobs[0].job_id.split("_")[0]
        merge_executor.update_parameters(
            slurm_dependency=f"afterok:{array}",
            slurm_additional_parameters={"kill-on-invalid-dep": "yes"},
        )
    if not slurm:
        for name, job in zip(shard_commands, jobs, strict=True):
            _result(job, name)
    merge = merge_executor.submit(merge_command)
    print(f"merge: job {merge.job_id}, log {merge.paths.stdout}", flush=True)
    if wait or not slurm:
        _result(merge, "the merge")
    return jobs, merge


def _result(job, what: str):
    try:
        return job.result()
    except Exception as error:
        raise RuntimeError(
            f"{what} (job {job.job_id}) failed; its log: {job.paths.stderr}"
        ) from error


def main(argv):
    with cli.usage_errors():
        if len(argv) > 1:
            raise ValueError(f"unexpected arguments {argv[1:]}")
        config, count = _CONFIG.value, _SHARDS.value
        check_request(config, count)
    with cli.runtime_errors():
        _submit_run(config, count)


def _submit_run(config, count: int) -> None:
    workdir = pathlib.Path(_WORKDIR.value).absolute()
    pending = pending_shards(config, workdir, count, overwrite=_OVERWRITE.value)
    sweeps, merge = commands(
        config_arguments(sys.argv[1:]),
        workdir,
        count,
        sweep_flags=_SWEEP_FLAGS.value,
        overwrite=_OVERWRITE.value,
    )
    cwd, kind = os.getcwd(), _EXECUTOR.value
    folder = pathlib.Path(_JOBS_DIR.value or workdir / "jobs").absolute() / "%j"
    name = f"{config.experiment}_{config.variant}"
    for index in sorted(set(range(count)) - set(pending)):
        print(f"grid shard {index}/{count} has finished already: kept")
    submit(
        executor_for(kind, folder, f"{name}_shards", resources()),
        executor_for(kind, folder, f"{name}_merge", resources(), gpus=False),
        {f"grid shard {index}/{count}": Command(sweeps[index], cwd) for index in pending},
        Command(merge, cwd),
        wait=_WAIT.value,
    )
    if _WAIT.value or kind != "slurm":
        runner.print_summary(json.loads((workdir / FINISHED_MARKER).read_text()), workdir)
    else:
        print(f"When the merge has run: {workdir / 'claims.md'}")


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
