"""The reproduction report: finished work directories as one HTML page and one markdown file.

A finished work directory (`runner.run`) holds ``claims.json``, ``config.json``,
``run.json``, optionally ``theory.json``, and its figures as PNGs. `load_run` reads one,
`html_report` renders runs as a self-contained page (figures embedded as base64 data URIs, no
external files or scripts) and `markdown_report` as markdown whose figures are files next to
it (`figure_file` names them); `write` does both into one directory. Nothing is recomputed:
the report shows what was measured. Only claims of kind ``claim`` are counted; each claim shows
its two seed halves beside all seeds (split-half replication, `claims.replicated_analysis`)
and those not replicated are marked. `compare` sets two runs of one experiment (two machines,
two commits) side by side, claim by claim, and lists the verdicts that changed. Work
directories are untrusted input (`report_inputs`): only regular files inside them are read,
names are checked, markdown text is escaped, and nothing is written outside ``out``.
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import datetime
import html
import importlib.util
import json
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from pruning_theory.claims import (
    KIND_TITLES,
    KINDS,
    SPLIT_RULE,
    format_ci,
    format_number,
    half_text,
    kind_sections,
    split_text,
    summarize,
    tally_text,
)
from pruning_theory.report_inputs import (
    check_claims,
    commit_warnings,
    escape_markdown,
    fence,
    figure_captions,
    markdown_safe,
    parse_labelled,
    read_json,
    read_regular,
    shown_path,
)
from pruning_theory.report_inputs import figures as plain_figures
from pruning_theory.workdir import FINISHED_MARKER, atomic_write

SPECS = "docs/papers"
_COUNTING = (
    "Only claims (findings about a paper) are counted; sanity checks (true by construction) and "
    "exploratory rows (hypotheses formed after seeing the data) are shown apart."
)
HTML = "report.html"
MARKDOWN = "report.md"
HEADLINE = "headline.md"
COMPARE = "compare.md"
VERDICT_COLORS = {"holds": "#1b7837", "fails": "#b2182b", "inconclusive": "#8c6d1f"}


@dataclasses.dataclass(frozen=True)
class Run:
    """What one finished work directory holds, read back for the report."""

    workdir: pathlib.Path
    claims: Mapping[str, Any]  # the claims document: experiment, config, claims
    config: Mapping[str, Any]
    run_info: Mapping[str, Any]  # run.json: seconds, versions, devices, git commit
    theory: Mapping[str, Any] | None
    figures: tuple[pathlib.Path, ...]
    finished: str  # UTC time claims.json was written
    label: str | None = None  # e.g. "tiny": runs of one experiment side by side
    captions: Mapping[str, str] = dataclasses.field(default_factory=dict)  # figures.json
    shown: str = ""  # the work directory as shown: relative, never absolute (`shown_path`)

    @property
    def experiment(self) -> str:
        """The experiment this run belongs to."""
        return self.claims["experiment"]

    @property
    def key(self) -> str:
        """The run's anchor and figure prefix: ``yang2023``, or ``yang2023-tiny`` when
        labelled."""
        return self.experiment if self.label is None else f"{self.experiment}-{self.label}"

    @property
    def heading(self) -> str:
        """``yang2023``, or ``yang2023 (tiny)`` when labelled."""
        return self.experiment if self.label is None else f"{self.experiment} ({self.label})"

    @property
    def commit(self) -> str:
        """The git commit the run recorded ("-dirty" with local changes)."""
        return str(self.run_info.get("git_commit", "unknown"))

    def caption(self, figure: pathlib.Path) -> str:
        """The figure's caption from ``figures.json``, else its file name."""
        return self.captions.get(figure.stem, figure.name)

    @property
    def title(self) -> str:
        """The experiment module's one-line summary (it names the paper), read without
        importing the module (and so JAX)."""
        spec = importlib.util.find_spec(f"pruning_theory.papers.{self.experiment}.experiment")
        if spec is None or spec.origin is None:
            return self.experiment
        doc = ast.get_docstring(ast.parse(pathlib.Path(spec.origin).read_text()))
        return (doc or self.experiment).strip().splitlines()[0].rstrip(".")

    def summary(self) -> dict[str, dict[str, Any]]:
        """The tallies per kind (`claims.summarize`); only kind ``claim`` counts."""
        return summarize(self.claims["claims"])


