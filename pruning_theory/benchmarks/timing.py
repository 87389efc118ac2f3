"""Wall-clock timing, compile counting and the machine's measured dense-matmul peak."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import platform
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

# The event XLA's compile path records once per backend compile (jax._src.dispatch).
BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


@dataclasses.dataclass
class CompileCounter:
    """Counts backend compiles (and their seconds) while entered; use as a context manager."""

    count: int = 0
    seconds: float = 0.0

    def _listen(self, event: str, duration: float, **kwargs) -> None:
        if event == BACKEND_COMPILE_EVENT:
            self.count += 1
            self.seconds += duration

    def __enter__(self) -> CompileCounter:
        jax.monitoring.register_event_duration_secs_listener(self._listen)
        return self

    def __exit__(self, *exc) -> None:
        jax.monitoring.unregister_event_duration_listener(self._listen)


def timed(function: Callable[..., Any], *args) -> tuple[Any, float]:
    """``function(*args)`` and its wall seconds, waiting for every device result."""
    start = time.perf_counter()
    out = jax.block_until_ready(function(*args))
    return out, time.perf_counter() - start


def best_timed(
    function: Callable[..., Any], *args, min_total_s: float = 3.0, max_repeats: int = 5
) -> tuple[Any, float]:
    """``function(*args)`` and its best wall seconds over repeats (warm calls only).

    Repeats until ``min_total_s`` seconds were spent or ``max_repeats`` calls were made, so a
    sub-second measurement is the best of several (less exposed to other processes) while a
    long one is taken once.
    """
    out, best = timed(function, *args)
    spent, calls = best, 1
    while spent < min_total_s and calls < max_repeats:
        out, seconds = timed(function, *args)
        best, spent, calls = min(best, seconds), spent + seconds, calls + 1
    return out, best


def matmul_peak(size: int = 2048, repeats: int = 5) -> float:
    """The best float32 FLOP/s of a ``[size, size] @ [size, size]`` jnp.dot in this process.

    The denominator of the utilization: what this backend reaches on its most favourable
    dense kernel at the moment of measuring (contention from other processes included).
    """
    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (size, size), jnp.float32)
    dot = jax.jit(jnp.dot)
    jax.block_until_ready(dot(a, b))
    best = min(timed(dot, a, b)[1] for _ in range(repeats))
    return 2 * size**3 / best


def copy_bandwidth(megabytes: int = 256, repeats: int = 5) -> float:
    """The best bytes/s (read + write) of a large float32 ``2 * x`` in this process.

    The denominator of a roofline argument: a step whose FLOPs per byte is below
    ``matmul_peak / copy_bandwidth`` is bound by memory traffic, not arithmetic.
    """
    x = jnp.ones((megabytes * 2**20 // 4,), jnp.float32)
    double = jax.jit(lambda v: 2 * v)
    jax.block_until_ready(double(x))
    best = min(timed(double, x)[1] for _ in range(repeats))
    return 2 * x.nbytes / best


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages of the machine."""
    return os.getloadavg()


def machine() -> dict:
    """The backend, devices, CPU model and core count, memory and versions of this process."""
    model = "unknown"
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        model = names[0] if names else model
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "memory_gib": round(pages / 2**30, 1),
        "python": platform.python_version(),
        "jax": jax.__version__,
    }
