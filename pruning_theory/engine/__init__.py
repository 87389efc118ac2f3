"""The grid engine: compiled sweeps of whole grids of cells (see `sweep`)."""

from pruning_theory.engine.results import NOT_DIVERGED, SweepResult

__all__ = ["NOT_DIVERGED", "SweepResult"]
