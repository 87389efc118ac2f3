r"""How much pre-training before pruning (Wolfe et al. 2021): the job and its sweeps.

Spec: docs/papers/wolfe2021.md. The job runs, each where its config enables it:

* ``metrics``: the NTK net on MNIST (the packaged 5000 images, so m goes *down* from 5000),
  pre-trained with snapshots and pruned by greedy selection on every snapshot (`program`);
* ``scratch``: width-k nets trained from scratch on the largest MNIST set (C4c, C4d);
* ``mnist1d``: the same NTK sweep on generated MNIST-1D (``config.mnist1d.overrides``), where
  m goes *up* to tens of thousands, so t*(m) is measured over more than 2.5 decades of m across
  the two datasets;
* ``practical``: the 784-N-10 MLP pruned by the official code's greedy variant (P1).

The sizes of a sweep are split into consecutive groups (`size_groups`), each one compiled
program of several sizes padded to the group's largest (``data.max_pad_ratio`` bounds the
padding waste); the groups are joined back into one result along ``num_train``. The scratch
widths are grouped alike.

Knobs where the spec leaves a choice (defaults and reasons in launch/configs/wolfe2021.py):
``data.normalization`` (sum or mean loss), ``model.init_std`` (kappa), ``greedy.*`` (theory
variant or official-code variant), ``train.loss`` (squared or cross-entropy).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Mapping
from typing import Any

import ml_collections
import numpy as np

from pruning_theory import engine
from pruning_theory.data import weighted
from pruning_theory.engine.overrides import with_overrides
from pruning_theory.engine.results import SweepResult
from pruning_theory.experiment import Experiment
from pruning_theory.papers.wolfe2021 import claims as wolfe2021_claims
from pruning_theory.papers.wolfe2021 import figures as wolfe2021_figures
from pruning_theory.papers.wolfe2021 import greedy, pools, program, theory

NAME = "wolfe2021"
MODEL_KINDS = ("ntk", "mlp")
SCALES = ("l2", "unit")
VARIANTS = ("mnist1d", "practical")  # config sections {enabled, overrides} of extra sweeps
NTK_SWEEPS = ("metrics", "mnist1d")  # the sweeps the NTK theory applies to
LABELS = {"metrics": "[MNIST] ", "mnist1d": "[MNIST-1D] ", "practical": "[MNIST, MLP] "}


def _check_choices(config: ml_collections.ConfigDict) -> None:
    choices = {
        "model.kind": (config.model.kind, MODEL_KINDS),
        "data.scale": (config.data.scale, SCALES),
        "train.loss": (config.train.loss, greedy.LOSSES),
    }
    for name, (value, options) in choices.items():
        if value not in options:
            raise ValueError(f"{name} = {value!r} is not one of {options}")
    weighted.check_normalization(config.data.normalization)
    if config.data.source == pools.MNIST1D and config.data.scale != "l2":
        raise ValueError(f"data.scale = {config.data.scale!r}: mnist1d signals take only 'l2'")
    ratio = config.data.max_pad_ratio
    if ratio is not None and not ratio >= 1:
        raise ValueError(f"data.max_pad_ratio = {ratio} must be >= 1 (or None: one program)")


def _check_numbers(config: ml_collections.ConfigDict) -> None:
    positive = {
        "model.width": config.model.width,
        "model.init_std": config.model.init_std,
        "train.learning_rate": config.train.learning_rate,
        "train.steps": config.train.steps,
        "train.num_logs": config.train.num_logs,
    }
    for name, value in positive.items():
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be positive, got {value}")
    if config.train.steps % config.train.num_logs:
        raise ValueError(
            f"train.steps = {config.train.steps} is not a multiple of train.num_logs = "
            f"{config.train.num_logs}"
        )
    ks = tuple(config.greedy.ks)
    if not ks or list(ks) != sorted(set(ks)) or min(ks) <= 0:
        raise ValueError(f"greedy.ks = {ks} must be distinct positive sizes in increasing order")


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks one sweep's config before anything is compiled (a data directory is read).

    Raises:
      ValueError: naming the bad value.
      FileNotFoundError: naming a data directory without the MNIST IDX files.
    """
    engine.validate_axes(config.grid)
    if set(config.grid) != {"seed", "num_train"}:
        raise ValueError(f"grid axes must be seed and num_train, got {list(config.grid)}")
    for seed in config.grid.seed:
        if seed != int(seed) or seed < 0:
            raise ValueError(f"seed {seed} is not a non-negative integer")
    _check_choices(config)
    _check_numbers(config)
    validate_snapshots(config.train.snapshot_steps, config.train.steps)
    sizes = list(config.grid.num_train)
    weighted.check_sizes(sizes, pools.pool_size(config.data))
    if sizes != sorted(set(sizes)):
        raise ValueError(f"grid.num_train = {tuple(sizes)} must increase without repetition")
    greedy.validate(program.greedy_config(config), config.model.width, min(sizes))


