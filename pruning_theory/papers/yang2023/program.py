"""The training program of one yang2023 sweep: data, pruned initialization, GD, measurements.

Spec: docs/papers/yang2023.md, "Model" and "Feature-learning probes". Two builders give the
engine a `sweep.Program` for the grid ``seed x pruning_rate``; they share the data, the pruned
network at initialization, the step budget, the training metrics and the post-training
measurements, and differ only in how gradient descent is carried out:

* `span_program` (``train.parametrization = "span"``): exact GD in the span of the masked
  training inputs (`span_gd`), O(n^2) per filter and step;
* `weights_program` (``"weights"``): plain GD on the NNX kernel, O(n d) per filter and step.

Both give the same iterates (a test checks it). The seed drives the data, the initialization
and the mask through three independent streams; a seed's data is shared, unbatched, by every
pruning rate, and the masks are nested across rates (eq. (4)).

Test accuracy (``data.test_sampling``): the network sees a test noise patch xi only through
the responses <w_{j,r} * m_{j,r}, xi> of its 2m masked filters. With xi ~ N(0, sigma_p^2 P)
(P projects out mu when the noise is orthogonal to it, else P = I) these responses are exactly
N(0, sigma_p^2 V^T P V), V = [d, 2m] the masked kernel. ``"gram"`` (default) samples them from
that 2m-dimensional Gaussian (`covariance_root`: Cholesky, with a relative jitter of 1e-5):
O(m^2 d) once per cell and O(m^2) per test point, instead of
O(m d) per point plus drawing d-dimensional inputs (``"inputs"``, the direct method). The two
give the same distribution of every test metric (a test checks it); both use the same test
labels for a seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from pruning_theory import masks, models
from pruning_theory.data import synthetic
from pruning_theory.engine import sweep
from pruning_theory.papers.yang2023 import span_gd

DATA_STREAM, INIT_STREAM, MASK_STREAM = 0, 1, 2
TEST_SAMPLINGS = ("gram", "inputs")
COVARIANCE_JITTER = 1e-5


class ResponseDraws(NamedTuple):
    """Test points for ``test_sampling = "gram"``: labels and standard normals [N, 2m]."""

    labels: jax.Array
    normals: jax.Array


# ------------------------------------------------------------------------ shared pieces


def step_multiplier(pruning_rate, train: ml_collections.ConfigDict):
    """The factor 1/(1-p) of the step budget or the learning rate, capped (traced-friendly).

    docs/papers/yang2023.md, "Training" and "Ambiguities": T / (1 - p), capped at a multiple.
    """
    keep = jnp.maximum(1.0 - pruning_rate, 1e-12)
    return jnp.minimum(1.0 / keep, train.max_step_multiplier)


def num_engine_steps(config: ml_collections.ConfigDict) -> tuple[int, int]:
    """(total steps, log_every) for the engine: every cell's budget fits, num_logs segments."""
    budget = config.train.steps
    if config.train.step_scaling == "steps":
        multiplier = min(1 / (1 - max(config.grid.pruning_rate)), config.train.max_step_multiplier)
        budget = math.ceil(config.train.steps * multiplier)
    log_every = math.ceil(budget / config.train.num_logs)
    return log_every * config.train.num_logs, log_every


def step_size(cell, step, train: ml_collections.ConfigDict):
    """The GD step of ``cell`` at global step ``step``: 0 once the cell's budget is spent.

    A cell whose budget is spent freezes: a zero step keeps it exactly where it is.
    """
    rate = train.learning_rate
    if train.step_scaling == "learning_rate":
        rate = rate * step_multiplier(cell["pruning_rate"], train)
    return rate * (step < step_budget(cell, train))


def step_budget(cell, train: ml_collections.ConfigDict):
    """The number of GD steps ``cell`` takes (eq. "Training": T / (1 - p) under ``steps``)."""
    if train.step_scaling == "steps":
        return jnp.ceil(train.steps * step_multiplier(cell["pruning_rate"], train))
    return jnp.asarray(train.steps, jnp.float32)


