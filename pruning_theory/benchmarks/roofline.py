"""Expected GPU time of a config's sweeps, on paper: XLA's costs against an H100's peak.

`recording.dry_run` lists the sweeps a config would run without training any (each sweep runs
as an empty grid shard), and `sweep_estimate` prices each:
the FLOPs and bytes of one call of each piece of its program (`flops.cell_costs`, from XLA's
cost analysis of the program compiled *for the CPU*, an estimate of what the GPU compiler
emits), turned into seconds by the roofline ``max(FLOPs / peak, bytes / bandwidth)`` per call
and multiplied by the calls of a run: ``make_data`` per data cell; per cell ``init``, every
step, every evaluation and ``finalize``.

What the roofline leaves out, and the first GPU run will show: the grid's cells share their
data cell's data (the per-cell bytes count it once per cell, an overestimate), kernels too
small to fill the GPU (a step of a small cell is bound by kernel launches, not by the
roofline; `LAUNCH_FLOOR_S` per step of the whole grid is given beside it as an assumption),
the host round trip per segment, compiles, and work outside the engine.
"""

from __future__ import annotations

from typing import Any

import ml_collections
import numpy as np

from pruning_theory.benchmarks import flops
from pruning_theory.benchmarks.recording import SweepRecord, dry_run

# NVIDIA H100 SXM5 datasheet: FP32 (non-tensor) 67 TFLOP/s, HBM3 3.35 TB/s. The sweeps run in
# float32; TF32 tensor cores (495 TFLOP/s dense), where XLA uses them for float32 matmuls, are
# faster still for matmul-bound steps.
H100_FP32_FLOPS = 67e12
H100_HBM_BYTES_PER_S = 3.35e12
# Assumed least wall time of one step of the whole grid (a few fused kernels at a few
# microseconds of launch latency each): a floor for steps too small to reach the roofline.
LAUNCH_FLOOR_S = 10e-6


def roofline_s(flops_and_bytes: tuple[float, float]) -> float:
    """``max(FLOPs / peak, bytes / bandwidth)`` of one call on an H100 (float32)."""
    work, traffic = flops_and_bytes
    return max(work / H100_FP32_FLOPS, traffic / H100_HBM_BYTES_PER_S)


def sweep_estimate(record: SweepRecord) -> dict[str, Any]:
    """FLOPs and bytes per cell-step, and the expected H100 seconds of one sweep."""
    costs = flops.cell_costs(record.program, record.grid, log_every=record.log_every)
    grid = record.grid
    data_cells = int(np.prod([len(grid.axes[name]) for name in grid.data_axes]))
    cells, steps, every = record.num_cells, record.num_steps, record.log_every
    logs = steps // every
    seconds = {name: roofline_s(cost) for name, cost in costs.items()}
    step_s = logs * ((every - 1) * seconds["step"] + seconds["boundary_step"])
    per_cell = seconds["init"] + step_s + logs * seconds["evaluate"] + seconds["finalize"]
    mean_step = [
        (logs * ((every - 1) * costs["step"][i] + costs["boundary_step"][i])) / steps
        for i in (0, 1)
    ]
    return {
        "name": record.name,
        "cells": cells,
        "data_cells": data_cells,
        "num_steps": steps,
        "log_every": every,
        "costs": costs,
        "step_flops": mean_step[0],
        "step_bytes": mean_step[1],
        "steps_s": cells * step_s,
        "roofline_s": data_cells * seconds["data"] + cells * per_cell,
        "launch_floor_s": steps * LAUNCH_FLOOR_S,
    }


def config_estimate(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """Every sweep of ``config`` priced (`sweep_estimate`), and the dry run's stop reason."""
    records, stopped = dry_run(config)
    sweeps = [sweep_estimate(record) for record in records]
    return {
        "sweeps": sweeps,
        "stopped": stopped,
        "roofline_s": sum(s["roofline_s"] for s in sweeps),
        "expected_s": sum(max(s["roofline_s"], s["launch_floor_s"]) for s in sweeps),
    }
