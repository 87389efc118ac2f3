"""Greedy forward selection of hidden neurons (Ye et al. 2020; Wolfe et al. 2021).

A two-layer network with hidden activations ``h_r(x)``, readout rows ``v_r`` and output offset
``b`` is written as the average of its ``N`` neurons ``phi_r(x) = N v_r h_r(x)``, so that
``f(x) = b + (1/N) sum_r phi_r(x)``. The subnetwork on a multiset ``S`` is
``f_S = b + (1/|S|) sum_{r in S} phi_r``: the dense net with hidden unit mask ``N count_r / |S|``
(`subnetwork_output`). Greedy forward selection grows ``S`` one neuron at a time,
``i* = argmin_i L[f_{S + {i}}]``, and one run returns the whole path ``S_1 .. S_k`` with the
loss and accuracy of every ``f_{S_n}`` (`greedy_path`).

* Theory variant (Ye et al. 2020, Alg. 1; Frank-Wolfe with step 1/n): with replacement, every
  neuron a candidate, scored on the full data.
* Official-code variant (github.com/lushleaf/Network-Pruning-Greedy-Forward-Selection): without
  replacement, ``num_candidates`` random unselected candidates scored on one fresh minibatch.

Scoring (spec docs/papers/wolfe2021.md, "Greedy forward selection"):

* squared loss, exact rank-one formula (`squared_loss_scores`): with the running sum
  ``s = sum_{r in S} phi_r`` and ``R = s - (n + 1) Y``,
  ``||(s + phi_i) / (n + 1) - Y||^2 = (||R||^2 + 2 <R, phi_i> + ||phi_i||^2) / (n + 1)^2`` and
  ``<R, phi_i> = N sum_x h_i(x) (R(x) . v_i)`` (`rank_one_cross`): one ``[N, m] x [m, C]``
  matmul per step, never an ``m x N x C`` tensor. With ``K = H^T diag(w) H`` precomputed the
  same term is an ``[N, N] x [N, C]`` product that stays in cache (`gram_cross`);
* cross-entropy has no such shortcut: every candidate's logits are formed, in chunks of
  candidates (`cross_entropy_scores`).

Losses are weighted sums ``sum_x w_x loss(x)`` with per-sample weights (zero on padding; the
sum or mean normalization lives in the weights, see `pruning_theory.data.weighted`).
"""

from __future__ import annotations

import dataclasses
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax

Loss = Literal["squared", "cross_entropy"]
LOSSES = ("squared", "cross_entropy")


class Neurons(NamedTuple):
    """The neurons of a two-layer network on a dataset.

    Attributes:
      hidden: ``[m, N]`` hidden activations ``h_r(x)``.
      readout: ``[N, C]`` second-layer rows ``v_r``.
      offset: ``[C]`` output bias ``b`` (zeros for a net without one).
    """

    hidden: jax.Array
    readout: jax.Array
    offset: jax.Array


class Targets(NamedTuple):
    """What the subnetwork is fitted to, with per-sample loss weights.

    Attributes:
      labels: ``[m]`` integer classes (accuracy and cross-entropy).
      one_hot: ``[m, C]`` regression targets of the squared loss.
      weights: ``[m]`` non-negative loss weights; zero on padded samples.
    """

    labels: jax.Array
    one_hot: jax.Array
    weights: jax.Array


class Path(NamedTuple):
    """One greedy run: the neuron added at step n and the subnetwork ``f_{S_n}`` it gives.

    Attributes:
      selected: ``[k]`` neuron index added at step ``n = 1 .. k``.
      loss: ``[k]`` weighted loss of ``f_{S_n}`` on the full data.
      accuracy: ``[k]`` accuracy of ``f_{S_n}`` on the samples of nonzero weight.
    """

    selected: jax.Array
    loss: jax.Array
    accuracy: jax.Array


@dataclasses.dataclass(frozen=True)
class GreedyConfig:
    """Static knobs of one greedy run.

    Attributes:
      num_selected: k, the number of steps (neurons added, with repetition if ``replacement``).
      loss: ``"squared"`` (0.5 ||f - y||^2, rank-one scoring) or ``"cross_entropy"``.
      replacement: True for the theory variant (multiset S), False for the official code's.
      num_candidates: neurons scored per step, drawn uniformly among the unselected (without
        replacement) or among all (with); None scores every neuron.
      batch_size: samples a step is scored on, drawn with probability proportional to their
        weight; None scores on the full data.
      chunk_size: candidates whose logits are formed at once by the cross-entropy scorer.
      gram: score the full-data squared loss with `gram_cross` (precomputed ``[N, N]`` Gram)
        instead of one pass over the ``[m, N]`` activations per step; pays when N < k C.
    """

    num_selected: int
    loss: Loss = "squared"
    replacement: bool = True
    num_candidates: int | None = None
    batch_size: int | None = None
    chunk_size: int = 64
    gram: bool = False


