"""What the command-line entry points share: one-line errors with exit codes, ``--verbose``.

Every failure a user can meet ends in one line on stderr, ``error: ...``, naming the file or
value and the remedy, and an exit status: `USAGE` (2) for a bad command line or config, found
before anything runs; `RUNTIME` (1) for everything after (a busy or finished work directory,
a corrupt checkpoint, a full disk, or a bug). ``--verbose`` prints the traceback before it.
A run stopped by SIGTERM exits 75 (`launch.preemption`).
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from absl import app, flags

from pruning_theory.workdir import WorkdirBusy

RUNTIME, USAGE = 1, 2

_VERBOSE = flags.DEFINE_bool("verbose", False, "On an error, print its whole traceback too.")

# Failures the code reports on purpose, each with a message that names what and what to do;
# any other exception is a bug, still reported in one line.
EXPECTED = (ValueError, OSError, WorkdirBusy)


def one_line(error: BaseException) -> str:
    """The message of ``error`` on one line; a message that embeds a traceback (absl's config
    file errors) keeps its first and last lines, the last being the original error."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    if len(lines) > 2 and "Traceback" in str(error):
        lines = [lines[0], lines[-1]]
    return " ".join(lines)


def _verbose() -> bool:
    return _VERBOSE.value if flags.FLAGS.is_parsed() else "--verbose" in sys.argv


def fail(error: BaseException, status: int) -> None:
    """Writes ``error: <message>`` (the traceback first under ``--verbose``) and exits."""
    if _verbose():
        traceback.print_exception(error)
    message = one_line(error)
    if isinstance(error, flags.Error):
        message += " (see --helpfull)"
    elif not isinstance(error, EXPECTED):
        message = (
            f"{type(error).__name__}: {message} (an internal error; rerun with --verbose for "
            "the traceback)"
        )
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    sys.exit(status)


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing (``app.run(..., flags_parser=parse_flags)``), failing in one line
    with `USAGE` instead of a usage dump or a traceback."""
    with usage_errors():
        try:
            return flags.FLAGS(argv)
        except (KeyError, AttributeError) as error:  # ml_collections: an unknown override
            raise ValueError(
                f"unknown config field {one_line(error).strip(chr(34))} in the --config.* "
                "overrides; check its name against the config file"
            ) from error


@contextlib.contextmanager
def usage_errors() -> Iterator[None]:
    """Inside: reading flags, the config and checking them; a failure exits with `USAGE`."""
    try:
        yield
    except Exception as error:  # flags.Error, config file and override errors, ValueError
        fail(error, USAGE)


@contextlib.contextmanager
def runtime_errors(passing: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Inside: the run itself; any failure but ``passing`` ends in one line with `RUNTIME`
    (`USAGE` for an ``app.UsageError``)."""
    try:
        yield
    except passing:
        raise
    except app.UsageError as error:
        fail(error, USAGE)
    except Exception as error:
        fail(error, RUNTIME)


def with_errors(main: Callable[[list[str]], Any]) -> Callable[[list[str]], Any]:
    """``main`` with every failure as one line (`runtime_errors`), for ``app.run``."""

    def wrapped(argv: list[str]) -> Any:
        with runtime_errors():
            return main(argv)

    return wrapped
