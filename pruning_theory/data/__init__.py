"""Datasets for the experiments; re-exports the real MNIST, MNIST-1D and CIFAR-10 loaders."""

from pruning_theory.data.cifar10 import cifar10_classification, load_cifar10
from pruning_theory.data.mnist import (
    load_mnist_idx,
    load_mnist_subset,
    mnist_classification,
    preprocess,
    read_idx,
    standardization_stats,
    stratified_split,
)
from pruning_theory.data.mnist1d import load_mnist1d

__all__ = [
    "cifar10_classification",
    "load_cifar10",
    "load_mnist1d",
    "load_mnist_idx",
    "load_mnist_subset",
    "mnist_classification",
    "preprocess",
    "read_idx",
    "standardization_stats",
    "stratified_split",
]
