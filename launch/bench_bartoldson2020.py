r"""bartoldson2020 training: the vmapped grid, the per-cell loop and a PyTorch loop over cells.

    python -m launch.bench_bartoldson2020 --variant=cpu --epochs=3 --torch_cells=3

Takes the main sweep of a config variant (targets x retrain periods x seeds), shortened to
``--epochs`` epochs with a prune at every epoch's end in every cell (so the pruning branch is
timed too; noise and flatness off), as the experiment itself builds it (`recording.dry_run`),
and times, warm (compiles apart):

* the vmapped grid: every cell in one ``jit(vmap)`` segment program (`benchmarks.cells`);
* the per-cell loop: the same program compiled for one cell and called for every cell;
* the PyTorch loop over the first ``--torch_cells`` cells (`torch_reference.bn_mlp_pruning`,
  skipped without torch or for another model than the BN-MLP): the same network, data,
  batch size, Adam and pruning at every epoch's end.

It prints a markdown table in cell-epochs per second (and milliseconds per cell-epoch).
"""

import functools
import os
import time

import jax
from absl import app, flags

from launch.configs import bartoldson2020 as configs
from pruning_theory.benchmarks import cells, recording, timing
from pruning_theory.papers.bartoldson2020 import setup as bartoldson2020_setup

_VARIANT = flags.DEFINE_enum("variant", "cpu", ["tiny", "cpu"], "Config variant to time.")
_EPOCHS = flags.DEFINE_integer("epochs", 3, "Epochs timed per program (>= 2).")
_TORCH_CELLS = flags.DEFINE_integer("torch_cells", 3, "Cells of the PyTorch loop (0: none).")


def shortened_config(variant: str, epochs: int):
    """The variant with ``epochs`` epochs, one retrain period, a prune at every epoch's end."""
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


def main_sweep(config) -> recording.SweepRecord:
    """The first sweep the experiment starts for ``config`` (none is trained)."""
    records, stopped = recording.dry_run(config)
    if not records:
        raise RuntimeError(f"the dry run recorded no sweep ({stopped})")
    return records[0]


def torch_loop(config, record: recording.SweepRecord, num_cells: int) -> tuple[int, float]:
    """(cells, seconds) of the PyTorch loop over the first ``num_cells`` (seed, target) cells."""
    from pruning_theory.benchmarks import torch_reference

    data = bartoldson2020_setup.make_setup(config).data
    names = bartoldson2020_setup.METHODS
    cell_list = [
        (int(seed), names[int(target)])
        for seed in record.grid.axes["seed"]
        for target in record.grid.axes["target"]
    ][:num_cells]
    batch = config.train.batch_size
    run = functools.partial(
        torch_reference.bn_mlp_pruning,
        y_train=data.y_train,
        y_test=data.y_test,
        mean=data.mean,
        std=data.std,
        widths=tuple(config.model.widths),
        batch_size=batch,
        learning_rate=config.train.learning_rate,
        prune_fraction=0.1,
        eval_batch_size=config.train.eval_batch_size,
    )
    # Warm-up (torch's one-off initialization): one cell, one epoch of two batches.
    run(cell_list[:1], x_train=data.x_train[: 2 * batch], x_test=data.x_test, num_epochs=1)
    started = time.perf_counter()
    run(cell_list, x_train=data.x_train, x_test=data.x_test, num_epochs=config.train.num_epochs)
    return len(cell_list), time.perf_counter() - started


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    if _EPOCHS.value < 2 or _TORCH_CELLS.value < 0:
        raise app.UsageError("--epochs must be >= 2 and --torch_cells >= 0")
    load = [round(x, 2) for x in timing.load_average()]
    config = shortened_config(_VARIANT.value, _EPOCHS.value)
    record = main_sweep(config)
    run = dict(num_steps=record.num_steps, log_every=record.log_every)
    epochs = record.num_steps // record.log_every
    rows = []
    for label, side in (
        ("vmapped grid (one program, all cells)", cells.run_grid),
        ("per-cell loop (one-cell program in a Python loop)", cells.run_per_cell),
    ):
        result = side(record.program, record.grid, **run)
        rows.append((label, record.num_cells, result.compile_s, result.warm_s))
    torch_note = "PyTorch loop: not run (--torch_cells=0)"
    if _TORCH_CELLS.value and config.model.name != "bn_mlp":
        torch_note = f"PyTorch loop: not run (model {config.model.name}, reference is BN-MLP)"
    elif _TORCH_CELLS.value and not torch_available():
        torch_note = "PyTorch loop: not run (torch not installed; the bench extra)"
    elif _TORCH_CELLS.value:
        count, seconds = torch_loop(config, record, _TORCH_CELLS.value)
        rows.append((f"PyTorch loop ({count} cells)", count, float("nan"), seconds))
        torch_note = ""
    print(
        f"bartoldson2020 `{_VARIANT.value}` main sweep ({record.name}), {epochs} epochs of "
        f"{record.log_every} steps, on {jax.devices()[0].device_kind} ({os.cpu_count()} cores, "
        f"{timing.machine()['cpu_model']}); load average {load} at start, "
        f"{[round(x, 2) for x in timing.load_average()]} at end. {torch_note}\n"
    )
    print("| program | cells | compile s | warm s | ms / cell-epoch | cell-epochs / s |")
    print("|---|---|---|---|---|---|")
    for label, count, compile_s, seconds in rows:
        per = seconds / (count * epochs)
        print(f"| {label} | {count} | {compile_s:.1f} | {seconds:.2f} | {1000 * per:.1f} | "
              f"{1 / per:.1f} |")  # fmt: skip


if __name__ == "__main__":
    app.run(main)
