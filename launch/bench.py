r"""Performance harness: vectorized grids against per-cell loops, PyTorch and the matmul peak.

    python -m launch.bench --out=BENCHMARKS.md --json=BENCHMARKS.json

For each landed experiment's benchmark config (the cpu config, or ``--scale=tiny``, with fewer
steps and no step scaling, so that every cell does the same work) it measures in one process:

* the vmapped grid against the same single-cell segment program called in a Python loop over
  the cells (one compile reused; `pruning_theory.benchmarks.cells`), warm wall times and the
  ratio, and that both give the same metrics;
* the PyTorch loop over the same cells (`pruning_theory.benchmarks.torch_reference`, skipped
  when torch is not installed);
* compile count and compile seconds, throughput (cell-steps/s), achieved FLOP/s (XLA cost
  analysis of one cell's init, step and metrics) and its ratio to the float32 matmul peak
  measured in this process, against the number of cells.

Two other reports, each over whole configs of any paper (``--configs=paper:variant,...``):

    python -m launch.bench --phases --configs=yang2023:cpu,acharyya2021:cpu     # item 1
    python -m launch.bench --gpu_costs --configs=yang2023:gpu,wolfe2021:gpu     # item 4

``--phases`` runs each job whole and tabulates where its time goes (`launch.bench_phases`);
``--gpu_costs`` prices each sweep of a config on an H100 from XLA's cost analysis without
training (`launch.bench_roofline`). Both write ``runs/bench/<report>.md`` and ``.json`` unless
``--out`` / ``--json`` are given.

Cases: ``yang2023_span`` and ``yang2023_weights`` (the two `train.parametrization`s: exact
O(n^2) span GD and plain weight-space GD), ``acharyya2021`` (online SGD of the (M, K) = (2, 6)
committee; training only, the post-training pruning analysis left out).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import pathlib
import sys
from collections.abc import Callable

import jax
import numpy as np
from absl import app, flags

from launch import bench_phases, bench_roofline
from launch.configs import acharyya2021 as acharyya2021_configs
from launch.configs import yang2023 as yang2023_configs
from pruning_theory import engine
from pruning_theory.benchmarks import cells, flops, phases, targets, timing
from pruning_theory.papers.acharyya2021 import experiment as acharyya2021
from pruning_theory.papers.yang2023 import experiment as yang2023

CASES = ("yang2023_span", "yang2023_weights", "acharyya2021")

_OUT = flags.DEFINE_string("out", "BENCHMARKS.md", "Markdown report.")
_JSON = flags.DEFINE_string("json", "BENCHMARKS.json", "JSON report.")
_CASES = flags.DEFINE_list("cases", list(CASES), f"Which of {CASES}.")
_SCALE = flags.DEFINE_enum("scale", "cpu", ["tiny", "cpu"], "Config variant the sizes come from.")
_CELL_COUNTS = flags.DEFINE_list("cell_counts", ["1", "4", "16", "64", "256"], "Scaling grid.")
_SPAN_STEPS = flags.DEFINE_integer("span_steps", 200, "GD steps of yang2023_span.")
_WEIGHTS_STEPS = flags.DEFINE_integer("weights_steps", 20, "GD steps of yang2023_weights.")
_SGD_STEPS = flags.DEFINE_integer("sgd_steps", 2000, "Online SGD steps of acharyya2021.")
_SCALING_FRACTION = flags.DEFINE_float(
    "scaling_fraction", 0.5, "Steps of the cell-count scan as a fraction of the case's steps."
)
_TORCH = flags.DEFINE_bool("torch", True, "Time the PyTorch loop (needs the bench extra).")
_MATMUL_SIZE = flags.DEFINE_integer("matmul_size", 2048, "Side of the peak-matmul operands.")
_PHASES = flags.DEFINE_bool(
    "phases", False, "Profile whole jobs instead (--configs; launch/bench_phases.py)."
)
_GPU_COSTS = flags.DEFINE_bool(
    "gpu_costs", False, "Price configs on an H100 instead (--configs; launch/bench_roofline.py)."
)
_CONFIGS = flags.DEFINE_list("configs", [], "paper:variant,... for --phases and --gpu_costs.")
_WORKDIR = flags.DEFINE_string("workdir", "", "--phases: keep the runs here ('' for a temp dir).")
_SPLIT = flags.DEFINE_bool("split", True, "--phases: split each sweep into data/init/steps/...")
_COMPILATION_CACHE = flags.DEFINE_string(
    "compilation_cache_dir", "", "JAX's persistent compilation cache ('' for none: cold compiles)."
)
_NUM_LOGS = 4


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark: a program, its benchmark grid, and how to scale it and time torch."""

    name: str
    config: str
    program: engine.Program
    grid: engine.Grid
    num_steps: int
    scaled_grid: Callable[[int], engine.Grid]
    torch_loop: Callable[[engine.Grid], list[float]] | None


