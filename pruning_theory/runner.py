"""Runs an experiment into a work directory: config, metrics, figures, claims (atomically).

The work directory of a finished run holds ``config.json`` (the resolved config),
``<sweep>.npz`` / ``<sweep>.csv`` (labelled metric arrays and a tidy table per sweep),
``sweeps.json`` (the sweep names, written once every sweep is saved), ``<figure>.png`` and
``<figure>.pdf`` with ``figures.json`` (their captions), ``theory.json`` where the
experiment has theory, ``run.json`` (wall time, versions, devices, git commit), ``claims.md``
and, written last as the mark of a finished run, ``claims.json``.
A finished work directory is refused unless ``overwrite`` is set. A run holds the work
directory's lock for its whole life (`workdir.locked`: a second run, even with ``overwrite``, is
refused), checks the config for non-finite numbers (`config_check`), and saves the sweeps (with
their sha256 in ``sweeps.json``) before analyzing them, so a crash in the analysis loses no
training.

While it runs, ``checkpoints/`` holds every sweep's checkpoint (`checkpoint`); rerunning the
same config on the same work directory resumes from them, and a different config is refused,
naming the differences. They are deleted once the run is finished.

A grid shard's run (``Execution.grid_shard``) saves its slice of every sweep, ``sweeps.json``
(its finished mark) and ``grid_shard.json``, but no claims; `merge` joins the shards'
work directories into one and analyzes it. An experiment is an `experiment.Experiment`
(registered in `experiment.REGISTRY`); the runner validates it once, runs its sweeps, then
analyzes them, so a grid shard's sweeps can be analyzed after a merge.

On several processes every process runs the sweeps; process 0 alone writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections

from pruning_theory import experiment as experiments
from pruning_theory import plots
from pruning_theory.claims import (
    Analysis,
    claims_document,
    claims_markdown,
    format_ci,
    format_number,
    replicated_analysis,
    summarize,
    tally_text,
)
from pruning_theory.config_check import check_finite
from pruning_theory.engine import distributed, grid_shards, progress, sweep
from pruning_theory.engine.checkpoint import sha256_file, sha256_json
from pruning_theory.engine.results import SweepResult
from pruning_theory.workdir import (
    FINISHED_MARKER,
    SWEEPS_MARKER,
    atomic_write,
    check_workdir,
    locked,
    prepare_workdir,
    write_json,
)

CHECKPOINTS = "checkpoints"
TENSORBOARD = "tensorboard"  # live metrics per cell (`engine.tensorboard`), kept after the run
GRID_SHARD = "grid_shard.json"
CONFIG = "config.json"
FIGURES = "figures.json"  # every figure's files and caption
# Sweeps per config digest, from earlier runs: the "n" of "sweep i of n" (`recorded_sweep_count`).
SWEEP_COUNTS = pathlib.Path.home() / ".cache" / "pruning_theory" / "sweep_counts.json"


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, Mapping):
        flat = {}
        for key, value in tree.items():
            flat |= _flatten(value, f"{prefix}{key}.")
        return flat
    return {prefix[:-1]: tree}


def config_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``key: saved vs current`` for every leaf where two JSON configs differ."""
    saved, current = _flatten(saved), _flatten(current)
    keys = sorted(set(saved) | set(current))
    missing = "(absent)"
    return [
        f"{key}: {saved.get(key, missing)!r} vs {current.get(key, missing)!r}"
        for key in keys
        if saved.get(key, missing) != current.get(key, missing)
    ]


def _config_json(config: ml_collections.ConfigDict) -> dict[str, Any]:
    return json.loads(config.to_json_best_effort())


def _shard_json(shard: tuple[int, int] | None) -> dict[str, int] | None:
    return None if shard is None else {"index": shard[0], "count": shard[1]}


def _read_json(path: pathlib.Path) -> Any:
    """A JSON file's content, None if absent.

    Raises:
      ValueError: naming the file if it is not valid JSON.
    """
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{str(path)!r} is not valid JSON ({error}); restore it, or rerun with --overwrite "
            "to start that work directory afresh"
        ) from error