def validate(config: GreedyConfig, num_neurons: int, num_samples: int) -> None:
    """Checks a greedy config against the network and data sizes, before anything compiles.

    Raises:
      ValueError: naming the bad value (k > N without replacement, an empty candidate set, a
        minibatch larger than the data, an unknown loss...).
    """
    if config.loss not in LOSSES:
        raise ValueError(f"greedy loss {config.loss!r} is not one of {LOSSES}")
    if num_neurons <= 0:
        raise ValueError(f"the network has {num_neurons} neurons; greedy needs at least one")
    if config.num_selected <= 0:
        raise ValueError(f"greedy num_selected must be positive, got {config.num_selected}")
    if not config.replacement and config.num_selected > num_neurons:
        raise ValueError(
            f"greedy num_selected = {config.num_selected} exceeds the {num_neurons} neurons; "
            "without replacement k <= N"
        )
    if config.num_candidates is not None and not 0 < config.num_candidates <= num_neurons:
        raise ValueError(
            f"greedy num_candidates = {config.num_candidates} must be in [1, {num_neurons}] "
            "(an empty candidate set selects nothing)"
        )
    if config.batch_size is not None and not 0 < config.batch_size <= num_samples:
        raise ValueError(
            f"greedy batch_size = {config.batch_size} must be in [1, {num_samples}] samples"
        )
    if config.gram and (config.loss != "squared" or config.batch_size is not None):
        raise ValueError("greedy gram scoring needs the squared loss on the full data")
    if config.chunk_size <= 0:
        raise ValueError(f"greedy chunk_size must be positive, got {config.chunk_size}")


def neuron_scale(neurons: Neurons) -> int:
    """N, the factor in ``phi_r = N v_r h_r``."""
    return neurons.readout.shape[0]


def subnetwork_output(neurons: Neurons, counts: jax.Array) -> jax.Array:
    """``f_S(x) = b + (N / |S|) sum_r count_r h_r(x) v_r``: the net with unit mask N count / |S|.

    Args:
      neurons: the network's neurons on the data.
      counts: ``[N]`` multiplicity of each neuron in S (all ones gives the dense net).

    Returns:
      ``[m, C]`` outputs.
    """
    mask = neuron_scale(neurons) * counts / jnp.sum(counts)
    return neurons.offset + neurons.hidden @ (mask[:, None] * neurons.readout)


def weighted_loss(outputs: jax.Array, targets: Targets, loss: Loss) -> jax.Array:
    """``sum_x w_x loss(f(x), y(x))`` with loss 0.5 ||f - y||^2 or the cross-entropy."""
    if loss == "squared":
        per_sample = 0.5 * jnp.sum((outputs - targets.one_hot) ** 2, axis=-1)
    else:
        per_sample = optax.softmax_cross_entropy_with_integer_labels(outputs, targets.labels)
    return jnp.sum(targets.weights * per_sample, axis=-1)


def weighted_accuracy(outputs: jax.Array, targets: Targets) -> jax.Array:
    """The fraction of correct argmax predictions among samples of nonzero weight."""
    valid = (targets.weights > 0).astype(outputs.dtype)
    correct = (jnp.argmax(outputs, axis=-1) == targets.labels).astype(outputs.dtype)
    return jnp.sum(valid * correct, axis=-1) / jnp.sum(valid)


def feature_norms(hidden: jax.Array, readout: jax.Array, weights: jax.Array, scale) -> jax.Array:
    """``||phi_i||_w^2 = N^2 ||v_i||^2 sum_x w_x h_i(x)^2`` for every column of ``hidden``."""
    return scale**2 * jnp.sum(readout**2, axis=-1) * (weights @ hidden**2)


def rank_one_cross(
    hidden: jax.Array, readout: jax.Array, residual: jax.Array, weights: jax.Array, scale
) -> jax.Array:
    """``<R, phi_i>_w = N sum_x w_x h_i(x) (R(x) . v_i)`` for every candidate column i.

    One ``[c, b] x [b, C]`` matmul; never forms the ``b x c x C`` tensor of the phi_i.

    Args:
      hidden: ``[b, c]`` activations of the candidates on the scored samples.
      readout: ``[c, C]`` the candidates' readout rows.
      residual: ``[b, C]`` R = s - (n + 1) (Y - b_out) on the scored samples.
      weights: ``[b]`` sample weights.
      scale: N.
    """
    return scale * jnp.sum((hidden.T @ (weights[:, None] * residual)) * readout, axis=-1)


