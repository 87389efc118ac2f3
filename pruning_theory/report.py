"""The reproduction report: finished work directories as one HTML page and one markdown file.

A finished work directory (`experiments.runner.run`) holds ``claims.json``, ``config.json``,
``run.json``, optionally ``theory.json``, and its figures as PNGs. `load_run` reads one,
`html_report` renders runs as a self-contained page (figures embedded as base64 data URIs, no
external files or scripts) and `markdown_report` as markdown whose figures are files next to
it (`figure_file` names them); `write` does both into one directory. Nothing is recomputed:
the report shows what was measured.
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
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

from pruning_theory.claims import VERDICTS
from pruning_theory.workdir import FINISHED_MARKER, atomic_write

SPECS = "docs/papers"
HTML = "report.html"
MARKDOWN = "report.md"
HEADLINE = "headline.md"
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

    @property
    def experiment(self) -> str:
        return self.claims["experiment"]

    @property
    def title(self) -> str:
        """The experiment module's one-line summary (it names the paper), read without
        importing the module (and so JAX)."""
        spec = importlib.util.find_spec(f"pruning_theory.papers.{self.experiment}.experiment")
        if spec is None or spec.origin is None:
            return self.experiment
        doc = ast.get_docstring(ast.parse(pathlib.Path(spec.origin).read_text()))
        return (doc or self.experiment).strip().splitlines()[0].rstrip(".")

    def verdict_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(VERDICTS, 0)
        for claim in self.claims["claims"]:
            counts[claim["verdict"]] += 1
        return counts


def load_run(workdir: str | pathlib.Path) -> Run:
    """Reads a finished work directory.

    Raises:
      ValueError: naming the directory if it does not exist, is unfinished (no
        ``claims.json``), is a grid shard (merge it first) or lacks ``config.json``/``run.json``.
    """
    directory = pathlib.Path(workdir)
    if not directory.is_dir():
        raise ValueError(f"workdir {str(directory)!r} does not exist")
    marker = directory / FINISHED_MARKER
    if not marker.exists():
        raise ValueError(
            f"workdir {str(directory)!r} holds no finished run (no {FINISHED_MARKER}); "
            "finish it first (rerun its launch.sweep command) or merge its grid shards"
        )
    for name in ("config.json", "run.json"):
        if not (directory / name).exists():
            raise ValueError(f"workdir {str(directory)!r} has no {name}")
    theory = directory / "theory.json"
    finished = datetime.datetime.fromtimestamp(marker.stat().st_mtime, datetime.UTC)
    return Run(
        workdir=directory,
        claims=json.loads(marker.read_text()),
        config=json.loads((directory / "config.json").read_text()),
        run_info=json.loads((directory / "run.json").read_text()),
        theory=json.loads(theory.read_text()) if theory.exists() else None,
        figures=tuple(sorted(directory.glob("*.png"))),
        finished=finished.strftime("%Y-%m-%d %H:%M UTC"),
    )


def check_distinct(runs: Sequence[Run]) -> None:
    """Refuses two runs of the same experiment: the report has one section per experiment.

    Raises:
      ValueError: naming both work directories.
    """
    seen: dict[str, pathlib.Path] = {}
    for run in runs:
        if run.experiment in seen:
            raise ValueError(
                f"workdirs {str(seen[run.experiment])!r} and {str(run.workdir)!r} both hold "
                f"{run.experiment}; pass one work directory per experiment"
            )
        seen[run.experiment] = run.workdir


def figure_file(run: Run, figure: pathlib.Path) -> str:
    """The file name a run's figure gets next to the markdown report."""
    stem = (
        figure.stem if figure.stem.startswith(run.experiment) else f"{run.experiment}_{figure.stem}"
    )
    return f"{stem}.png"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _ci(claim: Mapping[str, Any]) -> str:
    ci = claim["ci"]
    return "-" if ci is None else f"[{_number(ci[0])}, {_number(ci[1])}]"


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
        f"{info.get('processes', 1)} process(es), {versions}; commit "
        f"{info.get('git_commit', 'unknown')}; finished {run.finished}; work directory "
        f"{run.workdir}"
    )


def _counts_text(run: Run) -> str:
    return ", ".join(f"{count} {verdict}" for verdict, count in run.verdict_counts().items())


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


