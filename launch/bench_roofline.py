r"""Expected H100 time of each gpu config, on paper (issue 18, item 4).

    python -m launch.bench --gpu_costs --configs=yang2023:gpu,acharyya2021:gpu,... \
        --out=runs/bench/gpu_costs.md --json=runs/bench/gpu_costs.json

For every sweep a config would run (listed by a dry run, nothing trained): FLOPs and bytes per
cell-step from XLA's cost analysis of the CPU-compiled program, and the roofline time on an
H100 (`pruning_theory.benchmarks.roofline`). The numbers are deterministic (they depend on the
program, not on the machine's load), so the first GPU run can be judged against them.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Sequence

from launch.bench_phases import load_configs, write_reports
from pruning_theory.benchmarks import roofline, timing


def run(specs: Sequence[str], *, out: str | None = None, json_path: str | None = None) -> dict:
    """Prices every config (all loaded before the first dry run); with ``out`` and
    ``json_path`` the reports are rewritten after every config."""
    configs = load_configs(specs)
    report = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m launch.bench " + " ".join(sys.argv[1:]),
        "machine": timing.machine(),
        "peak_flops_per_s": roofline.H100_FP32_FLOPS,
        "bandwidth_bytes_per_s": roofline.H100_HBM_BYTES_PER_S,
        "launch_floor_s": roofline.LAUNCH_FLOOR_S,
        "configs": [],
    }
    for spec, config in configs.items():
        estimate = roofline.config_estimate(config)
        report["configs"].append({"config": spec, **estimate})
        print(f"{spec}: {estimate['roofline_s']:.1f} s on paper", file=sys.stderr)
        if out and json_path:
            write_reports(markdown(report), report, out, json_path)
    return report


def _duration(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def markdown(report: dict) -> str:
    """One row per sweep, then the total of each config."""
    lines = [
        f"Computed {report['date']} with jax {report['machine']['jax']} (CPU-compiled programs)"
        f"; `{report['command']}`. H100 at {report['peak_flops_per_s'] / 1e12:.0f} TFLOP/s "
        f"float32 (non-tensor) and {report['bandwidth_bytes_per_s'] / 1e12:.2f} TB/s; launch "
        f"floor {report['launch_floor_s'] * 1e6:.0f} us per step of the whole grid (assumed).",
        "",
        "| config | sweep | cells | steps | MFLOP per cell-step | MB per cell-step "
        "| FLOP/byte | steps on the roofline | whole sweep on the roofline | launch floor "
        "| expected |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in report["configs"]:
        for s in entry["sweeps"]:
            intensity = s["step_flops"] / max(s["step_bytes"], 1.0)
            expected = max(s["roofline_s"], s["launch_floor_s"])
            lines.append(
                f"| {entry['config']} | {s['name']} | {s['cells']} | {s['num_steps']} | "
                f"{s['step_flops'] / 1e6:.3g} | {s['step_bytes'] / 1e6:.3g} | {intensity:.2f} | "
                f"{_duration(s['steps_s'])} | {_duration(s['roofline_s'])} | "
                f"{_duration(s['launch_floor_s'])} | {_duration(expected)} |"
            )
        stopped = f" (dry run stopped early: {entry['stopped']})" if entry["stopped"] else ""
        lines.append(
            f"| **{entry['config']}** | **all sweeps**{stopped} | | | | | | | "
            f"{_duration(entry['roofline_s'])} | | **{_duration(entry['expected_s'])}** |"
        )
    return "\n".join(lines) + "\n"
