r"""How much pre-training before pruning (Wolfe et al. 2021): the main job.

    python -m launch.sweep --config=launch/configs/wolfe2021.py:cpu --workdir=runs/wolfe2021

Variants: ``tiny`` (tests, seconds), ``cpu`` (the demo, 2 CPU cores), ``gpu`` (wider nets,
longer training, 8 seeds; not run here). Full MNIST: ``--config.data.source=/path/to/mnist``
(the four IDX files, optionally gzipped) with larger ``--config.grid.num_train``. Official-code
greedy: ``--config.greedy.replacement=False --config.greedy.num_candidates=50
--config.greedy.batch_size=128``.

Settings (spec docs/papers/wolfe2021.md; the knobs are recorded in config.json):
* NTK two-layer net f(x) = (1/sqrt N) sum_r a_r relu(w_r . x) on l2-normalized inputs, one-hot
  targets, squared loss, full-batch GD on W only, ``data.normalization = "mean"`` (the mean
  loss keeps one step size stable for every m).
* ``model.init_std = 0.01`` (kappa): with Du et al.'s kappa = 1 at N <= 2000 every neuron
  ``phi_r = sqrt(N) a_r relu(w_r . x)`` is so large that averages of k <= 200 of them stay worse
  than the zero predictor at every t, so nothing about pre-training could be measured; a small
  kappa (as in Arora et al. 2019's version of the same NTK model) starts the net near f = 0.
* Two datasets cover m = 78 .. 32000 (2.6 decades): MNIST (the packaged 5000 images) at
  m = 78 x 2^k, k = 0..5 (downward to 78 from 2496, 1.5 decades; the gpu variant adds 4992),
  and MNIST-1D generated locally (``mnist1d`` section) at
  m = 125 x 2^k, k = 0..8 (upward, 2.4 decades on its own). Sizes within a factor
  ``data.max_pad_ratio = 2`` share one compiled program (padding plus sample weights).
* Snapshots every factor 2^(1/4) in t (`log_spaced_steps`), so t* is measured between close
  snapshots, not interpolated across a doubling.
* MNIST: N = 256, GD step 8 on the mean loss (the top eigenvalue of H_inf / m is ~0.14-0.22
  here, so steps above ~9 oscillate), T = 256. MNIST-1D: N = 256 (its [m, N] activations, not
  its 40 inputs, set the cost at m = 32000), step 20 (its H_inf / m peaks at ~0.055; step 30
  oscillated in a pilot), T = 128.
* Greedy: theory variant (with replacement, every neuron, full data) up to k = 200, scored in
  the Gram form (N = 256 < k C = 2000).
* Threshold levels, fixed before the reported run from pilots on seed 100 (not a reported
  seed), one per dataset so that t* is uncensored at the largest m with margin. MNIST, at
  k_ref = 100: mean pruned loss <= 0.3 x 0.5 (the zero predictor's loss), accuracy >= 0.9
  (the pilot, with N = 512, crossed them at t ~ 110 and ~ 95 at m = 4992; the cpu run's
  largest m is 2496 and N = 256, both chosen for the time budget after the pilot).
  MNIST-1D, at k_ref = 200 (the k = 100 subnetwork's loss on MNIST-1D flattens at ~0.39 for
  m >= 8000 and rises after t ~ 90, so no level below that is reached): loss <= 0.76 x 0.5 =
  0.38, accuracy >= 0.45 (at m = 32000 the pilots crossed them at t ~ 28 and ~ 30 with
  N = 512, and at t ~ 38 and ~ 43 with N = 256, reaching 0.365 and 0.51 at T = 128).
* Budget (2 cores): the MNIST sweep's cost is its [m, 784] x [784, N] products over T = 256
  steps; m <= 2496 and N = 256 (not 4992 and 512) cut it ~4x, and the scratch and practical
  sweeps (on the largest MNIST m) 2x, so that 6 seeds fit. Measured: 545 s on 2 idle cores
  with cold compiles (BENCHMARKS.md, "Every cpu study end to end").
* Seeds: 6, so that each half of the claims code's split-half replication (seeds 0-2 and
  3-5) has 3 seeds, a Student-t interval with 2 degrees of freedom (with 4 seeds, halves of 2
  have 1 degree of freedom and a t quantile of 12.7, so nearly every half is inconclusive).
* Practical variant: the 784-256-10 MLP (both layers trained, [0, 1] pixels, cross-entropy,
  step 0.5, T = 128) pruned by the official-code variant (without replacement, 50 candidates,
  minibatches of 128, so m >= 156); its claims are P1*.
"""

import ml_collections
from ml_collections import config_dict

from pruning_theory.papers.wolfe2021.thresholds import log_spaced_steps

VARIANTS = ("tiny", "cpu", "gpu")
MNIST_SIZES = tuple(78 * 2**k for k in range(6))  # 78 .. 2496
GPU_MNIST_SIZES = tuple(78 * 2**k for k in range(7))  # 78 .. 4992
MNIST1D_SIZES = tuple(125 * 2**k for k in range(9))  # 125 .. 32000


