r"""Times the bartoldson2020 training program: the vmapped grid against one cell at a time.

    python -m launch.bench_bartoldson2020 --variant=cpu --epochs=3

Builds the main sweep of a config variant (targets x retrain periods x seeds, all cells in one
``jit(vmap)`` program) and a one-cell sweep of the same program, runs ``--epochs`` epochs of
each, and prints a markdown table: compile time (first epoch minus a steady epoch), seconds per
steady epoch and milliseconds per cell-epoch. The schedule is shortened to fit the epochs
(events at every epoch from 0, so the pruning branch is timed too); flatness is not timed.
"""

import jax
import numpy as np
from absl import app, flags

from launch.configs import bartoldson2020 as configs
from pruning_theory.engine import sweep
from pruning_theory.papers.bartoldson2020 import experiment as bartoldson2020
from pruning_theory.papers.bartoldson2020 import program as bartoldson2020_program
from pruning_theory.papers.bartoldson2020 import setup as bartoldson2020_setup

_VARIANT = flags.DEFINE_enum("variant", "cpu", ["tiny", "cpu"], "Config variant to time.")
_EPOCHS = flags.DEFINE_integer("epochs", 3, "Epochs timed per program (>= 2).")


def shortened_config(variant: str, epochs: int):
    config = configs.get_config(variant)
    layers = len(config.pruning.fractions)
    config.train.num_epochs = epochs
    config.train.lr_decay_epochs = (epochs - 1,)
    config.pruning.start_epochs = (0,) * layers
    config.pruning.end_epochs = (epochs - 1,) * layers
    config.grid.retrain_period = (1,)
    config.noise.enabled = False
    config.flatness.enabled = False
    return config


def time_epochs(config, setup, spec) -> tuple[int, float, float]:
    """(cells, first epoch seconds, mean seconds of the later epochs)."""
    program = bartoldson2020_program.make_program(
        config,
        setup,
        event_periods=spec.event_periods,
        default_period=spec.default_period,
        has_noise=spec.has_noise,
    )
    elapsed = [0.0]

    def record(step: int, num_steps: int, elapsed_s: float) -> None:
        elapsed.append(elapsed_s)

    steps = setup.steps_per_epoch
    sweep.run_program(
        program,
        spec.grid,
        num_steps=config.train.num_epochs * steps,
        log_every=steps,
        progress=record,
    )
    durations = np.diff(elapsed)
    return spec.grid.num_cells, float(durations[0]), float(np.mean(durations[1:]))


def main(argv):
    del argv
    if _EPOCHS.value < 2:
        raise app.UsageError("--epochs must be at least 2")
    config = shortened_config(_VARIANT.value, _EPOCHS.value)
    bartoldson2020.validate_all(config)
    setup = bartoldson2020_setup.make_setup(config)
    grid_spec = bartoldson2020.sweep_specs(config)["metrics"]
    config_one = shortened_config(_VARIANT.value, _EPOCHS.value)
    config_one.grid.update(seed=(0,), target=("largest",))
    one_spec = bartoldson2020.sweep_specs(config_one)["metrics"]
    rows = []
    for label, cfg, spec in (
        ("vmapped grid", config, grid_spec),
        ("one cell", config_one, one_spec),
    ):
        cells, first, steady = time_epochs(cfg, setup, spec)
        rows.append((label, cells, first - steady, steady, 1000 * steady / cells))
    device = jax.devices()[0]
    print(f"bartoldson2020 `{_VARIANT.value}` training program on {device.device_kind} "
          f"x{jax.device_count()} ({setup.steps_per_epoch} steps/epoch, "
          f"{config.data.num_train} train / {config.data.num_test} test images)\n")  # fmt: skip
    print("| program | cells | compile (s) | s / epoch | ms / cell-epoch |")
    print("|---|---|---|---|---|")
    for label, cells, compile_s, steady, per_cell in rows:
        print(f"| {label} | {cells} | {compile_s:.1f} | {steady:.3f} | {per_cell:.1f} |")
    speedup = rows[1][4] / rows[0][4]
    print(f"\nvmapped grid: {speedup:.1f}x less time per cell-epoch than one cell at a time")


if __name__ == "__main__":
    app.run(main)
