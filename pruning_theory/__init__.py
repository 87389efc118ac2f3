"""Pruning theory: research code on pruning neural networks in JAX."""
