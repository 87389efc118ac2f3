"""Console progress: compile notice, ETA after the first segment, resume line, quiet bar."""

import io
import threading

import pytest

from pruning_theory import engine
from pruning_theory.engine import progress
from tests.engine.toy import toy_program

GRID = engine.Grid({"seed": [0, 1], "learning_rate": [0.01, 0.05], "scale": [1.0]}, ("seed",))


def test_notices_name_the_sweep_cells_and_steps_and_no_bar_off_a_terminal():
    stream = io.StringIO()  # not a terminal: no bar, plain lines only
    reporter = progress.SweepProgress("[sweep 1 of 2] toy/a", stream=stream)
    options = engine.Execution(progress=lambda name: reporter)
    engine.run_program(toy_program(), GRID, name="a", num_steps=6, log_every=2, execution=options)
    lines = stream.getvalue().splitlines()
    assert lines[0] == (
        "[sweep 1 of 2] toy/a: compiling and running 4 cells (seed 2 x learning_rate 2 x "
        "scale 1), 6 steps in 3 segments of 2, 1 chunk"
    )
    assert lines[1].startswith("[sweep 1 of 2] toy/a: first segment done at step 2 of 6 in ")
    assert lines[2].startswith("[sweep 1 of 2] toy/a: done, 6 steps in ")
    assert len(lines) == 3 and "\r" not in stream.getvalue()


def test_eta_is_measured_from_the_first_segment():
    reporter = progress.SweepProgress("x", stream=io.StringIO())
    reporter(10, 100, 30.0)  # the first segment: 30 s, mostly compilation
    assert reporter.eta_s(10, 100, 30.0) is None
    reporter(20, 100, 31.0)  # then 0.1 s per step
    assert reporter.eta_s(20, 100, 31.0) == pytest.approx(8.0)


def test_the_bar_is_drawn_on_request():
    stream = io.StringIO()
    reporter = progress.SweepProgress("x", stream=stream, bar=True)
    for step in (2, 4, 6):
        reporter(step, 6, float(step))
    reporter.close()
    assert "6/6" in stream.getvalue() and "eta" in stream.getvalue()


def test_a_resumed_sweep_says_what_it_restored(tmp_path):
    class Stop:
        def __init__(self, event):
            self.event = event

        def __call__(self, step, num_steps, elapsed_s):
            self.event.set()

    stop = threading.Event()
    first = engine.Execution(checkpoint_dir=tmp_path, stop=stop, progress=lambda name: Stop(stop))
    with pytest.raises(engine.Preempted):
        engine.run_program(toy_program(), GRID, name="a", num_steps=6, log_every=2, execution=first)
    stream = io.StringIO()
    reporter = progress.SweepProgress("toy/a", stream=stream)
    again = engine.Execution(checkpoint_dir=tmp_path, progress=lambda name: reporter)
    engine.run_program(toy_program(), GRID, name="a", num_steps=6, log_every=2, execution=again)
    assert reporter.lines[0] == "toy/a: resumed from its checkpoint: chunk 1 of 1 at step 2 of 6"


def test_sweep_counter_numbers_the_sweeps_of_a_job():
    make = progress.sweep_counter("yang2023", 3, stream=io.StringIO())
    assert make("metrics").label == "[sweep 1 of 3] yang2023/metrics"
    assert make("companion").label == "[sweep 2 of 3] yang2023/companion"
    assert progress.sweep_counter("x", None, stream=io.StringIO())("a").label == "[sweep 1] x/a"
