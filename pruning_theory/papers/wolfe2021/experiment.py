"""How much pre-training before pruning (Wolfe et al. 2021): greedy selection on GD snapshots.

Spec: docs/papers/wolfe2021.md. A two-layer net (`ntk_models.NTKTwoLayer`, or the practical
784-N-10 `models.MLP`) is pre-trained by full-batch gradient descent on MNIST, one trajectory
per (seed, dataset size m), with its parameters snapshotted at a log-spaced grid of steps
(pre-training lengths are nested: snapshot, never re-train). At every snapshot the net is
pruned by greedy forward selection (`greedy.greedy_path`, the whole path S_1..S_k in one run)
and by the baselines of equal size k: a random subset and the k largest ``||v_r|| ||w_r||``.
A separate sweep trains width-k nets from scratch with the same step budget.

A sweep is the grid ``seed x num_train``. The seed drives the data order (a nested stratified
order of the pool, so every m is a stratified prefix), the initial weights and the random
draws of the analysis. Dataset sizes share one padded pool per seed and differ only in their
sample weights (`data.weighted`), so all of them train in one compiled program.

Post-training analysis runs in the engine's ``finalize``: the snapshots never leave the device
(at gpu scale they are gigabytes per sweep), the padded data are already there, and greedy runs
vmapped over seeds and sizes with `jax.lax.map` over snapshots, which bounds memory to one
``[m, N]`` activation matrix per cell. The price is that greedy knobs cannot change without
re-training; the sweep is the unit of reproduction anyway.

Knobs where the spec leaves a choice (defaults and reasons in launch/configs/wolfe2021.py):
``data.normalization`` (sum or mean loss), ``model.init_std`` (kappa), ``greedy.*`` (theory
variant or official-code variant), ``train.loss`` (squared or cross-entropy).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from pruning_theory import models
from pruning_theory.data import mnist, weighted
from pruning_theory.engine import sweep
from pruning_theory.engine.overrides import with_overrides
from pruning_theory.engine.results import SweepResult
from pruning_theory.experiment import Experiment
from pruning_theory.papers.wolfe2021 import claims as wolfe2021_claims
from pruning_theory.papers.wolfe2021 import figures as wolfe2021_figures
from pruning_theory.papers.wolfe2021 import greedy, ntk_models, theory

NAME = "wolfe2021"
MODEL_KINDS = ("ntk", "mlp")
SCALES = ("l2", "unit")
NUM_CLASSES = 10
INIT_STREAM, GREEDY_STREAM, RANDOM_STREAM, DATA_STREAM = 0, 1, 2, 3


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks one sweep's config before anything is compiled (the data directory is read).

    Raises:
      ValueError: naming the bad value.
      FileNotFoundError: naming a data directory without the MNIST IDX files.
    """
    sweep.validate_axes(config.grid)
    if set(config.grid) != {"seed", "num_train"}:
        raise ValueError(f"grid axes must be seed and num_train, got {list(config.grid)}")
    for seed in config.grid.seed:
        if seed != int(seed) or seed < 0:
            raise ValueError(f"seed {seed} is not a non-negative integer")
    choices = {
        "model.kind": (config.model.kind, MODEL_KINDS),
        "data.scale": (config.data.scale, SCALES),
        "train.loss": (config.train.loss, greedy.LOSSES),
    }
    for name, (value, options) in choices.items():
        if value not in options:
            raise ValueError(f"{name} = {value!r} is not one of {options}")
    weighted.check_normalization(config.data.normalization)
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
    validate_snapshots(config.train.snapshot_steps, config.train.steps)
    weighted.check_sizes(config.grid.num_train, pool_size(config.data.source))
    ks = tuple(config.greedy.ks)
    if not ks or list(ks) != sorted(set(ks)) or min(ks) <= 0:
        raise ValueError(f"greedy.ks = {ks} must be distinct positive sizes in increasing order")
    greedy.validate(greedy_config(config), config.model.width, min(config.grid.num_train))


