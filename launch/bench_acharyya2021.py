r"""Benchmarks of the acharyya2021 issue; prints markdown tables.

    python -m launch.bench_acharyya2021                 # all four
    python -m launch.bench_acharyya2021 --only=dpp,ode  # skip the 800k-step sweep
    python -m launch.bench_acharyya2021 --only=real     # real-data MLP: grid, loop, PyTorch

* ``sweep``: the paper-scale teacher-student sweep, (M, K) = (2, 6), N = 500, alpha = 1600
  (800,000 online steps), 10 seeds x sigma in {0, 0.25}, all rules at k_n = 1..5 with 100 masks
  (the cpu config's main setting), compile included; target <= 10 min on 2 CPU cores.
* ``ode``: the ODEs to alpha = 1600 at dt = 0.01 for 10 seeds, after compile; target <= 1 min.
* ``dpp``: 10,000 exact k-DPP draws (k = 5) from a 20 x 20 kernel, after compile; target < 1 s.
* ``real``: the real-data MLP's training (claim C7) for ``--real_steps`` steps of every seed of
  the cpu config, warm: the vmapped grid over seeds, the per-cell loop (the one-seed program
  called per seed; `benchmarks.cells`) and the PyTorch loop over seeds
  (`torch_reference.sigmoid_mlp_sgd`, skipped without torch), in cell-steps per second. The
  program is the one the experiment runs (`recording.dry_run`), pruning analysis left out.
"""

import functools
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags

from launch.configs import acharyya2021 as configs
from pruning_theory import engine
from pruning_theory.benchmarks import cells, recording, timing
from pruning_theory.papers.acharyya2021 import dpp, experiment, ode, theory
from pruning_theory.papers.acharyya2021 import real_data as acharyya2021_real_data

_ONLY = flags.DEFINE_list("only", ["sweep", "ode", "dpp", "real"], "Benchmarks to run.")
_VARIANT = flags.DEFINE_enum("variant", "cpu", ["tiny", "cpu"], "Config of the real benchmark.")
_REAL_STEPS = flags.DEFINE_integer(
    "real_steps", 0, "Training steps of the real benchmark (0: one logging segment)."
)
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed repeats of the ODE and DPP benchmarks.")


def bench_sweep() -> tuple[str, float, str]:
    config = configs.get_config("cpu")
    experiment.validate(config)
    started = time.perf_counter()
    first = []

    def progress(step, num_steps, elapsed):
        if not first:
            first.append(elapsed)

    execution = engine.Execution(progress=lambda name: progress)
    result = experiment.run_setting(config, config.main_setting, execution)
    seconds = time.perf_counter() - started
    note = (
        f"first segment (compile + 20,000 steps) {first[0]:.0f} s; "
        f"final eps {np.mean(result.final['ge_trained']):.4f}"
    )
    return "teacher-student sweep, paper scale (M=2, K=6, 800k steps, 20 cells)", seconds, note


def _initial_states(num_seeds: int, teachers: int, students: int, dimension: int):
    def one(seed):
        key = jax.random.key(seed)
        w = jax.random.normal(jax.random.fold_in(key, 0), (students, dimension))
        w_star = jax.random.normal(jax.random.fold_in(key, 1), (teachers, dimension))
        q, r, t = theory.order_parameters(w, w_star)
        v = jax.random.normal(jax.random.fold_in(key, 2), (students,))
        return ode.OrderParameters(q, r, v), t

    return jax.vmap(one)(jnp.arange(num_seeds))


def bench_ode() -> tuple[str, float, str]:
    states, t = _initial_states(10, 2, 6, 500)
    v_star = jnp.full((2,), 4.0)
    integrate = jax.jit(
        jax.vmap(
            lambda s, tt: ode.integrate(
                s, tt, v_star, 0.5, 0.0, dt=0.01, steps_per_record=100, num_records=1600
            )[1]
        )
    )
    started = time.perf_counter()
    jax.block_until_ready(integrate(states, t))
    compile_and_run = time.perf_counter() - started
    times = []
    for _ in range(_REPEATS.value):
        started = time.perf_counter()
        errors = jax.block_until_ready(integrate(states, t))
        times.append(time.perf_counter() - started)
    final = float(errors[:, -1].mean())
    note = f"first call (with compile) {compile_and_run:.1f} s; eps(1600) {final:.4f}"
    return "ODE, alpha 0 -> 1600, dt 0.01 (160,000 Euler steps), 10 seeds", min(times), note


