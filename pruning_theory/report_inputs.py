"""What the report reads from a work directory, treated as untrusted input.

A work directory may come from another machine or person, so the report (`report`) reads
only regular files directly inside it (never through a symlink, which could point anywhere),
accepts only experiment, config, claim and figure names from a small alphabet (they become
file names and anchors), checks the claims document's shape and vocabulary, and escapes every
free text it puts into markdown (claim statements, notes, provenance).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import stat
from collections.abc import Mapping
from typing import Any

from pruning_theory.claims import KINDS, VERDICTS

EXPERIMENT = re.compile(r"[a-z][a-z0-9_]{0,63}")  # a module name under pruning_theory.papers
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")  # config names, figure stems
CLAIM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,39}")
# Markdown's active characters (CommonMark lets a backslash escape any ASCII punctuation): code,
# emphasis, raw HTML and entities, and a "]" that would close a link or image ("](", "][");
# other brackets stay readable ("seeds [0, 1]"). "|" is left to the table cell formatter.
_MARKDOWN_ACTIVE = re.compile(r"([\\`*_<>&~]|\](?=[(\[]))")


def read_regular(path: pathlib.Path) -> bytes:
    """The bytes of a regular file, refusing a symlink (even one swapped in after a check).

    Raises:
      ValueError: naming the file if it is a symlink, not a regular file, or unreadable.
    """
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as error:
        raise ValueError(
            f"{str(path)!r} cannot be read as a regular file ({error.strerror}); the report "
            "reads only regular files inside a work directory, never symlinks"
        ) from error
    with os.fdopen(handle, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise ValueError(f"{str(path)!r} is not a regular file")
        return file.read()


def read_json(path: pathlib.Path) -> Any:
    """A JSON file read by `read_regular`.

    Raises:
      ValueError: naming the file if it is not a regular file or not valid JSON.
    """
    try:
        return json.loads(read_regular(path))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{str(path)!r} is not valid JSON ({error})") from error


def figures(directory: pathlib.Path) -> tuple[pathlib.Path, ...]:
    """The PNG figures of a work directory: regular files (no symlinks) with plain names."""
    return tuple(
        path
        for path in sorted(directory.glob("*.png"))
        if NAME.fullmatch(path.stem) and path.is_file() and not path.is_symlink()
    )


def _check(pattern: re.Pattern, value: Any, what: str, path: pathlib.Path) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(
            f"{str(path)!r} holds an invalid {what} {value!r} (expected letters, digits, "
            "'_', '.', '-')"
        )


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def check_claims(document: Any, path: pathlib.Path) -> None:
    """Checks a claims document's names, vocabulary and number fields before it is shown.

    Raises:
      ValueError: naming the file and the first bad field.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("claims"), list):
        raise ValueError(f"{str(path)!r} is not a claims document (no list of claims)")
    _check(EXPERIMENT, document.get("experiment"), "experiment name", path)
    _check(NAME, document.get("config"), "config name", path)
    for claim in document["claims"]:
        if not isinstance(claim, Mapping):
            raise ValueError(f"{str(path)!r} holds a claim that is not an object: {claim!r}")
        _check(CLAIM_ID, claim.get("id"), "claim id", path)
        problems = [
            claim.get("verdict") not in VERDICTS and "verdict",
            claim.get("kind", "claim") not in KINDS and "kind",
            not isinstance(claim.get("statement"), str) and "statement",
            not (_is_number(claim.get("statistic")) and _is_number(claim.get("theory")))
            and "statistic or theory",
            claim.get("ci") is not None
            and not (
                isinstance(claim["ci"], list)
                and len(claim["ci"]) == 2
                and all(map(_is_number, claim["ci"]))
            )
            and "ci",
        ]
        bad = [problem for problem in problems if problem]
        if bad:
            raise ValueError(f"{str(path)!r}: claim {claim['id']!r} has an invalid {bad[0]}")


def escape_markdown(text: str) -> str:
    """Free text as literal markdown: active characters backslash-escaped, one line."""
    return _MARKDOWN_ACTIVE.sub(r"\\\1", " ".join(str(text).split()))


def markdown_safe(tree: Any) -> Any:
    """A JSON tree with every string `escape_markdown`-ed (numbers and keys kept)."""
    if isinstance(tree, Mapping):
        return {key: markdown_safe(value) for key, value in tree.items()}
    if isinstance(tree, list | tuple):
        return [markdown_safe(value) for value in tree]
    return escape_markdown(tree) if isinstance(tree, str) else tree


def fence(text: str, info: str = "") -> list[str]:
    """``text`` as a fenced code block whose fence no backtick run inside can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return [f"{ticks}{info}", text, ticks]