def validate_snapshots(steps, num_steps: int) -> None:
    """Snapshot steps: distinct integers in [0, num_steps], increasing, from 0 to num_steps.

    Raises:
      ValueError: naming a step beyond the training length, a repeated or a negative step,
        or a schedule that misses t = 0 or t = T (the claims compare both ends).
    """
    steps = list(steps)
    if not steps:
        raise ValueError("train.snapshot_steps is empty")
    for step in steps:
        if step != int(step) or step < 0:
            raise ValueError(f"snapshot step {step} is not a non-negative integer")
        if step > num_steps:
            raise ValueError(
                f"snapshot step {step} is beyond the training length train.steps = {num_steps}"
            )
    if steps != sorted(set(steps)):
        raise ValueError(f"train.snapshot_steps = {steps} must increase without repetition")
    if steps[0] != 0 or steps[-1] != num_steps:
        raise ValueError(
            f"train.snapshot_steps = {steps} must start at 0 and end at train.steps = {num_steps}"
        )


def sweep_configs(config: ml_collections.ConfigDict) -> dict[str, ml_collections.ConfigDict]:
    """The config of every enabled sweep but ``scratch``: ``metrics`` (the config itself),
    then each enabled section of `VARIANTS` with its overrides applied."""
    configs = {"metrics": config}
    for name in VARIANTS:
        if config[name].enabled:
            configs[name] = with_overrides(config, config[name].overrides)
    return configs


def validate_all(config: ml_collections.ConfigDict) -> None:
    """Validates every sweep of the job and its claim rules before any compile; the runner
    calls it once per run (`Experiment.validate`)."""
    for name, sweep_config in sweep_configs(config).items():
        validate(sweep_config)
        wolfe2021_claims.validate_checks(sweep_config)
        if name in NTK_SWEEPS and (
            sweep_config.data.scale != "l2" or sweep_config.model.kind != "ntk"
        ):
            raise ValueError(
                f"the {name} sweep has model.kind = {sweep_config.model.kind!r}, data.scale = "
                f"{sweep_config.data.scale!r}: its NTK theory (H_inf) needs the 'ntk' net on "
                "unit-norm inputs, data.scale = 'l2'"
            )


def size_groups(sizes, max_pad_ratio: float | None) -> list[tuple[int, ...]]:
    """Consecutive groups of increasing ``sizes``; each group's largest size is at most
    ``max_pad_ratio`` x its smallest (every size in one group when None)."""
    sizes = [int(m) for m in sizes]
    if max_pad_ratio is None:
        return [tuple(sizes)]
    groups: list[list[int]] = []
    for size in sizes:
        if groups and size <= max_pad_ratio * groups[-1][0]:
            groups[-1].append(size)
        else:
            groups.append([size])
    return [tuple(group) for group in groups]


def join_groups(results: list[SweepResult], name: str = "num_train") -> SweepResult:
    """The results of the groups of one sweep (`size_groups`), concatenated along ``name``."""
    if len(results) == 1:
        return results[0]
    axis = results[0].axis(name)

    def join(group: str) -> dict[str, np.ndarray]:
        return {
            key: np.concatenate([getattr(r, group)[key] for r in results], axis=axis)
            for key in getattr(results[0], group)
        }

    diverged = None
    if all(r.diverged_at is not None for r in results):
        diverged = np.concatenate([r.diverged_at for r in results], axis=axis)
    values = np.concatenate([np.asarray(r.axes[name]) for r in results])
    return dataclasses.replace(
        results[0],
        axes={**results[0].axes, name: values},
        metrics=join("metrics"),
        final=join("final"),
        diverged_at=diverged,
    )


def _run(built: engine.Program, axes, config, execution, name: str) -> SweepResult:
    """One compiled program over ``axes`` (seed first, its data axis), for ``train.steps``."""
    return engine.run_program(
        built,
        engine.Grid(axes=axes, data_axes=("seed",)),
        name=name,
        num_steps=config.train.steps,
        log_every=config.train.steps // config.train.num_logs,
        execution=execution,
    )


def run_sweep(
    config: ml_collections.ConfigDict, execution: engine.Execution | None = None, name: str = NAME
):
    """The pre-training + pruning sweep of one (validated) config, one program per size group.

    Args:
      config: the sweep's config.
      execution: the run's options (`engine.Execution`); default: every device, nothing else.
      name: the sweep's name (checkpoint folders and progress bars add the group's largest m).
    """
    results = []
    for group in size_groups(config.grid.num_train, config.data.max_pad_ratio):
        group_config = ml_collections.ConfigDict(config.to_dict())
        group_config.grid.num_train = group
        axes = {"seed": tuple(config.grid.seed), "num_train": group}
        built = program.make_program(group_config)
        results.append(_run(built, axes, config, execution, f"{name}_m{group[-1]}"))
    return join_groups(results)


