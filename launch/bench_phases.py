r"""The phases table: where each job's time goes, from compile to figures (issue 18, item 1).

    python -m launch.bench --phases --configs=yang2023:cpu,acharyya2021:cpu,... \
        --out=runs/bench/phases.md --json=runs/bench/phases.json

Each ``paper:variant`` is run whole, in this process and one after another, through
`runner.run` (as ``launch.sweep`` runs it) and profiled by `pruning_theory.benchmarks.profile`;
the machine (CPU model, cores) and the load average before and after each job are recorded
with it. Nothing here knows a paper: the sweeps, stages and compiles are seen from outside.
"""

from __future__ import annotations

import ast
import datetime
import importlib
import json
import pathlib
import sys
import tempfile
from collections.abc import Sequence

import ml_collections

from pruning_theory import experiment as experiments
from pruning_theory.benchmarks import profile, timing


def load_config(spec: str) -> ml_collections.ConfigDict:
    """The config ``paper:variant`` of ``launch/configs/<paper>.py``, with any overrides
    ``+key=value`` appended (``acharyya2021:gpu+ode.enabled=False``; Python literals).

    Raises:
      ValueError: naming ``spec`` if it is not ``paper:variant`` of a registered paper (or the
        paper's config file refuses the variant, or an override names no key).
    """
    name, *overrides = spec.split("+")
    paper, _, variant = name.partition(":")
    if not variant or paper not in experiments.names():
        raise ValueError(
            f"config {spec!r} is not paper:variant with a paper among {experiments.names()}"
        )
    config = importlib.import_module(f"launch.configs.{paper}").get_config(variant)
    for override in overrides:
        key, equals, text = override.partition("=")
        if not equals:
            raise ValueError(f"override {override!r} of config {spec!r} is not key=value")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            node = node.get(part) if isinstance(node, ml_collections.ConfigDict) else None
        if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
            raise ValueError(f"override {override!r} of config {spec!r} names no config key")
        try:
            node[leaf] = value
        except TypeError as error:
            raise ValueError(f"override {override!r} of config {spec!r}: {error}") from error
    return config


def load_configs(specs: Sequence[str]) -> dict[str, ml_collections.ConfigDict]:
    """Every ``paper:variant`` loaded (all of them before anything runs)."""
    if not specs:
        raise ValueError("--configs is empty; give paper:variant,...")
    return {spec: load_config(spec) for spec in specs}


def run(
    specs: Sequence[str],
    *,
    workdir: str = "",
    split: bool = True,
    out: str | None = None,
    json_path: str | None = None,
) -> dict:
    """Profiles every config; returns the report (machine, date, and one entry per job).

    With ``out`` and ``json_path`` the reports are rewritten after every job, so a run cut
    short keeps the jobs it finished.
    """
    configs = load_configs(specs)
    report = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m launch.bench " + " ".join(sys.argv[1:]),
        "machine": timing.machine(),
        "jobs": [],
    }
    with tempfile.TemporaryDirectory() as scratch:
        root = pathlib.Path(workdir or scratch)
        for spec, config in configs.items():
            load_before = [round(x, 2) for x in timing.load_average()]
            job = profile.profile_run(config, root / spec.replace(":", "_"), split=split)
            job.update(
                config=spec,
                load_before=load_before,
                load_after=[round(x, 2) for x in timing.load_average()],
            )
            report["jobs"].append(job)
            print(f"{spec}: {job['wall_s']:.1f} s (load {job['load_after']})", file=sys.stderr)
            if out and json_path:
                write_reports(markdown(report), report, out, json_path)
    return report


_LABELS = {
    "compile": "compile",
    "data": "data",
    "init": "init",
    "steps": "steps",
    "evaluate": "evaluate",
    "finalize": "finalize",
    "outside_engine": "outside engine",
    "analysis": "analysis",
    "figures": "figures",
    "theory": "theory",
    "runner": "runner",
}


def markdown(report: dict) -> str:
    """The phases table and the per-sweep table of a report."""
    m = report["machine"]
    lines = [
        f"Measured {report['date']} on {m['backend']} ({m['cpu_count']} cores, "
        f"{m['cpu_model']}, {m['memory_gib']} GiB), jax {m['jax']}; `{report['command']}`.",
        "",
        "| job | wall s | " + " | ".join(_LABELS[p] for p in profile.PHASES)
        + " | steps share | load before | load after |",
        "|---" * (len(profile.PHASES) + 5) + "|",
    ]  # fmt: skip
    for job in report["jobs"]:
        seconds = job["phases"]
        cells = " | ".join(f"{seconds[p]:.1f}" for p in profile.PHASES)
        share = 100 * seconds["steps"] / job["wall_s"]
        lines.append(
            f"| {job['config']} | {job['wall_s']:.1f} | {cells} | {share:.0f}% | "
            f"{_load(job['load_before'])} | {_load(job['load_after'])} |"
        )
    lines += [
        "",
        "| job | sweep | cells | steps | wall s | compile s (XLA compiles) | data s | init s "
        "| steps s | evaluate s | finalize s | cell-steps/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for job in report["jobs"]:
        for row in job["sweeps"]:
            rate = row["cells"] * row["num_steps"] / row["steps"] if row["steps"] > 0 else 0
            note = f" (split failed: {row['split_error']})" if "split_error" in row else ""
            lines.append(
                f"| {job['config']} | {row['name']}{note} | {row['cells']} | {row['num_steps']} "
                f"| {row['seconds']:.2f} | {row['compile']:.2f} ({row['compiles']}) | "
                f"{row['data']:.2f} | {row['init']:.2f} | {row['steps']:.2f} | "
                f"{row['evaluate']:.2f} | {row['finalize']:.2f} | {rate:.0f} |"
            )
    return "\n".join(lines) + "\n"


def _load(values: Sequence[float]) -> str:
    return "/".join(f"{v:.1f}" for v in values)


def write_reports(text: str, report: dict, out: str, json_path: str) -> None:
    """Writes the markdown ``text`` and the JSON ``report``, creating their folders."""
    for path, content in ((out, text), (json_path, json.dumps(report, indent=1, default=float))):
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(path).write_text(content)