def _describe_shard(shard: Mapping[str, int] | None) -> str:
    return "the whole grid" if shard is None else f"grid shard {shard['index']}/{shard['count']}"


def _check_same_job(directory: pathlib.Path, config, shard: tuple[int, int] | None) -> None:
    """Refuses to resume a work directory that holds another config or grid shard."""
    saved = _read_json(directory / CONFIG)
    if saved is None:
        return
    differences = config_differences(saved, _config_json(config))
    if differences:
        raise ValueError(
            f"workdir {str(directory)!r} holds an unfinished run of a different config "
            f"(workdir vs this run: {'; '.join(differences)}); use another workdir or pass "
            "--overwrite"
        )
    saved_shard = _read_json(directory / GRID_SHARD)
    if saved_shard != _shard_json(shard):
        raise ValueError(
            f"workdir {str(directory)!r} holds an unfinished run of "
            f"{_describe_shard(saved_shard)}, not {_describe_shard(_shard_json(shard))}; "
            "use another workdir or pass --overwrite"
        )


def run(
    config: ml_collections.ConfigDict,
    workdir: str | pathlib.Path,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
    execution: sweep.Execution | None = None,
) -> dict[str, Any]:
    """Validates, runs (or resumes) and saves an experiment; returns its claims document.

    Args:
      config: the resolved config.
      workdir: the work directory; an unfinished run of the same config there is resumed.
      overwrite: replace a finished (or different) run in ``workdir``.
      show_progress: print a progress bar per sweep (unless ``execution`` has a reporter).
      execution: devices, memory budget, checkpoint interval, grid shard, stop request; its
        checkpoint directory is set here to ``workdir/checkpoints`` and the copy is passed
        to the experiment's ``run_sweeps``.

    Returns:
      The claims document; for a grid shard, ``{"experiment", "config", "grid_shard",
      "sweeps", "claims": []}``.

    Raises:
      ValueError: for a bad config (before any compile), a workdir holding an unfinished run of
        another config or grid shard.
      FileExistsError: for a finished workdir without ``overwrite``.
      WorkdirBusy: while another live run holds ``workdir`` (`workdir.locked`).
      sweep.Preempted: when a stop was requested; the run resumes when started again.
    """
    experiment = validate(config)
    options = execution or sweep.Execution()
    marker = FINISHED_MARKER if options.grid_shard is None else SWEEPS_MARKER
    check_workdir(pathlib.Path(workdir), overwrite=overwrite, marker=marker)  # before locking
    with _writer_lock(pathlib.Path(workdir)):
        return _run_locked(experiment, config, workdir, overwrite, show_progress, options)


def dry_run(config: ml_collections.ConfigDict, execution: sweep.Execution | None = None) -> list:
    """Every sweep of the run compiled, sized and timed on one segment, nothing run or written
    (`engine.dry_run`); returns their `engine.dry_run.SweepPlan`s in the order they run.

    The experiment's own code between sweeps runs on NaN placeholders of the sweeps' results.

    Raises:
      ValueError: for a bad config (before any compile), or a memory budget below a sweep's
        smallest chunk.
    """
    experiment = validate(config)
    plans: list = []
    options = dataclasses.replace(
        execution or sweep.Execution(),
        dry_run=plans,
        checkpoint_dir=None,
        metrics_dir=None,
        progress=None,
        config_sha256=sha256_json(_config_json(config)),
    )
    experiment.run_sweeps(config, options)
    record_sweep_count(options.config_sha256, len(plans))
    return plans


def validate(config: ml_collections.ConfigDict) -> experiments.Experiment:
    """The config's experiment, once the config passed every check (nothing is compiled).

    Raises:
      ValueError: naming an unknown experiment, a non-finite number or a bad value.
    """
    experiment = experiments.get(config.experiment)
    check_finite(config)
    experiment.validate(config)
    return experiment