def gram_cross(
    gram: jax.Array, targets_term: jax.Array, readout: jax.Array, counts: jax.Array, scale
) -> jax.Array:
    """`rank_one_cross` on the full data from ``K = H^T diag(w) H`` and ``A = H^T diag(w) Y'``.

    ``H^T diag(w) R = N K (count * V) - (n + 1) A``: an ``[N, N] x [N, C]`` product per step
    instead of a pass over the ``[m, N]`` activations. K costs ``m N^2`` once, so this pays
    when ``N < k C`` (and K fits in cache).

    Args:
      gram: ``[N, N]`` K.
      targets_term: ``[N, C]`` A, with ``Y' = Y - b_out``.
      readout: ``[N, C]`` the readout rows.
      counts: ``[N]`` multiplicities of the current S (n = their sum).
      scale: N.
    """
    num_selected = jnp.sum(counts)
    projected = scale * gram @ (counts[:, None] * readout) - (num_selected + 1.0) * targets_term
    return scale * jnp.sum(projected * readout, axis=-1)


def squared_loss_scores(cross: jax.Array, base: jax.Array, norms: jax.Array, num_selected):
    """Loss of ``f_{S + {i}}`` for every candidate, by the exact rank-one formula.

    ``0.5 sum_x w_x ||(s + phi_i)/(n + 1) - Y'||^2 = 0.5 (||R||_w^2 + 2 <R, phi_i>_w +
    ||phi_i||_w^2) / (n + 1)^2`` with ``R = s - (n + 1) Y'`` (spec, after Ye et al. 2020).

    Args:
      cross: ``[c]`` `rank_one_cross` or `gram_cross`.
      base: ``||R||_w^2``.
      norms: ``[c]`` `feature_norms`.
      num_selected: n = |S| before the step (may be traced).

    Returns:
      ``[c]`` losses.
    """
    return 0.5 * (base + 2 * cross + norms) / (num_selected + 1.0) ** 2


def cross_entropy_scores(
    hidden: jax.Array,
    readout: jax.Array,
    running_sum: jax.Array,
    offset: jax.Array,
    labels: jax.Array,
    weights: jax.Array,
    num_selected,
    scale,
    chunk_size: int,
) -> jax.Array:
    """Weighted cross-entropy of ``f_{S + {i}}`` for every candidate column, chunk by chunk.

    Each candidate needs its own ``[b, C]`` logits; `jax.lax.map` forms them ``chunk_size``
    candidates at a time, so memory stays ``chunk_size x b x C``.

    Args:
      hidden: ``[b, c]`` activations of the candidates on the scored samples.
      readout: ``[c, C]`` the candidates' readout rows.
      running_sum: ``[b, C]`` s on the scored samples.
      offset: ``[C]`` output bias.
      labels: ``[b]`` classes.
      weights: ``[b]`` sample weights.
      num_selected: n = |S| before the step (may be traced).
      scale: N.
      chunk_size: candidates per chunk.

    Returns:
      ``[c]`` losses.
    """

    def score(column):
        activation, row = column
        logits = (running_sum + scale * activation[:, None] * row) / (num_selected + 1.0)
        losses = optax.softmax_cross_entropy_with_integer_labels(logits + offset, labels)
        return jnp.sum(weights * losses)

    return jax.lax.map(score, (hidden.T, readout), batch_size=chunk_size)


def _candidates(key, counts, config: GreedyConfig) -> jax.Array:
    """This step's candidate neurons: all, or ``num_candidates`` drawn uniformly."""
    if config.num_candidates is None:
        return jnp.arange(counts.shape[0])
    keys = jax.random.uniform(key, counts.shape)
    if not config.replacement:
        keys = jnp.where(counts > 0, 2.0, keys)  # selected neurons sort after every other
    return jnp.argsort(keys)[: config.num_candidates]


def _minibatch(key, neurons, targets, running_sum, batch_size: int):
    """Rows drawn without repetition, proportionally to their weight (never padding)."""
    total = jnp.sum(targets.weights)
    rows = jax.random.choice(
        key, targets.weights.shape[0], (batch_size,), replace=False, p=targets.weights / total
    )
    weights = jnp.full((batch_size,), total / batch_size)  # an unbiased estimate of the loss
    batch = Targets(targets.labels[rows], targets.one_hot[rows], weights)
    return neurons.hidden[rows], running_sum[rows], batch


