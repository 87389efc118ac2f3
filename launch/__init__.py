"""Thin absl entry points and ml_collections configs; all logic lives in pruning_theory."""
