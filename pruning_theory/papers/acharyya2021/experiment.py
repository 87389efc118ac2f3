"""Teacher-student pruning with statistical mechanics (Acharyya et al. 2021): the whole study.

Spec: docs/papers/acharyya2021.md. A two-layer erf student (K units, both layers trained)
learns a teacher (M units, v* = 4) by online SGD on fresh Gaussian inputs; after
P = alpha N steps it is pruned one-shot, without retraining, by DPP / random / importance node
and edge rules and by DIVNET (`acharyya2021_pruning`). Each pruned network is scored by its
exact generalization error from order parameters, beside the paper's closed forms (Lemma 2,
Thms 1-5, `theory.acharyya2021`). The online-SGD ODEs (`theory.acharyya2021_ode`), started
from each run's initial order parameters, are integrated beside the SGD curve. A real-data
part (C7) prunes a sigmoid MLP on MNIST (`acharyya2021_real_data`).

One compiled sweep per (M, K) setting over the grid ``seed x noise`` trains the students;
`prune_cells` then prunes each trained student (one compiled function, called per cell). The
seed is the data
axis: it fixes the teacher, the input stream (example ``step`` is drawn from
``fold_in(key, step)`` inside `advance`, never stored), the student's initialization and the
pruning masks, so both noise levels of a seed see the same inputs and start from the same
student (paired comparisons), and the inputs are drawn once per seed, unbatched across noise
levels. Besides the engine's ``num_logs`` evenly spaced logs, each cell records its exact
generalization error at log-spaced alpha in its own state (a branch on the unbatched step).

Knobs where the paper is ambiguous (defaults in launch/configs/acharyya2021.py):
  * ``pruning.normalize_rows`` (default on): the official code rescales each student row to
    norm sqrt(N) before pruning (not in the paper); the theorems assume Q_ii = 1.
  * ``pruning.importance_score``: ``abs`` (the paper, |v|) or ``signed`` (the official code).
  * the paper says 100 masks, the official code evaluates 5; we draw ``pruning.num_masks``
    (100) and also enumerate all node subsets for exact expectations.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from pruning_theory import engine
from pruning_theory.engine.results import SweepResult
from pruning_theory.experiment import Experiment
from pruning_theory.papers.acharyya2021 import (
    baseline_claims,
    beyond_m_claims,
    lapack,
    ode,
    pruning,
    real_data_claims,
    theory,
)
from pruning_theory.papers.acharyya2021 import claims as claims_module
from pruning_theory.papers.acharyya2021 import figures as acharyya2021_figures
from pruning_theory.papers.acharyya2021 import real_data as acharyya2021_real_data
from pruning_theory.papers.acharyya2021 import teacher_student as ts

NAME = "acharyya2021"
TEACHER_STREAM, INPUT_STREAM, STUDENT_STREAM, TEST_STREAM, PRUNING_STREAM = range(5)
TEST_CHUNK = 4000
TRAINED_W, TEACHER_W = "student_w", "teacher_w"


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _positive_integer(name: str, value) -> None:
    _require(
        isinstance(value, int | np.integer) and value > 0,
        f"{name} must be a positive integer, got {value!r}",
    )


def settings(config: ml_collections.ConfigDict) -> dict[str, tuple[int, int]]:
    """The (M, K) settings by name, ``main_setting`` first (a ConfigDict sorts its keys)."""
    names = [config.main_setting, *(n for n in config.settings if n != config.main_setting)]
    return {
        name: (config.settings[name].teachers, config.settings[name].students) for name in names
    }


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks the teacher-student part of a config before anything is compiled.

    Raises:
      ValueError: naming the bad value.
    """
    engine.validate_axes(config.grid)
    _require(
        set(config.grid) == {"seed", "noise"},
        f"grid axes must be seed and noise, got {list(config.grid)}",
    )
    for seed in config.grid.seed:
        _require(int(seed) == seed and seed >= 0, f"seed {seed} is not a non-negative integer")
    for noise in config.grid.noise:
        _require(noise >= 0, f"noise level sigma = {noise} is negative")
    _require(
        config.main_setting in config.settings,
        f"main_setting {config.main_setting!r} is not one of the settings {list(config.settings)}",
    )
    data, train = config.data, config.train
    _positive_integer("data.dimension", data.dimension)
    _require(math.isfinite(data.v_star), f"data.v_star = {data.v_star} must be finite")
    _positive_integer("data.test_samples", data.test_samples)
    _require(
        data.test_samples % TEST_CHUNK == 0,
        f"data.test_samples = {data.test_samples} must be a multiple of {TEST_CHUNK}",
    )
    _require(
        math.isfinite(train.learning_rate) and train.learning_rate > 0,
        f"train.learning_rate = {train.learning_rate} must be positive",
    )
    _positive_integer("train.alpha", train.alpha)
    _positive_integer("train.num_logs", train.num_logs)
    _positive_integer("train.num_records", train.num_records)
    num_steps = train.alpha * data.dimension
    _require(
        num_steps % train.num_logs == 0,
        f"P = alpha N = {num_steps} is not a multiple of train.num_logs = {train.num_logs}",
    )
    for name, (teachers, students) in settings(config).items():
        _positive_integer(f"settings.{name}.teachers", teachers)
        _positive_integer(f"settings.{name}.students", students)
        _require(
            students % teachers == 0,
            f"settings.{name}: Z = K / M = {students} / {teachers} = {students / teachers:g} is "
            "not an integer",
        )
        pruning_plan(config, students)
    dt = config.ode.dt
    _require(dt > 0, f"ode.dt = {dt} must be positive")
    _require(
        abs(1 / dt - round(1 / dt)) < 1e-9,
        f"ode.dt = {dt}: 1 / dt must be an integer (the ODE records every unit of alpha)",
    )
    unknown = [name for name in config.ode.settings if name not in config.settings]
    _require(not unknown, f"ode.settings {unknown} are not settings {list(config.settings)}")
    for name, value in config.checks.items():
        _require(value > 0, f"checks.{name} = {value} must be positive")
    reference = config.reference
    _require(
        len(reference.noise) == len(reference.unpruned_test_loss),
        f"reference.noise {tuple(reference.noise)} and reference.unpruned_test_loss "
        f"{tuple(reference.unpruned_test_loss)} must have the same length",
    )


