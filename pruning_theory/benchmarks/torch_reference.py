"""PyTorch references, written as a researcher would: a Python loop over cells.

Imported only when torch is installed (the optional ``bench`` extra). Each function trains
every cell one after another with straightforward tensor code, at the sizes of the JAX
program it is compared with, and returns the last logged loss of each cell. The data are drawn
with torch's generator (same distributions and shapes as the JAX programs, not the same
numbers): these loops time the same work, they do not reproduce the JAX results.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F


def _patch_net_outputs(filters, mu, noise, labels, width: int, power: float) -> torch.Tensor:
    """f(x_i) = F_{+1} - F_{-1} on examples [y_i mu, xi_i]."""
    signal = (mu @ filters).reshape(2, width)
    noise_responses = (noise @ filters).T.reshape(2, width, noise.shape[0])
    per_class = (
        F.relu(signal[:, :, None] * labels) ** power + F.relu(noise_responses) ** power
    ).mean(dim=1)
    return per_class[0] - per_class[1]


def _patch_net_loss(filters, mu, noise, labels, width: int, power: float) -> torch.Tensor:
    """Mean logistic loss of the patch net."""
    outputs = _patch_net_outputs(filters, mu, noise, labels, width, power)
    return F.softplus(-labels * outputs).mean()


def yang2023_weights_gd(
    cells: Sequence[tuple[int, float]],
    *,
    dimension: int,
    num_train: int,
    width: int,
    power: float,
    init_std: float,
    mu_norm: float,
    noise_std: float,
    learning_rate: float,
    num_steps: int,
    log_every: int,
    num_test: int = 0,
) -> list[tuple[float, float]]:
    """Full-batch GD on the logistic loss of the masked ReLU^q patch net (Yang et al. 2023).

    Args:
      cells: (seed, pruning rate) of each cell.
      dimension, num_train, width, power, init_std, mu_norm, noise_std: as the config's.
      learning_rate, num_steps, log_every: the schedule (no step scaling).
      num_test: fresh test points whose accuracy is measured after training (the JAX program's
        ``finalize`` does the same), drawn with the training data; 0 for none.

    Returns:
      (training loss at the last logged step, test accuracy or NaN without a test set) per
      cell.
    """
    losses = []
    for seed, rate in cells:
        generator = torch.Generator().manual_seed(int(seed))
        mu = torch.zeros(dimension)
        mu[0] = mu_norm
        labels = torch.randint(0, 2, (num_train + num_test,), generator=generator).float() * 2 - 1
        noise = torch.randn(num_train + num_test, dimension, generator=generator) * noise_std
        noise[:, 0] = 0.0  # orthogonal to the one-hot signal
        labels, test_labels = labels[:num_train], labels[num_train:]
        noise, test_noise = noise[:num_train], noise[num_train:]
        kernel = torch.randn(dimension, 2 * width, generator=generator) * init_std
        kernel.requires_grad_(True)
        mask = (torch.rand(dimension, 2 * width, generator=generator) >= rate).float()

        for step in range(num_steps):
            loss = _patch_net_loss(kernel * mask, mu, noise, labels, width, power)
            (gradient,) = torch.autograd.grad(loss, kernel)
            with torch.no_grad():
                kernel -= learning_rate * gradient
            if (step + 1) % log_every == 0:
                with torch.no_grad():
                    last = _patch_net_loss(kernel * mask, mu, noise, labels, width, power).item()
        accuracy = math.nan
        if num_test:
            with torch.no_grad():
                outputs = _patch_net_outputs(
                    kernel * mask, mu, test_noise, test_labels, width, power
                )
                accuracy = (test_labels * outputs > 0).float().mean().item()
        losses.append((last, accuracy))
    return losses


def committee_online_sgd(
    cells: Sequence[tuple[int, float]],
    *,
    dimension: int,
    teachers: int,
    students: int,
    v_star: float,
    learning_rate: float,
    num_steps: int,
    log_every: int,
) -> list[float]:
    """Online SGD of an erf soft committee student on a teacher (Acharyya et al. 2021 setup).

    One fresh Gaussian example per step; w += (eta / sqrt N) v g'(lambda) Delta x,
    v += (eta / N) Delta g(lambda) (Goldt et al. 2019, Eq. 5).

    Args:
      cells: (seed, label-noise sigma) of each cell.

    Returns:
      The squared error (1/2) Delta^2 of each cell's last logged example.
    """
    root_n, root_two = math.sqrt(dimension), math.sqrt(2.0)
    slope = math.sqrt(2 / math.pi)
    errors = []
    with torch.no_grad():
        for seed, sigma in cells:
            generator = torch.Generator().manual_seed(int(seed))
            teacher_w = torch.randn(teachers, dimension, generator=generator)
            teacher_v = torch.full((teachers,), v_star)
            w = torch.randn(students, dimension, generator=generator)
            v = torch.randn(students, generator=generator)
            for step in range(num_steps):
                x = torch.randn(dimension, generator=generator)
                zeta = torch.randn((), generator=generator)
                label = torch.erf(teacher_w @ x / root_n / root_two) @ teacher_v + sigma * zeta
                fields = w @ x / root_n
                hidden = torch.erf(fields / root_two)
                delta = label - hidden @ v
                w += (learning_rate / root_n) * torch.outer(
                    v * slope * torch.exp(-(fields**2) / 2) * delta, x
                )
                v += (learning_rate / dimension) * delta * hidden
                if (step + 1) % log_every == 0:
                    last = 0.5 * delta.item() ** 2
            errors.append(last)
    return errors
