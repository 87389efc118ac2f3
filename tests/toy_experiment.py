"""A toy experiment registered through the public interface (tests/test_experiment.py).

Linear regression by GD over seeds x learning rates: one claim (training lowers the loss),
checked with the shared claims code. It shows everything a paper package must provide.
"""

import ml_collections
import numpy as np

from pruning_theory import claims, engine
from pruning_theory.experiment import Experiment
from tests.engine.toy import toy_program


def get_config() -> ml_collections.ConfigDict:
    """The toy's config: a grid of seeds and learning rates."""
    config = ml_collections.ConfigDict()
    config.experiment = "toy"
    config.variant = "tiny"
    config.grid = ml_collections.ConfigDict({"seed": (0, 1, 2, 3), "learning_rate": (0.01, 0.02)})
    config.num_steps = 6
    return config


def validate(config: ml_collections.ConfigDict) -> None:
    """Refuses a non-positive number of steps."""
    if config.num_steps < 1:
        raise ValueError(f"num_steps={config.num_steps!r} must be >= 1")


def run_sweeps(config, execution):
    """One sweep, through the engine with the run's execution options."""
    grid = engine.Grid({**config.grid.to_dict(), "scale": (1.0,)}, data_axes=("seed",))
    result = engine.run_program(
        toy_program(),
        grid,
        name="metrics",
        num_steps=config.num_steps,
        log_every=2,
        execution=execution,
    )
    return {"metrics": result}


def analyze(config, sweeps):
    """Claim T1: the loss at the last logged step is below the first, paired over seeds."""
    result = sweeps["metrics"]
    loss = result.metrics["loss"]
    drop = (loss[..., 0] - loss[..., -1]).mean(axis=tuple(range(1, loss.ndim - 1)))
    mean, low, high = claims.mean_ci(drop)
    claim = claims.Claim(
        "T1",
        "GD lowers the training loss (first minus last logged loss, paired over seeds).",
        claims.verdict_above((float(low), float(high)), 0.0),
        float(mean),
        (float(low), float(high)),
    )
    sanity = claims.Claim(
        "S1",
        "Every seed of the grid is present.",
        "holds" if len(result.axes["seed"]) else "fails",
        float(np.size(result.axes["seed"])),
        kind="sanity",
    )
    return [claim, sanity], {}


EXPERIMENT = Experiment(name="toy", validate=validate, run_sweeps=run_sweeps, analyze=analyze)