def _split(num_cells: int, inner: int) -> tuple[int, int]:
    """(outer, inner) sizes with outer * inner == num_cells, inner at most ``inner``."""
    inner = math.gcd(num_cells, inner)
    return num_cells // inner, inner


def _yang2023_case(parametrization: str, scale: str, steps: int) -> Case:
    config = yang2023_configs.get_config(scale)
    config.train.update(
        parametrization=parametrization, step_scaling="none", steps=steps, num_logs=_NUM_LOGS
    )
    yang2023.validate(config)
    program, grid = yang2023.program_and_grid(config)

    def scaled(num_cells: int) -> engine.Grid:
        seeds, rates = _split(num_cells, 16)
        axes = {"seed": tuple(range(seeds)), "pruning_rate": tuple(np.linspace(0, 0.99, rates))}
        return engine.Grid(axes, data_axes=("seed",))

    def torch_loop(grid: engine.Grid) -> list[float]:
        from pruning_theory.benchmarks import torch_reference

        data, model = config.data, config.model
        return torch_reference.yang2023_weights_gd(
            [(s, p) for s in grid.axes["seed"] for p in grid.axes["pruning_rate"]],
            dimension=data.dimension,
            num_train=data.num_train,
            width=model.width,
            power=model.power,
            init_std=model.init_std,
            mu_norm=data.mu_norm,
            noise_std=data.noise_std,
            learning_rate=config.train.learning_rate,
            num_steps=steps,
            log_every=steps // _NUM_LOGS,
            num_test=data.num_test,  # like the JAX finalize's test accuracy
        )

    summary = (
        f"{scale} sizes d={config.data.dimension} n={config.data.num_train} "
        f"m={config.model.width}, {steps} GD steps, step_scaling=none, "
        f"parametrization={parametrization}"
    )
    # The PyTorch reference is weight-space GD; only the weights case compares like with like.
    reference = torch_loop if parametrization == "weights" else None
    return Case(f"yang2023_{parametrization}", summary, program, grid, steps, scaled, reference)


