"""SIGTERM from the first line of an entry point: a stopped run exits 75, whatever it saved kept.

Imports nothing beyond the standard library, so an entry point installs `exit_on_sigterm`
before its slow imports (JAX, the experiments). Until the run starts a SIGTERM exits at once:
nothing has been written. Once it runs, `stop_on_sigterm` replaces it by a stop request the
sweep honours at its next segment boundary, after saving (BUILD.md, "Preemption").
"""

from __future__ import annotations

import os
import signal
import threading

PREEMPTED_EXIT_CODE = 75  # EX_TEMPFAIL: stopped on request, state saved, rerun to resume


def _exit_while_starting(signum, frame) -> None:
    os.write(2, b"\nStopped on request while starting; nothing was written. Rerun the command.\n")
    # Unwinds (a lock or a temporary file is released); an import in progress is abandoned.
    raise SystemExit(PREEMPTED_EXIT_CODE)


def exit_on_sigterm() -> None:
    """SIGTERM exits with `PREEMPTED_EXIT_CODE` at once (for start-up and short jobs)."""
    signal.signal(signal.SIGTERM, _exit_while_starting)


def stop_on_sigterm(stop: threading.Event) -> None:
    """SIGTERM sets ``stop``: the running sweep saves at its next segment boundary and stops."""
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