def validate_all(config: ml_collections.ConfigDict) -> None:
    """Validates the teacher-student sweeps and the real-data part before any compile."""
    validate(config)
    if config.real_data.enabled:
        acharyya2021_real_data.validate(config.real_data)


def pruning_plan(config: ml_collections.ConfigDict, num_units: int) -> pruning.Plan:
    """The pruning plan of a setting with K = ``num_units`` (validates the sizes)."""
    p = config.pruning
    return pruning.make_plan(
        num_units,
        config.data.dimension,
        tuple(p.node_counts),
        p.num_masks,
        p.normalize_rows,
        p.importance_score,
        p.enumeration_limit,
        p.kernel,
        p.rbf_scale,
        p.jitter,
    )


def record_alphas(alpha: int, num_records: int) -> np.ndarray:
    """Log-spaced integer alphas in [1, alpha] (alpha included) at which a cell records eps."""
    points = np.round(np.logspace(0, math.log10(alpha), num_records)).astype(int)
    return np.unique(np.append(points, alpha))


def make_program(config: ml_collections.ConfigDict, setting: tuple[int, int]) -> engine.Program:
    """The pure functions of one (M, K) setting's sweep (see `engine.Program`)."""
    num_teachers, num_students = setting
    dimension = config.data.dimension
    learning_rate = config.train.learning_rate
    history_alpha = record_alphas(config.train.alpha, config.train.num_records)
    record_steps = jnp.asarray(history_alpha * dimension)
    history_length = record_steps.shape[0]

    def error(student: ts.TwoLayer, teacher: ts.TwoLayer) -> jax.Array:
        q, r, t = theory.order_parameters(student.w, teacher.w)
        return theory.generalization_error(q, r, t, student.v, teacher.v)

    def make_data(data_cell):
        key = jax.random.key(data_cell["seed"])
        teacher_key = jax.random.fold_in(key, TEACHER_STREAM)
        return {
            "teacher": ts.init_teacher(teacher_key, num_teachers, dimension, config.data.v_star),
            "input_key": jax.random.fold_in(key, INPUT_STREAM),
            "key": key,
        }

    def initial_student(data) -> ts.TwoLayer:
        return ts.init_student(
            jax.random.fold_in(data["key"], STUDENT_STREAM), num_students, dimension
        )

    def init(cell, data):
        # Zeros, not NaN: the engine freezes a cell whose state is not finite.
        return {"student": initial_student(data), "history": jnp.zeros((history_length,))}

    def advance(state, cell, data, step):
        x, zeta = ts.draw_example(jax.random.fold_in(data["input_key"], step), dimension)
        label = ts.label(data["teacher"], x, zeta, cell["noise"])
        student = ts.sgd_step(state["student"], x, label, learning_rate)
        seen = step + 1
        history = jax.lax.cond(
            jnp.any(record_steps == seen),
            lambda h: h.at[jnp.searchsorted(record_steps, seen)].set(
                error(student, data["teacher"])
            ),
            lambda h: h,
            state["history"],
        )
        return {"student": student, "history": history}

    def evaluate(state, cell, data):
        student, teacher = state["student"], data["teacher"]
        q, r, t = theory.order_parameters(student.w, teacher.w)
        cosine = r / jnp.sqrt(jnp.diagonal(q)[:, None] * jnp.diagonal(t)[None, :])
        return {
            "ge": theory.generalization_error(q, r, t, student.v, teacher.v),
            "v": student.v,
            "max_cosine": jnp.max(jnp.abs(cosine), axis=1),
        }

    def finalize(state, cell, data):
        student, teacher = state["student"], data["teacher"]
        start = initial_student(data)
        q0, r0, t = theory.order_parameters(start.w, teacher.w)
        test_key = jax.random.fold_in(data["key"], TEST_STREAM)
        return {
            # The trained networks, pruned by `prune_cells` after the sweep.
            TRAINED_W: student.w,
            "student_v": student.v,
            TEACHER_W: teacher.w,
            "ge_trained": error(student, teacher),
            "ge_test_mc": ts.monte_carlo_error(
                test_key, student, teacher, config.data.test_samples, TEST_CHUNK
            ),
            "ge_initial": error(start, teacher),
            "ge_history": state["history"],
            "history_alpha": jnp.asarray(history_alpha, jnp.float32),
            "q0": q0,
            "r0": r0,
            "v0": start.v,
            "t": t,
        }

    return engine.Program(make_data, init, advance, evaluate, finalize)


