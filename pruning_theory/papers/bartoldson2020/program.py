"""The bartoldson2020 sweep program: training with iterative structured pruning, as one program.

Bartoldson, Morcos, Barbu and Erlebacher (2020), "The Generalization-Stability Tradeoff in
Neural Network Pruning" (NeurIPS; arXiv 1906.03728). Spec: docs/papers/bartoldson2020.md
(sections "Definitions" and "CPU-scale protocol"); the protocol follows the official code
(github.com/bbartoldson/GeneralizationStabilityTradeoff).

`make_program` returns the pure functions that the grid engine vmaps over a grid of cells (see
`experiment` for the run kinds). They are module-level functions of a `Static` record (the
compile-time pieces of one sweep: data, schedule tables, optimizer, model structure) and of a
typed `TrainState`; `make_program` binds the record with `functools.partial`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx
from jax.flatten_util import ravel_pytree

from pruning_theory import engine, masks, nn
from pruning_theory.data import augment
from pruning_theory.papers.bartoldson2020 import schedules
from pruning_theory.papers.bartoldson2020.setup import (
    LARGEST,
    SCRATCH,
    SMALLEST,
    UNIT_MASKS,
    ZEROING,
    Setup,
    abstract_model,
    build_model,
    cross_entropy,
    flatness_epoch,
    standardize,
)

# Independent random streams folded into a seed's key.
INIT_STREAM, ORDER_STREAM, AUGMENT_STREAM, PRUNE_STREAM = 0, 1, 2, 3
NOISE_STREAM, EVENT_NOISE_STREAM = 4, 5

PerLayer = tuple[jax.Array, ...]


class EpochLog(NamedTuple):
    """The metrics of one epoch, logged at its end (spec "Definitions", eqs. (1)-(4)).

    Attributes:
      pre_accuracy: test accuracy in eval mode before the epoch's prune.
      post_accuracy: test accuracy right after it (equal to ``pre_accuracy`` without one).
      train_accuracy: running accuracy over the epoch's minibatches.
      train_loss: running loss over the epoch's minibatches.
      removed: ``[layers]`` units removed (or targeted by temporary pruning) at the epoch's end.
      alive: ``[layers]`` alive units after the epoch's prune.
      pruned_activity_max: the largest mean |output| of a pruned unit on the test set right
        after the prune: exactly 0 when masking works.
      noise_applications: ``[layers]`` temporary-pruning operations applied during the epoch.
      targeted_weight_max: ``[layers]`` the largest |targeted weight| a forward pass saw.
    """

    pre_accuracy: jax.Array
    post_accuracy: jax.Array
    train_accuracy: jax.Array
    train_loss: jax.Array
    removed: jax.Array
    alive: jax.Array
    pruned_activity_max: jax.Array
    noise_applications: jax.Array
    targeted_weight_max: jax.Array


class TrainState(NamedTuple):
    """The training state of one cell.

    Attributes:
      params: the model's parameters (``nnx.Param``).
      stats: BatchNorm running statistics.
      masks: the unit masks of the prunable layers.
      opt: the optimizer state (never reset by a prune, as in the official code).
      activity: per pruned layer, the EMA of each unit's mean |pre-ReLU output| (the
        ``activation_ema`` score).
      targeted: per pruned layer, 1 for units targeted by temporary pruning so far.
      newly: per pruned layer, 1 for the units targeted by the latest event.
      noise_left: ``[layers]`` training batches left in the open temporary-pruning window.
      correct: the running sum of minibatch accuracies of the epoch.
      loss: the running sum of minibatch losses of the epoch.
      applications: ``[layers]`` temporary-pruning operations of the epoch.
      targeted_max: ``[layers]`` the largest |targeted weight| seen in the epoch.
      log: the last finished epoch's `EpochLog`.
      snapshot: ``(params, stats, masks)`` ~97% into training for the flatness pass, or None.
    """

    params: Any
    stats: Any
    masks: Any
    opt: Any
    activity: PerLayer
    targeted: PerLayer
    newly: PerLayer
    noise_left: jax.Array
    correct: jax.Array
    loss: jax.Array
    applications: jax.Array
    targeted_max: jax.Array
    log: EpochLog
    snapshot: tuple[Any, Any, Any] | None


# The fields of `Static` that hold the images: the program's shared data (`make_program`).
DATASET = ("x_train", "y_train", "x_test", "y_test")


@dataclasses.dataclass(frozen=True, eq=False)
class Static:
    """The compile-time pieces of one sweep's program (built by `build_static`).

    Attributes:
      config: the validated config.
      x_train, y_train: the training set.
      x_test, y_test: the test set in ``[chunks, eval_batch_size, ...]`` chunks. These four
        are the program's shared data: inside the compiled program they are its traced
        arguments (`make_program`), never compile-time constants.
      num_test: test examples.
      mean, std: the training set's standardization statistics.
      units: F of every pruned layer.
      steps_per_epoch: minibatches per epoch.
      periods, tables: the job's retrain periods and their ``[period, epoch, layer]`` removal
        tables.
      scratch: ``[layers]`` units removed at initialization by scratch pruning.
      any_event: ``[epochs]`` whether a cell of this sweep may prune at the end of the epoch.
      noise_steps: ``[steps]`` whether a temporary-pruning window may be open (noise sweeps).
      default_period: the retrain period of cells without a ``retrain_period`` coordinate.
      has_noise: whether this sweep runs temporary pruning.
      keeps_snapshot: whether cells keep a parameter snapshot for the flatness pass.
      flat_epoch: the epoch at whose end the snapshot is taken.
      optimizer: the optax transformation.
      train_def, eval_def: the model's graph definitions in training and eval mode.
      kernel_mask_shapes: the shapes of the (all-ones) per-weight masks.
    """

    config: ml_collections.ConfigDict
    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    num_test: int
    mean: jax.Array
    std: jax.Array
    units: tuple[int, ...]
    steps_per_epoch: int
    periods: jax.Array
    tables: jax.Array
    scratch: jax.Array
    any_event: jax.Array
    noise_steps: jax.Array | None
    default_period: int
    has_noise: bool
    keeps_snapshot: bool
    flat_epoch: int
    optimizer: optax.GradientTransformation
    train_def: Any
    eval_def: Any
    kernel_mask_shapes: Any

    @property
    def num_layers(self) -> int:
        """The pruned layers."""
        return len(self.units)


def unit_scores(score: str, layer, norm, activity: jax.Array) -> jax.Array:
    """The importance of each unit of a prunable pair (spec "Scores": L2, L1, EMA, eq. (5))."""
    if score == "l2":
        return masks.unit_scores_l2(layer.kernel[...])
    if score == "l1":
        return masks.unit_scores_l1(layer.kernel[...])
    if score == "activation_ema":
        return activity
    return masks.unit_scores_expected_bn(norm.scale[...], norm.bias[...])


def make_optimizer(config: ml_collections.ConfigDict, steps_per_epoch: int):
    """Adam or SGD with momentum, lr x factor at the decay epochs, L2 weight decay as PyTorch.

    Spec: docs/papers/bartoldson2020.md, "Paper-scale protocol" (Adam 1e-3 or SGD 0.1).
    """
    train = config.train
    schedule = optax.piecewise_constant_schedule(
        train.learning_rate,
        {int(epoch) * steps_per_epoch: train.lr_decay_factor for epoch in train.lr_decay_epochs},
    )
    if train.optimizer == "adam":
        base = optax.adam(schedule)
    else:
        base = optax.sgd(schedule, momentum=train.momentum)
    return optax.chain(optax.add_decayed_weights(train.weight_decay), base)


def _event_epochs(setup: Setup, periods: Sequence[int]) -> np.ndarray:
    """[num_epochs] whether any of these retrain periods prunes at the end of the epoch."""
    rows = [setup.periods.index(int(p)) for p in periods]
    if not rows:
        return np.zeros(setup.tables.shape[1], bool)
    return schedules.pruning_epochs(setup.tables[rows]).any(axis=0)


def _noise_steps(setup: Setup, period: int, max_window: int) -> np.ndarray:
    """[num_steps] whether a temporary-pruning window may be open at a training step."""
    epochs = np.flatnonzero(_event_epochs(setup, [period]))
    spe = setup.steps_per_epoch
    open_steps = np.zeros(setup.tables.shape[1] * spe, bool)
    for epoch in epochs:
        open_steps[(epoch + 1) * spe : (epoch + 1) * spe + max_window] = True
    return open_steps


def build_static(
    config: ml_collections.ConfigDict,
    setup: Setup,
    *,
    event_periods: Sequence[int],
    default_period: int,
    has_noise: bool,
) -> Static:
    """The compile-time record of one sweep (arguments as `make_program`)."""
    train, data = config.train, setup.data
    num_chunks = data.x_test.shape[0] // train.eval_batch_size
    model = abstract_model(config)
    train_def, *_, kernel_mask_shapes = nnx.split(model, nnx.Param, nnx.BatchStat, UNIT_MASKS, ...)
    model.eval()
    noise_steps = None
    if has_noise:
        noise_steps = jnp.asarray(_noise_steps(setup, default_period, max(config.noise.windows)))
    return Static(
        config=config,
        x_train=jnp.asarray(data.x_train),
        y_train=jnp.asarray(data.y_train),
        x_test=jnp.asarray(data.x_test).reshape(num_chunks, -1, *data.input_shape),
        y_test=jnp.asarray(data.y_test).reshape(num_chunks, -1),
        num_test=int(data.x_test.shape[0]),
        mean=jnp.asarray(data.mean),
        std=jnp.asarray(data.std),
        units=tuple(layer.num_units for layer in setup.layers),
        steps_per_epoch=setup.steps_per_epoch,
        periods=jnp.asarray(setup.periods),
        tables=jnp.asarray(setup.tables),
        scratch=jnp.asarray(setup.scratch),
        any_event=jnp.asarray(_event_epochs(setup, event_periods)),
        noise_steps=noise_steps,
        default_period=default_period,
        has_noise=has_noise,
        # The flatness pass measures the target and baseline sweeps from a snapshot.
        keeps_snapshot=bool(config.flatness.enabled and not has_noise),
        flat_epoch=flatness_epoch(config),
        optimizer=make_optimizer(config, setup.steps_per_epoch),
        train_def=train_def,
        eval_def=nnx.graphdef(model),
        kernel_mask_shapes=kernel_mask_shapes,
    )


# ----------------------------------------------------------------------------- model helpers


def merged(static: Static, graphdef, params, stats, unit_masks):
    """The model from its graph definition and state (all-ones per-weight masks)."""
    # Fresh variables at the current trace level: NNX refuses to update batch statistics
    # through variables created outside the transformation that updates them.
    params, stats, unit_masks = jax.tree.map(lambda a: a, (params, stats, unit_masks))
    kernel_masks = jax.tree.map(lambda s: jnp.ones(s.shape, s.dtype), static.kernel_mask_shapes)
    return nnx.merge(graphdef, params, stats, unit_masks, kernel_masks)


def state_model(static: Static, state: TrainState):
    """The training-mode model of a state."""
    return merged(static, static.train_def, state.params, state.stats, state.masks)


def pruned_pairs(static: Static, model) -> list:
    """The ``(layer, batch norm)`` pairs that are pruned: the last ``num_layers`` prunable."""
    return model.prunable_pairs()[-static.num_layers :]


def split_model(model) -> tuple[Any, Any, Any]:
    """``(params, stats, unit masks)`` of a model."""
    _, params, stats, unit_masks, _ = nnx.split(model, nnx.Param, nnx.BatchStat, UNIT_MASKS, ...)
    return params, stats, unit_masks


def alive_units(static: Static, model) -> jax.Array:
    """``[layers]`` int32 alive units of the pruned layers."""
    counts = [jnp.sum(layer.unit_mask[...]) for layer, _ in pruned_pairs(static, model)]
    return jnp.stack(counts).astype(jnp.int32)


def pruned_activity_max(static: Static, model, activity: Sequence[jax.Array]) -> jax.Array:
    """The largest mean |output| over the test set of a unit whose mask is 0 (spec M2)."""
    pruned = [(1 - layer.unit_mask[...]) for layer, _ in pruned_pairs(static, model)]
    return jnp.max(jnp.stack([jnp.max(a * p) for a, p in zip(activity, pruned, strict=True)]))


def method_of(cell) -> jax.Array:
    """The cell's method code (`setup.METHODS`): its ``target`` or ``method`` coordinate."""
    return cell["target"] if "target" in cell else cell["method"]