def run_scratch(
    config: ml_collections.ConfigDict, execution: engine.Execution | None = None
) -> SweepResult:
    """The width-k-from-scratch baseline: grid ``seed x width`` on the largest dataset, the
    widths grouped like the sizes (`size_groups`), each group one program as wide as its
    widest net."""
    results = []
    for group in size_groups(program.scratch_widths(config), config.data.max_pad_ratio):
        axes = {"seed": tuple(config.grid.seed), "width": group}
        built = program.make_scratch_program(config, group)
        results.append(_run(built, axes, config, execution, f"scratch_k{group[-1]}"))
    return join_groups(results, "width")


def run_sweeps(
    config: ml_collections.ConfigDict, execution: engine.Execution
) -> dict[str, SweepResult]:
    """Every sweep of the job (module docstring), each where the config enables it; the
    config was validated once by the runner (`validate_all`). The NTK sweeps of the C1 claims
    run first, the baselines and the practical MLP after them."""
    configs = sweep_configs(config)
    sweeps = {"metrics": run_sweep(config, execution, NAME)}
    if "mnist1d" in configs:
        sweeps["mnist1d"] = run_sweep(configs["mnist1d"], execution, "mnist1d")
    if config.baselines.scratch:
        sweeps["scratch"] = run_scratch(config, execution)
    if "practical" in configs:
        sweeps["practical"] = run_sweep(configs["practical"], execution, "practical")
    return sweeps


@functools.lru_cache(maxsize=8)
def _spectrum(data_json: str, seed: int, sizes: tuple[int, ...]):
    """(lambda_0, lambda_max) of H_inf on each prefix; cached: claims and theory.json share it."""
    data = ml_collections.ConfigDict(json.loads(data_json))
    x = pools.seed_data(data, max(sizes), seed)["x"]
    return tuple(theory.gram_extreme_eigenvalues(x[:size]) for size in sizes)


def theory_rows(config: ml_collections.ConfigDict) -> list[dict[str, Any]]:
    """The reconstruction's t*(m) (spec eq. (11)) of one NTK sweep at the run's loss
    normalization, from the first seed's data; None where m > ``theory.max_gram_size``
    (H_inf is m x m in float64)."""
    sizes = tuple(sorted(int(m) for m in config.grid.num_train))
    formed = tuple(m for m in sizes if m <= config.theory.max_gram_size)
    seed = int(config.grid.seed[0])
    values = _spectrum(config.data.to_json(), seed, formed) if formed else ()
    spectrum = dict(zip(formed, values, strict=True))
    rows = []
    for size in sizes:
        step = theory.sum_loss_step(config.train.learning_rate, size, config.data.normalization)
        lambda_0, lambda_max = spectrum.get(size, (None, None))
        row = {"num_train": size, "lambda_0": lambda_0, "lambda_max": lambda_max,
               "sum_loss_step": step, "rate_per_step": None, "t_star": None}  # fmt: skip
        if lambda_0 is not None:
            row["rate_per_step"] = theory.decay_rate(step, lambda_0)
            row["t_star"] = theory.threshold_steps(
                step, lambda_0, size, config.checks.k_ref, config.theory.constant
            )
        rows.append(row)
    return rows


def theory_summary(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """NTK Gram eigenvalues and the reconstruction's t*(m) of every NTK sweep (theory.json)."""
    configs = sweep_configs(config)
    return {
        "label": theory.RECONSTRUCTION,
        "sweeps": {
            name: {
                "k_ref": configs[name].checks.k_ref,
                "normalization": configs[name].data.normalization,
                "learning_rate": configs[name].train.learning_rate,
                "by_num_train": theory_rows(configs[name]),
            }
            for name in NTK_SWEEPS
            if name in configs
        },
    }


def analyze(config: ml_collections.ConfigDict, sweeps: Mapping[str, SweepResult]):
    """Claims and figures from the sweeps of `run_sweeps` (any subset of their seeds)."""
    configs = sweep_configs(config)
    summary = theory_summary(config)
    rows = {name: entry["by_num_train"] for name, entry in summary["sweeps"].items()}
    present = {name: c for name, c in configs.items() if name in sweeps}
    claims = wolfe2021_claims.wolfe2021_claims(sweeps, present, rows, LABELS)
    figures = wolfe2021_figures.figures(sweeps, present, rows)
    return claims, figures


EXPERIMENT = Experiment(
    name=NAME,
    validate=validate_all,
    run_sweeps=run_sweeps,
    analyze=analyze,
    theory=theory_summary,
)
