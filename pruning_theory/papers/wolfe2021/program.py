"""The engine programs of wolfe2021: pre-training with snapshots, greedy pruning in finalize.

Spec docs/papers/wolfe2021.md, "Model and pre-training" and "Greedy forward selection". A
two-layer net (`ntk_models.NTKTwoLayer`, or the practical 784-N-10 `models.MLP`) is
pre-trained by full-batch gradient descent, one trajectory per (seed, dataset size m), with
its parameters snapshotted at ``train.snapshot_steps`` (pre-training lengths are nested:
snapshot, never re-train). At every snapshot the net is pruned by greedy forward selection
(`greedy.greedy_path`, the whole path S_1..S_k in one run) and by the baselines of equal size
k: a random subset and the k largest ``||v_r|| ||w_r||`` (`prune_snapshot`).

A program's grid is ``seed x num_train``. The seed drives the data order (a nested stratified
order of the pool, `pools.seed_data`), the initial weights and the random draws of the
analysis. The sizes of one program share one padded pool per seed and differ only in their
sample weights (`data.weighted`), so all of them train in one compiled program.

The analysis runs in the engine's ``finalize``: the snapshots never leave the device, the
padded data are already there, and greedy runs vmapped over seeds and sizes with
`jax.lax.map` over snapshots, which bounds memory to one ``[m, N]`` activation matrix per
cell. `make_scratch_program` trains width-k nets from scratch (baseline C4c).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from pruning_theory import engine, models
from pruning_theory.data import weighted
from pruning_theory.papers.wolfe2021 import greedy, ntk_models, pools

NUM_CLASSES = 10
INIT_STREAM, GREEDY_STREAM, RANDOM_STREAM = 0, 1, 2  # pools.DATA_STREAM = 3 orders the data


def greedy_config(config: ml_collections.ConfigDict) -> greedy.GreedyConfig:
    """The static greedy knobs of a config (spec "Greedy forward selection"), k = max(ks)."""
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


def build_model(config: ml_collections.ConfigDict, key: jax.Array, num_inputs: int):
    """The configured two-layer net (spec eq. (1), or the practical MLP), weights from ``key``."""
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
    host_data: Callable  # data coordinates -> each seed's {"x", "labels"} (`engine.Program`)


def make_trainer(config: ml_collections.ConfigDict) -> Trainer:
    """Data, model, weighted loss and the full-batch GD step of a config (spec eq. (1))."""
    size = max(int(m) for m in config.grid.num_train)
    num_inputs = math.prod(pools.load_pool(config.data).inputs.shape[1:])
    graphdef = nnx.graphdef(
        nnx.eval_shape(lambda: build_model(config, jax.random.key(0), num_inputs))
    )

    def host_data(data_cells) -> dict[str, np.ndarray]:
        """Each data cell's seed data (`pools.seed_data`), built on the host, one row a seed."""
        per_seed = [pools.seed_data(config.data, size, int(s)) for s in data_cells["seed"]]
        return {name: np.stack([d[name] for d in per_seed]) for name in ("x", "labels")}

    def make_data(data_cell):
        labels = data_cell["labels"]
        return {
            "x": data_cell["x"],
            "labels": labels,
            "one_hot": jax.nn.one_hot(labels, NUM_CLASSES),
        }

    def targets(data, num_train, normalization) -> greedy.Targets:
        weights = weighted.prefix_weights(num_train, data["labels"].shape[0], normalization)
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

    return Trainer(make_data, targets, initial_model, gd_step, dense_metrics, graphdef, host_data)


def subset_metrics(neurons, mean_targets, ranking, ks: np.ndarray, loss: str):
    """Loss and accuracy of the subnetworks on the first k neurons of ``ranking``, every k."""

    def one(k):
        counts = jnp.zeros_like(ranking).at[ranking].set(jnp.arange(ranking.size)) < k
        outputs = greedy.subnetwork_output(neurons, counts.astype(jnp.float32))
        return (
            greedy.weighted_loss(outputs, mean_targets, loss),
            greedy.weighted_accuracy(outputs, mean_targets),
        )

    return jax.vmap(one)(jnp.asarray(ks))