def _step_scores(neurons, targets, running_sum, counts, key, config, precomputed):
    """Scores of this step's candidates: (candidate indices, their losses)."""
    scale = neuron_scale(neurons)
    num_selected = jnp.sum(counts)
    candidate_key, batch_key = jax.random.split(key)
    candidates = _candidates(candidate_key, counts, config)
    readout = neurons.readout[candidates]
    if config.gram:
        gram, targets_term, norms = precomputed
        residual = running_sum - (num_selected + 1.0) * (targets.one_hot - neurons.offset)
        base = jnp.sum(targets.weights * jnp.sum(residual**2, axis=-1))
        cross = gram_cross(gram, targets_term, neurons.readout, counts, scale)[candidates]
        scores = squared_loss_scores(cross, base, norms[candidates], num_selected)
    else:
        hidden, sums, batch = neurons.hidden, running_sum, targets
        if config.batch_size is not None:
            hidden, sums, batch = _minibatch(batch_key, neurons, targets, sums, config.batch_size)
        if config.num_candidates is not None:
            hidden = hidden[:, candidates]
        if config.loss == "squared":
            residual = sums - (num_selected + 1.0) * (batch.one_hot - neurons.offset)
            base = jnp.sum(batch.weights * jnp.sum(residual**2, axis=-1))
            cross = rank_one_cross(hidden, readout, residual, batch.weights, scale)
            norms = feature_norms(hidden, readout, batch.weights, scale)
            scores = squared_loss_scores(cross, base, norms, num_selected)
        else:
            scores = cross_entropy_scores(
                hidden, readout, sums, neurons.offset, batch.labels, batch.weights,
                num_selected, scale, config.chunk_size,
            )  # fmt: skip
    if not config.replacement:
        scores = jnp.where(counts[candidates] > 0, jnp.inf, scores)
    return candidates, scores


def _precompute_gram(neurons: Neurons, targets: Targets):
    """K = H^T diag(w) H, A = H^T diag(w) (Y - b_out) and the feature norms, for `gram_cross`."""
    scale = neuron_scale(neurons)
    weighted_hidden = targets.weights[:, None] * neurons.hidden
    gram = neurons.hidden.T @ weighted_hidden
    targets_term = weighted_hidden.T @ (targets.one_hot - neurons.offset)
    norms = scale**2 * jnp.sum(neurons.readout**2, axis=-1) * jnp.diagonal(gram)
    return gram, targets_term, norms


def greedy_path(neurons: Neurons, targets: Targets, config: GreedyConfig, key: jax.Array) -> Path:
    """Runs k steps of greedy forward selection and returns the whole path S_1 .. S_k.

    Pure and shape-static: vmap it over snapshots, seeds and dataset sizes (padded samples
    carry zero weight). Ties go to the lowest candidate position.

    Args:
      neurons: the network's neurons on the (padded) training data.
      targets: labels, one-hot targets and sample weights.
      config: static knobs (`validate` it first).
      key: PRNG key of the candidate and minibatch draws (unused by the full theory variant).

    Returns:
      The `Path`: selected neurons and the full-data loss and accuracy of every f_{S_n}.
    """
    scale = neuron_scale(neurons)
    num_neurons = neurons.readout.shape[0]
    precomputed = _precompute_gram(neurons, targets) if config.gram else None

    def step(carry, step_key):
        running_sum, counts = carry
        candidates, scores = _step_scores(
            neurons, targets, running_sum, counts, step_key, config, precomputed
        )
        chosen = candidates[jnp.argmin(scores)]
        running_sum = (
            running_sum + scale * neurons.hidden[:, chosen, None] * neurons.readout[chosen]
        )
        counts = counts.at[chosen].add(1)
        outputs = neurons.offset + running_sum / jnp.sum(counts)
        metrics = (
            chosen,
            weighted_loss(outputs, targets, config.loss),
            weighted_accuracy(outputs, targets),
        )
        return (running_sum, counts), metrics

    keys = jax.random.split(key, config.num_selected)
    start = (jnp.zeros_like(targets.one_hot), jnp.zeros((num_neurons,), jnp.float32))
    _, (selected, loss, accuracy) = jax.lax.scan(step, start, keys)
    return Path(selected, loss, accuracy)


def naive_squared_scores(
    neurons: Neurons,
    targets: Targets,
    running_sum: jax.Array,
    num_selected,
    chunk_size: int,
) -> jax.Array:
    """Reference scorer: every candidate's output ``b + (s + phi_i)/(n + 1)`` and its loss.

    The per-candidate evaluation that the rank-one formula replaces: ``m x C`` work per
    candidate, ``m x N x C`` per step (formed ``chunk_size`` candidates at a time). Used by the
    tests and launch/bench_wolfe2021.py to check and time `squared_loss_scores`.

    Args:
      neurons: the network's neurons on the data.
      targets: labels, one-hot targets and weights.
      running_sum: ``[m, C]`` s = sum of phi_r over the current S.
      num_selected: n = |S|.
      chunk_size: candidates evaluated at once.

    Returns:
      ``[N]`` losses of S plus each neuron.
    """
    scale = neuron_scale(neurons)

    def score(column):
        activation, row = column
        summed = running_sum + scale * activation[:, None] * row
        return weighted_loss(neurons.offset + summed / (num_selected + 1.0), targets, "squared")

    return jax.lax.map(score, (neurons.hidden.T, neurons.readout), batch_size=chunk_size)