def seed_key(cell, stream: int) -> jax.Array:
    """The key of one random stream of the cell's seed."""
    return jax.random.fold_in(jax.random.key(cell["seed"]), stream)


def removal(static: Static, cell, epoch: jax.Array) -> jax.Array:
    """``[layers]`` units the cell's schedule removes at the end of ``epoch`` (eq. (6))."""
    period = cell.get("retrain_period", static.default_period)
    return static.tables[jnp.argmax(static.periods == period), epoch]


def test_accuracy(static: Static, params, stats, unit_masks) -> tuple[jax.Array, list]:
    """Test accuracy in eval mode and each pruned unit's mean |pre-ReLU output| on the test set."""
    model = merged(static, static.eval_def, params, stats, unit_masks)

    def chunk(pair):
        images, labels = pair
        logits, activity = model.forward(standardize(images, static.mean, static.std))
        return jnp.sum(jnp.argmax(logits, -1) == labels), activity[-static.num_layers :]

    correct, activity = jax.lax.map(chunk, (static.x_test, static.y_test))
    return jnp.sum(correct) / static.num_test, [a.mean(0) for a in activity]


def train_loss(static: Static, params, stats, unit_masks, images, labels):
    """The minibatch loss in training mode, with the new batch statistics, logits, activity."""
    model = merged(static, static.train_def, params, stats, unit_masks)
    logits, activity = model.forward(images)
    aux = (split_model(model)[1], logits, activity[-static.num_layers :])
    return cross_entropy(logits, labels), aux


