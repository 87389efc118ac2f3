"""Nested overrides of ml_collections configs (controls, variants of a sweep inside one job)."""

from __future__ import annotations

from collections.abc import Mapping

import ml_collections


def with_overrides(
    config: ml_collections.ConfigDict, overrides: Mapping[str, Mapping]
) -> ml_collections.ConfigDict:
    """A copy of ``config`` with ``{section: {field: value}}`` overrides applied."""
    copy = ml_collections.ConfigDict(config.to_dict())
    for section, values in overrides.items():
        copy[section].update(dict(values))
    return copy