def _escape_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _overview(runs: Sequence[Run], link: str = "") -> list[str]:
    """The table of experiments: verdict counts and wall time, linking to each section."""
    lines = [
        "| experiment | config | holds | fails | inconclusive | wall time |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        counts = run.verdict_counts()
        lines.append(
            f"| [{run.experiment}]({link}#{run.experiment}) | {run.claims['config']} | "
            f"{counts['holds']} | {counts['fails']} | {counts['inconclusive']} | "
            f"{_duration(_seconds(run))} |"
        )
    return lines


def _brief(statement: str, limit: int = 120) -> str:
    """A statement cut at a word boundary to about ``limit`` characters."""
    if len(statement) <= limit:
        return statement
    return statement[:limit].rsplit(" ", 1)[0] + " ..."


def _claims_table(run: Run, brief: bool = False) -> list[str]:
    lines = [
        "| id | verdict | statistic | 95% CI | theory | statement |",
        "|---|---|---|---|---|---|",
    ]
    for claim in run.claims["claims"]:
        verdict = claim["verdict"]
        shown = verdict if verdict == "holds" else f"**{verdict}**"
        statement = _brief(claim["statement"]) if brief else claim["statement"]
        lines.append(
            f"| {claim['id']} | {shown} | {_number(claim['statistic'])} | {_ci(claim)} | "
            f"{_number(claim['theory'])} | {_escape_cell(statement)} |"
        )
    return lines


def markdown_report(runs: Sequence[Run], title: str = "Reproduction report") -> str:
    """The report in markdown; figures are referenced as `figure_file` names beside it."""
    total = sum(_seconds(run) for run in runs)
    lines = [
        f"# {title}",
        "",
        f"{len(runs)} experiment(s); measured wall time of the sweeps and their analysis "
        f"{_duration(total)}. Verdicts are fixed rules on 95% confidence intervals over seeds "
        f"(`holds` / `fails` / `inconclusive` at this scale); the specs are in {SPECS}/.",
        "",
        *_overview(runs),
    ]
    for run in runs:
        lines += ["", f"## {run.experiment}", "", f"{run.title}.", "", _provenance(run), ""]
        for figure in run.figures:
            lines += [f"![{figure.stem}]({figure_file(run, figure)})", ""]
        lines += [f"Claims ({_counts_text(run)}):", "", *_claims_table(run)]
        lines += ["", "<details><summary>config</summary>", "", "```json"]
        lines += [_pretty(run.config), "```", "", "</details>"]
        if run.theory is not None:
            lines += ["", "<details><summary>theory values</summary>", "", "```json"]
            lines += [_pretty(run.theory), "```", "", "</details>"]
    return "\n".join(lines) + "\n"


def headline_markdown(runs: Sequence[Run], prefix: str = "") -> str:
    """The overview table, then the first run's first figure and its claims in brief.

    ``prefix`` is the path from where the text is shown to the report's directory (e.g.
    ``docs/report/`` for a README at the repository root).
    """
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
    lines += [*_claims_table(head, brief=True), ""]
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
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption, .provenance { color: #555; font-size: 0.85em; }
pre { background: #f7f7f7; padding: 0.5em; overflow-x: auto; font-size: 0.8em; }
"""


def _data_uri(path: pathlib.Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def html_report(runs: Sequence[Run], title: str = "Reproduction report") -> str:
    """The report as one self-contained HTML page (figures embedded, no scripts)."""
    esc = html.escape
    total = sum(_seconds(run) for run in runs)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>{len(runs)} experiment(s); measured wall time of the sweeps and their analysis "
        f"{esc(_duration(total))}. Verdicts are fixed rules on 95% confidence intervals over "
        "seeds (holds / fails / inconclusive at this scale).</p>",
        "<table><tr><th>experiment</th><th>config</th><th>holds</th><th>fails</th>"
        "<th>inconclusive</th><th>wall time</th></tr>",
    ]
    for run in runs:
        counts = run.verdict_counts()
        parts.append(
            f'<tr><td><a href="#{esc(run.experiment)}">{esc(run.experiment)}</a></td>'
            f"<td>{esc(run.claims['config'])}</td><td class=num>{counts['holds']}</td>"
            f"<td class=num>{counts['fails']}</td><td class=num>{counts['inconclusive']}</td>"
            f"<td class=num>{esc(_duration(_seconds(run)))}</td></tr>"
        )
    parts.append("</table>")
    for run in runs:
        parts += [
            f'<h2 id="{esc(run.experiment)}">{esc(run.experiment)}</h2>',
            f"<p>{esc(run.title)}.</p>",
            f'<p class="provenance">{esc(_provenance(run))}</p>',
        ]
        for figure in run.figures:
            parts.append(
                f'<figure><img src="{_data_uri(figure)}" alt="{esc(figure.stem)}">'
                f"<figcaption>{esc(figure.name)}</figcaption></figure>"
            )
        parts += [
            f"<h3>Claims ({esc(_counts_text(run))})</h3>",
            "<table><tr><th>id</th><th>verdict</th><th>statistic</th><th>95% CI</th>"
            "<th>theory</th><th>statement</th></tr>",
        ]
        for claim in run.claims["claims"]:
            color = VERDICT_COLORS[claim["verdict"]]
            parts.append(
                f"<tr><td>{esc(claim['id'])}</td>"
                f'<td class="verdict" style="color:{color}">{esc(claim["verdict"])}</td>'
                f"<td class=num>{esc(_number(claim['statistic']))}</td>"
                f"<td class=num>{esc(_ci(claim))}</td>"
                f"<td class=num>{esc(_number(claim['theory']))}</td>"
                f"<td>{esc(claim['statement'])}</td></tr>"
            )
        parts.append("</table>")
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
    runs = [load_run(workdir) for workdir in workdirs]
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
            shutil.copyfile(figure, out / figure_file(run, figure))
    atomic_write(out / MARKDOWN, markdown_report(runs, title).encode())
    atomic_write(out / HEADLINE, headline_markdown(runs).encode())
    atomic_write(out / HTML, html_report(runs, title).encode())
    return out / HTML