def validate_snapshots(steps, num_steps: int) -> None:
    """Snapshot steps: distinct integers in [0, num_steps], increasing.

    Raises:
      ValueError: naming a step beyond the training length, a repeated or a negative step.
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


def greedy_config(config: ml_collections.ConfigDict) -> greedy.GreedyConfig:
    g = config.greedy
    return greedy.GreedyConfig(
        num_selected=max(g.ks),
        loss=config.train.loss,
        replacement=g.replacement,
        num_candidates=g.num_candidates,
        batch_size=g.batch_size,
        chunk_size=g.chunk_size,
        gram=g.gram,
    )


@functools.lru_cache(maxsize=4)
def _pool(source: str) -> mnist.Split:
    """The image pool: the packaged subset, or the training split of an IDX directory."""
    if source == "packaged":
        return mnist.load_mnist_subset()
    if not os.path.isdir(source):
        raise FileNotFoundError(f"data.source {source!r} is neither 'packaged' nor a directory")
    return mnist.load_mnist_idx(source)["train"]


def pool_size(source: str) -> int:
    return len(_pool(source)[1])


def seed_data(source: str, scale: str, sizes, seed: int) -> dict[str, np.ndarray]:
    """The padded data of one seed: the pool in a nested stratified order, preprocessed.

    Returns:
      ``{"x": [max(sizes), d], "labels": [max(sizes)]}``; the first m rows are a stratified
      sample of the pool for every m in ``sizes``.
    """
    images, labels = _pool(source)
    order = weighted.nested_stratified_order(labels, max(sizes), (int(seed), DATA_STREAM))
    return {
        "x": mnist.preprocess(images[order], scale=scale),
        "labels": labels[order].astype(np.int32),
    }


def build_model(config: ml_collections.ConfigDict, key: jax.Array, num_inputs: int):
    """The configured two-layer net, initial weights drawn from ``key``."""
    rngs = nnx.Rngs(params=key)
    if config.model.kind == "ntk":
        return ntk_models.NTKTwoLayer(
            num_inputs, config.model.width, NUM_CLASSES, config.model.init_std, rngs=rngs
        )
    return models.MLP((num_inputs, config.model.width, NUM_CLASSES), jax.nn.relu, rngs=rngs)


def write_snapshot(snapshots, params, step: jax.Array, schedule: jax.Array):
    """Stores ``params`` (reached after ``step`` GD steps) if ``step`` is a snapshot step.

    ``step`` is unbatched across cells (the engine's scan counter), so the `jax.lax.cond`
    stays a real branch under vmap and snapshot writes cost nothing on other steps.
    """
    slot = jnp.minimum(jnp.searchsorted(schedule, step), schedule.shape[0] - 1)

    def write(buffers):
        return jax.tree.map(
            lambda buffer, value: jax.lax.dynamic_update_index_in_dim(buffer, value, slot, 0),
            buffers,
            params,
        )

    return jax.lax.cond(schedule[slot] == step, write, lambda buffers: buffers, snapshots)


class Trainer(NamedTuple):
    """What the main and the scratch programs share (pure functions of one config)."""

    make_data: Callable  # data_cell -> {"x", "labels", "one_hot"}, padded to max(m)
    targets: Callable  # (data, num_train, normalization) -> greedy.Targets
    initial_model: Callable  # cell -> the net at initialization
    gd_step: Callable  # (params, rest, data, targets) -> params after one GD step
    dense_metrics: Callable  # (params, rest, data, num_train) -> mean loss, accuracy
    graphdef: Any


def make_trainer(config: ml_collections.ConfigDict) -> Trainer:
    """Data, model, weighted loss and the full-batch GD step of a config."""
    seeds = tuple(int(s) for s in config.grid.seed)
    data = config.data
    per_seed = [seed_data(data.source, data.scale, config.grid.num_train, s) for s in seeds]
    x_all = jnp.asarray(np.stack([d["x"] for d in per_seed]))
    labels_all = jnp.asarray(np.stack([d["labels"] for d in per_seed]))
    seed_values = jnp.asarray(seeds)
    num_inputs = x_all.shape[-1]
    graphdef = nnx.graphdef(
        nnx.eval_shape(lambda: build_model(config, jax.random.key(0), num_inputs))
    )

    def make_data(data_cell):
        position = jnp.argmax(seed_values == data_cell["seed"])
        labels = labels_all[position]
        return {
            "x": x_all[position],
            "labels": labels,
            "one_hot": jax.nn.one_hot(labels, NUM_CLASSES),
        }

    def targets(data, num_train, normalization) -> greedy.Targets:
        size = data["labels"].shape[0]
        weights = weighted.prefix_weights(num_train, size, normalization)
        return greedy.Targets(data["labels"], data["one_hot"], weights)

    def initial_model(cell):
        key = jax.random.fold_in(jax.random.key(cell["seed"]), INIT_STREAM)
        return build_model(config, key, num_inputs)

    def loss_fn(params, rest, data, train_targets):
        outputs = nnx.merge(graphdef, params, rest)(data["x"])
        return greedy.weighted_loss(outputs, train_targets, config.train.loss)

    def gd_step(params, rest, data, train_targets):
        grads = jax.grad(loss_fn)(params, rest, data, train_targets)
        return jax.tree.map(lambda p, g: p - config.train.learning_rate * g, params, grads)

    def dense_metrics(params, rest, data, num_train) -> dict[str, jax.Array]:
        outputs = nnx.merge(graphdef, params, rest)(data["x"])
        mean_targets = targets(data, num_train, "mean")
        return {
            "train_loss": greedy.weighted_loss(outputs, mean_targets, config.train.loss),
            "train_accuracy": greedy.weighted_accuracy(outputs, mean_targets),
        }

    return Trainer(make_data, targets, initial_model, gd_step, dense_metrics, graphdef)


def make_program(config: ml_collections.ConfigDict) -> sweep.Program:
    """The pre-training sweep with greedy selection and baselines on every snapshot.

    State: ``(params, rest, snapshots)``; ``rest`` holds the masks and (NTK) the fixed output
    signs. Logged: the dense mean training loss and accuracy. ``finalize`` returns, per
    snapshot, the dense metrics and the greedy / random / magnitude subnetworks' mean loss and
    accuracy at every k of ``greedy.ks``, and the whole greedy path.
    """
    make_data, targets, initial_model, gd_step, dense_metrics, graphdef = make_trainer(config)
    schedule = jnp.asarray(config.train.snapshot_steps, jnp.int32)
    num_snapshots = len(config.train.snapshot_steps)
    normalization = config.data.normalization
    ks = np.asarray(config.greedy.ks)
    selection = greedy_config(config)

    def init(cell, data):
        _, params, rest = nnx.split(initial_model(cell), nnx.Param, ...)
        snapshots = jax.tree.map(lambda p: jnp.zeros((num_snapshots, *p.shape), p.dtype), params)
        return params, rest, write_snapshot(snapshots, params, jnp.int32(0), schedule)

    def advance(state, cell, data, step):
        params, rest, snapshots = state
        params = gd_step(params, rest, data, targets(data, cell["num_train"], normalization))
        return params, rest, write_snapshot(snapshots, params, step + 1, schedule)

    def evaluate(state, cell, data):
        params, rest, _ = state
        return dense_metrics(params, rest, data, cell["num_train"])

    def subset_metrics(neurons, mean_targets, ranking):
        """Loss and accuracy of the subnetworks on the first k neurons of ``ranking``."""

        def one(k):
            counts = jnp.zeros_like(ranking).at[ranking].set(jnp.arange(ranking.size)) < k
            outputs = greedy.subnetwork_output(neurons, counts.astype(jnp.float32))
            return (
                greedy.weighted_loss(outputs, mean_targets, config.train.loss),
                greedy.weighted_accuracy(outputs, mean_targets),
            )

        return jax.vmap(one)(jnp.asarray(ks))

    def analyze(params, rest, data, cell, key):
        model = nnx.merge(graphdef, params, rest)
        neurons = ntk_models.neurons_of(model, data["x"])
        # Mean weights: greedy's choices are the same under the sum loss (a constant factor).
        mean_targets = targets(data, cell["num_train"], "mean")
        path = greedy.greedy_path(neurons, mean_targets, selection, key)
        width = neurons.readout.shape[0]
        random_order = jax.random.permutation(
            jax.random.fold_in(jax.random.key(cell["seed"]), RANDOM_STREAM), width
        )
        magnitude_order = jnp.argsort(-ntk_models.neuron_magnitudes(model), stable=True)
        random_loss, random_accuracy = subset_metrics(neurons, mean_targets, random_order)
        magnitude_loss, magnitude_accuracy = subset_metrics(neurons, mean_targets, magnitude_order)
        dense_outputs = neurons.offset + neurons.hidden @ neurons.readout  # f = mean of the phi_r
        return {
            "dense_loss": greedy.weighted_loss(dense_outputs, mean_targets, config.train.loss),
            "dense_accuracy": greedy.weighted_accuracy(dense_outputs, mean_targets),
            "greedy_loss": path.loss[ks - 1],
            "greedy_accuracy": path.accuracy[ks - 1],
            "greedy_path_loss": path.loss,
            "greedy_selected": path.selected,
            "random_loss": random_loss,
            "random_accuracy": random_accuracy,
            "magnitude_loss": magnitude_loss,
            "magnitude_accuracy": magnitude_accuracy,
        }

    def finalize(state, cell, data):
        _, rest, snapshots = state
        base = jax.random.fold_in(jax.random.key(cell["seed"]), GREEDY_STREAM)
        keys = jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(num_snapshots))
        return jax.lax.map(
            lambda inputs: analyze(inputs[0], rest, data, cell, inputs[1]), (snapshots, keys)
        )

    return sweep.Program(make_data, init, advance, evaluate, finalize)


def scratch_widths(config: ml_collections.ConfigDict) -> tuple[int, ...]:
    return tuple(int(k) for k in config.greedy.ks)


def make_scratch_program(config: ml_collections.ConfigDict) -> sweep.Program:
    """Width-k nets trained from scratch for ``train.steps`` steps on the largest m.

    One net of width ``max(k)`` per cell with the unit mask ``c 1[r < k]`` on its hidden
    layer: for the NTK net ``c = sqrt(max(k) / k)`` turns its ``1/sqrt(max k)`` readout into
    the width-k net's ``1/sqrt(k)``, with the same gradients, so the width is a traced grid
    axis. (For the MLP ``c = 1``; its readout init keeps the fan-in of max(k).)
    """
    wide = ml_collections.ConfigDict(config.to_dict())
    wide.model.width = max(scratch_widths(config))
    make_data, targets, initial_model, gd_step, dense_metrics, _ = make_trainer(wide)
    num_train = max(config.grid.num_train)
    normalization = config.data.normalization

    def init(cell, data):
        model = initial_model(cell)
        width, k = wide.model.width, cell["width"]
        scale = jnp.sqrt(width / k) if config.model.kind == "ntk" else 1.0
        mask = scale * (jnp.arange(width) < k).astype(jnp.float32)
        ntk_models.hidden_layer(model).unit_mask[...] = mask
        _, params, rest = nnx.split(model, nnx.Param, ...)
        return params, rest

    def advance(state, cell, data, step):
        params, rest = state
        return gd_step(params, rest, data, targets(data, num_train, normalization)), rest

    def evaluate(state, cell, data):
        return dense_metrics(*state, data, num_train)

    return sweep.Program(make_data, init, advance, evaluate)


def run_sweep(config: ml_collections.ConfigDict, progress=None):
    """Validates, builds and runs the pre-training + pruning sweep."""
    validate(config)
    grid = sweep.Grid(axes=dict(config.grid), data_axes=("seed",))
    return sweep.run_program(
        make_program(config),
        grid,
        num_steps=config.train.steps,
        log_every=config.train.steps // config.train.num_logs,
        progress=progress,
    )


def run_scratch(config: ml_collections.ConfigDict, progress=None):
    """The width-k-from-scratch baseline: grid ``seed x width`` on the largest dataset."""
    validate(config)
    axes = {"seed": tuple(config.grid.seed), "width": scratch_widths(config)}
    return sweep.run_program(
        make_scratch_program(config),
        sweep.Grid(axes=axes, data_axes=("seed",)),
        num_steps=config.train.steps,
        log_every=config.train.steps // config.train.num_logs,
        progress=progress,
    )


def practical_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The practical 784-N-10 MLP variant: the main config with ``config.practical`` applied."""
    return with_overrides(config, config.practical.overrides)


def validate_all(config: ml_collections.ConfigDict) -> None:
    """Validates the main sweep, the practical variant and the claim rules before any compile."""
    validate(config)
    wolfe2021_claims.validate_checks(config)
    if config.data.scale != "l2":
        raise ValueError(
            f"data.scale = {config.data.scale!r}: the main sweep's NTK theory (H_inf) needs "
            "unit-norm inputs, data.scale = 'l2'"
        )
    if config.practical.enabled:
        validate(practical_config(config))
        wolfe2021_claims.validate_checks(practical_config(config))


@functools.lru_cache(maxsize=8)
def _gram_spectrum(source: str, scale: str, seed: int, sizes: tuple[int, ...]):
    """(lambda_0, lambda_max) of H_inf on each prefix; cached: claims and theory.json share it."""
    x = seed_data(source, scale, sizes, seed)["x"]
    return tuple(theory.gram_extreme_eigenvalues(x[:size]) for size in sizes)


def theory_summary(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """NTK Gram eigenvalues of the first seed's data and the reconstruction's t*(m)."""
    sizes = tuple(sorted(int(m) for m in config.grid.num_train))
    spectrum = _gram_spectrum(
        config.data.source, config.data.scale, int(config.grid.seed[0]), sizes
    )
    k_ref = config.checks.k_ref
    rows = []
    for size, (lambda_0, lambda_max) in zip(sizes, spectrum, strict=True):
        step = theory.sum_loss_step(config.train.learning_rate, size, config.data.normalization)
        rows.append(
            {
                "num_train": size,
                "lambda_0": lambda_0,
                "lambda_max": lambda_max,
                "sum_loss_step": step,
                "rate_per_step": theory.decay_rate(step, lambda_0),
                "t_star": theory.threshold_steps(
                    step, lambda_0, size, k_ref, config.theory.constant
                ),
            }
        )
    return {"label": theory.RECONSTRUCTION, "k_ref": k_ref, "by_num_train": rows}


def run_sweeps(
    config: ml_collections.ConfigDict, progress: Callable[[str], Any] | None = None
) -> dict[str, SweepResult]:
    """Every sweep of the job: the NTK pre-training sweep with greedy selection (``metrics``),
    the width-k networks from scratch (``scratch``) and the practical MLP variant
    (``practical``), each where the config enables it."""
    validate_all(config)
    reporter = (lambda name: progress(name)) if progress else (lambda name: None)
    sweeps = {"metrics": run_sweep(config, reporter(NAME))}
    if config.baselines.scratch:
        sweeps["scratch"] = run_scratch(config, reporter("scratch"))
    if config.practical.enabled:
        sweeps["practical"] = run_sweep(practical_config(config), reporter("practical"))
    return sweeps


def analyze(config: ml_collections.ConfigDict, sweeps: dict[str, SweepResult]):
    """Claims and figures from the sweeps of `run_sweeps` (t* vs log m, greedy vs baselines)."""
    summary = theory_summary(config)
    practical = sweeps.get("practical")
    practical_pair = None if practical is None else (practical, practical_config(config))
    main, scratch = sweeps["metrics"], sweeps.get("scratch")
    claims = wolfe2021_claims.wolfe2021_claims(main, scratch, practical_pair, config, summary)
    figures = wolfe2021_figures.figures(main, scratch, practical_pair, config, summary)
    return claims, figures


EXPERIMENT = Experiment(
    name="wolfe2021",
    validate=validate_all,
    run_sweeps=run_sweeps,
    analyze=analyze,
    theory=theory_summary,
)