def _writer_lock(directory: pathlib.Path):
    """The work directory's lock, held by the writing process (`workdir.locked`)."""
    return locked(directory) if distributed.is_writer() else contextlib.nullcontext(directory)


def _run_locked(experiment, config, workdir, overwrite, show_progress, options) -> dict[str, Any]:
    """`run` once validated, with the work directory's lock held."""
    shard = options.grid_shard
    marker = FINISHED_MARKER if shard is None else SWEEPS_MARKER
    directory = prepare_workdir(pathlib.Path(workdir), overwrite=overwrite, marker=marker)
    if overwrite:
        _clear(directory)
    else:
        _check_same_job(directory, config, shard)
    if distributed.is_writer():
        for name in (FINISHED_MARKER, SWEEPS_MARKER):
            (directory / name).unlink(missing_ok=True)
        write_json(directory / CONFIG, _config_json(config))
        if shard is not None:
            write_json(directory / GRID_SHARD, _shard_json(shard))
    distributed.barrier("workdir ready")
    started = time.perf_counter()
    digest = sha256_json(_config_json(config))  # every checkpoint records the config it is of
    run_options = dataclasses.replace(
        options,
        checkpoint_dir=directory / CHECKPOINTS,
        config_sha256=digest,
        progress=options.progress or _progress(config, show_progress, digest),
        metrics_dir=directory / TENSORBOARD,
    )
    if show_progress and distributed.is_writer():
        _announce_resume(directory)
    sweeps = experiment.run_sweeps(config, run_options)
    if show_progress and distributed.is_writer():
        record_sweep_count(digest, len(run_options.started_sweeps))
    analysis = None
    if distributed.is_writer():
        _save_sweeps(directory, sweeps)  # before the analysis: a crash there loses no sweep
    if shard is None and distributed.is_writer():
        analysis = analyze(experiment, config, sweeps)
    document = {}
    if distributed.is_writer():
        run_info = environment(time.perf_counter() - started, options)
        if shard is None:
            document = _write_analysis(directory, experiment, config, analysis, run_info)
        else:
            write_json(directory / "run.json", run_info)
            document = {
                "experiment": config.experiment,
                "config": config.variant,
                "grid_shard": f"{shard[0]}/{shard[1]}",
                "sweeps": sorted(sweeps),
                "claims": [],
            }
        shutil.rmtree(directory / CHECKPOINTS, ignore_errors=True)
    distributed.barrier("run written")
    return document


def _progress(config: ml_collections.ConfigDict, show: bool, digest: str):
    """``sweep name -> progress bar`` labelled ``[sweep i of n] <experiment>/<sweep>`` (n from
    an earlier run or dry run of this config, `sweep_counts`); None when not shown."""
    if not (show and distributed.is_writer()):
        return None
    return progress.sweep_counter(config.experiment, recorded_sweep_count(digest))


def recorded_sweep_count(digest: str) -> int | None:
    """How many sweeps the last run or dry run of the config ``digest`` had, or None.

    The count (for "sweep i of n") is known only once an experiment ran: its sweeps are
    started one by one by its own code. It is kept in `SWEEP_COUNTS`, a small cache outside
    any work directory; a missing or unreadable cache only drops the "of n".
    """
    try:
        return int(json.loads(SWEEP_COUNTS.read_text())[digest])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record_sweep_count(digest: str, count: int) -> None:
    """Remembers the number of sweeps of the config ``digest`` (best effort, `SWEEP_COUNTS`)."""
    try:
        counts = json.loads(SWEEP_COUNTS.read_text()) if SWEEP_COUNTS.exists() else {}
        counts = counts if isinstance(counts, dict) else {}
        counts[digest] = int(count)
        SWEEP_COUNTS.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(SWEEP_COUNTS, json.dumps(counts).encode())
    except (OSError, ValueError):
        pass


def _announce_resume(directory: pathlib.Path, stream=sys.stderr) -> None:
    """One line naming the sweeps whose checkpoints an unfinished run left (each sweep then
    says what it restored)."""
    folder = directory / CHECKPOINTS
    saved = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if saved:
        stream.write(
            f"Resuming the unfinished run in {directory}: checkpoints of {len(saved)} sweep(s) "
            f"({', '.join(saved)}); sweeps saved whole are not rerun.\n"
        )