def make_data_fn(config: ml_collections.ConfigDict) -> Callable:
    """``data_cell -> {"mu", "train", "test"}``: the data of one seed (eq. (1)).

    The training set is `synthetic.PatchData`; the test set is `PatchData` with
    ``test_sampling = "inputs"`` and `ResponseDraws` with ``"gram"`` (same labels).
    """
    data_config, num_filters = config.data, 2 * config.model.width

    def make_data(data_cell):
        key = jax.random.fold_in(jax.random.key(data_cell["seed"]), DATA_STREAM)
        train_key, test_key = jax.random.split(key)
        mu = synthetic.signal_vector(
            data_config.dimension, data_config.mu_norm, data_config.mu_kind
        )
        draw = lambda k, n: synthetic.signal_noise_patches(  # noqa: E731
            k, n, mu, data_config.noise_std, noise_orthogonal=data_config.noise_orthogonal
        )
        if data_config.test_sampling == "inputs":
            test = draw(test_key, data_config.num_test)
        else:  # the labels of `signal_noise_patches` with the same key
            label_key, noise_key = jax.random.split(test_key)
            test = ResponseDraws(
                jax.random.rademacher(label_key, (data_config.num_test,), dtype=jnp.float32),
                jax.random.normal(noise_key, (data_config.num_test, num_filters)),
            )
        return {"mu": mu, "train": draw(train_key, data_config.num_train), "test": test}

    return make_data


def patch_net(config: ml_collections.ConfigDict, key) -> models.PatchNet:
    """An unpruned `models.PatchNet` of the config's sizes, initialized from ``key``."""
    return models.PatchNet(
        config.data.dimension,
        config.model.width,
        config.model.init_std,
        rngs=nnx.Rngs(params=key),
    )


def initial_model(config: ml_collections.ConfigDict, cell) -> models.PatchNet:
    """The pruned network at init: kernel from the init stream, mask from its own (eq. (4))."""
    base = jax.random.key(cell["seed"])
    model = patch_net(config, jax.random.fold_in(base, INIT_STREAM))
    model.filters.kernel_mask[...] = masks.bernoulli_mask(
        jax.random.fold_in(base, MASK_STREAM), model.filters.kernel.shape, cell["pruning_rate"]
    )
    return model


def span_inputs(data) -> jax.Array:
    """[n + 1, d]: mu, then the training noise patches (what the loss sees the filters by)."""
    return jnp.concatenate([data["mu"][None, :], data["train"].noise], axis=0)


def outputs_of_responses(responses, labels, width: int, power: float) -> jax.Array:
    """f(W, x_i) (eq. (3)) at the training points from responses [2m, n + 1] to [mu, xi].

    The function of `models.patch_net_output`, with the signal patch's term computed once per
    class and label sign (labels are +-1) rather than once per training point: the span GD
    step's elementwise work drops by 40%.
    """
    signal = responses[:, 0].reshape(2, width)
    noise = responses[:, 1:].reshape(2, width, -1)
    plus = jnp.mean(models.relu_power(signal, power), axis=1)  # [2] F_j's signal term, y = +1
    minus = jnp.mean(models.relu_power(-signal, power), axis=1)  # [2] and at y = -1
    signal_term = jnp.where(labels > 0, plus[0] - plus[1], minus[0] - minus[1])
    noise_term = jnp.mean(models.relu_power(noise, power), axis=1)  # [2, n]
    return signal_term + noise_term[0] - noise_term[1]


def loss_of_responses(responses, labels, width: int, power: float):
    """Mean logistic loss (eq. (5)) and outputs from responses [2m, n + 1] to [mu, xi_1..n]."""
    outputs = outputs_of_responses(responses, labels, width, power)
    return jnp.mean(jax.nn.softplus(-labels * outputs)), outputs


