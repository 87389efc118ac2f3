r"""Benchmarks of wolfe2021: the rank-one greedy step, and the cpu config end to end.

    python -m launch.bench_wolfe2021                         # both parts
    python -m launch.bench_wolfe2021 --run_cpu_config=False  # the greedy step only

Part 1 selects k = 200 of N = 2000 neurons of the NTK net (kappa = 0.01, at init) on the
m = 5000 packaged MNIST images with exact scorers of the squared loss: the naive per-candidate
evaluations (every candidate's output (s + phi_i)/(n + 1) formed, m x N x C work per step, in
chunks; or a masked forward pass of every S + {i}, m x N x C work per *candidate*, timed on a
few steps only), the rank-one formula (one [N, m] x [m, C] matmul per step) and its Gram form
(K = H^T H once, then [N, N] x [N, C] per step). It prints the time per step, the ratio to the
rank-one step and whether each path picks the same neurons as the rank-one path. Part 2 runs
the cpu config of launch/configs/wolfe2021.py into a temporary directory and prints its wall
and CPU time.
Timings on a shared machine are inflated by other load; the table prints the load average.
"""

import os
import platform
import resource
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from flax import nnx

from launch.configs import wolfe2021 as configs
from pruning_theory import runner
from pruning_theory.data import mnist, weighted
from pruning_theory.papers.wolfe2021 import greedy, ntk_models

_WIDTH = flags.DEFINE_integer("width", 2000, "N, hidden neurons.")
_NUM_TRAIN = flags.DEFINE_integer("num_train", 5000, "m, packaged MNIST images.")
_K = flags.DEFINE_integer("k", 200, "Greedy steps.")
_INIT_STD = flags.DEFINE_float("init_std", 0.01, "kappa of the NTK net.")
_CHUNK = flags.DEFINE_integer("chunk_size", 64, "Candidates per chunk of the naive scorer.")
_FORWARD_STEPS = flags.DEFINE_integer(
    "forward_steps", 2, "Steps timed of the per-candidate forward pass (too slow for all k)."
)
_RUN_CPU_CONFIG = flags.DEFINE_bool("run_cpu_config", True, "Also time the cpu config.")


def problem(width: int, num_train: int, init_std: float):
    images, labels = mnist.load_mnist_subset()
    order = weighted.nested_stratified_order(labels, num_train, seed=0)
    x = jnp.asarray(mnist.preprocess(images[order], scale="l2"))
    y = jnp.asarray(labels[order])
    model = ntk_models.NTKTwoLayer(x.shape[1], width, 10, init_std, rngs=nnx.Rngs(params=0))
    targets = greedy.Targets(y, jax.nn.one_hot(y, 10), jnp.full(num_train, 1 / num_train))
    return ntk_models.ntk_neurons(model, x), targets


def naive_path(neurons, targets, k: int, chunk_size: int):
    """Greedy with replacement, every candidate's loss evaluated explicitly."""
    scale = greedy.neuron_scale(neurons)

    def step(carry, _):
        running_sum, num_selected = carry
        scores = greedy.naive_squared_scores(
            neurons, targets, running_sum, num_selected, chunk_size
        )
        chosen = jnp.argmin(scores)
        running_sum = (
            running_sum + scale * neurons.hidden[:, chosen, None] * neurons.readout[chosen]
        )
        return (running_sum, num_selected + 1.0), chosen

    start = (jnp.zeros_like(targets.one_hot), jnp.float32(0))
    return jax.lax.scan(step, start, None, length=k)[1]


def forward_path(neurons, targets, steps: int, chunk_size: int):
    """Greedy with replacement, each candidate scored by a masked forward pass of S + {i}."""
    num_neurons = neurons.readout.shape[0]

    def step(counts, _):
        def score(index):
            outputs = greedy.subnetwork_output(neurons, counts.at[index].add(1.0))
            return greedy.weighted_loss(outputs, targets, "squared")

        scores = jax.lax.map(score, jnp.arange(num_neurons), batch_size=chunk_size)
        chosen = jnp.argmin(scores)
        return counts.at[chosen].add(1.0), chosen

    return jax.lax.scan(step, jnp.zeros(num_neurons), None, length=steps)[1]


def timed(function, *args) -> tuple[float, np.ndarray]:
    """Seconds of one call after a compiling warm-up call, and its result."""
    jax.block_until_ready(function(*args))
    started = time.perf_counter()
    result = jax.block_until_ready(function(*args))
    return time.perf_counter() - started, np.asarray(result)


def agreement(reference: np.ndarray, other: np.ndarray) -> str:
    reference = reference[: len(other)]
    if np.array_equal(reference, other):
        return f"identical ({len(other)} steps)"
    first = int(np.argmax(reference != other))
    return f"equal up to step {first} of {len(reference)}"


def bench_greedy() -> list[str]:
    neurons, targets = problem(_WIDTH.value, _NUM_TRAIN.value, _INIT_STD.value)
    k = _K.value

    def path_of(config):
        return jax.jit(lambda n, t: greedy.greedy_path(n, t, config, jax.random.key(0)).selected)

    runs = {
        "naive: per-candidate outputs (s + phi_i)/(n + 1)": jax.jit(
            lambda n, t: naive_path(n, t, k, _CHUNK.value)
        ),
        "rank-one: one [N, m] x [m, C] matmul per step": path_of(greedy.GreedyConfig(k)),
        "rank-one, Gram form (K = H^T H once)": path_of(greedy.GreedyConfig(k, gram=True)),
    }
    timings = {name: timed(run, neurons, targets) for name, run in runs.items()}
    forward_steps = _FORWARD_STEPS.value
    forward = jax.jit(lambda n, t: forward_path(n, t, forward_steps, _CHUNK.value))
    forward_name = f"naive: masked forward pass per candidate ({forward_steps} steps timed)"
    timings[forward_name] = timed(forward, neurons, targets)
    rank_one_seconds, rank_one_path = timings["rank-one: one [N, m] x [m, C] matmul per step"]
    rank_one_step = rank_one_seconds / k
    rows = [
        f"Greedy with replacement, N = {_WIDTH.value}, m = {_NUM_TRAIN.value}, C = 10, "
        f"k = {k} (NTK net at init, kappa = {_INIT_STD.value}, packaged MNIST)",
        "",
        "| scorer | time (s) | per step (ms) | step time / rank-one's | same neurons as rank-one |",
        "|---|---|---|---|---|",
    ]
    for name, (seconds, path) in timings.items():
        per_step = seconds / len(path)
        rows.append(
            f"| {name} | {seconds:.3f} | {1000 * per_step:.2f} | {per_step / rank_one_step:.2f}"
            f" | {agreement(rank_one_path, path)} |"
        )
    return rows


def bench_cpu_config() -> list[str]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        runner.run(configs.get_config("cpu"), os.path.join(directory, "run"), show_progress=False)
        seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return [
        "| job | wall (s) | CPU user+sys (s) |",
        "|---|---|---|",
        f"| wolfe2021 cpu config end to end | {seconds:.1f} | {cpu:.1f} |",
    ]


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    load = os.getloadavg()
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"jax {jax.__version__} on {jax.devices()[0].device_kind}; load average at start "
        f"{load[0]:.1f}",
        "",
        *bench_greedy(),
    ]
    if _RUN_CPU_CONFIG.value:
        lines += ["", *bench_cpu_config()]
    lines.append(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}")
    print("\n".join(lines))


if __name__ == "__main__":
    app.run(main)
