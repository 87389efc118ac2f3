"""The bartoldson2020 sweep program: training with iterative structured pruning, as one program.

Bartoldson, Morcos, Barbu and Erlebacher (2020), "The Generalization-Stability Tradeoff in
Neural Network Pruning" (NeurIPS; arXiv 1906.03728). Spec: docs/papers/bartoldson2020.md;
the protocol follows the official code (github.com/bbartoldson/GeneralizationStabilityTradeoff).

`make_program` returns the pure functions that `sweep.run_program` vmaps over a grid of cells
(see `bartoldson2020` for the run kinds); `unit_scores` and `make_optimizer` are its pruning
scores and optimizer, `_event_epochs` / `_noise_steps` its static tables of event epochs and
temporary-pruning steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx
from jax.flatten_util import ravel_pytree

from pruning_theory import masks, nn
from pruning_theory.data import augment
from pruning_theory.engine import sweep
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


def unit_scores(score: str, layer, norm, activity: jax.Array) -> jax.Array:
    """The importance of each unit of a prunable pair under the configured score."""
    if score == "l2":
        return masks.unit_scores_l2(layer.kernel[...])
    if score == "l1":
        return masks.unit_scores_l1(layer.kernel[...])
    if score == "activation_ema":
        return activity
    return masks.unit_scores_expected_bn(norm.scale[...], norm.bias[...])


def make_optimizer(config: ml_collections.ConfigDict, steps_per_epoch: int):
    """Adam or SGD with momentum, lr x factor at the decay epochs, L2 weight decay as PyTorch."""
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


def make_program(
    config: ml_collections.ConfigDict,
    setup: Setup,
    *,
    event_periods: Sequence[int],
    default_period: int,
    has_noise: bool,
) -> sweep.Program:
    """The pure functions of one sweep; cells carry ``seed``, a method code and its knobs.

    Args:
      config: the validated config.
      setup: data and schedule tables of the job.
      event_periods: the retrain periods whose events some cell of this sweep follows; the
        end-of-epoch pruning branch is compiled as a real branch taken only at their epochs.
      default_period: the retrain period of cells without a ``retrain_period`` coordinate.
      has_noise: whether cells of this sweep run temporary pruning (compiles the window op).

    Returns:
      A `sweep.Program`; ``log_every`` must be the steps per epoch, so that every logged
      metric is one epoch's: ``pre_accuracy``, ``post_accuracy`` (test, eval mode, around the
      epoch's prune), ``train_accuracy`` / ``train_loss`` (running over the epoch's
      minibatches), ``removed`` and ``alive`` units per pruned layer, ``pruned_activity_max``
      (the largest mean |output| of a pruned unit on the test set after the prune: exactly 0
      when masking works), ``noise_applications`` and ``targeted_weight_max`` (temporary
      pruning: operations applied and the largest |targeted weight| seen by a forward pass).
    """
    train, pruning = config.train, config.pruning
    data = setup.data
    x_train, y_train = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    num_chunks = data.x_test.shape[0] // train.eval_batch_size
    x_test = jnp.asarray(data.x_test).reshape(num_chunks, -1, *data.input_shape)
    y_test = jnp.asarray(data.y_test).reshape(num_chunks, -1)
    mean, std = jnp.asarray(data.mean), jnp.asarray(data.std)
    units = [layer.num_units for layer in setup.layers]
    num_layers, spe, batch = len(units), setup.steps_per_epoch, train.batch_size
    periods, tables = jnp.asarray(setup.periods), jnp.asarray(setup.tables)
    scratch = jnp.asarray(setup.scratch)
    any_event = jnp.asarray(_event_epochs(setup, event_periods))
    if has_noise:
        noise_steps = jnp.asarray(_noise_steps(setup, default_period, max(config.noise.windows)))
    # The flatness pass measures the target and baseline sweeps from a parameter snapshot.
    keeps_snapshot = config.flatness.enabled and not has_noise
    optimizer = make_optimizer(config, spe)
    flat_epoch = flatness_epoch(config)
    model = abstract_model(config)
    train_def, *_, kernel_mask_shapes = nnx.split(model, nnx.Param, nnx.BatchStat, UNIT_MASKS, ...)
    model.eval()
    eval_def = nnx.graphdef(model)

    def merged(graphdef, params, stats, unit_masks):
        # Fresh variables at the current trace level: NNX refuses to update batch statistics
        # through variables created outside the transformation that updates them.
        params, stats, unit_masks = jax.tree.map(lambda a: a, (params, stats, unit_masks))
        kernel_masks = jax.tree.map(lambda s: jnp.ones(s.shape, s.dtype), kernel_mask_shapes)
        return nnx.merge(graphdef, params, stats, unit_masks, kernel_masks)

    def pruned_pairs(model):
        return model.prunable_pairs()[-num_layers:]

    def split(model):
        _, params, stats, unit_masks, _ = nnx.split(
            model, nnx.Param, nnx.BatchStat, UNIT_MASKS, ...
        )
        return params, stats, unit_masks

    def alive_units(model):
        counts = [jnp.sum(layer.unit_mask[...]) for layer, _ in pruned_pairs(model)]
        return jnp.stack(counts).astype(jnp.int32)

    def pruned_activity_max(model, activity):
        """The largest mean |output| over the test set of a unit whose mask is 0."""
        pruned = [(1 - layer.unit_mask[...]) for layer, _ in pruned_pairs(model)]
        return jnp.max(jnp.stack([jnp.max(a * p) for a, p in zip(activity, pruned, strict=True)]))

    def method_of(cell):
        return cell["target"] if "target" in cell else cell["method"]

    def seed_key(cell, stream):
        return jax.random.fold_in(jax.random.key(cell["seed"]), stream)

    def removal(cell, epoch):
        period = cell.get("retrain_period", default_period)
        return tables[jnp.argmax(periods == period), epoch]

    def test_accuracy(params, stats, unit_masks):
        model = merged(eval_def, params, stats, unit_masks)

        def chunk(pair):
            images, labels = pair
            logits, activity = model.forward(standardize(images, mean, std))
            return jnp.sum(jnp.argmax(logits, -1) == labels), activity[-num_layers:]

        correct, activity = jax.lax.map(chunk, (x_test, y_test))
        return jnp.sum(correct) / data.x_test.shape[0], [a.mean(0) for a in activity]

    def train_loss(params, stats, unit_masks, images, labels):
        model = merged(train_def, params, stats, unit_masks)
        logits, activity = model.forward(images)
        return cross_entropy(logits, labels), (split(model)[1], logits, activity[-num_layers:])

    def temporary_pruning(state, cell, active, key):
        """Zeroes or perturbs the newly targeted units' incoming weights in active layers."""
        model = merged(train_def, state["params"], state["stats"], state["masks"])
        maxima = []
        for index, (layer, _) in enumerate(pruned_pairs(model)):
            kernel, newly = layer.kernel[...], state["newly"][index]
            first_untargeted = jnp.argmax(1 - state["targeted"][index])
            sigma = jnp.std(kernel[..., first_untargeted])
            noise = sigma * jax.random.normal(jax.random.fold_in(key, index), kernel.shape)
            changed = jnp.where(
                method_of(cell) == ZEROING, kernel * (1 - newly), kernel + noise * newly
            )
            kernel = jnp.where(active[index], changed, kernel)
            layer.kernel[...] = kernel
            maxima.append(jnp.where(active[index], jnp.max(jnp.abs(kernel * newly)), 0.0))
        return split(model)[0], jnp.stack(maxima)

    def noise_window_step(state, cell, step):
        active = state["noise_left"] > 0
        key = jax.random.fold_in(seed_key(cell, NOISE_STREAM), step)
        params, maxima = temporary_pruning(state, cell, active, key)
        return {
            **state,
            "params": params,
            "noise_left": state["noise_left"] - active,
            "applications": state["applications"] + active,
            "targeted_max": jnp.maximum(state["targeted_max"], maxima),
        }

    def prune(state, cell, epoch):
        """The epoch's event: new unit masks, or new temporary-pruning targets."""
        method = method_of(cell)
        removed = removal(cell, epoch)
        prune_counts = removed * (method <= LARGEST)
        noise_counts = removed * (method >= ZEROING)
        key = jax.random.fold_in(seed_key(cell, PRUNE_STREAM), epoch)
        model = merged(train_def, state["params"], state["stats"], state["masks"])
        newly, targeted = list(state["newly"]), list(state["targeted"])
        for index, (layer, norm) in enumerate(pruned_pairs(model)):
            scores = unit_scores(pruning.score, layer, norm, state["activity"][index])
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
        params, stats, unit_masks = split(model)
        starts = noise_counts > 0
        state = {
            **state,
            "params": params,
            "masks": unit_masks,
            "newly": tuple(newly),
            "targeted": tuple(targeted),
            "noise_left": jnp.where(starts, cell.get("window", 0), state["noise_left"]),
        }
        if has_noise:  # the event's own application, seen by the post-prune evaluation
            key = jax.random.fold_in(seed_key(cell, EVENT_NOISE_STREAM), epoch)
            state["params"], _ = temporary_pruning(state, cell, starts, key)
        post, activity = test_accuracy(state["params"], stats, unit_masks)
        return state, post, pruned_activity_max(model, activity), prune_counts + noise_counts

    def end_of_epoch(state, cell, epoch):
        pre, _ = test_accuracy(state["params"], state["stats"], state["masks"])
        if keeps_snapshot:  # before the epoch's prune, as in the official code
            state["snapshot"] = jax.lax.cond(
                epoch == flat_epoch,
                lambda: (state["params"], state["stats"], state["masks"]),
                lambda: state["snapshot"],
            )
        state, post, pruned_max, removed = jax.lax.cond(
            any_event[epoch],
            lambda s: prune(s, cell, epoch),
            lambda s: (s, pre, jnp.zeros(()), jnp.zeros(num_layers, jnp.int32)),
            state,
        )
        model = merged(train_def, state["params"], state["stats"], state["masks"])
        state["log"] = {
            "pre_accuracy": pre,
            "post_accuracy": post,
            "train_accuracy": state["correct"] / spe,
            "train_loss": state["loss"] / spe,
            "removed": removed,
            "alive": alive_units(model),
            "pruned_activity_max": pruned_max,
            "noise_applications": state["applications"],
            "targeted_weight_max": state["targeted_max"],
        }
        return {
            **state,
            "correct": jnp.zeros(()),
            "loss": jnp.zeros(()),
            "applications": jnp.zeros(num_layers, jnp.int32),
            "targeted_max": jnp.zeros(num_layers),
        }

    def empty_log():
        scalar, per_layer = jnp.zeros(()), jnp.zeros(num_layers)
        counts = jnp.zeros(num_layers, jnp.int32)
        return {
            **dict.fromkeys(("pre_accuracy", "post_accuracy", "train_accuracy"), scalar),
            **dict.fromkeys(("train_loss", "pruned_activity_max"), scalar),
            **dict.fromkeys(("removed", "alive", "noise_applications"), counts),
            "targeted_weight_max": per_layer,
        }

    def make_data(data_cell):
        # Keys of the seed's minibatch order and augmentation, shared by all its cells.
        return {
            name: seed_key(data_cell, stream)
            for name, stream in (("order", ORDER_STREAM), ("augment", AUGMENT_STREAM))
        }

    def init(cell, keys):
        model = build_model(config, seed_key(cell, INIT_STREAM))
        counts = scratch * (method_of(cell) == SCRATCH)
        for (layer, norm), count in zip(pruned_pairs(model), counts, strict=True):
            alive = layer.unit_mask[...]
            scores = masks.unit_scores_l2(layer.kernel[...])
            nn.set_unit_mask(masks.importance_unit_mask(scores, count / alive.size), layer, norm)
        params, stats, unit_masks = split(model)
        zeros = tuple(jnp.zeros(count) for count in units)
        state = {
            "params": params,
            "stats": stats,
            "masks": unit_masks,
            "opt": optimizer.init(params),
            "activity": zeros,
            "targeted": zeros,
            "newly": zeros,
            "noise_left": jnp.zeros(num_layers, jnp.int32),
            "correct": jnp.zeros(()),
            "loss": jnp.zeros(()),
            "applications": jnp.zeros(num_layers, jnp.int32),
            "targeted_max": jnp.zeros(num_layers),
            "log": empty_log(),
        }
        if keeps_snapshot:
            state["snapshot"] = (params, stats, unit_masks)
        return state

    def advance(state, cell, keys, step):
        epoch, position = step // spe, step % spe
        order = jax.random.permutation(jax.random.fold_in(keys["order"], epoch), x_train.shape[0])
        index = jax.lax.dynamic_slice(order, (position * batch,), (batch,))
        images, labels = x_train[index], y_train[index]
        if train.augment:
            images = augment.random_crop_flip(jax.random.fold_in(keys["augment"], step), images)
        if has_noise:
            state = jax.lax.cond(
                noise_steps[step], lambda s: noise_window_step(s, cell, step), lambda s: s, state
            )
        (loss, (stats, logits, activity)), grads = jax.value_and_grad(train_loss, has_aux=True)(
            state["params"], state["stats"], state["masks"], standardize(images, mean, std), labels
        )
        updates, opt = optimizer.update(grads, state["opt"], state["params"])
        decay = pruning.activation_ema_decay
        state = {
            **state,
            "params": optax.apply_updates(state["params"], updates),
            "stats": stats,
            "opt": opt,
            "activity": tuple(
                decay * a + (1 - decay) * b
                for a, b in zip(state["activity"], activity, strict=True)
            ),
            "correct": state["correct"] + jnp.mean(jnp.argmax(logits, -1) == labels),
            "loss": state["loss"] + loss,
        }
        return jax.lax.cond(
            position == spe - 1, lambda s: end_of_epoch(s, cell, epoch), lambda s: s, state
        )

    def evaluate(state, cell, keys):
        return state["log"]

    def finalize(state, cell, keys):
        model = merged(train_def, state["params"], state["stats"], state["masks"])
        pairs = pruned_pairs(model)
        regrown = [
            jnp.sqrt(jnp.sum(jnp.square(layer.kernel[...]) * newly))
            for (layer, _), newly in zip(pairs, state["newly"], strict=True)
        ]
        _, activity = test_accuracy(state["params"], state["stats"], state["masks"])
        final = {
            "pruned_activity_max": pruned_activity_max(model, activity),
            "alive": alive_units(model),
            "kept_weights": nn.count_kept_weights(model),
            "targeted_norm": jnp.stack(regrown),
        }
        if keeps_snapshot:
            params, stats, unit_masks = state["snapshot"]
            final["snapshot_params"] = ravel_pytree(params)[0]
            final["snapshot_rest"] = ravel_pytree((stats, unit_masks))[0]
        return final

    return sweep.Program(make_data, init, advance, evaluate, finalize)