# ----------------------------------------------------------------------------- pruning


def temporary_pruning(static: Static, state: TrainState, cell, active, key):
    """Zeroes or perturbs the newly targeted units' incoming weights in active layers.

    Spec: docs/papers/bartoldson2020.md, "Noise variants (temporary pruning)".

    Returns:
      ``(params, [layers] largest |targeted weight| after the operation)``.
    """
    model = state_model(static, state)
    maxima = []
    for index, (layer, _) in enumerate(pruned_pairs(static, model)):
        kernel, newly = layer.kernel[...], state.newly[index]
        first_untargeted = jnp.argmax(1 - state.targeted[index])
        sigma = jnp.std(kernel[..., first_untargeted])
        noise = sigma * jax.random.normal(jax.random.fold_in(key, index), kernel.shape)
        changed = jnp.where(
            method_of(cell) == ZEROING, kernel * (1 - newly), kernel + noise * newly
        )
        kernel = jnp.where(active[index], changed, kernel)
        layer.kernel[...] = kernel
        maxima.append(jnp.where(active[index], jnp.max(jnp.abs(kernel * newly)), 0.0))
    return split_model(model)[0], jnp.stack(maxima)


def noise_window_step(static: Static, state: TrainState, cell, step) -> TrainState:
    """One training batch of an open temporary-pruning window: the operation, counted."""
    active = state.noise_left > 0
    key = jax.random.fold_in(seed_key(cell, NOISE_STREAM), step)
    params, maxima = temporary_pruning(static, state, cell, active, key)
    return state._replace(
        params=params,
        noise_left=state.noise_left - active,
        applications=state.applications + active,
        targeted_max=jnp.maximum(state.targeted_max, maxima),
    )