def load_run(workdir: str | pathlib.Path, label: str | None = None) -> Run:
    """Reads a finished work directory.

    Only regular files directly inside the directory are read (`report_inputs`): a symlinked
    file is refused, a symlinked or oddly named figure left out.

    Raises:
      ValueError: naming the directory if it does not exist, is unfinished (no
        ``claims.json``), is a grid shard (merge it first) or lacks ``config.json``/``run.json``;
        naming the file if one is a symlink, not valid JSON, or a claims document with invalid
        names, verdicts or numbers.
    """
    directory = pathlib.Path(workdir)
    if not directory.is_dir():
        raise ValueError(f"workdir {str(directory)!r} does not exist")
    root = directory.resolve()  # the directory itself may be a link; what is inside may not
    marker = root / FINISHED_MARKER
    if not marker.exists():
        raise ValueError(
            f"workdir {str(directory)!r} holds no finished run (no {FINISHED_MARKER}); "
            "finish it first (rerun its launch.sweep command) or merge its grid shards"
        )
    for name in ("config.json", "run.json"):
        if not (root / name).exists():
            raise ValueError(f"workdir {str(directory)!r} has no {name}")
    theory = root / "theory.json"
    claims = read_json(marker)
    check_claims(claims, marker)
    finished = datetime.datetime.fromtimestamp(marker.lstat().st_mtime, datetime.UTC)
    return Run(
        workdir=directory,
        claims=claims,
        config=read_json(root / "config.json"),
        run_info=read_json(root / "run.json"),
        theory=read_json(theory) if theory.exists() or theory.is_symlink() else None,
        figures=plain_figures(root),
        finished=finished.strftime("%Y-%m-%d %H:%M UTC"),
        label=label,
        captions=figure_captions(root),
        shown=directory.name,
    )


def load_runs(workdirs: Sequence[str | pathlib.Path], out: str | pathlib.Path) -> list[Run]:
    """`load_run` of every ``[label=]path`` (`report_inputs.parse_labelled`), each shown by
    its path relative to the report in ``out`` (`report_inputs.shown_path`)."""
    runs = []
    for label, path in parse_labelled([str(w) for w in workdirs]):
        run = load_run(path, label)
        runs.append(dataclasses.replace(run, shown=shown_path(run.workdir, pathlib.Path(out))))
    return runs


def run_warnings(runs: Sequence[Run]) -> list[str]:
    """Warnings when the runs come from different commits or a dirty one
    (`report_inputs.commit_warnings`)."""
    return commit_warnings({run.heading: run.commit for run in runs})


def _for_markdown(run: Run) -> Run:
    """The run with every free text of its claims and run info escaped for markdown
    (`report_inputs.escape_markdown`); the names checked on loading stay as they are."""
    claims = {**markdown_safe(run.claims), "experiment": run.experiment}
    claims["config"] = run.claims["config"]
    return dataclasses.replace(
        run,
        claims=claims,
        run_info=markdown_safe(run.run_info),
        captions=markdown_safe(dict(run.captions)),
        shown=escape_markdown(run.shown),
    )


def check_distinct(runs: Sequence[Run]) -> None:
    """Refuses two runs that would share a section: of one experiment without distinct labels.

    Raises:
      ValueError: naming both work directories.
    """
    seen: dict[str, pathlib.Path] = {}
    for run in runs:
        if run.key in seen:
            raise ValueError(
                f"workdirs {str(seen[run.key])!r} and {str(run.workdir)!r} both hold "
                f"{run.heading}; give runs of one experiment distinct labels to put them side "
                "by side (--workdirs=tiny=DIR_A,cpu=DIR_B)"
            )
        seen[run.key] = run.workdir


def figure_file(run: Run, figure: pathlib.Path) -> str:
    """The file name a run's figure gets next to the markdown report: its stem, prefixed by
    the experiment (and the run's label) where the stem does not start with them."""
    rest = figure.stem.removeprefix(run.experiment)
    rest = rest if rest != figure.stem else f"_{figure.stem}"
    return f"{run.key}{rest}.png"