def run_setting(
    config: ml_collections.ConfigDict, name: str, execution: engine.Execution | None = None
) -> SweepResult:
    """Trains one (M, K) setting over the whole grid in one compiled program, then prunes.

    The sweep is named ``setting_<name>`` in the run (its checkpoint folder).
    """
    grid = engine.Grid(axes=dict(config.grid), data_axes=("seed",))
    num_steps = config.train.alpha * config.data.dimension
    trained = engine.run_program(
        make_program(config, settings(config)[name]),
        grid,
        num_steps=num_steps,
        log_every=num_steps // config.train.num_logs,
        name=f"setting_{name}",
        execution=execution,
    )
    return prune_cells(config, trained, settings(config)[name][1])


def prune_cells(
    config: ml_collections.ConfigDict, trained: SweepResult, num_units: int
) -> SweepResult:
    """Prunes every cell's trained student (`acharyya2021_pruning.evaluate`), one cell a call.

    One compiled function serves every cell; masks and subsets are vmapped inside it. Cells
    are not vmapped: that would batch the kernel's eigendecomposition, and batched LAPACK
    calls can deadlock XLA's CPU thread pool on few-core machines (`dpp.psd_cholesky`). Its
    LAPACK calls run on one OpenBLAS thread (`lapack.one_lapack_thread`).

    Returns:
      ``trained`` with the pruning metrics added to ``final`` and the weights dropped.
    """
    plan = pruning_plan(config, num_units)
    prune = jax.jit(lambda key, student, teacher: pruning.evaluate(key, student, teacher, plan))
    final = dict(trained.final)
    student_w, teacher_w = final.pop(TRAINED_W), final.pop(TEACHER_W)
    seeds = trained.axes["seed"]
    cells = []
    for index in np.ndindex(*student_w.shape[:2]):
        key = jax.random.fold_in(jax.random.key(int(seeds[index[0]])), PRUNING_STREAM)
        student = ts.TwoLayer(jnp.asarray(student_w[index]), jnp.asarray(final["student_v"][index]))
        teacher = ts.TwoLayer(
            jnp.asarray(teacher_w[index]), jnp.full((teacher_w.shape[2],), config.data.v_star)
        )
        with lapack.one_lapack_thread():
            cells.append(jax.device_get(prune(key, student, teacher)))
    if cells:
        stacked = {name: np.stack([cell[name] for cell in cells]) for name in cells[0]}
    else:  # a grid shard without cells
        stacked = _no_cells(prune, student_w, final["student_v"], teacher_w)
    for name, values in stacked.items():
        final[name] = values.reshape(*student_w.shape[:2], *values.shape[1:])
    return dataclasses.replace(trained, final=final)


