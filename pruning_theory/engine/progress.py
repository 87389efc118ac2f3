"""Console progress of sweeps: a compile notice, a tqdm bar, an ETA, a line on resume.

A `ProgressReporter` (`execution`) is any callable ``(step, num_steps, elapsed_s)`` called
after each segment. `SweepProgress` is the one the runner uses; the driver also calls its
optional hooks (`Notices`): ``compiling`` before the first segment (the segment program is
compiled on its first call, which takes seconds to minutes and printed nothing before),
``restored`` when a checkpoint was resumed, and ``close`` when the sweep is done.

The bar is tqdm's, written only when the stream is a terminal; the notices are plain lines
on every stream, so a batch job's log shows what ran. The ETA is measured from the end of the
first segment (whose time is mostly compilation), not from the start.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import IO, Protocol, runtime_checkable

import tqdm


@runtime_checkable
class Notices(Protocol):
    """Hooks a progress reporter may have besides ``__call__`` (the driver checks for them)."""

    def compiling(self, summary: str) -> None:
        """Before the sweep compiles."""

    def restored(self, summary: str) -> None:
        """When the sweep resumed from a checkpoint."""

    def close(self) -> None:
        """When the sweep is done or stopped."""


def grid_summary(axes: Mapping[str, int], num_steps: int, log_every: int, num_chunks: int) -> str:
    """``24 cells (seed 4 x pruning_rate 6), 200 steps in 4 segments, 1 chunk``."""
    cells = 1
    for size in axes.values():
        cells *= size
    shape = " x ".join(f"{name} {size}" for name, size in axes.items())
    segments = num_steps // log_every
    return (
        f"{cells} cells ({shape}), {num_steps} steps in {segments} segment"
        f"{'s' if segments != 1 else ''} of {log_every}, {num_chunks} chunk"
        f"{'s' if num_chunks != 1 else ''}"
    )


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{seconds:.1f}s"


class SweepProgress:
    """One sweep's console progress, labelled ``label`` (e.g. ``[sweep 2 of 4] yang2023/x``).

    Args:
      label: what the lines and the bar name.
      stream: where to write (stderr by default); the bar only when it is a terminal.
      bar: force the bar on or off; None: on when ``stream`` is a terminal.
    """

    def __init__(self, label: str, *, stream: IO[str] | None = None, bar: bool | None = None):
        self.label = label
        self.stream = stream or sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.show_bar = isatty() if bar is None else bar
        self._bar: tqdm.tqdm | None = None
        self._first: tuple[int, float] | None = None  # (step, elapsed) after the first segment
        self._last = (0, 0, 0.0)  # (step, num_steps, elapsed) of the last report
        self.lines: list[str] = []  # every notice written, for tests and logs

    def _line(self, text: str) -> None:
        self.lines.append(text)
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def compiling(self, summary: str) -> None:
        """Announces the compile of the sweep (cells, steps, chunks)."""
        self._line(f"{self.label}: compiling and running {summary}")

    def restored(self, summary: str) -> None:
        """Says what a resumed sweep restored from its checkpoint."""
        self._line(f"{self.label}: resumed from its checkpoint: {summary}")

    def eta_s(self, step: int, num_steps: int, elapsed_s: float) -> float | None:
        """Seconds left at the rate measured since the first segment; None before two."""
        if self._first is None or step <= self._first[0]:
            return None
        first_step, first_elapsed = self._first
        rate = (elapsed_s - first_elapsed) / (step - first_step)
        return rate * (num_steps - step)

    def __call__(self, step: int, num_steps: int, elapsed_s: float) -> None:
        if self._first is None:
            self._first = (step, elapsed_s)
            self._line(
                f"{self.label}: first segment done at step {step} of {num_steps} in "
                f"{_duration(elapsed_s)} (compile included)"
            )
        self._last = (step, num_steps, elapsed_s)
        if not self.show_bar:
            return
        if self._bar is None:
            self._bar = tqdm.tqdm(
                total=num_steps,
                desc=self.label,
                unit="step",
                file=self.stream,
                dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                "[{elapsed}{postfix}]",
            )
        eta = self.eta_s(step, num_steps, elapsed_s)
        self._bar.set_postfix_str(
            "eta after the next segment" if eta is None else f"eta {_duration(eta)}",
            refresh=False,
        )
        self._bar.update(step - self._bar.n)

    def close(self) -> None:
        """Closes the progress bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        step, num_steps, elapsed = self._last
        if step and step == num_steps:
            self._line(f"{self.label}: done, {step} steps in {_duration(elapsed)}")
        elif step:
            self._line(f"{self.label}: stopped at step {step} of {num_steps}")


def sweep_counter(prefix: str, count: int | None, **options):
    """A progress factory for `Execution.progress`: the i-th sweep it is called for gets a
    `SweepProgress` labelled ``[sweep i of n] <prefix>/<name>`` (``[sweep i]`` when the
    number of sweeps of the job is not known)."""
    started = {"count": 0}

    def make(name: str) -> SweepProgress:
        started["count"] += 1
        of = "" if count is None else f" of {count}"
        return SweepProgress(f"[sweep {started['count']}{of}] {prefix}/{name}", **options)

    return make
