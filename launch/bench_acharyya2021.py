r"""Benchmarks of the acharyya2021 issue; prints a markdown table.

    python -m launch.bench_acharyya2021                 # all three
    python -m launch.bench_acharyya2021 --only=dpp,ode  # skip the 800k-step sweep

* ``sweep``: the paper-scale teacher-student sweep, (M, K) = (2, 6), N = 500, alpha = 1600
  (800,000 online steps), 10 seeds x sigma in {0, 0.25}, all rules at k_n = 1..5 with 100 masks
  (the cpu config's main setting), compile included; target <= 10 min on 2 CPU cores.
* ``ode``: the ODEs to alpha = 1600 at dt = 0.01 for 10 seeds, after compile; target <= 1 min.
* ``dpp``: 10,000 exact k-DPP draws (k = 5) from a 20 x 20 kernel, after compile; target < 1 s.
"""

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from launch.configs import acharyya2021 as configs
from pruning_theory.papers.acharyya2021 import dpp, experiment, ode, theory

_ONLY = flags.DEFINE_list("only", ["sweep", "ode", "dpp"], "Benchmarks to run.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed repeats of the ODE and DPP benchmarks.")


def bench_sweep() -> tuple[str, float, str]:
    config = configs.get_config("cpu")
    experiment.validate(config)
    started = time.perf_counter()
    first = []

    def progress(step, num_steps, elapsed):
        if not first:
            first.append(elapsed)

    result = experiment.run_setting(config, config.main_setting, progress)
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


BENCHMARKS = {"sweep": bench_sweep, "ode": bench_ode, "dpp": bench_dpp}
TARGETS = {"sweep": "<= 600 s", "ode": "<= 60 s", "dpp": "< 1 s"}


def main(argv):
    del argv
    unknown = [name for name in _ONLY.value if name not in BENCHMARKS]
    if unknown:
        raise app.UsageError(f"unknown benchmarks {unknown}; expected some of {list(BENCHMARKS)}")
    rows = []
    for name in _ONLY.value:
        label, seconds, note = BENCHMARKS[name]()
        rows.append(f"| {label} | {seconds:.2f} | {TARGETS[name]} | {note} |")
    device = jax.devices()[0]
    print(
        f"\nMachine: {device.platform} ({device.device_kind}), {os.cpu_count()} CPU cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end; jax {jax.__version__}\n"
    )
    print("| benchmark | seconds | target | note |")
    print("|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    app.run(main)