def patch_net_loss(model: models.PatchNet, data, power: float) -> jax.Array:
    """The training loss (eq. (5)) of a `models.PatchNet`, computed in weight space."""
    patches = data["train"]
    outputs = model(patches.labels, patches.noise, data["mu"], power)
    return jnp.mean(jax.nn.softplus(-patches.labels * outputs))


def feature_learning(responses, labels, width: int, power: float) -> dict[str, jax.Array]:
    """Signal learning vs noise memorization from responses [2m, n + 1] to [mu, xi_1..n].

    gamma_{j,r} = <w_{j,r} * m_{j,r}, j mu> and rho_{j,r,i} = <w_{j,r} * m_{j,r}, xi_i>
    (docs/papers/yang2023.md, eqs. (6)-(7), with the sign convention of "Ambiguities").
    ``signal_output`` / ``noise_output`` are what the signal and the noise patches add to the
    own-class output F_{y_i}(x_i) at the training points: the margin's split between
    generalizing and memorizing.
    """
    gamma = models.CLASS_SIGNS[:, None] * responses[:, 0].reshape(2, width)
    rho = responses[:, 1:].reshape(2, width, -1)
    own_class = (labels < 0).astype(jnp.int32)  # y = +1 -> bank 0, y = -1 -> bank 1
    own_rho = jnp.take_along_axis(rho, own_class[None, None, :], axis=0)[0]  # [m, n]
    signal_output = jnp.mean(models.relu_power(gamma, power), axis=1)  # [2]
    noise_output = jnp.mean(models.relu_power(own_rho, power), axis=0)  # [n]
    return {
        "signal_learning": jnp.mean(jnp.max(gamma, axis=1)),
        "signal_learning_max": jnp.max(gamma),
        "noise_memorization": jnp.mean(jnp.max(own_rho, axis=0)),
        "noise_memorization_max": jnp.max(jnp.abs(rho)),
        "signal_output": jnp.mean(signal_output[own_class]),
        "noise_output": jnp.mean(noise_output),
    }


def training_metrics(responses, labels, width: int, power: float) -> dict[str, jax.Array]:
    """The metrics logged along training, from the responses [2m, n + 1] to [mu, xi]."""
    loss, outputs = loss_of_responses(responses, labels, width, power)
    return {
        "train_loss": loss,
        "train_accuracy": jnp.mean(labels * outputs > 0),
        **feature_learning(responses, labels, width, power),
    }


# ------------------------------------------------------------------ post-training measures


def float32_ulp(x: jax.Array) -> jax.Array:
    """The spacing of float32 numbers at ``|x|`` (one unit in the last place)."""
    magnitude = jnp.abs(x).astype(jnp.float32)
    spacing = jnp.nextafter(magnitude, jnp.float32(jnp.inf)) - magnitude
    return jnp.maximum(spacing, jnp.finfo(jnp.float32).tiny)  # CPUs flush denormals to 0


def response_covariance(kernel, mu, noise_std: float, orthogonal: bool) -> jax.Array:
    """[2m, 2m] covariance of the masked filters' responses to one test noise patch.

    ``sigma_p^2 V^T P V`` for the masked kernel ``V`` [d, 2m], with ``P = I - u u^T``
    (u = mu / ||mu||) when the noise is orthogonal to mu (eq. (1)), else ``P = I``.
    """
    covariance = kernel.T @ kernel
    if orthogonal:
        along = kernel.T @ (mu / jnp.linalg.norm(mu))
        covariance = covariance - jnp.outer(along, along)
    return noise_std**2 * covariance


def covariance_root(covariance: jax.Array) -> jax.Array:
    """Lower-triangular ``S`` with ``S S^T = covariance + jitter I`` (Cholesky).

    Cholesky's factor is unique and continuous in the covariance, so two nets equal up to
    float rounding (span vs weight-space GD) draw the same test responses. The jitter,
    `COVARIANCE_JITTER` times the mean variance, keeps a singular covariance (a filter pruned
    entirely) factorizable; it adds independent noise of that relative variance, far below
    anything a test accuracy of a few thousand points resolves.
    """
    scale = jnp.maximum(jnp.mean(jnp.diag(covariance)), jnp.finfo(jnp.float32).tiny)
    eye = jnp.eye(covariance.shape[0], dtype=covariance.dtype)
    return jnp.linalg.cholesky(covariance + COVARIANCE_JITTER * scale * eye)


