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
from collections.abc import Mapping, Sequence
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


LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")  # a run's label in the report


def parse_labelled(items: Sequence[str]) -> list[tuple[str | None, str]]:
    """``label=path`` or ``path`` items of ``--workdirs`` as ``(label or None, path)``.

    An item is labelled when the text before its first ``=`` is a plain label (letters,
    digits, ``_.-``, no ``/``); so ``tiny=runs/a,cpu=runs/b`` puts two runs of one experiment
    side by side, and a path that merely holds an ``=`` later on stays a path.
    """
    parsed = []
    for item in items:
        label, sep, path = str(item).partition("=")
        if sep and LABEL.fullmatch(label) and path:
            parsed.append((label, path))
        else:
            parsed.append((None, str(item)))
    return parsed


def figure_captions(directory: pathlib.Path) -> dict[str, str]:
    """Figure stem -> caption from a work directory's ``figures.json`` (the runner writes
    ``{name: {"png", "pdf", "caption"}}``); entries of another shape are left out, an absent
    file gives none.

    Raises:
      ValueError: naming the file if it is a symlink or not valid JSON.
    """
    path = directory / "figures.json"
    if not (path.exists() or path.is_symlink()):
        return {}
    document = read_json(path)
    if not isinstance(document, Mapping):
        return {}
    return {
        name: entry["caption"]
        for name, entry in document.items()
        if NAME.fullmatch(str(name))
        and isinstance(entry, Mapping)
        and isinstance(entry.get("caption"), str)
    }


def shown_path(workdir: pathlib.Path, out: pathlib.Path) -> str:
    """A work directory as the report shows it: relative to the report when the two share the
    report's parent folder (``../yang2023`` for ``make reproduce``), else its name alone; never
    an absolute local path."""
    workdir, out = pathlib.Path(workdir).resolve(), pathlib.Path(out).resolve()
    if workdir == out.parent or out.parent in workdir.parents:
        return os.path.relpath(workdir, out)
    return workdir.name


def commit_warnings(commits: Mapping[str, str]) -> list[str]:
    """Warnings when runs (label -> recorded git commit) come from different commits or from
    a commit with local changes (``-dirty``), or did not record theirs."""
    warnings = []
    clean = {label: str(commit).removesuffix("-dirty") for label, commit in commits.items()}
    if len(set(clean.values())) > 1:
        listed = ", ".join(f"{label} at {commit}" for label, commit in commits.items())
        warnings.append(
            f"Warning: these runs come from {len(set(clean.values()))} different commits "
            f"({listed}); their numbers may not be comparable."
        )
    dirty = [label for label, commit in commits.items() if str(commit).endswith("-dirty")]
    if dirty:
        warnings.append(
            f"Warning: {', '.join(dirty)} ran on a commit with local changes (-dirty): the "
            "code that produced it is not in any commit."
        )
    unknown = [label for label, commit in commits.items() if commit in ("unknown", "")]
    if unknown:
        warnings.append(f"Warning: {', '.join(unknown)} recorded no git commit.")
    return warnings
