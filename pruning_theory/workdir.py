"""The work directory: atomic writes, the finished-run markers, preparing a directory.

Every file is written atomically (temporary file + rename) and a finished work directory is
never overwritten unless the caller says so explicitly.
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from typing import Any

import numpy as np

FINISHED_MARKER = "claims.json"
SWEEPS_MARKER = "sweeps.json"


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
    directory = pathlib.Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"workdir {str(directory)!r} exists and is not a directory")
    if (directory / marker).exists() and not overwrite:
        raise FileExistsError(
            f"workdir {str(directory)!r} holds a finished sweep ({marker}); "
            "choose another workdir or pass --overwrite to replace it"
        )
    directory.mkdir(parents=True, exist_ok=True)
    return directory
