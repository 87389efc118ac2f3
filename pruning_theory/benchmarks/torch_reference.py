"""PyTorch references, written as a researcher would: a Python loop over cells.

Imported only when torch is installed (the optional ``bench`` extra). Each function trains
every cell one after another with straightforward tensor code, at the sizes of the JAX
program it is compared with, and returns what each cell measured last (a loss, an accuracy or
an error). Synthetic data are drawn with torch's generator (same distributions and shapes as
the JAX programs, not the same numbers); real data are the arrays the JAX program trains on.
These loops time the same work; they do not reproduce the JAX results number for number.
"""

from __future__ import annotations

import itertools
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


def _standardized(x, mean, std) -> torch.Tensor:
    """Flattened float inputs: uint8 images scaled to [0, 1], then ``(x - mean) / std``."""
    x = torch.as_tensor(x)
    scaled = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    mean = torch.as_tensor(mean).float()
    std = torch.as_tensor(std).float()
    return ((scaled - mean) / std).reshape(len(x), -1)


def _expected_bn_relu(norm: torch.nn.BatchNorm1d) -> torch.Tensor:
    """E[ReLU(gamma z + beta)], z ~ N(0, 1): the expected-BN score of each unit."""
    gamma, beta = norm.weight.abs() + 1e-12, norm.bias
    ratio = beta / gamma
    normal = torch.distributions.Normal(0.0, 1.0)
    return gamma * normal.log_prob(ratio).exp() + beta * normal.cdf(ratio)


def _prune_units(mask, score, fraction: float, target: str, generator) -> None:
    """Removes ``fraction`` of the alive units (smallest / random / largest score) in place."""
    alive = torch.nonzero(mask).flatten()
    count = int(fraction * len(alive))
    if count == 0:
        return
    if target == "random":
        order = torch.randperm(len(alive), generator=generator)
    else:
        order = torch.argsort(score[alive], descending=target == "largest")
    mask[alive[order[:count]]] = 0.0


class _MaskedBNMLP(torch.nn.Module):
    """Hidden layers Linear -> BatchNorm -> ReLU, each unit behind a 0/1 mask; Linear output."""

    def __init__(self, sizes: Sequence[int], num_classes: int = 10):
        super().__init__()
        pairs = list(itertools.pairwise(sizes))
        self.linears = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in pairs)
        self.norms = torch.nn.ModuleList(torch.nn.BatchNorm1d(b) for _, b in pairs)
        self.output = torch.nn.Linear(sizes[-1], num_classes)
        self.unit_masks = [torch.ones(b) for _, b in pairs]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the masked BN-MLP."""
        for linear, norm, mask in zip(self.linears, self.norms, self.unit_masks, strict=True):
            x = F.relu(norm(linear(x))) * mask
        return self.output(x)

    def test_accuracy(self, inputs, labels, batch_size: int) -> float:
        """Accuracy in eval mode (running BatchNorm statistics), in chunks of ``batch_size``."""
        self.eval()
        with torch.no_grad():
            chunks = zip(inputs.split(batch_size), labels.split(batch_size), strict=True)
            correct = sum(int((self(x).argmax(-1) == y).sum()) for x, y in chunks)
        self.train()
        return correct / len(inputs)

    def prune(self, fraction: float, target: str, generator) -> None:
        """Removes ``fraction`` of every hidden layer's alive units by the expected-BN score."""
        with torch.no_grad():
            for norm, mask in zip(self.norms, self.unit_masks, strict=True):
                _prune_units(mask, _expected_bn_relu(norm), fraction, target, generator)


def bn_mlp_pruning(
    cells: Sequence[tuple[int, str]],
    *,
    x_train,
    y_train,
    x_test,
    y_test,
    mean,
    std,
    widths: Sequence[int],
    batch_size: int,
    num_epochs: int,
    learning_rate: float,
    prune_fraction: float,
    eval_batch_size: int,
) -> list[float]:
    """Adam training of a BN-MLP with structured pruning at every epoch's end (Bartoldson
    et al. 2020, docs/papers/bartoldson2020.md, "CPU-scale protocol").

    Every epoch: a fresh shuffle, minibatches (last partial dropped), one Adam step each; at
    its end the test accuracy in eval mode, then ``prune_fraction`` of each hidden layer's
    alive units removed (by the expected-BN score, smallest / largest, or at random), then
    the test accuracy again.

    Args:
      cells: (seed, target) of each cell; target in ``smallest``, ``random``, ``largest``.
      x_train, y_train, x_test, y_test: the split (uint8 images or float signals).
      mean, std: the training set's standardization statistics.

    Returns:
      The test accuracy after the last epoch's prune, per cell.
    """
    inputs, tests = _standardized(x_train, mean, std), _standardized(x_test, mean, std)
    labels, test_labels = torch.as_tensor(y_train).long(), torch.as_tensor(y_test).long()
    accuracies = []
    for seed, target in cells:
        generator = torch.Generator().manual_seed(int(seed))
        torch.manual_seed(int(seed))
        model = _MaskedBNMLP((inputs.shape[1], *widths))
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        for _ in range(num_epochs):
            order = torch.randperm(len(inputs), generator=generator)
            for start in range(0, len(inputs) - batch_size + 1, batch_size):
                index = order[start : start + batch_size]
                loss = F.cross_entropy(model(inputs[index]), labels[index])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            model.test_accuracy(tests, test_labels, eval_batch_size)  # before the prune
            model.prune(prune_fraction, target, generator)
            accuracy = model.test_accuracy(tests, test_labels, eval_batch_size)
        accuracies.append(accuracy)
    return accuracies


def sigmoid_mlp_sgd(
    seeds: Sequence[int],
    *,
    x_train,
    y_train,
    x_test,
    y_test,
    layer_sizes: Sequence[int],
    batch_size: int,
    num_steps: int,
    learning_rate: float,
    momentum: float,
    log_every: int,
    loss_subset: int = 1000,
) -> list[float]:
    """SGD with momentum of a sigmoid MLP on real data (Acharyya et al. 2021, C7 setup,
    docs/papers/acharyya2021.md): per step a minibatch drawn without replacement, and at each
    logging the training loss on the first ``loss_subset`` examples and the test error.

    Returns:
      The test error at the last logging, per seed.
    """
    inputs, tests = torch.as_tensor(x_train).float(), torch.as_tensor(x_test).float()
    labels, test_labels = torch.as_tensor(y_train).long(), torch.as_tensor(y_test).long()
    errors = []
    for seed in seeds:
        generator = torch.Generator().manual_seed(int(seed))
        torch.manual_seed(int(seed))
        layers = []
        for fan_in, fan_out in itertools.pairwise(layer_sizes):
            layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.Sigmoid()]
        network = torch.nn.Sequential(*layers[:-1])
        optimizer = torch.optim.SGD(network.parameters(), lr=learning_rate, momentum=momentum)
        for step in range(num_steps):
            index = torch.randperm(len(inputs), generator=generator)[:batch_size]
            loss = F.cross_entropy(network(inputs[index]), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if (step + 1) % log_every == 0:
                with torch.no_grad():
                    F.cross_entropy(network(inputs[:loss_subset]), labels[:loss_subset]).item()
                    predictions = network(tests).argmax(-1)
                    error = 1.0 - (predictions == test_labels).float().mean().item()
        errors.append(error)
    return errors