def _seconds(run: Run) -> float:
    return float(run.run_info.get("seconds", 0.0))


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def _provenance(run: Run) -> str:
    info = run.run_info
    versions = ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items())
    devices = info.get("devices", {})
    return (
        f"config `{run.claims['config']}`, wall time {_duration(_seconds(run))}, "
        f"{devices.get('count', '?')} x {devices.get('kind', '?')}, "
        f"CPU {info.get('cpu', 'unrecorded')}, XLA_FLAGS '{info.get('xla_flags', '')}', "
        f"{info.get('processes', 1)} process(es), {versions}; commit "
        f"{info.get('git_commit', 'unknown')}; finished {run.finished}; work directory "
        f"{run.shown or run.workdir.name}"
    )


def _counts_text(run: Run) -> str:
    return tally_text(run.summary()["claim"])


def _with_replicated(tally: Mapping[str, Any], verdict: str) -> str:
    """``3 (2 rep.)``: a verdict's count and how many of them replicated."""
    return f"{tally[verdict]} ({tally['replicated'][verdict]} rep.)"


def _overview_cells(run: Run) -> list[str]:
    """Per run: holds, fails, inconclusive (claims only, replicated in brackets), the claims
    not replicated, and the sanity checks and exploratory rows apart."""
    summary = run.summary()
    claims, sanity = summary["claim"], summary["sanity"]
    return [
        *(_with_replicated(claims, verdict) for verdict in ("holds", "fails", "inconclusive")),
        ", ".join(claims["not_replicated"]) or "-",
        f"{sanity['holds']}/{sanity['count']} hold" if sanity["count"] else "-",
        str(summary["exploratory"]["count"]),
    ]


_OVERVIEW_HEAD = (
    "experiment",
    "config",
    "holds",
    "fails",
    "inconclusive",
    "not replicated",
    "sanity checks",
    "exploratory",
    "wall time",
)


def _rounded(tree: Any) -> Any:
    """JSON with floats at 4 significant digits, for reading."""
    if isinstance(tree, Mapping):
        return {key: _rounded(value) for key, value in tree.items()}
    if isinstance(tree, list | tuple):
        return [_rounded(value) for value in tree]
    if isinstance(tree, float):
        return float(f"{tree:.4g}")
    return tree


def _pretty(tree: Any) -> str:
    return json.dumps(_rounded(tree), indent=1)