def _new_masks(static: Static, state: TrainState, model, cell, epoch, counts):
    """Sets the event's unit masks on ``model``; returns the new temporary-pruning targets.

    ``counts`` is ``(units pruned, units targeted by temporary pruning)`` per layer.
    """
    method = method_of(cell)
    prune_counts, noise_counts = counts
    key = jax.random.fold_in(seed_key(cell, PRUNE_STREAM), epoch)
    config = static.config.pruning
    newly, targeted = list(state.newly), list(state.targeted)
    for index, (layer, norm) in enumerate(pruned_pairs(static, model)):
        scores = unit_scores(config.score, layer, norm, state.activity[index])
        alive = layer.unit_mask[...]
        rate = prune_counts[index] / jnp.maximum(jnp.sum(alive), 1)
        keep = jnp.stack(
            [
                masks.importance_unit_mask(scores, rate, prune="smallest", alive=alive),
                masks.random_unit_mask(
                    jax.random.fold_in(key, index), alive.size, rate, alive=alive
                ),
                masks.importance_unit_mask(scores, rate, prune="largest", alive=alive),
            ]
        )[jnp.clip(method, SMALLEST, LARGEST)]
        nn.set_unit_mask(keep, layer, norm)
        untargeted = 1 - targeted[index]
        noise_rate = noise_counts[index] / jnp.maximum(jnp.sum(untargeted), 1)
        chosen = untargeted - masks.importance_unit_mask(
            scores, noise_rate, prune="largest", alive=untargeted
        )
        newly[index] = jnp.where(noise_counts[index] > 0, chosen, newly[index])
        targeted[index] = targeted[index] + chosen
    return tuple(newly), tuple(targeted)