def _clear(directory: pathlib.Path) -> None:
    """Removes what a previous run left that a new one would otherwise resume or keep."""
    if distributed.is_writer():
        shutil.rmtree(directory / CHECKPOINTS, ignore_errors=True)
        shutil.rmtree(directory / TENSORBOARD, ignore_errors=True)
        (directory / GRID_SHARD).unlink(missing_ok=True)
    distributed.barrier("workdir cleared")


def _save_sweeps(directory: pathlib.Path, sweeps: Mapping[str, SweepResult]) -> None:
    """Every sweep's arrays, then ``sweeps.json`` with their names and sha256 digests."""
    for name, result in sweeps.items():
        result.save(directory, prefix=name)
    digests = {name: sha256_file(directory / f"{name}.npz") for name in sorted(sweeps)}
    write_json(directory / SWEEPS_MARKER, {"sweeps": sorted(sweeps), "sha256": digests})


def _load_sweep(directory: pathlib.Path, name: str) -> SweepResult:
    """A saved sweep, checked against the digest ``sweeps.json`` records (where it has one).

    Raises:
      ValueError: naming the file if it is corrupt, truncated or unreadable.
    """
    path = directory / f"{name}.npz"
    recorded = (_read_json(directory / SWEEPS_MARKER) or {}).get("sha256", {}).get(name)
    problem = None
    if recorded is not None and (not path.is_file() or sha256_file(path) != recorded):
        problem = "does not match the sha256 recorded in sweeps.json"
    else:
        try:
            return SweepResult.load(directory, name)
        except Exception as error:  # BadZipFile, KeyError, OSError, ...
            problem = f"is unreadable ({type(error).__name__}: {error})"
    raise ValueError(
        f"sweep file {str(path)!r} {problem}; rerun that work directory's launch.sweep command "
        "with --overwrite to recompute it"
    )


def analyze(experiment, config, sweeps: Mapping[str, SweepResult]) -> Analysis:
    """The experiment's ``analyze``, as every run gets it (`claims.replicated_analysis`):
    diverged seeds dropped and noted, then all seeds and each half of them analyzed."""
    return replicated_analysis(experiment.analyze, config, sweeps, discard=_close_figures)


def _close_figures(figures: Mapping[str, Any]) -> None:
    import matplotlib.pyplot as plt

    for figure in figures.values():
        plt.close(figure)


def _write_analysis(directory, experiment, config, analysis: Analysis, run_info) -> dict[str, Any]:
    """Figures, theory, run info and claims; ``claims.json`` last, as the finished mark."""
    _save_figures(directory, config, analysis.figures, run_info["git_commit"])
    if experiment.theory is not None:
        write_json(directory / "theory.json", experiment.theory(config))
    write_json(directory / "run.json", run_info)
    document = claims_document(
        config.experiment, config.variant, analysis.claims, analysis.notes, analysis.split
    )
    atomic_write(directory / "claims.md", claims_markdown(document).encode())
    write_json(directory / FINISHED_MARKER, document)
    return document


def _save_figures(directory, config, figures: Mapping[str, Any], commit: str) -> None:
    """Every figure as PNG and PDF with its caption (`plots.save`), and ``figures.json``:
    ``{name: {"png", "pdf", "caption"}}`` (file names relative to the work directory)."""
    seeds = config.get("grid", {}).get("seed")
    line = plots.caption_line(
        config.experiment, config.variant, None if seeds is None else len(seeds), commit
    )
    captions = {}
    for name, figure in figures.items():
        text = plots.save(figure, directory / f"{name}.png", caption=line)
        captions[name] = {"png": f"{name}.png", "pdf": f"{name}.pdf", "caption": text}
    write_json(directory / FIGURES, captions)


