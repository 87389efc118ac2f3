"""Live metrics: every segment's scalars per cell in TensorBoard event files, with hparams.

The event files are read back here record by record (TFRecord framing: length, its CRC, the
serialized `Event`, its CRC) with tensorboardX's protos, as TensorBoard reads them.
"""

import pathlib
import struct

import numpy as np
import pytest
from tensorboardX.proto import event_pb2, plugin_hparams_pb2

from pruning_theory import engine
from pruning_theory.engine import tensorboard
from tests.engine.toy import toy_program


def read_events(folder: pathlib.Path) -> list[event_pb2.Event]:
    """Every event of every event file in ``folder``, in file order."""
    events = []
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            record = data[offset + 12 : offset + 12 + length]
            events.append(event_pb2.Event.FromString(record))
            offset += 12 + length + 4
    return events


def scalars(events) -> dict[str, dict[int, float]]:
    """tag -> {step: value} of the scalar summaries."""
    found: dict[str, dict[int, float]] = {}
    for event in events:
        for value in event.summary.value:
            if value.WhichOneof("value") == "simple_value":
                found.setdefault(value.tag, {})[event.step] = value.simple_value
    return found


def hparams(events) -> dict[str, object]:
    """The hparams of a run's session start record."""
    for event in events:
        for value in event.summary.value:
            if value.tag == "_hparams_/session_start_info":
                data = plugin_hparams_pb2.HParamsPluginData.FromString(
                    value.metadata.plugin_data.content
                )
                return {
                    k: getattr(v, v.WhichOneof("kind"))
                    for k, v in data.session_start_info.hparams.items()
                }
    raise AssertionError("no hparams record")


GRID = engine.Grid(
    {"seed": [0, 1], "learning_rate": [0.01, 0.05, 0.1], "scale": [1.0]}, data_axes=("seed",)
)


def test_every_cell_logs_its_scalars_and_hparams(tmp_path):
    options = engine.Execution(metrics_dir=tmp_path)
    result = engine.run_program(
        toy_program(), GRID, name="toy", num_steps=6, log_every=2, execution=options
    )
    folders = sorted(p.name for p in (tmp_path / "toy").iterdir())
    assert len(folders) == 6
    for s, seed in enumerate(result.axes["seed"]):
        for r, rate in enumerate(result.axes["learning_rate"]):
            name = tensorboard.cell_name({"seed": seed, "learning_rate": rate, "scale": 1.0})
            events = read_events(tmp_path / "toy" / name)
            logged = scalars(events)
            assert set(logged) == {"loss"}  # the vector metric "weights" is not a scalar
            assert sorted(logged["loss"]) == [2, 4, 6]
            np.testing.assert_allclose(
                [logged["loss"][step] for step in (2, 4, 6)],
                result.metrics["loss"][s, r, 0],
                rtol=1e-6,
            )
            assert hparams(events) == pytest.approx(
                {"sweep": "toy", "seed": seed, "learning_rate": rate, "scale": 1.0}
            )


def test_metrics_are_on_disk_while_the_sweep_runs(tmp_path):
    """At each segment's progress call, the steps logged so far are readable."""
    seen = []

    def progress(step, num_steps, elapsed_s):
        folder = tmp_path / "live" / "seed=1,learning_rate=0.05,scale=1"
        seen.append(sorted(scalars(read_events(folder))["loss"]))

    options = engine.Execution(metrics_dir=tmp_path, progress=lambda name: progress)
    engine.run_program(
        toy_program(), GRID, name="live", num_steps=6, log_every=2, execution=options
    )
    assert seen == [[2], [2, 4], [2, 4, 6]]


def test_chunks_skip_padding_cells(tmp_path):
    """Three model cells in chunks of two: the padding cell writes nothing twice."""
    grid = engine.Grid({"seed": [0], "learning_rate": [0.01, 0.05, 0.1], "scale": [1.0]}, ("seed",))
    compiled = engine.build(toy_program(), grid, num_steps=4, log_every=2)
    budget = compiled.peak_bytes(2)
    options = engine.Execution(metrics_dir=tmp_path, memory_budget_bytes=budget)
    result = engine.run_program(
        toy_program(), grid, name="chunked", num_steps=4, log_every=2, execution=options
    )
    for r, rate in enumerate(result.axes["learning_rate"]):
        name = tensorboard.cell_name({"seed": 0, "learning_rate": rate, "scale": 1.0})
        logged = scalars(read_events(tmp_path / "chunked" / name))["loss"]
        np.testing.assert_allclose(
            [logged[2], logged[4]], result.metrics["loss"][0, r, 0], rtol=1e-6
        )


def test_cell_names_are_short_and_distinct():
    assert tensorboard.cell_name({"pruning_rate": 0.5, "seed": 3.0}) == "pruning_rate=0.5,seed=3"
    assert tensorboard.cell_name({"a": np.float32(0.1)}) != tensorboard.cell_name({"a": 0.1001})
