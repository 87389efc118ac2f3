"""A stopwatch of nested stages that also books every JAX compile to the stage it happened in.

`StageClock.stage(name)` is a context manager; stages nest, and each stage's ``seconds`` is
its *exclusive* wall time (a nested stage's time is booked to the nested stage only), so the
stages of one run add up to its wall time. While the clock is `listening`, the duration of
every tracing, lowering and XLA compile that JAX reports through `jax.monitoring` is booked to
the innermost open stage as its ``compile_s`` (part of that stage's ``seconds``).
"""

from __future__ import annotations

import collections
import contextlib
import time
from collections.abc import Iterator

import jax

# What JAX reports for one jit compile (jax._src.dispatch): tracing to a jaxpr, lowering to
# MLIR, and the XLA compile (or its retrieval from the persistent compilation cache).
COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
OUTSIDE = "(outside)"


class StageClock:
    """Exclusive wall seconds and compile seconds per named stage (see the module docstring).

    Attributes:
      seconds: stage name -> exclusive wall seconds (summed over every time it was open).
      compile_s: stage name -> seconds of JAX compiles while it was the innermost stage.
      compiles: stage name -> number of XLA compiles while it was the innermost stage.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.compile_s: dict[str, float] = collections.defaultdict(float)
        self.compiles: dict[str, int] = collections.defaultdict(int)
        self._stack: list[str] = []
        self._mark = time.perf_counter()

    def _book(self) -> None:
        now = time.perf_counter()
        if self._stack:
            self.seconds[self._stack[-1]] += now - self._mark
        self._mark = now

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Books the wall time inside the block to ``name`` (minus nested stages)."""
        self._book()
        self._stack.append(name)
        try:
            yield
        finally:
            self._book()
            self._stack.pop()

    def _listen(self, event: str, duration: float, **kwargs) -> None:
        if event in COMPILE_EVENTS:
            name = self._stack[-1] if self._stack else OUTSIDE
            self.compile_s[name] += duration
            self.compiles[name] += event == COMPILE_EVENTS[-1]

    @contextlib.contextmanager
    def listening(self) -> Iterator[StageClock]:
        """Books JAX's compile events while the block runs."""
        jax.monitoring.register_event_duration_secs_listener(self._listen)
        try:
            yield self
        finally:
            jax.monitoring.unregister_event_duration_listener(self._listen)