def test_noise_responses(kernel, data, config: ml_collections.ConfigDict) -> jax.Array:
    """[2, m, N] responses of the masked filters (kernel [d, 2m]) to the test noise patches."""
    test = data["test"]
    if config.data.test_sampling == "inputs":
        responses = test.noise @ kernel
    else:
        covariance = response_covariance(
            kernel, data["mu"], config.data.noise_std, config.data.noise_orthogonal
        )
        responses = test.normals @ covariance_root(covariance).T
    return responses.T.reshape(2, config.model.width, -1)


def test_metrics(model: models.PatchNet, data, config) -> dict[str, jax.Array]:
    """Test accuracy, per class, and the prediction on noise-only inputs.

    ``class_test_accuracy`` [2] is the accuracy on the test points of class +1 (bank 0) and
    class -1 (bank 1); ``noise_only_prediction`` [2] is the fraction of noise-only inputs
    ``[0, xi]`` (the same test noise, signal patch zero) that the net assigns to each class:
    the net's default when it sees no signal (docs/papers/yang2023.md, "Signal availability").
    """
    kernel = model.filters.effective_kernel()
    power, width = config.model.power, config.model.width
    labels = data["test"].labels
    noise = test_noise_responses(kernel, data, config)
    signal = (kernel.T @ data["mu"]).reshape(2, width)
    correct = labels * models.patch_net_output(signal, noise, labels, power) > 0
    noise_only = models.patch_net_output(jnp.zeros_like(signal), noise, labels, power)
    of_class = labels[None, :] == models.CLASS_SIGNS[:, None]  # [2, N]
    measured = {
        "test_accuracy": jnp.mean(correct),
        "class_test_accuracy": jnp.sum(of_class & correct[None, :], axis=1)
        / jnp.maximum(jnp.sum(of_class, axis=1), 1),
        "noise_only_prediction": jnp.mean(models.CLASS_SIGNS[:, None] * noise_only > 0, axis=1),
    }
    # A failed factorization would give NaN responses, which compare as False: say so with NaN.
    finite = jnp.all(jnp.isfinite(noise))
    return {name: jnp.where(finite, value, jnp.nan) for name, value in measured.items()}


def mask_metrics(model, start, data, config) -> dict[str, jax.Array]:
    """The mask checks (S1, S2) and the effective filters per class (eq. (10)).

    ``start`` is the pruned net at initialization (for weight-space GD an independent
    recomputation, so the drift of pruned weights is a check). A class-j filter is effective
    if it keeps the signal coordinate and <w_0 * m, j mu> > 0.
    """
    width = config.model.width
    filters, mask = model.filters, model.filters.kernel_mask[...]
    initial = start.filters.kernel[...]
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    loss = lambda p: patch_net_loss(nnx.merge(graphdef, p, rest), data, config.model.power)  # noqa: E731
    gradient = jax.grad(loss)(params)["filters"]["kernel"][...]
    initial_signal = models.CLASS_SIGNS[:, None] * (
        start.filters.effective_kernel().T @ data["mu"]
    ).reshape(2, width)
    keeps_signal = (jnp.abs(data["mu"]) @ mask).reshape(2, width) > 0
    return {
        "kept_weights": jnp.sum(mask),
        # In float32 ulps of the initial weight: `start` recomputes the initialization, and
        # a recomputation fused differently by XLA may round 1 ulp apart; a GD step on a
        # pruned weight would move it by eta |g|, many orders of magnitude more.
        "pruned_weight_drift_ulps": jnp.max(
            jnp.abs(filters.kernel[...] - initial) / float32_ulp(initial) * (1 - mask)
        ),
        "kept_weight_drift": jnp.max(jnp.abs(filters.kernel[...] - initial) * mask),
        "pruned_gradient_max": jnp.max(jnp.abs(gradient) * (1 - mask)),
        "effective_filters": jnp.sum(keeps_signal & (initial_signal > 0), axis=1),
        "signal_keeping_filters": jnp.sum(keeps_signal, axis=1),
        "signal_response_max": jnp.max(jnp.abs(filters.effective_kernel().T @ data["mu"])),
    }