def _overview(runs: Sequence[Run], link: str = "") -> list[str]:
    """The table of experiments: verdict counts and wall time, linking to each section."""
    lines = ["| " + " | ".join(_OVERVIEW_HEAD) + " |", "|---" * len(_OVERVIEW_HEAD) + "|"]
    for run in runs:
        cells = [
            f"[{run.heading}]({link}#{run.key})",
            run.claims["config"],
            *_overview_cells(run),
            _duration(_seconds(run)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _brief(statement: str, limit: int = 120) -> str:
    """A statement cut at a word boundary to about ``limit`` characters."""
    if len(statement) <= limit:
        return statement
    return statement[:limit].rsplit(" ", 1)[0] + " ..."


def _claims_tables(run: Run, brief: bool = False) -> list[str]:
    """The claims, then sanity checks and exploratory rows, each in a labelled table with the
    halves beside the whole; verdicts other than holds and claims not replicated in bold."""
    return kind_sections(
        run.claims["claims"],
        verdict=lambda v: v if v == "holds" else f"**{v}**",
        statement=_brief if brief else str,
        replication=lambda r: f"**{r}**" if r == "not replicated" else r,
    )


def _notes_and_halves(run: Run) -> list[str]:
    """The run-level notes (e.g. seeds dropped for divergence) and each half's seeds."""
    lines = []
    for note in run.claims.get("notes") or []:
        lines += ["", f"Note: {note}"]
    return [*lines, "", *split_text(run.claims.get("split"), with_rule=False)]


def _count_text(runs: Sequence[Run]) -> str:
    """``4 experiment(s)``, or ``3 runs of 2 experiment(s)`` when one has several runs."""
    experiments = len({run.experiment for run in runs})
    if experiments == len(runs):
        return f"{experiments} experiment(s)"
    return f"{len(runs)} runs of {experiments} experiment(s)"


def markdown_report(runs: Sequence[Run], title: str = "Reproduction report") -> str:
    """The report in markdown; figures are referenced as `figure_file` names beside it."""
    runs = [_for_markdown(run) for run in runs]
    total = sum(_seconds(run) for run in runs)
    lines = [
        f"# {title}",
        "",
        f"{_count_text(runs)}; measured wall time of the sweeps and their analysis "
        f"{_duration(total)}. Verdicts are fixed rules on 95% confidence intervals over seeds "
        f"(`holds` / `fails` / `inconclusive` at this scale); the specs are in {SPECS}/. "
        f"{_COUNTING} {SPLIT_RULE}",
        "",
        *(f"**{escape_markdown(warning)}**\n" for warning in run_warnings(runs)),
        *_overview(runs),
    ]
    for group in side_by_side_groups(runs):
        lines += _markdown_side_by_side(group)
    for run in runs:
        lines += ["", f"## {run.heading}", "", f"{run.title}.", "", _provenance(run), ""]
        for figure in run.figures:
            lines += [f"![{figure.stem}]({figure_file(run, figure)})", ""]
            lines += [f"Figure: {run.caption(figure)}", ""]
        lines += [f"Tally of the claims: {_counts_text(run)}.", *_claims_tables(run)]
        lines += _notes_and_halves(run)
        lines += ["", "<details><summary>config</summary>", ""]
        lines += [*fence(_pretty(run.config), "json"), "", "</details>"]
        if run.theory is not None:
            lines += ["", "<details><summary>theory values</summary>", ""]
            lines += [*fence(_pretty(run.theory), "json"), "", "</details>"]
    return "\n".join(lines) + "\n"


def side_by_side_groups(runs: Sequence[Run]) -> list[list[Run]]:
    """The runs grouped by experiment, in order, where an experiment has two runs or more."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.experiment, []).append(run)
    return [group for group in groups.values() if len(group) > 1]


def _result_text(claim: Mapping[str, Any] | None) -> str:
    """``holds 0.5 [0.4, 0.6]``: a claim's verdict, statistic and CI; "absent" for None."""
    if claim is None:
        return "absent"
    return (
        f"{claim['verdict']} {format_number(claim.get('statistic'))} {format_ci(claim.get('ci'))}"
    )


def side_by_side_rows(group: Sequence[Run]) -> list[tuple[str, str, list[str], bool]]:
    """Per claim id of any run of the group, in order: (id, kind, each run's result text,
    whether the verdicts differ between the runs)."""
    keyed = [{claim["id"]: claim for claim in run.claims["claims"]} for run in group]
    ids = list(dict.fromkeys(claim_id for claims in keyed for claim_id in claims))
    rows = []
    for claim_id in ids:
        claims = [claims.get(claim_id) for claims in keyed]
        kind = next(c for c in claims if c is not None).get("kind", "claim")
        verdicts = {None if c is None else c["verdict"] for c in claims}
        rows.append((claim_id, kind, [_result_text(c) for c in claims], len(verdicts) > 1))
    return rows


def _markdown_side_by_side(group: Sequence[Run]) -> list[str]:
    """One experiment's runs side by side: every claim (verdict, statistic, CI) per run,
    differing verdicts in bold, then the figures of the same name in one row."""
    labels = [run.label or run.claims["config"] for run in group]
    lines = [
        "",
        f"## {group[0].experiment}: {', '.join(labels)} side by side",
        "",
        "| id | kind | " + " | ".join(labels) + " |",
        "|---|---" + "|---" * len(group) + "|",
    ]
    for claim_id, kind, texts, differ in side_by_side_rows(group):
        texts = [f"**{text}**" for text in texts] if differ else texts
        lines.append(f"| {claim_id} | {kind} | " + " | ".join(texts) + " |")
    lines += ["", "| figure | " + " | ".join(labels) + " |", "|---" * (len(group) + 1) + "|"]
    for stem, figures in _figures_by_stem(group):
        cells = ["-" if f is None else f"![{stem}]({figure_file(r, f)})" for r, f in figures]
        lines.append(f"| {stem} | " + " | ".join(cells) + " |")
    return lines


def _figures_by_stem(group: Sequence[Run]):
    """(figure stem, [(run, figure or None) per run]) for every stem of any run, in order."""
    stems = list(dict.fromkeys(f.stem for run in group for f in run.figures))
    by_run = [{f.stem: f for f in run.figures} for run in group]
    return [(stem, [(run, fs.get(stem)) for run, fs in zip(group, by_run, strict=True)])
            for stem in stems]  # fmt: skip


def headline_markdown(runs: Sequence[Run], prefix: str = "") -> str:
    """The overview table, then the first run's first figure and its claims in brief.

    ``prefix`` is the path from where the text is shown to the report's directory (e.g.
    ``docs/report/`` for a README at the repository root).
    """
    runs = [_for_markdown(run) for run in runs]
    head = runs[0]
    lines = [
        *_overview(runs, link=f"{prefix}{MARKDOWN}"),
        "",
        f"{head.title}:",
        "",
    ]
    if head.figures:
        first = head.figures[0]
        lines += [f"![{first.stem}]({prefix}{figure_file(head, first)})", ""]
    lines += [*_claims_tables(head, brief=True), ""]
    lines.append(
        f"Full statements, every figure, configs and theory values: [{prefix}{MARKDOWN}]"
        f"({prefix}{MARKDOWN})."
    )
    return "\n".join(lines) + "\n"


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.verdict { font-weight: bold; white-space: nowrap; }
tr.not-replicated { background: #fdecea; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption, .provenance { color: #555; font-size: 0.85em; }
.warning { color: #b2182b; font-weight: bold; }
.row { display: flex; gap: 1em; }
.row figure { flex: 1; min-width: 0; }
pre { background: #f7f7f7; padding: 0.5em; overflow-x: auto; font-size: 0.8em; }
"""


def _data_uri(path: pathlib.Path) -> str:
    return "data:image/png;base64," + base64.b64encode(read_regular(path)).decode("ascii")


def _html_overview(runs: Sequence[Run]) -> list[str]:
    esc = html.escape
    parts = ["<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in _OVERVIEW_HEAD) + "</tr>"]
    for run in runs:
        cells = [esc(run.claims["config"]), *map(esc, _overview_cells(run))]
        parts.append(
            f'<tr><td><a href="#{esc(run.key)}">{esc(run.heading)}</a></td>'
            + "".join(f"<td class=num>{cell}</td>" for cell in cells)
            + f"<td class=num>{esc(_duration(_seconds(run)))}</td></tr>"
        )
    return [*parts, "</table>"]


_CLAIMS_HEAD = (
    "id",
    "verdict",
    "replication",
    "statistic",
    "95% CI",
    "half A",
    "half B",
    "theory",
    "statement",
)


def _html_claim_row(claim: Mapping[str, Any]) -> str:
    esc = html.escape
    color = VERDICT_COLORS[claim["verdict"]]
    replication = claim.get("replication") or "-"
    marked = replication == "not replicated"
    halves = claim.get("halves") or [None, None]
    numbers = [
        format_number(claim["statistic"]),
        format_ci(claim["ci"]),
        half_text(halves[0]),
        half_text(halves[1]),
        format_number(claim["theory"]),
    ]
    return (
        f"<tr{' class=not-replicated' if marked else ''}><td>{esc(claim['id'])}</td>"
        f'<td class="verdict" style="color:{color}">{esc(claim["verdict"])}</td>'
        + (
            f'<td class="verdict" style="color:{VERDICT_COLORS["fails"]}">{esc(replication)}</td>'
            if marked
            else f"<td class=num>{esc(replication)}</td>"
        )
        + "".join(f"<td class=num>{esc(number)}</td>" for number in numbers)
        + f"<td>{esc(claim['statement'])}</td></tr>"
    )


def _html_claims(run: Run) -> list[str]:
    """The claims, sanity checks and exploratory rows in labelled tables, halves beside the
    whole (claims not replicated highlighted), the notes and each half's seeds."""
    esc = html.escape
    parts = [f"<h3>Claims ({esc(_counts_text(run))})</h3>"]
    for kind in KINDS:
        rows = [c for c in run.claims["claims"] if c.get("kind", "claim") == kind]
        if not rows and kind != "claim":
            continue
        if kind != "claim":
            parts.append(f"<h4>{esc(KIND_TITLES[kind])}</h4>")
        parts.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in _CLAIMS_HEAD))
        parts += [_html_claim_row(claim) for claim in rows]
        parts.append("</table>")
    for note in run.claims.get("notes") or []:
        parts.append(f"<p>Note: {esc(note)}</p>")
    for line in split_text(run.claims.get("split"), with_rule=False):
        parts.append(f'<p class="provenance">{esc(line)}</p>')
    return parts


def _html_figure(run: Run, figure: pathlib.Path, label: str | None = None) -> str:
    """A figure embedded with its caption (`Run.caption`), optionally headed by ``label``."""
    esc = html.escape
    head = "" if label is None else f"<b>{esc(label)}</b>: "
    return (
        f'<figure><img src="{_data_uri(figure)}" alt="{esc(figure.stem)}">'
        f"<figcaption>{head}{esc(run.caption(figure))}</figcaption></figure>"
    )


def _html_side_by_side(group: Sequence[Run]) -> list[str]:
    """One experiment's runs side by side: claims per run, then figures of one name in a row."""
    esc = html.escape
    labels = [run.label or run.claims["config"] for run in group]
    parts = [
        f"<h2>{esc(group[0].experiment)}: {esc(', '.join(labels))} side by side</h2>",
        "<table><tr><th>id</th><th>kind</th>"
        + "".join(f"<th>{esc(label)}</th>" for label in labels)
        + "</tr>",
    ]
    for claim_id, kind, texts, differ in side_by_side_rows(group):
        cell = "<td class=num><b>{}</b></td>" if differ else "<td class=num>{}</td>"
        parts.append(
            f"<tr><td>{esc(claim_id)}</td><td>{esc(kind)}</td>"
            + "".join(cell.format(esc(text)) for text in texts)
            + "</tr>"
        )
    parts.append("</table>")
    for _, figures in _figures_by_stem(group):
        row = [
            _html_figure(run, figure, label)
            for (run, figure), label in zip(figures, labels, strict=True)
            if figure is not None
        ]
        parts.append('<div class="row">' + "".join(row) + "</div>")
    return parts


def html_report(runs: Sequence[Run], title: str = "Reproduction report") -> str:
    """The report as one self-contained HTML page (figures embedded, no scripts)."""
    esc = html.escape
    total = sum(_seconds(run) for run in runs)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>{esc(_count_text(runs))}; measured wall time of the sweeps and their analysis "
        f"{esc(_duration(total))}. Verdicts are fixed rules on 95% confidence intervals over "
        "seeds (holds / fails / inconclusive at this scale).</p>",
        f"<p>{esc(_COUNTING)} {esc(SPLIT_RULE)}</p>",
        *(f'<p class="warning">{esc(warning)}</p>' for warning in run_warnings(runs)),
        *_html_overview(runs),
    ]
    for group in side_by_side_groups(runs):
        parts += _html_side_by_side(group)
    for run in runs:
        parts += [
            f'<h2 id="{esc(run.key)}">{esc(run.heading)}</h2>',
            f"<p>{esc(run.title)}.</p>",
            f'<p class="provenance">{esc(_provenance(run))}</p>',
        ]
        parts += [_html_figure(run, figure) for figure in run.figures]
        parts += _html_claims(run)
        parts.append(f"<details><summary>config</summary><pre>{esc(_pretty(run.config))}</pre>")
        parts.append("</details>")
        if run.theory is not None:
            parts.append(
                "<details><summary>theory values</summary>"
                f"<pre>{esc(_pretty(run.theory))}</pre></details>"
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write(
    workdirs: Sequence[str | pathlib.Path],
    out: str | pathlib.Path,
    title: str = "Reproduction report",
    *,
    overwrite: bool = False,
) -> pathlib.Path:
    """Reads every work directory, then writes the report into ``out``; returns the HTML path.

    A work directory may be given as ``label=path``: runs of one experiment need distinct
    labels, and are then also shown side by side (claims and figures). Work directories are
    shown relative to the report (`report_inputs.shown_path`); runs from different or dirty
    commits get a warning at the top (`run_warnings`).

    ``out`` receives ``report.html``, ``report.md``, ``headline.md`` (`headline_markdown`) and
    the figures (`figure_file` names).
    Nothing is written unless every work directory is a finished run.

    Raises:
      ValueError: naming a bad work directory, or ``out`` if it is one of them.
      FileExistsError: when ``out`` already holds a report and ``overwrite`` is false.
    """
    if not workdirs:
        raise ValueError("no work directories given; pass at least one finished run")
    out = pathlib.Path(out)
    runs = load_runs(workdirs, out)
    check_distinct(runs)
    if any(out.resolve() == run.workdir.resolve() for run in runs):
        raise ValueError(f"output directory {str(out)!r} is one of the work directories")
    if (out / HTML).exists() and not overwrite:
        raise FileExistsError(
            f"{str(out / HTML)!r} exists; pass --overwrite to replace it or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    for run in runs:
        for figure in run.figures:
            target = out / figure_file(run, figure)
            if target.parent.resolve() != out.resolve():  # names are checked; belt and braces
                raise ValueError(f"figure name {target.name!r} would leave {str(out)!r}")
            atomic_write(target, read_regular(figure))  # replaces a planted link, never follows
    atomic_write(out / MARKDOWN, markdown_report(runs, title).encode())
    atomic_write(out / HEADLINE, headline_markdown(runs).encode())
    atomic_write(out / HTML, html_report(runs, title).encode())
    return out / HTML


# ------------------------------------------------------------------- two runs, claim by claim


class Change(NamedTuple):
    """A claim whose verdict differs between runs A and B (None: absent from that run)."""

    id: str
    kind: str
    a: str | None
    b: str | None

    def describe(self) -> str:
        """The change in one line: id, kind, verdict before -> after."""
        return f"{self.id} ({self.kind}): {self.a or 'absent'} -> {self.b or 'absent'}"


def _keyed(claims: Sequence[Mapping[str, Any]]) -> dict[tuple[str, int], Mapping[str, Any]]:
    """Claims by (id, occurrence), so a repeated id is matched in order."""
    seen: dict[str, int] = {}
    keyed = {}
    for claim in claims:
        seen[claim["id"]] = seen.get(claim["id"], -1) + 1
        keyed[(claim["id"], seen[claim["id"]])] = claim
    return keyed


def _paired_claims(a: Run, b: Run):
    """(key, claim in A or None, claim in B or None), in A's order, then B's extra claims."""
    left, right = _keyed(a.claims["claims"]), _keyed(b.claims["claims"])
    keys = [*left, *(key for key in right if key not in left)]
    return [(key, left.get(key), right.get(key)) for key in keys]


def changed_verdicts(a: Run, b: Run) -> list[Change]:
    """The claims (of every kind) whose verdict differs between two runs, or that only one
    run has."""
    changes = []
    for (claim_id, _), left, right in _paired_claims(a, b):
        verdicts = [None if c is None else c["verdict"] for c in (left, right)]
        if verdicts[0] != verdicts[1]:
            kind = (left or right).get("kind", "claim")
            changes.append(Change(claim_id, kind, *verdicts))
    return changes


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, Mapping):
        return {prefix[:-1]: tree}
    return {k: v for key, value in tree.items() for k, v in _flat(value, f"{prefix}{key}.").items()}


def _config_changes(a: Run, b: Run) -> list[str]:
    left, right = _flat(a.config), _flat(b.config)
    return [
        f"{key}: {left.get(key, '(absent)')!r} vs {right.get(key, '(absent)')!r}"
        for key in sorted(set(left) | set(right))
        if left.get(key, "(absent)") != right.get(key, "(absent)")
    ]


def _info(run: Run, key: str, default: str = "unrecorded") -> Any:
    return run.run_info.get(key, default)


def _devices(run: Run) -> str:
    devices = _info(run, "devices", {})
    return f"{devices.get('count', '?')} x {devices.get('kind', '?')}"


_MACHINE_ROWS = {
    "work directory": lambda run: run.shown or run.workdir.name,
    "config": lambda run: run.claims["config"],
    "commit": lambda run: _info(run, "git_commit", "unknown"),
    "CPU": lambda run: _info(run, "cpu"),
    "devices": _devices,
    "XLA_FLAGS": lambda run: f"'{_info(run, 'xla_flags', '')}'",
    "wall time": lambda run: _duration(_seconds(run)),
    "claims": _counts_text,
}


def _comparison_table(a: Run, b: Run) -> list[str]:
    """Every claim of either run side by side: verdict, statistic, CI and replication."""
    head = ("id", "kind", "verdict A", "verdict B", "statistic A", "statistic B", "95% CI A",
            "95% CI B", "replication A", "replication B")  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for (claim_id, _), left, right in _paired_claims(a, b):
        cells = [claim_id, (left or right).get("kind", "claim")]
        for field, show in (
            ("verdict", str),
            ("statistic", format_number),
            ("ci", format_ci),
            ("replication", lambda r: r or "-"),
        ):
            cells += ["absent" if c is None else show(c.get(field)) for c in (left, right)]
        if cells[2] != cells[3]:
            cells[2:4] = [f"**{cell}**" for cell in cells[2:4]]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def compare_markdown(a: Run, b: Run) -> str:
    """Two runs of one experiment compared claim by claim (e.g. two machines or two commits):
    where they ran, how their configs differ, the verdicts that changed, every claim side by
    side.

    Raises:
      ValueError: naming both work directories if they hold different experiments.
    """
    if a.experiment != b.experiment:
        raise ValueError(
            f"workdirs {str(a.workdir)!r} ({a.experiment}) and {str(b.workdir)!r} "
            f"({b.experiment}) hold different experiments; compare two runs of one experiment"
        )
    a, b = _for_markdown(a), _for_markdown(b)
    changes = changed_verdicts(a, b)
    config = [escape_markdown(change) for change in _config_changes(a, b)]
    lines = [
        f"# {a.experiment}: run A vs run B, claim by claim",
        "",
        "| | A | B |",
        "|---|---|---|",
        *(f"| {label} | {value(a)} | {value(b)} |" for label, value in _MACHINE_ROWS.items()),
        "",
        "Configs: " + ("identical." if not config else "differ in " + "; ".join(config) + "."),
        "",
    ]
    if changes:
        lines += [f"Verdicts that changed ({len(changes)}):", ""]
        lines += [f"* {change.describe()}" for change in changes]
    else:
        lines.append("No verdict changed.")
    lines += ["", *_comparison_table(a, b)]
    return "\n".join(lines) + "\n"


def compare(
    workdirs: Sequence[str | pathlib.Path],
    out: str | pathlib.Path,
    *,
    overwrite: bool = False,
) -> tuple[pathlib.Path, list[Change]]:
    """Compares two finished runs of one experiment into ``out/compare.md``.

    Returns:
      ``(the path of compare.md, the verdicts that changed)``.

    Raises:
      ValueError: unless exactly two finished work directories of one experiment are given.
      FileExistsError: when ``out`` already holds a comparison and ``overwrite`` is false.
    """
    if len(workdirs) != 2:
        raise ValueError(f"--compare takes two work directories, got {len(workdirs)}")
    out = pathlib.Path(out)
    a, b = load_runs(workdirs, out)
    text = compare_markdown(a, b)
    if (out / COMPARE).exists() and not overwrite:
        raise FileExistsError(
            f"{str(out / COMPARE)!r} exists; pass --overwrite to replace it or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / COMPARE, text.encode())
    return out / COMPARE, changed_verdicts(a, b)
