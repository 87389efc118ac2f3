"""Random pruning at initialization on real MNIST: the real-data companion of Yang et al. 2023.

Yang, Liang, Guo, Wu and Wang (2023), "Theoretical Characterization of How Neural Network
Pruning Affects its Generalization" (arXiv 2301.00335), explain why a randomly pruned
over-parameterized network can generalize as well as, or slightly better than, the dense one at
mild pruning rates, while an over-pruned one generalizes badly. Their theory is for a two-layer
network on a synthetic signal-plus-noise task; this module shows the phenomenon it explains on
real data.

An MLP of `nn.MaskedLinear` layers is trained with Adam on the packaged 5000-image MNIST subset.
Every layer's kernel is pruned at initialization by an i.i.d. Bernoulli mask of rate ``p``
(`masks.bernoulli_mask`), drawn once from its own random stream and fixed during training.
The grid is ``seed x pruning_rate``. Within one seed every rate shares the initial weights, the
uniforms behind the masks (so the masks are nested across rates) and the minibatch order, which
makes the comparison between rates paired. Test accuracy against ``p`` is the measured curve;
`claims` checks "mild pruning improves" (R1) and "over-pruning hurts" (R2).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from pruning_theory import engine, masks, models, nn
from pruning_theory.claims import Claim
from pruning_theory.data import mnist
from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.yang2023 import rules

NUM_CLASSES = 10
SPLIT_SEED = 0
TRAIN_LOSS_SUBSET = 1000
MILD_RATE_MAX = 0.5
OVER_PRUNED_RATE_MIN = 0.95
R2_MARGIN = 0.05
ACTIVATIONS: Mapping[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "gelu": jax.nn.gelu,
}

# Distinct constants folded into a seed's key give independent streams: the masks must not
# reuse the bits that drew the initial weights.
_INIT_STREAM = 0
_MASK_STREAM = 1
_DATA_STREAM = 2

# A cell's training state: trainable parameters, fixed masks, Adam's state.
State = tuple[nnx.State, nnx.State, optax.OptState]
Shared = Mapping[str, jax.Array]  # the split: x_train, y_train, x_test, y_test


@dataclasses.dataclass(frozen=True)
class Config:
    """Static knobs of the experiment.

    Attributes:
      hidden_sizes: widths of the hidden layers.
      num_train: training images drawn from the packaged subset.
      num_test: test images drawn from the packaged subset (disjoint from the training ones).
      batch_size: minibatch size, drawn without replacement within a step.
      num_steps: training steps of every cell.
      log_every: steps between logged evaluations.
      learning_rate: Adam's step size.
      activation: hidden nonlinearity, a key of `ACTIVATIONS`.
    """

    hidden_sizes: tuple[int, ...] = (100,)
    num_train: int = 4000
    num_test: int = 1000
    batch_size: int = 128
    num_steps: int = 600
    log_every: int = 100
    learning_rate: float = 1e-3
    activation: str = "relu"


def validate(config: Config, pruning_rates: Sequence[float], seeds: Sequence[int]) -> None:
    """Checks a config and the grid before anything is loaded or compiled.

    The grid must also allow `claims`: it holds the dense rate 0, a mild rate in (0, 0.5] and
    an over-pruned rate of at least 0.95.

    Raises:
      ValueError: naming the offending value.
    """
    for name in ("num_train", "num_test", "batch_size", "num_steps", "log_every"):
        if getattr(config, name) <= 0:
            raise ValueError(f"{name}={getattr(config, name)} must be positive")
    for size in config.hidden_sizes:
        if size <= 0:
            raise ValueError(f"hidden_sizes={config.hidden_sizes} has a non-positive width {size}")
    if config.num_steps % config.log_every:
        raise ValueError(
            f"num_steps={config.num_steps} is not a multiple of log_every={config.log_every}"
        )
    if config.num_train + config.num_test > mnist.PACKAGED_SUBSET_SIZE:
        raise ValueError(
            f"num_train + num_test = {config.num_train} + {config.num_test} exceeds the "
            f"{mnist.PACKAGED_SUBSET_SIZE} images of the packaged MNIST subset"
        )
    if config.batch_size > config.num_train:
        raise ValueError(f"batch_size={config.batch_size} exceeds num_train={config.num_train}")
    if not (math.isfinite(config.learning_rate) and config.learning_rate > 0):
        raise ValueError(f"learning_rate={config.learning_rate} must be positive and finite")
    if config.activation not in ACTIVATIONS:
        raise ValueError(f"activation {config.activation!r} is not one of {list(ACTIVATIONS)}")
    engine.validate_axes({"seed": seeds, "pruning_rate": pruning_rates})
    for seed in seeds:
        if seed != int(seed) or seed < 0:
            raise ValueError(f"seed {seed} is not a non-negative integer")
    for rate in pruning_rates:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"pruning rate {rate} is outside [0, 1]")
    if 0.0 not in pruning_rates:
        raise ValueError(f"pruning rates {list(pruning_rates)} lack the dense rate 0")
    if not any(0.0 < rate <= MILD_RATE_MAX for rate in pruning_rates):
        raise ValueError(f"pruning rates {list(pruning_rates)} have no mild rate in (0, 0.5]")
    if max(pruning_rates) < OVER_PRUNED_RATE_MIN:
        raise ValueError(
            f"the largest pruning rate {max(pruning_rates)} is below {OVER_PRUNED_RATE_MIN}"
        )


def _layer_sizes(config: Config, num_inputs: int) -> tuple[int, ...]:
    return (num_inputs, *config.hidden_sizes, NUM_CLASSES)


def _pruned_mlp(config: Config, num_inputs: int, seed: jax.Array, rate: jax.Array) -> models.MLP:
    """The MLP of one cell: initial weights and kernel masks drawn from the cell's seed."""
    key = jax.random.key(seed)
    model = models.MLP(
        _layer_sizes(config, num_inputs),
        ACTIVATIONS[config.activation],
        rngs=nnx.Rngs(params=jax.random.fold_in(key, _INIT_STREAM)),
    )
    mask_key = jax.random.fold_in(key, _MASK_STREAM)
    for index, layer in enumerate(model.layers):
        shape = layer.kernel_mask.shape
        layer.kernel_mask[...] = masks.bernoulli_mask(
            jax.random.fold_in(mask_key, index), shape, rate
        )
    return model


