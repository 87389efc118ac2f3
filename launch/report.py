r"""Builds the reproduction report from finished work directories.

    python -m launch.report --workdirs=runs/yang2023,runs/wolfe2021 --out=runs/report

Writes into ``--out``: ``report.html`` (one self-contained page, figures embedded),
``report.md`` with its figures beside it, and ``headline.md`` (the overview table, the first
experiment's first figure and brief claims: what the README shows). Per experiment: the
figures (theory overlaid), the claims table with verdicts, statistics, 95% CIs and theory
values, the config, versions and wall times. Every work directory is checked before anything
is written; an existing report is kept unless ``--overwrite``.
"""

import pathlib

from absl import app, flags

from pruning_theory import report

_WORKDIRS = flags.DEFINE_list("workdirs", None, "Finished work directories, one per experiment.")
_OUT = flags.DEFINE_string("out", None, "Directory for report.html, report.md and figures.")
_TITLE = flags.DEFINE_string("title", "Reproduction report", "The report's title.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing report in --out.")
flags.mark_flags_as_required(["workdirs", "out"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    out = pathlib.Path(_OUT.value)
    page = report.write(_WORKDIRS.value, out, _TITLE.value, overwrite=_OVERWRITE.value)
    print(f"Report: {page} and {out / report.MARKDOWN}")


if __name__ == "__main__":
    app.run(main)