def bench_dpp() -> tuple[str, float, str]:
    features = np.random.default_rng(0).normal(size=(20, 20))
    kernel = jnp.asarray(features @ features.T, jnp.float32)
    dpp.check_kernel(kernel, 5)
    keys = jax.random.split(jax.random.key(0), 10_000)
    draw = jax.jit(
        lambda k, ker: jax.vmap(dpp.sample, in_axes=(0, None, None))(k, dpp.spectrum(ker), 5)
    )
    jax.block_until_ready(draw(keys, kernel))
    times = []
    for _ in range(_REPEATS.value):
        started = time.perf_counter()
        masks = jax.block_until_ready(draw(keys, kernel))
        times.append(time.perf_counter() - started)
    assert bool(jnp.all(masks.sum(axis=1) == 5))
    return "exact k-DPP, 10,000 draws (k = 5) from a 20 x 20 kernel", min(times), "after compile"


def real_data_sweep(config: ml_collections.ConfigDict) -> recording.SweepRecord:
    """The real-data sweep the experiment starts for ``config`` (nothing trained)."""
    if "ode" in config:
        config.ode.enabled = False  # the dry run needs the sweeps only
    records, stopped = recording.dry_run(config)
    found = [record for record in records if "real_data" in record.name]
    if not found:
        raise RuntimeError(f"no real-data sweep among {[r.name for r in records]} ({stopped})")
    return found[0]


def _torch_real(real: ml_collections.ConfigDict, seeds, steps: int) -> float | None:
    """Seconds of the PyTorch loop over ``seeds``, or None without torch."""
    try:
        from pruning_theory.benchmarks import torch_reference
    except ImportError:
        return None
    arrays = acharyya2021_real_data.load_arrays(real)
    run = functools.partial(
        torch_reference.sigmoid_mlp_sgd,
        **arrays,
        layer_sizes=tuple(real.layer_sizes),
        batch_size=real.batch_size,
        learning_rate=real.learning_rate,
        momentum=real.momentum,
    )
    run([0], num_steps=2, log_every=2)  # warm-up: torch's one-off initialization
    started = time.perf_counter()
    run([int(s) for s in seeds], num_steps=steps, log_every=steps)
    return time.perf_counter() - started


def bench_real() -> list[str]:
    """The real-data MLP: grid vs per-cell loop vs PyTorch loop (module docstring)."""
    config = configs.get_config(_VARIANT.value)
    record = real_data_sweep(config)
    steps = _REAL_STEPS.value or record.log_every
    run = dict(num_steps=steps, log_every=steps)
    seeds = record.grid.axes["seed"]
    rows = [
        ("vmapped grid over seeds", cells.run_grid(record.program, record.grid, **run).warm_s),
        ("per-cell loop", cells.run_per_cell(record.program, record.grid, **run).warm_s),
    ]
    torch_s = _torch_real(config.real_data, seeds, steps)
    if torch_s is not None:
        rows.append(("PyTorch loop over seeds", torch_s))
    lines = [
        f"Real-data MLP {tuple(config.real_data.layer_sizes)}, batch "
        f"{config.real_data.batch_size}, {steps} steps x {len(seeds)} seeds ({_VARIANT.value} "
        f"config; warm, compiles apart{'' if torch_s is not None else '; torch not installed'})",
        "",
        "| program | seconds | cell-steps / s | vs grid |",
        "|---|---|---|---|",
    ]
    for label, seconds in rows:
        lines.append(
            f"| {label} | {seconds:.2f} | {len(seeds) * steps / seconds:.0f} | "
            f"{seconds / rows[0][1]:.2f}x |"
        )
    return lines


BENCHMARKS = {"sweep": bench_sweep, "ode": bench_ode, "dpp": bench_dpp}
TABLES = {"real": bench_real}
TARGETS = {"sweep": "<= 600 s", "ode": "<= 60 s", "dpp": "< 1 s"}


def main(argv):
    del argv
    known = [*BENCHMARKS, *TABLES]
    unknown = [name for name in _ONLY.value if name not in known]
    if unknown:
        raise app.UsageError(f"unknown benchmarks {unknown}; expected some of {known}")
    load = [round(x, 2) for x in timing.load_average()]
    rows, tables = [], []
    for name in _ONLY.value:
        if name in TABLES:
            tables += ["", *TABLES[name]()]
            continue
        label, seconds, note = BENCHMARKS[name]()
        rows.append(f"| {label} | {seconds:.2f} | {TARGETS[name]} | {note} |")
    device = jax.devices()[0]
    print(
        f"\nMachine: {device.platform} ({device.device_kind}), {os.cpu_count()} CPU cores "
        f"({timing.machine()['cpu_model']}), load average {load} at the start, "
        f"{[round(x, 2) for x in timing.load_average()]} at the end; jax {jax.__version__}"
    )
    if rows:
        print("\n| benchmark | seconds | target | note |\n|---|---|---|---|")
        print("\n".join(rows))
    print("\n".join(tables))


if __name__ == "__main__":
    app.run(main)