def prune_snapshot(config, trainer: Trainer, params, rest, data, cell, key) -> dict:
    """Greedy selection (spec eq. (4)) and the random and magnitude baselines on one snapshot.

    Returns:
      The dense mean loss and accuracy, the greedy / random / magnitude subnetworks' mean
      loss and accuracy at every k of ``greedy.ks``, and the whole greedy path.
    """
    ks = np.asarray(config.greedy.ks)
    loss = config.train.loss
    model = nnx.merge(trainer.graphdef, params, rest)
    neurons = ntk_models.neurons_of(model, data["x"])
    # Mean weights: greedy's choices are the same under the sum loss (a constant factor).
    mean_targets = trainer.targets(data, cell["num_train"], "mean")
    path = greedy.greedy_path(neurons, mean_targets, greedy_config(config), key)
    width = neurons.readout.shape[0]
    random_order = jax.random.permutation(
        jax.random.fold_in(jax.random.key(cell["seed"]), RANDOM_STREAM), width
    )
    magnitude_order = jnp.argsort(-ntk_models.neuron_magnitudes(model), stable=True)
    random_loss, random_accuracy = subset_metrics(neurons, mean_targets, random_order, ks, loss)
    magnitude_loss, magnitude_accuracy = subset_metrics(
        neurons, mean_targets, magnitude_order, ks, loss
    )
    dense_outputs = neurons.offset + neurons.hidden @ neurons.readout  # f = mean of the phi_r
    return {
        "dense_loss": greedy.weighted_loss(dense_outputs, mean_targets, loss),
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


def make_program(config: ml_collections.ConfigDict) -> engine.Program:
    """The pre-training sweep with greedy selection and baselines on every snapshot.

    State: ``(params, rest, snapshots)``; ``rest`` holds the masks and (NTK) the fixed output
    signs. Logged: the dense mean training loss and accuracy. ``finalize`` returns
    `prune_snapshot` of every snapshot (a leading snapshot axis after the cell).
    """
    trainer = make_trainer(config)
    schedule = jnp.asarray(config.train.snapshot_steps, jnp.int32)
    num_snapshots = len(config.train.snapshot_steps)
    normalization = config.data.normalization

    def init(cell, data):
        _, params, rest = nnx.split(trainer.initial_model(cell), nnx.Param, ...)
        snapshots = jax.tree.map(lambda p: jnp.zeros((num_snapshots, *p.shape), p.dtype), params)
        return params, rest, write_snapshot(snapshots, params, jnp.int32(0), schedule)

    def advance(state, cell, data, step):
        params, rest, snapshots = state
        train_targets = trainer.targets(data, cell["num_train"], normalization)
        params = trainer.gd_step(params, rest, data, train_targets)
        return params, rest, write_snapshot(snapshots, params, step + 1, schedule)

    def evaluate(state, cell, data):
        params, rest, _ = state
        return trainer.dense_metrics(params, rest, data, cell["num_train"])

    def finalize(state, cell, data):
        _, rest, snapshots = state
        base = jax.random.fold_in(jax.random.key(cell["seed"]), GREEDY_STREAM)
        keys = jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(num_snapshots))
        return jax.lax.map(
            lambda inputs: prune_snapshot(config, trainer, inputs[0], rest, data, cell, inputs[1]),
            (snapshots, keys),
        )

    return engine.Program(
        trainer.make_data, init, advance, evaluate, finalize, host_data=trainer.host_data
    )


def scratch_widths(config: ml_collections.ConfigDict) -> tuple[int, ...]:
    """The widths of the from-scratch baseline: the subnetwork sizes ``greedy.ks``."""
    return tuple(int(k) for k in config.greedy.ks)


def make_scratch_program(config: ml_collections.ConfigDict, widths) -> engine.Program:
    """Width-k nets trained from scratch for ``train.steps`` steps on the largest m, for the
    widths k of ``widths`` (the values the program's grid axis ``width`` takes).

    One net of width ``max(widths)`` per cell with the unit mask ``c 1[r < k]`` on its hidden
    layer: for the NTK net ``c = sqrt(max(widths) / k)`` turns its ``1/sqrt(max widths)``
    readout into the width-k net's ``1/sqrt(k)``, with the same gradients, so the width is a
    traced grid axis. (For the MLP ``c = 1``; its readout init keeps the fan-in of the widest.)
    """
    wide = ml_collections.ConfigDict(config.to_dict())
    wide.model.width = max(int(k) for k in widths)
    trainer = make_trainer(wide)
    num_train = max(config.grid.num_train)
    normalization = config.data.normalization

    def init(cell, data):
        model = trainer.initial_model(cell)
        width, k = wide.model.width, cell["width"]
        scale = jnp.sqrt(width / k) if config.model.kind == "ntk" else 1.0
        mask = scale * (jnp.arange(width) < k).astype(jnp.float32)
        ntk_models.hidden_layer(model).unit_mask[...] = mask
        _, params, rest = nnx.split(model, nnx.Param, ...)
        return params, rest

    def advance(state, cell, data, step):
        params, rest = state
        train_targets = trainer.targets(data, num_train, normalization)
        return trainer.gd_step(params, rest, data, train_targets), rest

    def evaluate(state, cell, data):
        return trainer.dense_metrics(*state, data, num_train)

    return engine.Program(trainer.make_data, init, advance, evaluate, host_data=trainer.host_data)
