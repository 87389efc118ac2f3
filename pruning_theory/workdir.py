"""The work directory: atomic writes, the finished-run markers, preparing and locking one.

Every file is written atomically (temporary file + rename) and a finished work directory is
never overwritten unless the caller says so explicitly. A run holds the directory's lock
(`locked`) for its whole life, so two runs never mix their files in one directory.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import pathlib
import socket
import sys
import tempfile
from collections.abc import Iterator
from typing import Any, TextIO

import numpy as np

FINISHED_MARKER = "claims.json"
SWEEPS_MARKER = "sweeps.json"
LOCK = ".lock"


class WorkdirBusy(RuntimeError):
    """The work directory is held by another live run."""


def atomic_write(path: pathlib.Path, content: bytes) -> None:
    """Writes ``content`` to ``path`` via a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide results from other users
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: pathlib.Path, document: Any) -> None:
    """Writes ``document`` as indented JSON, atomically (numpy values as lists)."""
    atomic_write(path, (json.dumps(document, indent=2, default=_json_default) + "\n").encode())


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def prepare_workdir(
    directory: pathlib.Path, *, overwrite: bool = False, marker: str = FINISHED_MARKER
) -> pathlib.Path:
    """Creates a work directory, refusing to reuse a finished one unless ``overwrite``.

    Args:
      directory: the work directory.
      overwrite: allow replacing a finished one.
      marker: the file that marks a finished run (`SWEEPS_MARKER` for a grid shard's run).

    Raises:
      FileExistsError: naming the directory when it holds a finished sweep (its claims file)
        and ``overwrite`` is False.
      NotADirectoryError: when the path exists and is a file.
    """
    directory = check_workdir(directory, overwrite=overwrite, marker=marker)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def check_workdir(
    directory: pathlib.Path, *, overwrite: bool = False, marker: str = FINISHED_MARKER
) -> pathlib.Path:
    """`prepare_workdir`'s checks alone: refuses a file or a finished run; creates nothing."""
    directory = pathlib.Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"workdir {str(directory)!r} exists and is not a directory")
    if (directory / marker).exists() and not overwrite:
        raise FileExistsError(
            f"workdir {str(directory)!r} holds a finished sweep ({marker}); "
            "choose another workdir or pass --overwrite to replace it"
        )
    return directory


def _holder(text: str) -> str:
    fields = text.split()
    return f"pid {fields[0]} on host {fields[1]}" if len(fields) >= 2 else "an unknown process"


@contextlib.contextmanager
def locked(directory: pathlib.Path, stream: TextIO | None = None) -> Iterator[pathlib.Path]:
    """Holds the exclusive lock of a work directory (created) for the life of a run.

    The lock is an ``fcntl.flock`` on ``directory/.lock``, which holds the holder's pid and
    host while it runs and is emptied on release. The kernel drops the lock of a process that
    dies, so a non-empty lock file that can be locked is a stale one: taken over, with a note.

    Args:
      directory: the work directory.
      stream: where the stale-lock note goes (default stderr).

    Raises:
      WorkdirBusy: naming the directory and the live holder's pid and host.
      NotADirectoryError: when the path exists and is a file.
    """
    directory = pathlib.Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"workdir {str(directory)!r} exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK
    with open(path, "a+") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            file.seek(0)
            raise WorkdirBusy(
                f"workdir {str(directory)!r} is in use by another run ({_holder(file.read())}, "
                f"lock file {str(path)!r}); wait for it to finish or use another workdir"
            ) from None
        file.seek(0)
        previous = file.read().strip()
        if previous:
            (stream or sys.stderr).write(
                f"Taking over the stale lock of workdir {str(directory)!r} "
                f"({_holder(previous)}, no longer running).\n"
            )
        file.seek(0)
        file.truncate()
        file.write(f"{os.getpid()} {socket.gethostname()}\n")
        file.flush()
        try:
            yield directory
        finally:
            file.seek(0)
            file.truncate()
            file.flush()
