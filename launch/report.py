r"""Builds the reproduction report from finished work directories, or compares two runs.

    python -m launch.report --workdirs=runs/yang2023,runs/wolfe2021 --out=runs/report
    python -m launch.report --workdirs=tiny=runs/yang2023_tiny,cpu=runs/yang2023 --out=runs/side
    python -m launch.report --compare=runs/amd/yang2023,runs/intel/yang2023 --out=runs/cmp

Report: writes into ``--out`` ``report.html`` (one self-contained page, figures embedded),
``report.md`` with its figures beside it, and ``headline.md`` (the overview table, the first
experiment's first figure and brief claims: what the README shows). Per experiment: the
figures (theory overlaid), the claims table with verdicts, statistics, 95% CIs, each half of
the seeds beside all of them (split-half replication) and theory values, the sanity checks and
exploratory rows apart, the config, versions, machine and wall times. Every work directory is
checked before anything is written; an existing report is kept unless ``--overwrite``.
Labelled runs (``label=path``) of one experiment are also set side by side: their claims
(verdict, statistic, CI per run) and their figures of one name in a row. Figure captions come
from each work directory's ``figures.json``; work directories are shown relative to the
report, never as absolute paths; runs from different or dirty commits are warned about (on
the page and on stderr).

Compare (``--compare=A,B``): two runs of one experiment (two machines, two commits) claim by
claim into ``--out/compare.md``: where each ran, how the configs differ, the verdicts that
changed (also printed) and every claim side by side.
"""

import pathlib
import sys

from absl import app, flags

from launch import cli
from pruning_theory import report

_WORKDIRS = flags.DEFINE_list(
    "workdirs",
    None,
    "Finished work directories, as path or label=path; runs of one experiment need distinct "
    "labels and are shown side by side (tiny=runs/a,cpu=runs/b).",
)
_COMPARE = flags.DEFINE_list(
    "compare", None, "Two finished work directories of one experiment to compare claim by claim."
)
_OUT = flags.DEFINE_string("out", None, "Directory for report.html, report.md and figures.")
_TITLE = flags.DEFINE_string("title", "Reproduction report", "The report's title.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing report in --out.")
flags.mark_flags_as_required(["out"])
flags.mark_flags_as_mutual_exclusive(["workdirs", "compare"], required=True)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    out = pathlib.Path(_OUT.value)
    if _COMPARE.value is not None:
        path, changes = report.compare(_COMPARE.value, out, overwrite=_OVERWRITE.value)
        print(f"Comparison: {path}")
        print(f"Verdicts that changed ({len(changes)}):" if changes else "No verdict changed.")
        for change in changes:
            print(f"  {change.describe()}")
        return
    page = report.write(_WORKDIRS.value, out, _TITLE.value, overwrite=_OVERWRITE.value)
    for warning in report.run_warnings(report.load_runs(_WORKDIRS.value, out)):
        print(warning, file=sys.stderr)
    print(f"Report: {page} and {out / report.MARKDOWN}")


if __name__ == "__main__":
    app.run(cli.with_errors(main), flags_parser=cli.parse_flags)
