"""The bartoldson2020 flatness pass: Hessian, gradient covariance and sharpness (spec C7).

Bartoldson, Morcos, Barbu and Erlebacher (2020), "The Generalization-Stability Tradeoff in
Neural Network Pruning" (NeurIPS; arXiv 1906.03728). Spec: docs/papers/bartoldson2020.md.

The training program (`program`) keeps a flat snapshot of each cell's parameters
~97% into training; `measure_flatness` replaces the snapshots by their `flatness` measures.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx
from jax.flatten_util import ravel_pytree

from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.bartoldson2020 import flatness
from pruning_theory.papers.bartoldson2020.setup import (
    SNAPSHOT_KEYS,
    UNIT_MASKS,
    Setup,
    abstract_model,
    cross_entropy,
    standardize,
)


def measure_flatness(
    config: ml_collections.ConfigDict, setup: Setup, result: SweepResult
) -> SweepResult:
    """Replaces a sweep's parameter snapshots by their flatness (`flatness`, spec C7).

    On the first ``flatness.num_images`` test images, in eval mode: the top-k Hessian
    eigenvalues by Lanczos (``hessian_eigenvalues``, their sum ``hessian_trace_top``), the
    uncentered gradient covariance trace (``gradient_covariance_trace``) and the
    epsilon-sharpness radius along the top ``num_directions`` eigenvectors
    (``sharpness_radius``, inf where the loss never rose enough on the grid). Cells are
    processed ``cells_per_batch`` at a time, which bounds the Lanczos basis in memory.
    """
    settings = config.flatness
    model = abstract_model(config)
    model.eval()
    eval_def, param_shapes, stats_shapes, mask_shapes, kernel_mask_shapes = nnx.split(
        model, nnx.Param, nnx.BatchStat, UNIT_MASKS, ...
    )
    zeros = lambda tree: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), tree)  # noqa: E731
    _, unravel_params = ravel_pytree(zeros(param_shapes))
    _, unravel_rest = ravel_pytree((zeros(stats_shapes), zeros(mask_shapes)))
    data = setup.data
    images = standardize(
        jnp.asarray(data.x_test[: settings.num_images]), jnp.asarray(data.mean), data.std
    )
    labels = jnp.asarray(data.y_test[: settings.num_images])
    epsilons = settings.epsilon_max * jnp.arange(1, settings.num_epsilons + 1)
    epsilons = epsilons / settings.num_epsilons

    def one_cell(snapshot):
        params = unravel_params(snapshot[0])
        stats, unit_masks = unravel_rest(snapshot[1])
        kernel_masks = jax.tree.map(lambda s: jnp.ones(s.shape, s.dtype), kernel_mask_shapes)

        def logits(params, x):
            state = jax.tree.map(lambda a: a, (params, stats, unit_masks))
            return nnx.merge(eval_def, *state, kernel_masks)(x)

        loss = lambda p: cross_entropy(logits(p, images), labels)  # noqa: E731
        example_loss = lambda p, x, y: cross_entropy(logits(p, x[None]), y[None])  # noqa: E731
        values, vectors = flatness.hessian_top_eigenpairs(
            loss,
            params,
            jax.random.key(settings.seed),
            settings.num_eigenvalues,
            settings.lanczos_iterations,
        )
        return {
            "hessian_eigenvalues": values,
            "hessian_trace_top": jnp.sum(values),
            "gradient_covariance_trace": flatness.gradient_covariance_trace(
                example_loss, params, images, labels, settings.example_chunk
            ),
            "sharpness_radius": flatness.sharpness_radius(
                loss,
                params,
                vectors[: settings.num_directions],
                epsilons,
                settings.loss_rise,
                settings.num_epsilons,
            ),
        }

    sizes = tuple(len(values) for values in result.axes.values())
    snapshots = tuple(
        result.final[key].reshape(-1, result.final[key].shape[-1]) for key in SNAPSHOT_KEYS
    )
    measure = jax.jit(lambda s: jax.lax.map(one_cell, s, batch_size=settings.cells_per_batch))
    measured = jax.device_get(measure(snapshots))
    final = {k: v for k, v in result.final.items() if k not in SNAPSHOT_KEYS}
    final |= {k: np.asarray(v).reshape(*sizes, *v.shape[1:]) for k, v in measured.items()}
    return dataclasses.replace(result, final=final)