def _no_cells(prune, student_w, student_v, teacher_w) -> dict[str, np.ndarray]:
    """``[0, ...]`` arrays of every pruning metric (a grid shard without cells; merges fine)."""
    like = lambda array: jax.ShapeDtypeStruct(array.shape[2:], array.dtype)  # noqa: E731
    teacher_v = jax.ShapeDtypeStruct(teacher_w.shape[2:3], teacher_w.dtype)
    shapes = jax.eval_shape(
        prune,
        jax.random.key(0),
        ts.TwoLayer(like(student_w), like(student_v)),
        ts.TwoLayer(like(teacher_w), teacher_v),
    )
    return {name: np.zeros((0, *shape.shape), shape.dtype) for name, shape in shapes.items()}


def run_ode(config: ml_collections.ConfigDict, result: SweepResult) -> SweepResult:
    """Integrates the ODEs from every cell's initial order parameters (vmapped over cells).

    Returns:
      A `SweepResult` over the same axes whose ``steps`` are alpha N (examples seen)
      at alpha = 0, 1, ..., alpha and whose metric ``ge`` is the ODE's error there.
    """
    steps_per_record = round(1 / config.ode.dt)
    final = result.final
    grid_shape = final["t"].shape[:2]
    noise = np.broadcast_to(
        np.asarray(result.axes["noise"], np.float32)[None, :], grid_shape
    ).reshape(-1)
    flat = lambda name: jnp.asarray(final[name].reshape(-1, *final[name].shape[2:]))  # noqa: E731
    initial = ode.OrderParameters(flat("q0"), flat("r0"), flat("v0"))
    v_star = jnp.full((final["t"].shape[-1],), config.data.v_star)

    def integrate(state, t, sigma):
        return ode.integrate(
            state,
            t,
            v_star,
            config.train.learning_rate,
            sigma,
            dt=config.ode.dt,
            steps_per_record=steps_per_record,
            num_records=config.train.alpha,
        )[1]

    num_records = config.train.alpha + 1
    if noise.size:
        errors = jax.jit(jax.vmap(integrate))(initial, flat("t"), jnp.asarray(noise))
    else:  # a grid shard without cells: nothing to integrate
        errors = np.zeros((0, num_records), np.float32)
    return SweepResult(
        axes=result.axes,
        steps=np.arange(num_records) * config.data.dimension,
        metrics={"ge": np.asarray(errors).reshape(*grid_shape, num_records)},
        shard=result.shard,
    )


