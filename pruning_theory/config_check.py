"""Checks every config gets before its experiment's own ``validate``: no non-finite number.

A NaN or Inf anywhere in a config (a learning rate, an init scale, a grid axis, a control's
override) would train every cell into NaN and report it as divergence; the runner refuses it
before anything is compiled.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np


def _leaves(tree: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(tree, Mapping) or hasattr(tree, "items"):  # ConfigDicts too
        for key, value in tree.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(tree, list | tuple | np.ndarray):
        for index, value in enumerate(tree):
            yield from _leaves(value, f"{path}[{index}]")
    else:
        yield path, tree


def _is_non_finite(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, numbers.Number | np.number):
        return False
    return not bool(np.isfinite(value))


def check_finite(config: Any) -> None:
    """Refuses a config holding NaN or +-Inf anywhere (nested sections, tuples, overrides).

    Args:
      config: an `ml_collections.ConfigDict` or nested mappings.

    Raises:
      ValueError: naming the first non-finite value by its dotted path, e.g.
        ``config value train.learning_rate = inf is not a finite number``.
    """
    for path, value in _leaves(config, ""):
        if _is_non_finite(value):
            raise ValueError(
                f"config value {path} = {value!r} is not a finite number; every number of a "
                "config must be finite"
            )