def merge(
    workdirs: Sequence[str | pathlib.Path],
    workdir: str | pathlib.Path,
    *,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Joins the work directories of every grid shard of a run, then analyzes the whole.

    Args:
      workdirs: one finished grid-shard work directory per shard, in any order.
      workdir: the merged run's work directory.
      overwrite: replace a finished run in ``workdir``.

    Returns:
      The claims document of the merged run.

    Raises:
      ValueError: naming the work directories, if one is not a finished grid shard, their
        configs differ, shards (cells) are missing or duplicated, a work directory is given
        twice, ``workdir`` is one of them or inside one, or a sweep file is corrupt.
      FileExistsError: for a finished ``workdir`` without ``overwrite``.
      WorkdirBusy: while another live run holds ``workdir``.
    """
    sources = [pathlib.Path(w) for w in workdirs]
    if not sources:
        raise ValueError("no grid-shard workdirs to merge")
    check_merge_paths(sources, pathlib.Path(workdir))
    for source in sources:
        if not (source / SWEEPS_MARKER).exists() or not (source / GRID_SHARD).exists():
            raise ValueError(
                f"workdir {str(source)!r} is not a finished grid shard ({SWEEPS_MARKER} "
                f"and {GRID_SHARD} expected)"
            )
    configs = [_read_json(source / CONFIG) for source in sources]
    for source, other in zip(sources[1:], configs[1:], strict=True):
        differences = config_differences(configs[0], other)
        if differences:
            raise ValueError(
                f"workdirs {str(sources[0])!r} and {str(source)!r} hold different configs "
                f"({'; '.join(differences)})"
            )
    shards = {source: _read_json(source / GRID_SHARD) for source in sources}
    _check_shards_cover(shards)
    names = [tuple(_read_json(source / SWEEPS_MARKER)["sweeps"]) for source in sources]
    if len(set(names)) != 1:
        raise ValueError(f"the shards hold different sweeps: {sorted(set(names))}")
    config = ml_collections.ConfigDict(configs[0])
    experiment = validate(config)
    check_workdir(pathlib.Path(workdir), overwrite=overwrite)
    sweeps = {
        name: grid_shards.merge_results([_load_sweep(source, name) for source in sources], name)
        for name in names[0]
    }
    with locked(pathlib.Path(workdir)):
        directory = prepare_workdir(pathlib.Path(workdir), overwrite=overwrite)
        started = time.perf_counter()
        write_json(directory / CONFIG, configs[0])
        _save_sweeps(directory, sweeps)
        analysis = analyze(experiment, config, sweeps)
        run_info = environment(time.perf_counter() - started, sweep.Execution())
        run_info["merged_from"] = {str(s): _read_json(s / "run.json") for s in sources}
        return _write_analysis(directory, experiment, config, analysis, run_info)


def check_merge_paths(sources: Sequence[pathlib.Path], output: pathlib.Path) -> None:
    """Refuses a work directory given twice (by resolved path) and an output that is one of
    the inputs or inside one (it would overwrite a shard)."""
    resolved: dict[pathlib.Path, pathlib.Path] = {}
    for source in sources:
        real = source.resolve()
        if real in resolved:
            raise ValueError(
                f"workdirs {str(resolved[real])!r} and {str(source)!r} are the same directory; "
                "pass each grid shard's work directory once"
            )
        resolved[real] = source
    target = output.resolve()
    for real, source in resolved.items():
        if target == real or real in target.parents:
            raise ValueError(
                f"the merged workdir {str(output)!r} is the grid shard {str(source)!r} or inside "
                "it, which the merge would overwrite; choose a --workdir outside every shard"
            )


def _check_shards_cover(shards: Mapping[pathlib.Path, Mapping[str, int]]) -> None:
    counts = {int(shard["count"]) for shard in shards.values()}
    if len(counts) != 1:
        raise ValueError(f"the workdirs split the grid differently: {_describe(shards)}")
    count = counts.pop()
    by_index: dict[int, list[str]] = {}
    for source, shard in shards.items():
        by_index.setdefault(int(shard["index"]), []).append(str(source))
    duplicated = {i: s for i, s in by_index.items() if len(s) > 1}
    if duplicated:
        raise ValueError(
            "duplicated grid shards: "
            + "; ".join(f"{i}/{count} in {s}" for i, s in sorted(duplicated.items()))
        )
    missing = sorted(set(range(count)) - set(by_index))
    if missing:
        raise ValueError(
            f"missing grid shards {[f'{i}/{count}' for i in missing]} (have {_describe(shards)})"
        )


def _describe(shards: Mapping[pathlib.Path, Mapping[str, int]]) -> str:
    return ", ".join(f"{s}: {v['index']}/{v['count']}" for s, v in shards.items())


def git_commit() -> str:
    """The commit of the code that runs, with ``-dirty`` for local changes, or "unknown"."""
    root = pathlib.Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if head.returncode:
        return "unknown"
    return head.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


def cpu_model() -> str:
    """The host CPU's model name (``/proc/cpuinfo``, else `platform`), or "unknown".

    Floating-point code generation differs between CPUs, so runs are bitwise reproducible only
    on the same CPU model (BUILD.md, "Reproducibility").
    """
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def environment(seconds: float, options: sweep.Execution | None = None) -> dict[str, Any]:
    """What produced a run: wall time, library versions, devices, host CPU model, XLA flags,
    processes, git commit."""
    import flax
    import jax
    import optax
    import orbax.checkpoint

    options = options or sweep.Execution()
    devices = jax.devices() if options.devices is None else list(options.devices)
    shard = options.grid_shard
    return {
        "seconds": round(seconds, 1),
        "versions": {
            "jax": jax.__version__,
            "flax": flax.__version__,
            "optax": optax.__version__,
            "orbax_checkpoint": orbax.checkpoint.__version__,
        },
        "devices": {"kind": devices[0].device_kind, "count": len(devices)},
        "cpu": cpu_model(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "processes": jax.process_count(),
        "git_commit": git_commit(),
        "memory_budget_bytes": options.memory_budget_bytes,
        "grid_shard": None if shard is None else f"{shard[0]}/{shard[1]}",
    }


def print_summary(document: dict[str, Any], workdir: pathlib.Path, stream=sys.stdout) -> None:
    """Prints a finished run's claims (or a grid shard's note) and where its files are."""
    if "grid_shard" in document:
        stream.write(
            f"\nGrid shard {document['grid_shard']} of {document['experiment']}: sweeps "
            f"{', '.join(document['sweeps'])} saved in {workdir}; join the shards with "
            "python -m launch.merge --workdirs=... --workdir=...\n"
        )
        return
    stream.write("\n" + compact_claims(document))
    stream.write(f"Statements, seed halves and notes: {pathlib.Path(workdir) / 'claims.md'}\n")
    if document.get("config") == "tiny":
        stream.write(
            "This is the tiny config: its verdicts are a smoke test of the pipeline, not "
            "evidence; run the cpu config for the demo.\n"
        )
    figures = sorted(p.name for p in pathlib.Path(workdir).glob("*.png"))
    stream.write(f"Work directory: {workdir}\n")
    stream.write("Figures (PNG and PDF): " + ", ".join(figures) + "\n")
    stream.write(f"Live metrics: tensorboard --logdir {pathlib.Path(workdir) / TENSORBOARD}\n")


def compact_claims(document: Mapping[str, Any]) -> str:
    """The claims as a plain-text table: id (kind when not a claim), verdict, statistic, CI."""
    rows = [("id", "verdict", "statistic", "95% CI")]
    for claim in document["claims"]:
        kind = claim.get("kind", "claim")
        rows.append(
            (
                claim["id"] if kind == "claim" else f"{claim['id']} ({kind})",
                claim["verdict"],
                format_number(claim.get("statistic")),
                format_ci(claim.get("ci")),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        f"Claims of {document['experiment']} ({document['config']}): "
        f"{tally_text(summarize(document['claims'])['claim'])}"
    ]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]  # fmt: skip
    return "\n".join(lines) + "\n"