def final_metrics(model, start, cell, data, config) -> dict[str, jax.Array]:
    """Everything measured once after training (the engine's ``finalize``), from the trained
    ``model`` and the pruned net at initialization ``start``."""
    return {
        **test_metrics(model, data, config),
        "step_budget": step_budget(cell, config.train),
        **mask_metrics(model, start, data, config),
    }


# ------------------------------------------------------------------------------ builders


def span_program(config: ml_collections.ConfigDict) -> sweep.Program:
    """GD carried out exactly in the span of the masked training inputs (`span_gd`)."""
    train, width, power = config.train, config.model.width, config.model.power

    def init(cell, data):
        filters = initial_model(config, cell).filters
        return span_gd.init_span_state(
            filters.kernel[...], filters.kernel_mask[...], span_inputs(data)
        )

    def advance(state, cell, data, step):
        labels = data["train"].labels
        loss = lambda r: loss_of_responses(r, labels, width, power)[0]  # noqa: E731
        return span_gd.span_gd_step(
            state, jax.grad(loss)(state.responses), step_size(cell, step, train)
        )

    def evaluate(state, cell, data):
        return training_metrics(state.responses, data["train"].labels, width, power)

    def finalize(state, cell, data):
        start = initial_model(config, cell)
        model = nnx.clone(start)  # one initialization in memory, not two: d x 2m per cell
        filters = model.filters
        filters.kernel[...] = span_gd.span_kernel(
            filters.kernel[...], filters.kernel_mask[...], span_inputs(data), state.coefficients
        )
        return final_metrics(model, start, cell, data, config)

    return sweep.Program(make_data_fn(config), init, advance, evaluate, finalize)


def weights_program(config: ml_collections.ConfigDict) -> sweep.Program:
    """Plain GD on the NNX kernel of `models.PatchNet`; the state is the model's state."""
    train, width, power = config.train, config.model.width, config.model.power
    graphdef, _ = nnx.split(nnx.eval_shape(lambda: patch_net(config, jax.random.key(0))))

    def init(cell, data):
        return nnx.state(initial_model(config, cell))

    def advance(state, cell, data, step):
        params, rest = nnx.split_state(state, nnx.Param, ...)
        loss = lambda p: patch_net_loss(nnx.merge(graphdef, p, rest), data, power)  # noqa: E731
        rate = step_size(cell, step, train)
        params = jax.tree.map(lambda p, g: p - rate * g, params, jax.grad(loss)(params))
        return nnx.merge_state(params, rest)

    def evaluate(state, cell, data):
        responses = nnx.merge(graphdef, state).filters(span_inputs(data)).T
        return training_metrics(responses, data["train"].labels, width, power)

    def finalize(state, cell, data):
        start = initial_model(config, cell)  # recomputed: a check that pruned weights stayed
        return final_metrics(nnx.merge(graphdef, state), start, cell, data, config)

    return sweep.Program(make_data_fn(config), init, advance, evaluate, finalize)


BUILDERS: dict[str, Callable[[ml_collections.ConfigDict], sweep.Program]] = {
    "span": span_program,
    "weights": weights_program,
}


def make_program(config: ml_collections.ConfigDict) -> sweep.Program:
    """The `sweep.Program` of ``config.train.parametrization`` (`BUILDERS`)."""
    return BUILDERS[config.train.parametrization](config)