def theory_summary(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The paper's closed forms at every setting and size of this config."""
    summary: dict[str, Any] = {"label": theory.RECONSTRUCTION}
    v_star = config.data.v_star
    for name, (teachers, students) in settings(config).items():
        plan = pruning_plan(config, students)
        copies = students // teachers
        fractions = [k / config.data.dimension for k in plan.edge_counts]
        within = [k <= teachers for k in plan.node_counts]
        summary[name] = {
            "M": teachers,
            "K": students,
            "Z": copies,
            "node_counts": list(plan.node_counts),
            "edge_counts": list(plan.edge_counts),
            "edge_fraction": fractions,
            "kept_fraction": plan.kept_fractions.tolist(),
            "null_error": theory.null_error(teachers, v_star),
            "dpp_node": [
                theory.dpp_node_error(teachers, copies, v_star, k) if ok else None
                for k, ok in zip(plan.node_counts, within, strict=True)
            ],
            "divnet": [
                theory.dpp_node_error(teachers, copies, v_star, k, reweighted=True) if ok else None
                for k, ok in zip(plan.node_counts, within, strict=True)
            ],
            "random_node": [
                theory.random_node_error(teachers, copies, v_star, k) for k in plan.node_counts
            ],
            "random_edge": [
                theory.random_edge_error(teachers, copies, v_star, c) for c in fractions
            ],
            "random_edge_rescaled": [
                theory.random_edge_rescaled_error(teachers, copies, v_star, c) for c in fractions
            ],
            "theorem4_applies": [theory.theorem4_applies(copies, c) for c in fractions],
        }
    return summary


def run_sweeps(
    config: ml_collections.ConfigDict, execution: engine.Execution
) -> dict[str, SweepResult]:
    """Every sweep of the job: each (M, K) setting, the ODEs, the real data.

    Args:
      config: the resolved config (launch/configs/acharyya2021.py).
      execution: the run's options, passed to every sweep.

    Returns:
      ``metrics`` (``main_setting``), ``setting_<name>`` (the others), ``ode_<name>`` and
      ``real_data``.

    The config was validated once by the runner (`validate_all`).
    """
    names = list(settings(config))
    by_setting = {n: run_setting(config, n, execution) for n in names}
    sweeps = {_sweep_name(config, name): by_setting[name] for name in names}
    if config.ode.enabled:
        sweeps |= {f"ode_{n}": run_ode(config, by_setting[n]) for n in config.ode.settings}
    if config.real_data.enabled:
        sweeps["real_data"] = acharyya2021_real_data.run(config.real_data, execution)
    return sweeps


def _sweep_name(config: ml_collections.ConfigDict, setting: str) -> str:
    return "metrics" if setting == config.main_setting else f"setting_{setting}"


def all_claims(by_setting, odes, real, summary, config) -> list:
    """Every row of docs/papers/acharyya2021.md, "What a reproduction must show", in order.

    C1-C6 and T5 (`claims`), C8 and its drop-one rows (`beyond_m_claims`), B1
    (`baseline_claims`), then C7 (`real_data_claims`) where the real data ran. The settings
    and their ODEs are paired on the seeds they all hold (`claims.common_seeds`).
    """
    paired = claims_module.common_seeds({**by_setting, **{f"ode_{n}": r for n, r in odes.items()}})
    by_setting = {name: paired[name] for name in by_setting}
    odes = {name: paired[f"ode_{name}"] for name in odes}
    main = next(iter(by_setting))
    rows = claims_module.teacher_student_claims(by_setting, odes, summary, config)
    rows += beyond_m_claims.beyond_m_claims(main, by_setting[main], summary[main], config)
    rows.append(baseline_claims.check_baseline(main, by_setting[main], config))
    if real is not None:
        rows += real_data_claims.real_data_claims(real, config)
    return rows


def analyze(config: ml_collections.ConfigDict, sweeps: dict[str, SweepResult]):
    """Claims and figures from the sweeps of `run_sweeps` (or their merged grid shards).

    A pure function of the sweeps: the runner drops seeds with a diverged cell first and also
    evaluates it on each half of the seeds, so every rule works on any subset of seeds.

    Returns:
      ``(claims, figures)``.
    """
    by_setting = {name: sweeps[_sweep_name(config, name)] for name in settings(config)}
    odes = {name: sweeps[f"ode_{name}"] for name in by_setting if f"ode_{name}" in sweeps}
    real = sweeps.get("real_data")
    summary = theory_summary(config)
    claims = all_claims(by_setting, odes, real, summary, config)
    figures = acharyya2021_figures.figures(by_setting, odes, real, summary, config)
    return claims, figures


EXPERIMENT = Experiment(
    name="acharyya2021",
    validate=validate_all,
    run_sweeps=run_sweeps,
    analyze=analyze,
    theory=theory_summary,
)
