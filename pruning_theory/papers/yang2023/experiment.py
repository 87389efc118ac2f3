"""Random pruning at initialization of a two-layer patch network (Yang et al. 2023).

Spec: docs/papers/yang2023.md. A ReLU^q patch network (`models.PatchNet`) on signal/noise
patch data (`data.synthetic`) is pruned at init by i.i.d. Bernoulli(1 - p) masks (one uniform
per weight and seed, so masks are nested across p), then trained by full-batch GD on the
logistic loss. A sweep is the grid ``seed x pruning_rate``: the seed drives the data, the init
and the mask through three independent streams; the data is shared (unbatched) by every rate.

Knobs where the paper is ambiguous (defaults in launch/configs/yang2023.py):
  * ``train.step_scaling``: ``steps`` (default, the spec's T / (1 - p), capped at
    ``max_step_multiplier`` T; a cell freezes once its budget is spent), ``learning_rate``
    (eta / (1 - p) for T steps: the same gradient-flow time, but large steps overshoot at high
    p) or ``none``.
  * ``train.parametrization``: ``span`` (default; exact GD in the span of the masked inputs,
    `span_gd`, O(n^2) per step) or ``weights`` (plain GD on the NNX kernel, O(n d) per step).
    Both give the same iterates; a test checks it.

Logged along training: training loss and accuracy, signal learning gamma_{j,r} =
<w_{j,r} * m_{j,r}, j mu> and noise memorization rho_{j,r,i} = <w_{j,r} * m_{j,r}, xi_i>
(max / mean summaries), and their contributions to the training margins. After training: test
accuracy on fresh samples, effective filters, and the mask checks of S1 / S2.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from pruning_theory import masks, models
from pruning_theory.claims import diverged_note, drop_diverged
from pruning_theory.data import synthetic
from pruning_theory.engine import sweep
from pruning_theory.engine.overrides import with_overrides
from pruning_theory.engine.results import SweepResult
from pruning_theory.experiment import Experiment
from pruning_theory.papers.yang2023 import claims as yang2023_claims
from pruning_theory.papers.yang2023 import figures as yang2023_figures
from pruning_theory.papers.yang2023 import mnist_companion, span_gd, theory

NAME = "yang2023"
STEP_SCALINGS = ("steps", "learning_rate", "none")
PARAMETRIZATIONS = ("span", "weights")
DATA_STREAM, INIT_STREAM, MASK_STREAM = 0, 1, 2


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks a config before anything is compiled.

    Raises:
      ValueError: naming the bad value.
    """
    sweep.validate_axes(config.grid)
    if set(config.grid) != {"seed", "pruning_rate"}:
        raise ValueError(f"grid axes must be seed and pruning_rate, got {list(config.grid)}")
    for rate in config.grid.pruning_rate:
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"pruning rate {rate} is outside [0, 1]")
    positive = {
        "data.dimension": config.data.dimension,
        "data.num_train": config.data.num_train,
        "data.num_test": config.data.num_test,
        "data.mu_norm": config.data.mu_norm,
        "data.noise_std": config.data.noise_std,
        "model.width": config.model.width,
        "model.power": config.model.power,
        "train.learning_rate": config.train.learning_rate,
        "train.steps": config.train.steps,
        "train.num_logs": config.train.num_logs,
        "train.max_step_multiplier": config.train.max_step_multiplier,
    }
    for name, value in positive.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value}")
    if config.model.init_std < 0:
        raise ValueError(f"model.init_std must be >= 0, got {config.model.init_std}")
    choices = {
        "train.step_scaling": (config.train.step_scaling, STEP_SCALINGS),
        "train.parametrization": (config.train.parametrization, PARAMETRIZATIONS),
        "data.mu_kind": (config.data.mu_kind, ("one_hot", "dense")),
    }
    for name, (value, options) in choices.items():
        if value not in options:
            raise ValueError(f"{name} = {value!r} is not one of {options}")
    if config.train.step_scaling != "none" and max(config.grid.pruning_rate) >= 1.0:
        raise ValueError("pruning rate 1.0 leaves nothing to train; step scaling 1/(1-p) diverges")


