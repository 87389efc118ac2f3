r"""How much pre-training before pruning (Wolfe et al. 2021): the main job.

    python -m launch.sweep --config=launch/configs/wolfe2021.py:cpu --workdir=runs/wolfe2021

Variants: ``tiny`` (tests, seconds), ``cpu`` (the demo: 2 CPU cores, minutes; the packaged
5000 MNIST images, N = 1000, 3 seeds), ``gpu`` (N = 10000, 5 seeds, 1024 steps). Full MNIST:
``--config.data.source=/path/to/mnist`` (the four IDX files, optionally gzipped) with larger
``--config.grid.num_train="(1000,4000,16000,60000)"``. Overrides: ``--config.train.steps=256
--config.train.snapshot_steps="(0,1,2,4,8,16,32,64,128,256)"``, ``--config.greedy.replacement=False
--config.greedy.num_candidates=50 --config.greedy.batch_size=128`` (official-code variant).

Settings (spec docs/papers/wolfe2021.md; the knobs are recorded in config.json):
* NTK two-layer net f(x) = (1/sqrt N) sum_r a_r relu(w_r . x) on l2-normalized MNIST, one-hot
  targets, squared loss, full-batch GD on W only, ``data.normalization = "mean"`` (the mean
  loss keeps one step size stable for every m; the summed L(0) = m L_mean(0) is still reported
  for C3b).
* ``model.init_std = 0.01`` (kappa): with Du et al.'s kappa = 1 at N <= 2000 every neuron
  ``phi_r = sqrt(N) a_r relu(w_r . x)`` is so large that averages of k <= 200 of them stay worse
  than the zero predictor at every t (seen while sizing this config), so nothing about
  pre-training could be measured; a small kappa (as in Arora et al. 2019's version of the same
  NTK model) starts the net near f = 0.
* Full-batch GD with step 8 on the mean loss for T = 256 steps (a first cpu run with step 4
  and T = 128 left t* censored for m >= 2500: the larger sets had not reached the levels yet),
  snapshots at t = 0, 1, 2, 4, ..., T along one trajectory per (seed, m).
* Greedy: theory variant (with replacement, every neuron, full data) up to k = 200, scored in
  the Gram form (N = 1000 < k C = 2000; the gpu variant's N = 10000 uses the direct form).
* Rules fixed before the cpu run: t* at k_ref = 100 under three definitions (mean loss <= 0.3 x
  the zero predictor's loss; accuracy >= 0.9; accuracy >= the final dense accuracy - 0.02).
* Practical variant: the 784-500-10 MLP (both layers trained, [0, 1] pixels, cross-entropy,
  step 0.5, T = 128) pruned by the official-code variant (without replacement, 50 candidates,
  minibatches of 128); its claims are P1*.
"""

import ml_collections
from ml_collections import config_dict

VARIANTS = ("tiny", "cpu", "gpu")


def doubling_steps(num_steps: int) -> tuple[int, ...]:
    """0, 1, 2, 4, ..., num_steps (a power of two)."""
    steps, step = [0], 1
    while step <= num_steps:
        steps.append(step)
        step *= 2
    return tuple(steps)


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} of wolfe2021; expected one of {VARIANTS}")
    config = ml_collections.ConfigDict()
    config.experiment = "wolfe2021"
    config.variant = variant
    config.grid = ml_collections.ConfigDict(
        {"seed": (0, 1, 2), "num_train": (625, 1250, 2500, 5000)}
    )
    config.data = ml_collections.ConfigDict(
        dict(source="packaged", scale="l2", normalization="mean")
    )
    config.model = ml_collections.ConfigDict(dict(kind="ntk", width=1000, init_std=0.01))
    config.train = ml_collections.ConfigDict(
        dict(
            learning_rate=8.0,
            steps=256,
            snapshot_steps=doubling_steps(256),
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
            definitions=("loss", "accuracy", "dense_gap"),
            loss_fraction=0.3,
            accuracy_tau=0.9,
            dense_gap_delta=0.02,
            saturation_fraction=0.25,
            linear_band=0.1,
        )
    )
    config.theory = ml_collections.ConfigDict(dict(constant=1.0))
    config.practical = ml_collections.ConfigDict(
        dict(
            enabled=True,
            overrides={
                "model": {"kind": "mlp", "width": 500},
                "data": {"scale": "unit"},
                "train": {
                    "loss": "cross_entropy",
                    "learning_rate": 0.5,
                    "steps": 128,
                    "snapshot_steps": doubling_steps(128),
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
    if variant == "tiny":
        config.grid.update(seed=(0, 1), num_train=(100, 200, 400))
        config.model.width = 64
        config.train.update(steps=16, snapshot_steps=doubling_steps(16), num_logs=4)
        config.practical.overrides.train.update(steps=8, snapshot_steps=doubling_steps(8))
        config.greedy.ks = (4, 8, 16)
        config.checks.k_ref = 8
        config.practical.overrides.model.width = 32
        config.practical.overrides.greedy.update(num_candidates=8, batch_size=32)
    elif variant == "gpu":
        config.grid.seed = (0, 1, 2, 3, 4)
        config.model.width = 10000
        config.greedy.gram = False  # K would be 10000 x 10000 per cell; N > k C
        config.train.update(steps=1024, snapshot_steps=doubling_steps(1024), num_logs=32)
        config.practical.overrides.train.update(steps=512, snapshot_steps=doubling_steps(512))
        config.practical.overrides.model.width = 2000
    return config
