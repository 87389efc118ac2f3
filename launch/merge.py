r"""Joins the work directories of the n grid shards of a run, then writes its claims and figures.

    python -m launch.sweep --config=launch/configs/yang2023.py:cpu --grid_shard=0/2 --workdir=r/0
    python -m launch.sweep --config=launch/configs/yang2023.py:cpu --grid_shard=1/2 --workdir=r/1
    python -m launch.merge --workdirs=r/0,r/1 --workdir=runs/yang2023

Refuses shards of different configs, and missing or duplicated shards; a finished output work
directory is refused unless ``--overwrite``.
"""

import pathlib

from absl import app, flags

from launch import batch
from pruning_theory import runner

_WORKDIRS = flags.DEFINE_list("workdirs", None, "The grid shards' work directories.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Work directory of the merged run.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a finished work directory.")
flags.mark_flags_as_required(["workdirs", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    batch.quiet_batch_job()
    workdir = pathlib.Path(_WORKDIR.value)
    document = runner.merge(_WORKDIRS.value, workdir, overwrite=_OVERWRITE.value)
    runner.print_summary(document, workdir)


if __name__ == "__main__":
    app.run(main)