def step_multiplier(pruning_rate, train: ml_collections.ConfigDict):
    """The factor 1/(1-p) of the step budget or the learning rate, capped (traced-friendly)."""
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


def _patch_net(config, key) -> models.PatchNet:
    return models.PatchNet(
        config.data.dimension,
        config.model.width,
        config.model.init_std,
        rngs=nnx.Rngs(params=key),
    )


def make_program(config: ml_collections.ConfigDict) -> sweep.Program:
    """The pure functions of one yang2023 sweep (see `sweep.Program`)."""
    data_config, model_config, train = config.data, config.model, config.train
    power = model_config.power
    graphdef, _ = nnx.split(nnx.eval_shape(lambda: _patch_net(config, jax.random.key(0))))

    def make_data(data_cell):
        key = jax.random.fold_in(jax.random.key(data_cell["seed"]), DATA_STREAM)
        train_key, test_key = jax.random.split(key)
        mu = synthetic.signal_vector(
            data_config.dimension, data_config.mu_norm, data_config.mu_kind
        )
        draw = lambda k, n: synthetic.signal_noise_patches(  # noqa: E731
            k, n, mu, data_config.noise_std, noise_orthogonal=data_config.noise_orthogonal
        )
        return {
            "mu": mu,
            "train": draw(train_key, data_config.num_train),
            "test": draw(test_key, data_config.num_test),
        }

    def initial_model(cell) -> models.PatchNet:
        """The pruned network at init: kernel from the init stream, mask from its own."""
        base = jax.random.key(cell["seed"])
        model = _patch_net(config, jax.random.fold_in(base, INIT_STREAM))
        kernel_shape = model.filters.kernel.shape
        model.filters.kernel_mask[...] = masks.bernoulli_mask(
            jax.random.fold_in(base, MASK_STREAM), kernel_shape, cell["pruning_rate"]
        )
        return model

    def span_inputs(data):
        return jnp.concatenate([data["mu"][None, :], data["train"].noise], axis=0)

    def loss_of_responses(responses, labels):
        """Mean logistic loss and outputs from responses [2m, n + 1] to [mu, xi_1..n]."""
        width = model_config.width
        signal = responses[:, 0].reshape(2, width)
        noise = responses[:, 1:].reshape(2, width, -1)
        outputs = models.patch_net_output(signal, noise, labels, power)
        return jnp.mean(jax.nn.softplus(-labels * outputs)), outputs

    def learning_rate(cell):
        if train.step_scaling == "learning_rate":
            return train.learning_rate * step_multiplier(cell["pruning_rate"], train)
        return train.learning_rate

    def step_budget(cell):
        if train.step_scaling == "steps":
            return jnp.ceil(train.steps * step_multiplier(cell["pruning_rate"], train))
        return train.steps

    def init(cell, data):
        model = initial_model(cell)
        if train.parametrization == "span":
            filters = model.filters
            return span_gd.init_span_state(
                filters.kernel[...], filters.kernel_mask[...], span_inputs(data)
            )
        return nnx.state(model)

    def weights_loss(params, rest, data):
        model = nnx.merge(graphdef, params, rest)
        patches = data["train"]
        outputs = model(patches.labels, patches.noise, data["mu"], power)
        return jnp.mean(jax.nn.softplus(-patches.labels * outputs))

    def advance(state, cell, data, step):
        # A cell whose budget is spent freezes: a zero step keeps it exactly where it is.
        rate = learning_rate(cell) * (step < step_budget(cell))
        if train.parametrization == "span":
            gradient = jax.grad(lambda r: loss_of_responses(r, data["train"].labels)[0])(
                state.responses
            )
            return span_gd.span_gd_step(state, gradient, rate)
        params, rest = nnx.split_state(state, nnx.Param, ...)
        gradient = jax.grad(weights_loss)(params, rest, data)
        params = jax.tree.map(lambda p, g: p - rate * g, params, gradient)
        return nnx.merge_state(params, rest)

    def trained_model(state, cell, data) -> models.PatchNet:
        model = initial_model(cell)
        if train.parametrization == "span":
            filters = model.filters
            filters.kernel[...] = span_gd.span_kernel(
                filters.kernel[...],
                filters.kernel_mask[...],
                span_inputs(data),
                state.coefficients,
            )
            return model
        nnx.update(model, state)
        return model

    def train_responses(state, cell, data):
        """[2m, n + 1] responses to [mu, xi]; exact state in the span parametrization."""
        if train.parametrization == "span":
            return state.responses
        model = nnx.merge(graphdef, state)
        return model.filters(span_inputs(data)).T

    def evaluate(state, cell, data):
        labels = data["train"].labels
        responses = train_responses(state, cell, data)
        loss, outputs = loss_of_responses(responses, labels)
        return {
            "train_loss": loss,
            "train_accuracy": jnp.mean(labels * outputs > 0),
            **feature_learning(responses, labels, model_config.width, power),
        }

    def finalize(state, cell, data):
        model = trained_model(state, cell, data)
        start = initial_model(cell)
        initial = start.filters.kernel[...]
        filters, mask = model.filters, model.filters.kernel_mask[...]
        test = data["test"]
        test_outputs = model(test.labels, test.noise, data["mu"], power)
        params, rest = nnx.split_state(nnx.state(model), nnx.Param, ...)
        gradient = jax.grad(weights_loss)(params, rest, data)["filters"]["kernel"][...]
        initial_signal = jnp.sign(models.CLASS_SIGNS)[:, None] * (
            start.filters.effective_kernel().T @ data["mu"]
        ).reshape(2, model_config.width)
        keeps_signal = (jnp.abs(data["mu"]) @ mask).reshape(2, model_config.width) > 0
        return {
            "test_accuracy": jnp.mean(test.labels * test_outputs > 0),
            "step_budget": jnp.asarray(step_budget(cell), jnp.float32),
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

    return sweep.Program(make_data, init, advance, evaluate, finalize)


def float32_ulp(x: jax.Array) -> jax.Array:
    """The spacing of float32 numbers at ``|x|`` (one unit in the last place)."""
    magnitude = jnp.abs(x).astype(jnp.float32)
    spacing = jnp.nextafter(magnitude, jnp.float32(jnp.inf)) - magnitude
    return jnp.maximum(spacing, jnp.finfo(jnp.float32).tiny)  # CPUs flush denormals to 0


def feature_learning(responses, labels, width: int, power: float) -> dict[str, jax.Array]:
    """Signal learning vs noise memorization from responses [2m, n + 1] to [mu, xi_1..n].

    gamma_{j,r} = <w_{j,r} * m_{j,r}, j mu> and rho_{j,r,i} = <w_{j,r} * m_{j,r}, xi_i>
    (Cao et al. 2022, Lemma 5.1). ``signal_output`` / ``noise_output`` are what the signal and
    the noise patches add to the own-class output F_{y_i}(x_i) at the training points: the
    margin's split between generalizing and memorizing.
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


def program_and_grid(config: ml_collections.ConfigDict) -> tuple[sweep.Program, sweep.Grid]:
    grid = sweep.Grid(axes=dict(config.grid), data_axes=("seed",))
    return make_program(config), grid


def run_sweep(config: ml_collections.ConfigDict, progress=None, name: str | None = None):
    """Validates, builds and runs one yang2023 sweep; returns its `SweepResult`."""
    validate(config)
    program, grid = program_and_grid(config)
    num_steps, log_every = num_engine_steps(config)
    return sweep.run_program(
        program, grid, num_steps=num_steps, log_every=log_every, progress=progress, name=name
    )


def theory_summary(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The reconstruction's thresholds for this config (used by claims and figures)."""
    data, width = config.data, config.model.width
    rates = np.asarray(config.grid.pruning_rate, dtype=float)
    return {
        "label": theory.RECONSTRUCTION,
        "p_lo": theory.benign_threshold(
            data.num_train,
            data.mu_norm,
            data.noise_std,
            data.dimension,
            config.model.power,
            config.theory.constant,
        ),
        "p_hi": theory.over_pruning_threshold(width),
        "signal_availability_bound": theory.signal_availability_bound(rates, width),
        "memorization_possible": theory.memorization_possible(
            rates, data.dimension, data.num_train
        ),
    }


def companion_config(config: ml_collections.ConfigDict) -> mnist_companion.Config:
    fields = {f.name for f in dataclasses.fields(mnist_companion.Config)}
    return mnist_companion.Config(
        **{
            k: tuple(v) if k == "hidden_sizes" else v
            for k, v in config.companion.items()
            if k in fields
        }
    )


def validate_all(config: ml_collections.ConfigDict) -> None:
    """Validates the main sweep, every control and the companion before any compile."""
    validate(config)
    for overrides in config.controls.values():
        validate(with_overrides(config, overrides))
    if config.companion.enabled:
        mnist_companion.validate(
            companion_config(config), config.companion.pruning_rates, config.companion.seeds
        )


def companion_sweep(config: ml_collections.ConfigDict, progress=None) -> SweepResult:
    """The MNIST companion's sweep alone; its claims come from the whole sweep in `analyze`."""
    return mnist_companion.run_sweep(
        companion_config(config),
        config.companion.pruning_rates,
        config.companion.seeds,
        progress,
    )


def run_sweeps(
    config: ml_collections.ConfigDict, progress: Callable[[str], Any] | None = None
) -> dict[str, SweepResult]:
    """Every sweep of the yang2023 job: main, controls, the MNIST companion.

    Args:
      config: the resolved config (launch/configs/yang2023.py).
      progress: ``name -> reporter`` for each sweep's progress, or None.

    Returns:
      ``metrics`` (the main sweep), ``control_<name>`` per control, and ``companion``.
    """
    validate_all(config)
    reporter = (lambda name: progress(name)) if progress else (lambda name: None)
    sweeps = {"metrics": run_sweep(config, reporter(NAME), name=NAME)}
    if config.run_controls:
        for name, overrides in config.controls.items():
            sweeps[f"control_{name}"] = run_sweep(
                with_overrides(config, overrides), reporter(name), name=f"control_{name}"
            )
    if config.companion.enabled:
        sweeps["companion"] = companion_sweep(config, reporter("mnist_companion"))
    return sweeps


def analyze(config: ml_collections.ConfigDict, sweeps: dict[str, SweepResult]):
    """Claims and figures from the sweeps of `run_sweeps` (or their merged grid shards).

    Seeds with a diverged cell are left out of every statistic of their sweep, and the claims
    and figures say so (`drop_diverged`).

    Returns:
      ``(claims, figures)``: the list of `Claim`s and named figures.
    """
    notes = {}
    kept = {}
    for name, result in sweeps.items():
        kept[name], dropped = drop_diverged(result, "seed")
        notes[name] = diverged_note(name, "seed", dropped)
    controls = {k.removeprefix("control_"): v for k, v in kept.items() if k.startswith("control_")}
    claims = yang2023_claims.yang2023_claims(kept["metrics"], controls, config, notes)
    companion = kept.get("companion")
    if companion is not None:
        companion_claims = mnist_companion.claims(companion, companion_config(config))
        claims += [yang2023_claims.noted(c, notes["companion"]) for c in companion_claims]
    note = " ".join(n.strip() for n in notes.values() if n)
    figures = yang2023_figures.figures(kept["metrics"], controls, companion, config, note)
    return claims, figures


EXPERIMENT = Experiment(
    name="yang2023",
    validate=validate_all,
    run_sweeps=run_sweeps,
    analyze=analyze,
    theory=theory_summary,
)