def _mnist1d(steps: int) -> ml_collections.ConfigDict:
    """The MNIST-1D sweep: the main config with these overrides."""
    return ml_collections.ConfigDict(
        dict(
            enabled=True,
            overrides={
                "grid": {"num_train": MNIST1D_SIZES},
                "data": {"source": "mnist1d", "pool_size": 40000},
                "model": {"width": 256},
                "train": {
                    "learning_rate": 20.0,
                    "steps": steps,
                    "snapshot_steps": log_spaced_steps(steps),
                },
                "checks": {"k_ref": 200, "loss_fraction": 0.76, "accuracy_tau": 0.45},
                "theory": {"max_gram_size": 4000},
                "baselines": {"scratch": False},
            },
        )
    )


def _practical(steps: int) -> ml_collections.ConfigDict:
    """The practical MLP sweep: the main config with these overrides."""
    return ml_collections.ConfigDict(
        dict(
            enabled=True,
            overrides={
                "grid": {"num_train": MNIST_SIZES[1:]},
                "model": {"kind": "mlp", "width": 256},
                "data": {"scale": "unit"},
                "train": {
                    "loss": "cross_entropy",
                    "learning_rate": 0.5,
                    "steps": steps,
                    "snapshot_steps": log_spaced_steps(steps),
                },
                "greedy": {
                    "replacement": False,
                    "num_candidates": 50,
                    "batch_size": 128,
                    "gram": False,
                },
                "baselines": {"scratch": False},
            },
        )
    )


def _base() -> ml_collections.ConfigDict:
    """The cpu variant."""
    config = ml_collections.ConfigDict()
    config.experiment = "wolfe2021"
    config.variant = "cpu"
    config.grid = ml_collections.ConfigDict({"seed": tuple(range(6)), "num_train": MNIST_SIZES})
    config.data = ml_collections.ConfigDict(
        dict(
            source="packaged",
            scale="l2",
            normalization="mean",
            max_pad_ratio=2.0,
            pool_size=config_dict.placeholder(int),
            generator_seed=0,
        )
    )
    config.model = ml_collections.ConfigDict(dict(kind="ntk", width=256, init_std=0.01))
    config.train = ml_collections.ConfigDict(
        dict(
            learning_rate=8.0,
            steps=256,
            snapshot_steps=log_spaced_steps(256),
            num_logs=8,
            loss="squared",
        )
    )
    config.greedy = ml_collections.ConfigDict(
        dict(
            ks=(25, 50, 100, 200),
            replacement=True,
            num_candidates=config_dict.placeholder(int),
            batch_size=config_dict.placeholder(int),
            chunk_size=64,
            gram=True,
        )
    )
    config.baselines = ml_collections.ConfigDict(dict(scratch=True))
    config.checks = ml_collections.ConfigDict(
        dict(
            k_ref=100,
            definitions=("loss", "accuracy"),
            loss_fraction=0.3,
            accuracy_tau=0.9,
            dense_gap_delta=0.02,
            saturation_fraction=0.25,
        )
    )
    config.theory = ml_collections.ConfigDict(dict(constant=1.0, max_gram_size=5000))
    config.mnist1d = _mnist1d(steps=128)
    config.practical = _practical(steps=128)
    return config


def _tiny(config: ml_collections.ConfigDict) -> None:
    config.grid.update(seed=(0, 1), num_train=(100, 200, 400))
    config.data.max_pad_ratio = None
    config.model.width = 64
    config.train.update(steps=16, snapshot_steps=log_spaced_steps(16), num_logs=4)
    config.greedy.ks = (4, 8, 16)
    config.checks.k_ref = 8
    mnist1d = config.mnist1d.overrides
    mnist1d.grid.num_train = (100, 200, 400)
    mnist1d.data.pool_size = 600
    mnist1d.model.width = 64
    mnist1d.train.update(steps=16, snapshot_steps=log_spaced_steps(16))
    mnist1d.checks.k_ref = 16
    practical = config.practical.overrides
    practical.grid.num_train = (100, 200, 400)
    practical.train.update(steps=8, snapshot_steps=log_spaced_steps(8))
    practical.model.width = 32
    practical.greedy.update(num_candidates=8, batch_size=32)


def _gpu(config: ml_collections.ConfigDict) -> None:
    config.grid.update(seed=tuple(range(8)), num_train=GPU_MNIST_SIZES)
    config.model.width = 10000
    config.greedy.gram = False  # K would be 10000 x 10000 per cell; N > k C
    config.train.update(steps=1024, snapshot_steps=log_spaced_steps(1024), num_logs=32)
    mnist1d = config.mnist1d.overrides
    mnist1d.grid.num_train = tuple(125 * 2**k for k in range(11))  # .. 128000
    mnist1d.data.pool_size = 160000
    mnist1d.model.width = 4096
    mnist1d.greedy = {"gram": False}
    config.practical.overrides.train.update(steps=512, snapshot_steps=log_spaced_steps(512))
    config.practical.overrides.model.width = 2000
    config.practical.overrides.grid.num_train = GPU_MNIST_SIZES[1:]


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    """The wolfe2021 job at one scale: ``tiny``, ``cpu`` or ``gpu``."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} of wolfe2021; expected one of {VARIANTS}")
    config = _base()
    config.variant = variant
    if variant == "tiny":
        _tiny(config)
    elif variant == "gpu":
        _gpu(config)
    return config
