"""Toy programs of the engine tests: linear regression by GD, small enough for any CPU."""

import jax
import jax.numpy as jnp
import numpy as np

from pruning_theory import engine


def toy_program(dimension: int = 8) -> engine.Program:
    """Linear regression by GD: data from the seed, learning rate and scale swept."""

    def make_data(data_cell):
        key = jax.random.key(data_cell.get("seed", 0))
        inputs = jax.random.normal(key, (16, dimension))
        return {"inputs": inputs, "targets": inputs @ jnp.arange(dimension, dtype=jnp.float32)}

    def loss(weights, data):
        return jnp.mean((data["inputs"] @ weights - data["targets"]) ** 2)

    def init(cell, data):
        return cell["scale"] * jnp.ones(dimension)

    def advance(state, cell, data, step):
        return state - cell["learning_rate"] * jax.grad(loss)(state, data)

    def evaluate(state, cell, data):
        return {"loss": loss(state, data), "weights": state}

    def finalize(state, cell, data):
        return {"norm": jnp.linalg.norm(state)}

    return engine.Program(make_data, init, advance, evaluate, finalize)


def toy_dataset(num_examples: int, dimension: int = 8) -> dict[str, np.ndarray]:
    """A fixed regression dataset (numpy, as a loader gives it): inputs and their targets."""
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(num_examples, dimension)).astype(np.float32)
    return {"inputs": inputs, "targets": inputs @ np.arange(dimension, dtype=np.float32)}


def dataset_program(dataset: dict[str, np.ndarray], *, as_constant: bool) -> engine.Program:
    """Minibatch SGD on one dataset every cell shares; the seed draws the minibatches.

    With ``as_constant`` the arrays are closed over (compile-time constants, the old way);
    otherwise they are the program's ``shared`` data. Same arithmetic either way.
    """
    num_examples, dimension = dataset["inputs"].shape
    constant = {k: jnp.asarray(v) for k, v in dataset.items()}

    def make_data(data_cell, shared=None):
        return jax.random.key(data_cell["seed"])

    def batch_loss(weights, arrays, index):
        return jnp.mean((arrays["inputs"][index] @ weights - arrays["targets"][index]) ** 2)

    def init(cell, key, shared=None):
        return cell["scale"] * jnp.ones(dimension)

    def advance(state, cell, key, step, shared=None):
        arrays = constant if shared is None else shared
        index = jax.random.choice(jax.random.fold_in(key, step), num_examples, (4,))
        return state - cell["learning_rate"] * jax.grad(batch_loss)(state, arrays, index)

    def evaluate(state, cell, key, shared=None):
        arrays = constant if shared is None else shared
        return {"loss": batch_loss(state, arrays, jnp.arange(num_examples)), "weights": state}

    if as_constant:
        return engine.Program(make_data, init, advance, evaluate)
    return engine.Program(make_data, init, advance, evaluate, shared=dataset)
