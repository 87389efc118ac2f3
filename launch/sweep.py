r"""Runs one experiment's sweep into a work directory and prints its claims table.

    python -m launch.sweep --config=launch/configs/yang2023.py:cpu --workdir=runs/yang2023

Overrides: ``--config.grid.pruning_rate="(0,0.5,0.9)" --config.train.steps=400``. A finished work
directory is refused unless ``--overwrite``.
"""

import pathlib

from absl import app, flags
from ml_collections import config_flags

from pruning_theory.experiments import runner

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file:variant.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for results, figures and claims.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a finished work directory.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    workdir = pathlib.Path(_WORKDIR.value)
    document = runner.run(_CONFIG.value, workdir, overwrite=_OVERWRITE.value)
    runner.print_summary(document, workdir)


if __name__ == "__main__":
    app.run(main)