def prune(static: Static, state: TrainState, cell, epoch):
    """The epoch's event: new unit masks, or new temporary-pruning targets.

    Spec: docs/papers/bartoldson2020.md, "Pruned units", "Targets", "Schedule".

    Returns:
      ``(state, post-prune test accuracy, pruned units' largest activity, [layers] removed)``.
    """
    method = method_of(cell)
    removed = removal(static, cell, epoch)
    prune_counts = removed * (method <= LARGEST)
    noise_counts = removed * (method >= ZEROING)
    model = state_model(static, state)
    newly, targeted = _new_masks(static, state, model, cell, epoch, (prune_counts, noise_counts))
    params, stats, unit_masks = split_model(model)
    starts = noise_counts > 0
    state = state._replace(
        params=params,
        masks=unit_masks,
        newly=newly,
        targeted=targeted,
        noise_left=jnp.where(starts, cell.get("window", 0), state.noise_left),
    )
    if static.has_noise:  # the event's own application, seen by the post-prune evaluation
        key = jax.random.fold_in(seed_key(cell, EVENT_NOISE_STREAM), epoch)
        state = state._replace(params=temporary_pruning(static, state, cell, starts, key)[0])
    post, activity = test_accuracy(static, state.params, stats, unit_masks)
    return state, post, pruned_activity_max(static, model, activity), prune_counts + noise_counts