def _cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def make_program(config: Config, data_arrays: Mapping[str, np.ndarray]) -> engine.Program:
    """Builds the sweep program over the grid axes ``seed`` (a data axis) and ``pruning_rate``.

    The dataset is one fixed split, the program's shared data (an argument of the compiled
    program, not a constant): it varies along no axis. The ``seed`` axis drives the initial
    weights, the masks and the minibatch order. The minibatch
    depends on the seed only, so every pruning rate of a seed trains on the same minibatch and
    the engine passes it unbatched to the rates' matmuls.

    Args:
      config: the static knobs (`validate` them first).
      data_arrays: ``x_train [N, D]``, ``y_train [N]``, ``x_test [M, D]``, ``y_test [M]``, as
        from `mnist.mnist_classification`.

    Returns:
      An `engine.Program` whose state is ``(params, masks, opt_state)`` and whose metrics are
      ``train_loss`` (on the first 1000 training images), ``test_accuracy`` (whole test set)
      and ``kept_fraction`` (kept kernel weights over all layers).
    """
    dataset = {name: data_arrays[name] for name in ("x_train", "y_train", "x_test", "y_test")}
    num_train, num_inputs = np.shape(dataset["x_train"])
    optimizer = optax.adam(config.learning_rate)
    graphdef = nnx.graphdef(
        nnx.eval_shape(lambda: _pruned_mlp(config, num_inputs, jnp.uint32(0), jnp.float32(0)))
    )

    def logits(params: nnx.State, kernel_masks: nnx.State, x: jax.Array) -> jax.Array:
        return nnx.merge(graphdef, params, kernel_masks)(x)

    def make_data(data_cell: engine.Cell, shared: Shared) -> jax.Array:
        return jax.random.fold_in(jax.random.key(data_cell["seed"]), _DATA_STREAM)

    def init(cell: engine.Cell, data_key: jax.Array, shared: Shared) -> State:
        model = _pruned_mlp(config, num_inputs, cell["seed"], cell["pruning_rate"])
        _, params, kernel_masks = nnx.split(model, nnx.Param, nn.Mask)
        return params, kernel_masks, optimizer.init(params)

    def advance(
        state: State, cell: engine.Cell, data_key: jax.Array, step: jax.Array, shared: Shared
    ) -> State:
        params, kernel_masks, opt_state = state
        batch_key = jax.random.fold_in(data_key, step)
        index = jax.random.choice(batch_key, num_train, (config.batch_size,), replace=False)
        x, y = shared["x_train"][index], shared["y_train"][index]
        grads = jax.grad(lambda p: _cross_entropy(logits(p, kernel_masks, x), y))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), kernel_masks, opt_state

    def evaluate(
        state: State, cell: engine.Cell, data_key: jax.Array, shared: Shared
    ) -> dict[str, jax.Array]:
        params, kernel_masks, _ = state
        # The split is already shuffled, so its head is a fixed random subset of the train set.
        x_loss = shared["x_train"][:TRAIN_LOSS_SUBSET]
        y_loss = shared["y_train"][:TRAIN_LOSS_SUBSET]
        model = nnx.merge(graphdef, params, kernel_masks)
        kept = [layer.kept_kernel_mask() for layer in model.layers]
        # XLA divides by a constant through its rounded reciprocal; counting the pruned
        # weights keeps an unpruned model at exactly 1.
        pruned = sum(m.size - jnp.count_nonzero(m) for m in kept)
        predictions = jnp.argmax(model(shared["x_test"]), axis=-1)
        return {
            "train_loss": _cross_entropy(model(x_loss), y_loss),
            "test_accuracy": jnp.mean(predictions == shared["y_test"]),
            "kept_fraction": 1 - pruned / sum(m.size for m in kept),
        }

    return engine.Program(
        make_data=make_data, init=init, advance=advance, evaluate=evaluate, shared=dataset
    )


