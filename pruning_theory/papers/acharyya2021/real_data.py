"""Real data for Acharyya et al. (2021), claim C7: node vs edge pruning of a sigmoid MLP.

Spec docs/papers/acharyya2021.md, C7, and the official code (``mnist_dpp/MNIST.py``): a
sigmoid MLP 784-500-500-10 (CIFAR-10: 3072-1000-1000-1000-10) is trained with SGD (lr 1e-3,
momentum 0.9, cross-entropy); then its first hidden layer is pruned one-shot at matched
parameter counts, for edge keep fractions p (k_e = floor(p N) incoming edges per unit, and
k_n = ceil(K (k_e + K2) / (N + K2)) units, K2 the next layer's width, as in the official
``cal_param_MNIST.py``), by

* ``divnet``: k_n units from the k-DPP of the RBF kernel exp(-beta ||h_s - h_t||^2) + 0.01 I
  over the units' pre-activation vectors on the training set (beta = 10 / |train|), then
  DIVNET reweighting of the next layer with the units' activation vectors;
* ``random_edge_reweighted``: exactly k_e random incoming edges per unit, then the per-unit
  least-squares reweighting of the kept edges (`node_edge_pruning.reweight_edges`);
* ``importance_edge_reweighted``: the k_e largest |w| per unit, then the same reweighting;

and, for reference, the same three without reweighting (``dpp_node``, ``random_edge``,
``importance_edge``). A removed unit's outgoing weights are zeroed (the official code keeps its
bias-driven constant output when it does not reweight). Data: the packaged 5000-image MNIST
subset by default; a directory of the full MNIST IDX files or of cifar-10-batches-py when
``source`` points at one.

Differences from the official code, for float32 on a laptop: a relative ridge in every least
squares (``ridge``), and the units' true pre-activations and activations (with their biases)
as DIVNET's information vectors.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from pruning_theory import engine, models
from pruning_theory.data import cifar10, mnist
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.acharyya2021 import dpp, lapack
from pruning_theory.papers.acharyya2021 import node_edge_pruning as pruning

DATASETS = {"mnist": 784, "cifar10": 3072}
SCALES = ("unit", "standardize", "l2")
NUM_CLASSES = 10
SPLIT_SEED = 0
TRAIN_LOSS_SUBSET = 1000
INIT_STREAM, BATCH_STREAM, PRUNING_STREAM = range(3)
RULES = (
    "divnet",
    "random_edge_reweighted",
    "importance_edge_reweighted",
    "dpp_node",
    "random_edge",
    "importance_edge",
)


def validate(real: ml_collections.ConfigDict) -> None:
    """Checks the real-data section of a config before anything is loaded or compiled.

    Raises:
      ValueError: naming the bad value.
    """
    if real.dataset not in DATASETS:
        raise ValueError(f"real_data.dataset = {real.dataset!r} is not one of {list(DATASETS)}")
    if real.dataset == "cifar10" and real.source == "packaged":
        raise ValueError("real_data.dataset = 'cifar10' needs real_data.source = a directory")
    if real.scale not in SCALES:
        raise ValueError(f"real_data.scale = {real.scale!r} is not one of {SCALES}")
    sizes = tuple(real.layer_sizes)
    if len(sizes) < 4 or sizes[0] != DATASETS[real.dataset] or sizes[-1] != NUM_CLASSES:
        raise ValueError(
            f"real_data.layer_sizes = {sizes} must be ({DATASETS[real.dataset]}, hidden, "
            f"hidden, ..., {NUM_CLASSES}) with at least two hidden layers"
        )
    for name in ("num_train", "num_test", "batch_size", "epochs", "num_logs", "num_masks"):
        value = real[name]
        if not (isinstance(value, int) and value > 0):
            raise ValueError(f"real_data.{name} must be a positive integer, got {value!r}")
    if any(size <= 0 for size in sizes):
        raise ValueError(f"real_data.layer_sizes = {sizes} has a non-positive width")
    if real.batch_size > real.num_train:
        raise ValueError(
            f"real_data.batch_size = {real.batch_size} exceeds num_train = {real.num_train}"
        )
    if num_steps(real) % real.num_logs:
        raise ValueError(
            f"real_data: {num_steps(real)} steps are not a multiple of num_logs = {real.num_logs}"
        )
    for name in ("learning_rate", "ridge", "rbf_scale", "jitter"):
        if not (math.isfinite(real[name]) and real[name] > 0):
            raise ValueError(f"real_data.{name} = {real[name]} must be positive")
    if not 0 <= real.momentum < 1:
        raise ValueError(f"real_data.momentum = {real.momentum} must lie in [0, 1)")
    engine.validate_axes({"seed": real.seeds, "edge_fraction": real.edge_fractions})
    for seed in real.seeds:
        if int(seed) != seed or seed < 0:
            raise ValueError(f"real_data seed {seed} is not a non-negative integer")
    for fraction in real.edge_fractions:
        edges_and_units(real, fraction)


def num_steps(real: ml_collections.ConfigDict) -> int:
    """SGD steps of the real-data MLP: epochs x minibatches per epoch."""
    return real.epochs * (real.num_train // real.batch_size)


def edges_and_units(real: ml_collections.ConfigDict, fraction: float) -> tuple[int, int]:
    """(k_e, k_n) of an edge keep fraction p: k_e = floor(p N), k_n matched (official).

    Raises:
      ValueError: if p is outside (0, 1] or gives k_e = 0.
    """
    fan_in, units, fan_out = real.layer_sizes[:3]
    if not 0 < fraction <= 1:
        raise ValueError(f"real_data edge fraction {fraction} is outside (0, 1]")
    edges = math.floor(fraction * fan_in)
    return edges, pruning.matched_units(edges, fan_in, units, fan_out)


def load_arrays(real: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
    """The train/test arrays: packaged MNIST, full MNIST (IDX) or CIFAR-10 from a directory."""
    if real.dataset == "cifar10":
        return cifar10.cifar10_classification(
            real.num_train, real.num_test, SPLIT_SEED, real.source, scale=real.scale
        )
    return mnist.mnist_classification(
        real.num_train, real.num_test, SPLIT_SEED, source=real.source, scale=real.scale
    )


def _mlp(real, key) -> models.MLP:
    return models.MLP(tuple(real.layer_sizes), jax.nn.sigmoid, rngs=nnx.Rngs(params=key))


def _cross_entropy(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


class _Network:
    """The MLP of a config as pure functions of its parameters (masks are constant ones)."""

    def __init__(self, real: ml_collections.ConfigDict):
        self.real = real
        # The masks (all ones: pruning here edits weights, not masks) are program constants.
        self.graphdef, params, self.rest = nnx.split(_mlp(real, jax.random.key(0)), nnx.Param, ...)
        self.treedef = jax.tree.structure(params)

    def initial_params(self, key: jax.Array) -> nnx.State:
        """Freshly initialized parameters (the MLP's default initializers)."""
        return nnx.split(_mlp(self.real, key), nnx.Param, ...)[1]

    def __call__(self, params, kernels=None) -> models.MLP:
        """The model, with the kernels of the layers listed in ``kernels`` replaced."""
        # copy: fresh variables at this trace level, so kernels can be swapped inside a map.
        model = nnx.merge(self.graphdef, params, self.rest, copy=True)
        for index, kernel in (kernels or {}).items():
            model.layers[index].kernel[...] = kernel
        return model

    def flatten(self, params) -> dict[str, jax.Array]:
        """Parameters as ``param_<i>`` arrays (a sweep's ``finalize`` metrics)."""
        return {f"param_{i}": leaf for i, leaf in enumerate(jax.tree.leaves(params))}

    def unflatten(self, flat: dict[str, jax.Array]):
        """The inverse of `flatten`."""
        return jax.tree.unflatten(self.treedef, [flat[f"param_{i}"] for i in range(len(flat))])


def _error(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return 1.0 - jnp.mean(jnp.argmax(logits, axis=-1) == labels)


def make_program(real: ml_collections.ConfigDict, arrays) -> engine.Program:
    """Training over the grid axis ``seed``; ``finalize`` returns the trained parameters.

    The train/test arrays are the program's shared data (an argument, not a constant). SGD
    visits the training set in a fresh random order every epoch (``num_train // batch_size``
    steps; the official code keeps a fixed order). Logged: the loss and error on the first
    ``TRAIN_LOSS_SUBSET`` training images and the test error.
    """
    dataset = {name: arrays[name] for name in ("x_train", "y_train", "x_test", "y_test")}
    num_train = len(dataset["x_train"])
    optimizer = optax.sgd(real.learning_rate, momentum=real.momentum)
    network = _Network(real)

    def make_data(data_cell, shared):
        return jax.random.key(data_cell["seed"])

    steps_per_epoch = num_train // real.batch_size

    def init(cell, key, shared):
        params = network.initial_params(jax.random.fold_in(key, INIT_STREAM))
        return params, optimizer.init(params), jnp.arange(num_train, dtype=jnp.int32)

    def advance(state, cell, key, step, shared):
        params, opt_state, order = state
        x_train, y_train = shared["x_train"], shared["y_train"]
        # Epoch-wise shuffling: a fresh permutation at each epoch's first step (the predicate
        # depends on the unbatched step only, so the permutation is drawn once per epoch).
        position = step % steps_per_epoch
        epoch_key = jax.random.fold_in(jax.random.fold_in(key, BATCH_STREAM), step)
        order = jax.lax.cond(
            position == 0,
            lambda: jax.random.permutation(epoch_key, num_train).astype(jnp.int32),
            lambda: order,
        )
        index = jax.lax.dynamic_slice(order, (position * real.batch_size,), (real.batch_size,))
        loss = lambda p: _cross_entropy(network(p)(x_train[index]), y_train[index])  # noqa: E731
        updates, opt_state = optimizer.update(jax.grad(loss)(params), opt_state, params)
        return optax.apply_updates(params, updates), opt_state, order

    def evaluate(state, cell, key, shared):
        params = state[0]
        train_logits = network(params)(shared["x_train"][:TRAIN_LOSS_SUBSET])
        train_y = shared["y_train"][:TRAIN_LOSS_SUBSET]
        return {
            "train_loss": _cross_entropy(train_logits, train_y),
            "train_error": _error(train_logits, train_y),
            "test_error": _error(network(params)(shared["x_test"]), shared["y_test"]),
        }

    def finalize(state, cell, key, shared):
        return network.flatten(state[0])

    return engine.Program(make_data, init, advance, evaluate, finalize, shared=dataset)


Layers = list[tuple[jax.Array, jax.Array]]


def _layers(network: _Network, params) -> Layers:
    """The ``(kernel, bias)`` of every layer (masks are ones: pruning edits the weights)."""
    return [(layer.kernel[...], layer.bias[...]) for layer in network(params).layers]


def _logits(layers: Layers, x: jax.Array) -> jax.Array:
    """The MLP's logits from the input of ``layers[0]`` (sigmoid hidden layers)."""
    for kernel, bias in layers[:-1]:
        x = jax.nn.sigmoid(x @ kernel + bias)
    kernel, bias = layers[-1]
    return x @ kernel + bias


class _Pruned(NamedTuple):
    """One trained network's statistics that every fraction and mask shares."""

    layers: Layers
    x_test: jax.Array
    hidden_test: jax.Array  # sigmoid(first layer) on the test set
    input_gram: jax.Array  # X^T X / P of the training inputs
    activation_gram: jax.Array  # of the first hidden layer's activations
    spectrum: dpp.Spectrum  # of the RBF unit kernel on the pre-activations


def _shared(real, layers: Layers, x_train, x_test) -> _Pruned:
    """The grams, the DPP kernel's spectrum and the test set's first hidden layer."""
    w1, b1 = layers[0]
    preactivations = x_train @ w1 + b1
    activations = jax.nn.sigmoid(preactivations)
    num_train = x_train.shape[0]
    kernel = pruning.rbf_unit_kernel(preactivations, real.rbf_scale / num_train, real.jitter)
    return _Pruned(
        layers,
        x_test,
        jax.nn.sigmoid(x_test @ w1 + b1),
        x_train.T @ x_train / num_train,
        activations.T @ activations / num_train,
        dpp.spectrum(kernel),
    )


def _fraction_errors(real, shared: _Pruned, key, edges: int, units: int, y_test) -> dict:
    """Test errors of every rule at one fraction (k_e edges per unit or k_n units kept)."""
    (w1, b1), (w2, b2), *rest = shared.layers

    def node_errors(unit_key):
        unit_mask = dpp.sample(unit_key, shared.spectrum, units)
        reweighted = pruning.reweight_nodes(shared.activation_gram, unit_mask, w2, ridge=real.ridge)
        return tuple(
            _error(_logits([(kernel, b2), *rest], shared.hidden_test), y_test)
            for kernel in (reweighted, w2 * unit_mask[:, None])
        )

    def edge_errors(edge_mask):
        reweighted = pruning.reweight_edges(
            shared.input_gram, w1, edge_mask, edges, ridge=real.ridge
        )
        return tuple(
            _error(_logits([(kernel, b1), *shared.layers[1:]], shared.x_test), y_test)
            for kernel in (reweighted, w1 * edge_mask)
        )

    node_key, edge_key = jax.random.split(key)
    divnet, dpp_node = jax.lax.map(node_errors, jax.random.split(node_key, real.num_masks))
    random_rw, random_plain = jax.lax.map(
        lambda k: edge_errors(pruning.random_edge_mask(k, w1.shape, edges)),
        jax.random.split(edge_key, real.num_masks),
    )
    importance_rw, importance_plain = edge_errors(pruning.importance_edge_mask(w1, edges))
    values = (divnet, random_rw, importance_rw, dpp_node, random_plain, importance_plain)
    return {rule: jnp.mean(value) for rule, value in zip(RULES, values, strict=True)}


def make_pruning(real: ml_collections.ConfigDict, arrays):
    """``(params, key) -> test errors of every rule at every p`` for ONE trained network.

    Called once per seed, not under vmap: its LAPACK calls (the kernel's eigendecomposition,
    the per-unit edge reweighting) must stay unbatched (`dpp.psd_cholesky` says why). The node
    rules change only the second layer, so they reuse the test set's first hidden layer.
    """
    x_train = jnp.asarray(arrays["x_train"])
    x_test, y_test = jnp.asarray(arrays["x_test"]), jnp.asarray(arrays["y_test"])
    network = _Network(real)
    sizes = [edges_and_units(real, p) for p in real.edge_fractions]

    def prune(params, key):
        layers = _layers(network, params)
        shared = _shared(real, layers, x_train, x_test)
        errors = {rule: [] for rule in RULES}
        for index, (edges, units) in enumerate(sizes):
            size_key = jax.random.fold_in(key, index)
            for rule, value in _fraction_errors(
                real, shared, size_key, edges, units, y_test
            ).items():
                errors[rule].append(value)
        dense = _error(_logits(layers, x_test), y_test)
        return {f"test_error_{rule}": jnp.stack(v) for rule, v in errors.items()} | {
            "test_error_dense": dense
        }

    return jax.jit(prune)


def run(real: ml_collections.ConfigDict, execution: engine.Execution | None = None) -> SweepResult:
    """Trains every seed side by side (one compiled sweep), then prunes each trained network.

    Returns:
      The training sweep's labelled metrics, with the pruning results as its ``final``
      metrics (``test_error_<rule>`` ``[seed, p]`` and ``test_error_dense``).
    """
    arrays = load_arrays(real)
    steps = num_steps(real)
    trained = engine.run_program(
        make_program(real, arrays),
        engine.Grid(axes={"seed": [int(s) for s in real.seeds]}, data_axes=("seed",)),
        num_steps=steps,
        log_every=steps // real.num_logs,
        name="real_data",
        execution=execution,
    )
    network = _Network(real)
    prune = make_pruning(real, arrays)
    per_seed = []
    for position, seed in enumerate(trained.axes["seed"]):
        flat = {name: jnp.asarray(value[position]) for name, value in trained.final.items()}
        key = jax.random.fold_in(jax.random.key(int(seed)), PRUNING_STREAM)
        with lapack.one_lapack_thread():  # its per-unit solves are LAPACK calls
            per_seed.append(jax.device_get(prune(network.unflatten(flat), key)))
    if per_seed:
        final = {name: np.stack([p[name] for p in per_seed]) for name in per_seed[0]}
    else:  # a grid shard without seeds: empty arrays of the same shapes (merges fine)
        shapes = jax.eval_shape(prune, network.initial_params(jax.random.key(0)), jax.random.key(0))
        final = {name: np.zeros((0, *s.shape), s.dtype) for name, s in shapes.items()}
    return dataclasses.replace(trained, final=final)