def end_of_epoch(static: Static, state: TrainState, cell, epoch) -> TrainState:
    """Pre-prune evaluation, the snapshot, the epoch's prune, the epoch's log; resets counters."""
    pre, _ = test_accuracy(static, state.params, state.stats, state.masks)
    if static.keeps_snapshot:  # before the epoch's prune, as in the official code
        state = state._replace(
            snapshot=jax.lax.cond(
                epoch == static.flat_epoch,
                lambda: (state.params, state.stats, state.masks),
                lambda: state.snapshot,
            )
        )
    zero_counts = jnp.zeros(static.num_layers, jnp.int32)
    state, post, pruned_max, removed = jax.lax.cond(
        static.any_event[epoch],
        lambda s: prune(static, s, cell, epoch),
        lambda s: (s, pre, jnp.zeros(()), zero_counts),
        state,
    )
    log = EpochLog(
        pre_accuracy=pre,
        post_accuracy=post,
        train_accuracy=state.correct / static.steps_per_epoch,
        train_loss=state.loss / static.steps_per_epoch,
        removed=removed,
        alive=alive_units(static, state_model(static, state)),
        pruned_activity_max=pruned_max,
        noise_applications=state.applications,
        targeted_weight_max=state.targeted_max,
    )
    return state._replace(
        log=log,
        correct=jnp.zeros(()),
        loss=jnp.zeros(()),
        applications=zero_counts,
        targeted_max=jnp.zeros(static.num_layers),
    )


# ----------------------------------------------------------------------------- the program


def empty_log(num_layers: int) -> EpochLog:
    """An all-zero `EpochLog` (the log before the first epoch ends)."""
    scalar, counts = jnp.zeros(()), jnp.zeros(num_layers, jnp.int32)
    return EpochLog(
        scalar, scalar, scalar, scalar, counts, counts, scalar, counts, jnp.zeros(num_layers)
    )


def make_data(data_cell) -> dict[str, jax.Array]:
    """The keys of the seed's minibatch order and augmentation, shared by all its cells."""
    return {
        name: seed_key(data_cell, stream)
        for name, stream in (("order", ORDER_STREAM), ("augment", AUGMENT_STREAM))
    }


def init(static: Static, cell, keys) -> TrainState:
    """A freshly initialized cell; scratch cells are pruned to their final size here."""
    del keys
    model = build_model(static.config, seed_key(cell, INIT_STREAM))
    counts = static.scratch * (method_of(cell) == SCRATCH)
    for (layer, norm), count in zip(pruned_pairs(static, model), counts, strict=True):
        alive = layer.unit_mask[...]
        scores = masks.unit_scores_l2(layer.kernel[...])
        nn.set_unit_mask(masks.importance_unit_mask(scores, count / alive.size), layer, norm)
    params, stats, unit_masks = split_model(model)
    zeros = tuple(jnp.zeros(count) for count in static.units)
    layers = static.num_layers
    return TrainState(
        params=params,
        stats=stats,
        masks=unit_masks,
        opt=static.optimizer.init(params),
        activity=zeros,
        targeted=zeros,
        newly=zeros,
        noise_left=jnp.zeros(layers, jnp.int32),
        correct=jnp.zeros(()),
        loss=jnp.zeros(()),
        applications=jnp.zeros(layers, jnp.int32),
        targeted_max=jnp.zeros(layers),
        log=empty_log(layers),
        snapshot=(params, stats, unit_masks) if static.keeps_snapshot else None,
    )


def minibatch(static: Static, keys, step) -> tuple[jax.Array, jax.Array]:
    """The step's standardized minibatch: a fresh permutation per epoch, last partial dropped."""
    spe, batch = static.steps_per_epoch, static.config.train.batch_size
    epoch, position = step // spe, step % spe
    order = jax.random.permutation(
        jax.random.fold_in(keys["order"], epoch), static.x_train.shape[0]
    )
    index = jax.lax.dynamic_slice(order, (position * batch,), (batch,))
    images, labels = static.x_train[index], static.y_train[index]
    if static.config.train.augment:
        images = augment.random_crop_flip(jax.random.fold_in(keys["augment"], step), images)
    return standardize(images, static.mean, static.std), labels