def make_grid(pruning_rates: Sequence[float], seeds: Sequence[int]) -> engine.Grid:
    """The grid ``seed x pruning_rate``, with ``seed`` the data axis (it fixes minibatches)."""
    return engine.Grid(
        axes={"seed": [int(s) for s in seeds], "pruning_rate": list(pruning_rates)},
        data_axes=("seed",),
    )


def _final_accuracy(result: SweepResult) -> tuple[np.ndarray, np.ndarray]:
    """The pruning rates and the final test accuracy as ``[seed, pruning_rate]``."""
    accuracy = result.last("test_accuracy")
    accuracy = np.moveaxis(accuracy, (result.axis("seed"), result.axis("pruning_rate")), (0, 1))
    return np.asarray(result.axes["pruning_rate"], dtype=np.float64), accuracy


def claims(result: SweepResult, config: Config) -> list[Claim]:
    """R1 (mild pruning improves test accuracy) and R2 (over-pruning loses more than 0.05 of
    it) on the final test accuracies, paired by seed (rules: `rules.some_mild_rate_helps`,
    `rules.over_pruning_hurts`; docs/papers/yang2023.md, "Real-data companion").

    Args:
      result: a sweep of `make_program` over `make_grid` (the grid `validate` accepts).
      config: the config it ran with.
    """
    rates, accuracy = _final_accuracy(result)
    setting = (
        f"MLP {config.hidden_sizes} on {config.num_train} packaged MNIST images, "
        f"{config.num_steps} Adam steps, {accuracy.shape[0]} seeds"
    )
    return [
        rules.some_mild_rate_helps(accuracy, rates, MILD_RATE_MAX, setting),
        rules.over_pruning_hurts(accuracy, rates, R2_MARGIN, setting),
    ]


def run_sweep(
    config: Config,
    pruning_rates: Sequence[float],
    seeds: Sequence[int],
    execution: engine.Execution | None = None,
    name: str = "companion",
) -> SweepResult:
    """Validates, loads the packaged MNIST split (split seed 0) and runs the sweep.

    Args:
      config: the static knobs.
      pruning_rates: the ``pruning_rate`` axis.
      seeds: the ``seed`` axis.
      execution: the run's options (`engine.Execution`); default: every device, nothing else.
      name: the sweep's name in the run (names its checkpoint folder).

    Returns:
      The sweep result, metrics ``[seed, pruning_rate, logs]``; `claims` checks R1, R2 on it.

    Raises:
      ValueError: from `validate`, before anything is loaded or compiled.
    """
    validate(config, pruning_rates, seeds)
    data_arrays = mnist.mnist_classification(config.num_train, config.num_test, SPLIT_SEED)
    return engine.run_program(
        make_program(config, data_arrays),
        make_grid(pruning_rates, seeds),
        name=name,
        num_steps=config.num_steps,
        log_every=config.log_every,
        execution=execution,
    )