def _acharyya2021_case(scale: str, steps: int) -> Case:
    config = acharyya2021_configs.get_config(scale)
    config.train.alpha = max(1, steps // config.data.dimension)
    acharyya2021.validate(config)
    setting = acharyya2021.settings(config)[config.main_setting]
    program = dataclasses.replace(acharyya2021.make_program(config, setting), finalize=None)
    grid = engine.Grid(dict(config.grid), data_axes=("seed",))

    def scaled(num_cells: int) -> engine.Grid:
        seeds, noises = _split(num_cells, 4)
        axes = {"seed": tuple(range(seeds)), "noise": tuple(np.linspace(0, 0.5, noises))}
        return engine.Grid(axes, data_axes=("seed",))

    def torch_loop(grid: engine.Grid) -> list[float]:
        from pruning_theory.benchmarks import torch_reference

        return torch_reference.committee_online_sgd(
            [(s, n) for s in grid.axes["seed"] for n in grid.axes["noise"]],
            dimension=config.data.dimension,
            teachers=setting[0],
            students=setting[1],
            v_star=config.data.v_star,
            learning_rate=config.train.learning_rate,
            num_steps=steps,
            log_every=steps // _NUM_LOGS,
        )

    summary = (
        f"{scale} sizes N={config.data.dimension} (M, K)={setting}, {steps} online SGD steps, "
        "training only (no pruning analysis)"
    )
    return Case("acharyya2021", summary, program, grid, steps, scaled, torch_loop)


def measure(case: Case, *, cell_counts: list[int], scaling_steps: int, peak: float, torch: bool):
    """Every number of one case; see the module docstring."""
    log_every = case.num_steps // _NUM_LOGS
    run = dict(num_steps=case.num_steps, log_every=log_every)
    work = flops.cell_flops(case.program, case.grid, **run)
    grid = cells.run_grid(case.program, case.grid, **run)
    loop = cells.run_per_cell(case.program, case.grid, **run)
    agreement = max(
        float(np.nanmax(np.abs(grid.metrics[k] - loop.metrics[k]))) for k in grid.metrics
    )
    num_cells = case.grid.num_cells
    row = {
        "case": case.name,
        "config": case.config,
        "cells": num_cells,
        "num_steps": case.num_steps,
        "grid_warm_s": grid.warm_s,
        "grid_cold_s": grid.cold_s,
        "loop_warm_s": loop.warm_s,
        "loop_cold_s": loop.cold_s,
        "loop_over_grid": loop.warm_s / grid.warm_s,
        "grid_segment_compiles": grid.segment_compiles,
        "loop_segment_compiles": loop.segment_compiles,
        "max_metric_difference": agreement,
        "cell_flops": work,
        "grid_flops_per_s": num_cells * work["total"] / grid.warm_s,
        "grid_utilization": num_cells * work["total"] / grid.warm_s / peak,
    }
    if torch and case.torch_loop is not None:
        _, torch_s = timing.best_timed(case.torch_loop, case.grid)
        row.update(torch_s=torch_s, torch_over_grid=torch_s / grid.warm_s)
    row["phases"] = phases.phase_seconds(case.program, case.grid, num_steps=case.num_steps)
    scaling = []
    scaled_run = dict(num_steps=scaling_steps, log_every=scaling_steps // _NUM_LOGS)
    scaled_work = flops.cell_flops(case.program, case.grid, **scaled_run)["total"]
    for count in cell_counts:
        result = cells.run_grid(case.program, case.scaled_grid(count), **scaled_run)
        scaling.append(
            {
                "cells": count,
                "segment_compiles": result.segment_compiles,
                "backend_compiles": result.backend_compiles,
                "compile_s": result.compile_s,
                "cold_s": result.cold_s,
                "warm_s": result.warm_s,
                "cell_steps_per_s": count * scaling_steps / result.warm_s,
                "flops_per_s": count * scaled_work / result.warm_s,
                "utilization": count * scaled_work / result.warm_s / peak,
            }
        )
    row["scaling_steps"] = scaling_steps
    row["scaling"] = scaling
    return row


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Measured {report['date']} on {m['backend']} ({m['cpu_count']} cores, {m['cpu_model']}, "
        f"{m['memory_gib']} GiB), jax {m['jax']}, torch {report.get('torch', 'not installed')}. "
        f"Regenerate with `{report['command']}`.",
        "",
        f"Load average (1/5/15 min) at start {report['load_start']}, at end {report['load_end']}"
        " (the machine is shared: timings are inflated by other processes).",
        f"Measured float32 matmul peak ({report['matmul_size']}^2 jnp.dot, best of 5): "
        f"{report['peak_flops_per_s'] / 1e9:.1f} GFLOP/s; measured copy bandwidth (256 MiB "
        f"float32 `2 * x`): {report['copy_bytes_per_s'] / 1e9:.1f} GB/s; machine balance "
        f"{report['peak_flops_per_s'] / report['copy_bytes_per_s']:.1f} FLOP/byte (a step of "
        "lower arithmetic intensity is bound by memory traffic).",
        "",
        "## Grid vs per-cell loop vs PyTorch loop (warm wall seconds, compiles excluded)",
        "",
        "| case | config | cells | grid s | per-cell loop s | loop / grid | PyTorch s"
        " | PyTorch / grid | segment compiles (grid, loop) | max metric diff grid vs loop"
        " | GFLOP/s | % of peak | step FLOP/byte |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["cases"]:
        torch_s = f"{r['torch_s']:.2f}" if "torch_s" in r else "-"
        torch_ratio = f"{r['torch_over_grid']:.1f}x" if "torch_s" in r else "-"
        lines.append(
            f"| {r['case']} | {r['config']} | {r['cells']} | {r['grid_warm_s']:.2f} | "
            f"{r['loop_warm_s']:.2f} | {r['loop_over_grid']:.2f}x | {torch_s} | {torch_ratio} | "
            f"{r['grid_segment_compiles']}, {r['loop_segment_compiles']} | "
            f"{r['max_metric_difference']:.1e} | {r['grid_flops_per_s'] / 1e9:.2f} | "
            f"{100 * r['grid_utilization']:.1f} | "
            f"{r['cell_flops']['step'] / max(r['cell_flops']['step_bytes'], 1):.2f} |"
        )
    per_step = {r["case"]: r["grid_warm_s"] / r["num_steps"] for r in report["cases"]}
    if {"yang2023_span", "yang2023_weights"} <= set(per_step):
        lines += [
            "",
            "Algorithmic speedup of span GD over weight-space GD (same grid, warm seconds per "
            "step of the whole grid): "
            f"{per_step['yang2023_weights'] / per_step['yang2023_span']:.1f}x "
            "(span includes its one-off O(n^2 d) Gram set-up, amortized over its steps).",
        ]
    lines += [
        "",
        "## Where the time goes: one data cell and its model cells, each phase timed alone",
        "",
        "| case | model cells | make_data s | init s | steps s | finalize s | steps share |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["cases"]:
        p = r["phases"]
        total = p["data"] + p["init"] + p["steps"] + p["finalize"]
        lines.append(
            f"| {r['case']} ({p['num_steps']} steps) | {p['model_cells']} | {p['data']:.3f} | "
            f"{p['init']:.3f} | {p['steps']:.3f} | {p['finalize']:.3f} | "
            f"{100 * p['steps'] / total:.0f}% |"
        )
    lines += ["", "## CPU targets (issue 7), judged on the numbers above", ""]
    lines += ["| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {v} |" for t, m, v in targets.cpu_targets(report)]
    for r in report["cases"]:
        lines += [
            "",
            f"## {r['case']}: compiles, compile time and throughput vs cells "
            f"({r['scaling_steps']} steps)",
            "",
            "| cells | segment compiles | XLA compiles | compile s | cold s | warm s "
            "| cell-steps/s | GFLOP/s | % of peak |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for s in r["scaling"]:
            lines.append(
                f"| {s['cells']} | {s['segment_compiles']} | {s['backend_compiles']} | "
                f"{s['compile_s']:.2f} | {s['cold_s']:.2f} | {s['warm_s']:.3f} | "
                f"{s['cell_steps_per_s']:.0f} | {s['flops_per_s'] / 1e9:.2f} | "
                f"{100 * s['utilization']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def report_mode() -> bool:
    """Runs ``--phases`` or ``--gpu_costs`` if one is set (True), else nothing (False)."""
    if not (_PHASES.value or _GPU_COSTS.value):
        return False
    if _PHASES.value and _GPU_COSTS.value:
        raise ValueError("--phases and --gpu_costs are separate runs; pass one of them")
    module, name = (bench_phases, "phases") if _PHASES.value else (bench_roofline, "gpu_costs")
    out = _OUT.value if _OUT.present else f"runs/bench/{name}.md"
    json_path = _JSON.value if _JSON.present else f"runs/bench/{name}.json"
    if _PHASES.value:
        bench_phases.load_configs(_CONFIGS.value)  # a bad spec fails before any compile
        report = bench_phases.run(
            _CONFIGS.value, workdir=_WORKDIR.value, split=_SPLIT.value, out=out, json_path=json_path
        )
    else:
        report = bench_roofline.run(_CONFIGS.value, out=out, json_path=json_path)
    text = module.markdown(report)
    bench_phases.write_reports(text, report, out, json_path)
    print(text)
    return True


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    if _COMPILATION_CACHE.value:
        jax.config.update("jax_compilation_cache_dir", _COMPILATION_CACHE.value)
    if report_mode():
        return
    unknown = sorted(set(_CASES.value) - set(CASES))
    if unknown:
        raise ValueError(f"--cases {unknown} are not among {CASES}")
    cell_counts = [int(c) for c in _CELL_COUNTS.value]
    if any(c <= 0 for c in cell_counts):
        raise ValueError(f"--cell_counts must be positive, got {cell_counts}")
    steps = {"yang2023_span": _SPAN_STEPS.value, "yang2023_weights": _WEIGHTS_STEPS.value}
    steps["acharyya2021"] = _SGD_STEPS.value
    for name, value in steps.items():
        if value < _NUM_LOGS or value % _NUM_LOGS:
            raise ValueError(f"steps of {name} must be a positive multiple of {_NUM_LOGS}: {value}")
    torch_version = None
    if _TORCH.value:
        try:
            import torch

            torch_version = torch.__version__
        except ImportError:
            torch_version = None
    builders = {
        "yang2023_span": lambda: _yang2023_case("span", _SCALE.value, steps["yang2023_span"]),
        "yang2023_weights": lambda: _yang2023_case(
            "weights", _SCALE.value, steps["yang2023_weights"]
        ),
        "acharyya2021": lambda: _acharyya2021_case(_SCALE.value, steps["acharyya2021"]),
    }
    report = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m launch.bench " + " ".join(sys.argv[1:]),
        "machine": timing.machine(),
        "load_start": [round(x, 2) for x in timing.load_average()],
        "matmul_size": _MATMUL_SIZE.value,
    }
    if torch_version:
        report["torch"] = torch_version
    peak = timing.matmul_peak(_MATMUL_SIZE.value)
    report["peak_flops_per_s"] = peak
    report["copy_bytes_per_s"] = timing.copy_bandwidth()
    report["cases"] = []
    for name in _CASES.value:
        case = builders[name]()
        scaling_steps = max(
            _NUM_LOGS, int(case.num_steps * _SCALING_FRACTION.value) // _NUM_LOGS * _NUM_LOGS
        )
        report["cases"].append(
            measure(
                case,
                cell_counts=cell_counts,
                scaling_steps=scaling_steps,
                peak=peak,
                torch=torch_version is not None,
            )
        )
        print(f"{name}: done (load {timing.load_average()})", file=sys.stderr)
        # Written after every case, so a run cut short still leaves what it measured.
        report["load_end"] = [round(x, 2) for x in timing.load_average()]
        pathlib.Path(_JSON.value).write_text(json.dumps(report, indent=1, default=float))
        text = markdown(report)
        pathlib.Path(_OUT.value).write_text(text)
    print(text)


if __name__ == "__main__":
    app.run(main)