def advance(static: Static, state: TrainState, cell, keys, step) -> TrainState:
    """One training step; at the last step of an epoch, also `end_of_epoch`."""
    images, labels = minibatch(static, keys, step)
    if static.has_noise:
        state = jax.lax.cond(
            static.noise_steps[step],
            lambda s: noise_window_step(static, s, cell, step),
            lambda s: s,
            state,
        )
    loss_and_grad = jax.value_and_grad(functools.partial(train_loss, static), has_aux=True)
    (loss, (stats, logits, activity)), grads = loss_and_grad(
        state.params, state.stats, state.masks, images, labels
    )
    updates, opt = static.optimizer.update(grads, state.opt, state.params)
    decay = static.config.pruning.activation_ema_decay
    state = state._replace(
        params=optax.apply_updates(state.params, updates),
        stats=stats,
        opt=opt,
        activity=tuple(
            decay * a + (1 - decay) * b for a, b in zip(state.activity, activity, strict=True)
        ),
        correct=state.correct + jnp.mean(jnp.argmax(logits, -1) == labels),
        loss=state.loss + loss,
    )
    spe = static.steps_per_epoch
    return jax.lax.cond(
        step % spe == spe - 1,
        lambda s: end_of_epoch(static, s, cell, step // spe),
        lambda s: s,
        state,
    )


def evaluate(static: Static, state: TrainState, cell, keys) -> dict[str, jax.Array]:
    """The last finished epoch's `EpochLog`, as the engine's metric dict."""
    del static, cell, keys
    return state.log._asdict()


def finalize(static: Static, state: TrainState, cell, keys) -> dict[str, jax.Array]:
    """After training: alive units, kept weights, pruned outputs, regrown targets, snapshot."""
    del cell, keys
    model = state_model(static, state)
    regrown = [
        jnp.sqrt(jnp.sum(jnp.square(layer.kernel[...]) * newly))
        for (layer, _), newly in zip(pruned_pairs(static, model), state.newly, strict=True)
    ]
    _, activity = test_accuracy(static, state.params, state.stats, state.masks)
    final = {
        "pruned_activity_max": pruned_activity_max(static, model, activity),
        "alive": alive_units(static, model),
        "kept_weights": nn.count_kept_weights(model),
        "targeted_norm": jnp.stack(regrown),
    }
    if static.keeps_snapshot:
        params, stats, unit_masks = state.snapshot
        final["snapshot_params"] = ravel_pytree(params)[0]
        final["snapshot_rest"] = ravel_pytree((stats, unit_masks))[0]
    return final


def make_program(
    config: ml_collections.ConfigDict,
    setup: Setup,
    *,
    event_periods: Sequence[int],
    default_period: int,
    has_noise: bool,
) -> engine.Program:
    """The pure functions of one sweep; cells carry ``seed``, a method code and its knobs.

    Args:
      config: the validated config.
      setup: data and schedule tables of the job.
      event_periods: the retrain periods whose events some cell of this sweep follows; the
        end-of-epoch pruning branch is compiled as a real branch taken only at their epochs.
      default_period: the retrain period of cells without a ``retrain_period`` coordinate.
      has_noise: whether cells of this sweep run temporary pruning (compiles the window op).

    Returns:
      An `engine.Program`; ``log_every`` must be the steps per epoch, so that every logged
      metric is one epoch's `EpochLog`.
    """
    static = build_static(
        config,
        setup,
        event_periods=event_periods,
        default_period=default_period,
        has_noise=has_noise,
    )
    dataset = {name: getattr(static, name) for name in DATASET}

    def bind(function):
        """``function(static, ...)`` with the dataset read from the shared argument."""
        return lambda *args: function(dataclasses.replace(static, **args[-1]), *args[:-1])

    return engine.Program(
        lambda data_cell, shared: make_data(data_cell),
        bind(init),
        bind(advance),
        bind(evaluate),
        bind(finalize),
        shared=dataset,
    )
