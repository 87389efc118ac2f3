r"""Joins the work directories of the n grid shards of a run, then writes its claims and figures.

    python -m launch.sweep --config=launch/configs/yang2023.py:cpu --grid_shard=0/2 --workdir=r/0
    python -m launch.sweep --config=launch/configs/yang2023.py:cpu --grid_shard=1/2 --workdir=r/1
    python -m launch.merge --workdirs=r/0,r/1 --workdir=runs/yang2023

Refuses shards of different configs, missing or duplicated shards, a work directory given twice
and an output that is one of the shards or inside one; a finished output work directory is
refused unless ``--overwrite``. Failures are one line, ``error: ...`` (`launch.cli`: exit 2 for
a bad command line, 1 otherwise; ``--verbose`` adds the traceback); SIGTERM exits 75 at once
(rerun the same command: the shards are only read).
"""

# SIGTERM is handled from the first line, before the slow imports:
# ruff: noqa: E402
from launch import preemption

if __name__ == "__main__":
    preemption.exit_on_sigterm()

import pathlib

from absl import app, flags

from launch import batch, cli
from pruning_theory import runner

_WORKDIRS = flags.DEFINE_list("workdirs", None, "The grid shards' work directories.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Work directory of the merged run.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a finished work directory.")
flags.mark_flags_as_required(["workdirs", "workdir"])


def main(argv):
    batch.quiet_batch_job()
    with cli.usage_errors():
        if len(argv) > 1:
            raise ValueError(f"unexpected arguments {argv[1:]}")
        workdir = pathlib.Path(_WORKDIR.value)
        runner.check_merge_paths([pathlib.Path(w) for w in _WORKDIRS.value], workdir)
    with cli.runtime_errors():
        document = runner.merge(_WORKDIRS.value, workdir, overwrite=_OVERWRITE.value)
    runner.print_summary(document, workdir)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
