"""Every bartoldson2020 claim rule on synthetic arrays where the truth is known.

Each rule gets a world where the claim holds ("holds"), one where it is violated ("fails") and
one too small or too noisy to tell ("inconclusive"), as the rules fixed in `claims` require.
"""

import math

import ml_collections
import numpy as np
import pytest

from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.bartoldson2020 import claims, schedules

TARGETS = ("smallest", "random", "largest")
PERIODS = (2, 8, 20, 40)
LAYERS = tuple(schedules.LayerSchedule(64, p, 1, 41, True) for p in (0.3, 0.9))


def target_sweep(final: dict[str, np.ndarray], seeds: int) -> SweepResult:
    """A ``metrics`` sweep ``[seed, target, period]`` holding only final metrics."""
    axes = {
        "seed": np.arange(seeds),
        "target": np.asarray(TARGETS),
        "retrain_period": np.asarray(PERIODS),
    }
    return SweepResult(axes=axes, steps=np.arange(1, 2), metrics={}, final=final)


def tradeoff_world(slope: float, seeds: int, noise: float, seed: int = 0) -> SweepResult:
    """Stability set by target and period; accuracy = slope x stability + seed offset + noise.

    The seed offsets move stability and accuracy together (a positive correlation across
    seeds) whatever the slope, so only a rule that removes seed effects recovers the slope.
    """
    rng = np.random.default_rng(seed)
    shape = (seeds, len(TARGETS), len(PERIODS))
    design = 100 - np.arange(3)[:, None] * 2.0 - np.arange(4)[None, :] * 3.0
    offset = np.linspace(-10, 10, seeds)[:, None, None]
    stable = design + offset + rng.normal(0, 0.5, shape)
    accuracy = 0.7 + 0.01 * (slope * (stable - 100) + 5 * offset) + rng.normal(0, noise, shape)
    final = {
        "mean_stability": stable,
        "best_accuracy": accuracy,
        "final_accuracy": accuracy - 0.005,
        "generalization_gap": 1 - accuracy,
    }
    return target_sweep(final, seeds)


@pytest.mark.parametrize(
    "ci, sign, verdict",
    [
        ((-2, -1), -1, "holds"),
        ((1, 2), -1, "fails"),
        ((-1, 1), -1, "inconclusive"),
        ((1, 2), +1, "holds"),
        ((-2, -1), +1, "fails"),
        ((-math.inf, math.inf), +1, "inconclusive"),
    ],
)
def test_sign_verdict_is_symmetric(ci, sign, verdict):
    assert claims.sign_verdict(ci, sign) == verdict


def test_joint_rule_needs_every_member_to_hold_and_one_corrected_member_to_fail():
    holds = [(1, 2), (0.5, 3)]
    assert claims.joint_sign_verdict(holds, holds, +1) == "holds"
    one_open = [(1, 2), (-0.5, 3)]
    assert claims.joint_sign_verdict(one_open, one_open, +1) == "inconclusive"
    # The plain interval of the second member is below 0 but its corrected one is not.
    assert claims.joint_sign_verdict([(1, 2), (-2, -0.1)], [(1, 2), (-3, 0.5)], +1) == (
        "inconclusive"
    )
    assert claims.joint_sign_verdict([(1, 2), (-2, -1)], [(1, 2), (-3, -0.5)], +1) == "fails"
    assert claims.joint_sign_verdict([], [], +1) == "inconclusive"


@pytest.mark.parametrize(
    "shift, seeds, verdict", [(1.0, 8, "holds"), (-1.0, 8, "fails"), (1.0, 1, "inconclusive")]
)
def test_paired_claim(shift, seeds, verdict):
    differences = shift + np.random.default_rng(0).normal(0, 0.3, seeds)
    claim = claims.paired_claim("X", "Statement.", differences, +1)
    assert claim.verdict == verdict
    assert claim.statistic == pytest.approx(differences.mean())
    assert ("Resolution" in claim.statement) == (verdict == "inconclusive")


def test_paired_claim_of_pure_noise_is_inconclusive_and_states_its_resolution():
    differences = np.random.default_rng(3).normal(0, 1, 6)
    claim = claims.paired_claim("X", "Statement.", differences, +1)
    assert claim.verdict == "inconclusive"
    assert claim.ci[0] < 0 < claim.ci[1]
    assert f"+-{(claim.ci[1] - claim.ci[0]) / 2:.3g}" in claim.statement


@pytest.mark.parametrize(
    "slope, seeds, noise, verdict",
    [(-1.0, 6, 0.005, "holds"), (1.0, 6, 0.005, "fails"), (-1.0, 2, 1.0, "inconclusive")],
)
def test_primary_tradeoff_claim_removes_seed_effects(slope, seeds, noise, verdict):
    # Underpowered: noise 100x the signal over 24 runs (r ~ 0 whatever the draw's chance r).
    main = tradeoff_world(slope, seeds, noise, seed=4)
    c1, c1f, _ = claims.tradeoff_claims(main)
    assert (c1.id, c1.verdict, c1f.verdict) == ("C1", verdict, verdict)
    assert "pre-registered" in c1.statement
    if verdict == "inconclusive":
        assert "could have detected a within-seed |r|" in c1.statement
    else:
        assert np.sign(c1.statistic) == np.sign(slope)


def test_pooling_seeds_would_mislead_but_the_within_seed_rule_does_not():
    main = tradeoff_world(-1.0, 6, 0.005)
    stable, best = main.final["mean_stability"], main.final["best_accuracy"]
    pooled = np.corrcoef(stable.ravel(), best.ravel())[0, 1]
    assert pooled > 0  # the seed offsets dominate a pooled correlation
    assert claims.tradeoff_claims(main)[0].statistic < -0.5


@pytest.mark.parametrize(
    "slope, seeds, noise, verdict",
    [(-1.0, 8, 0.005, "holds"), (1.0, 8, 0.005, "fails"), (-1.0, 3, 1.0, "inconclusive")],
)
def test_c2_is_one_joint_test_over_targets_and_periods(slope, seeds, noise, verdict):
    c2 = claims.tradeoff_claims(tradeoff_world(slope, seeds, noise, seed=4))[2]
    assert "joint rule over 7 groups" in c2.statement
    assert c2.verdict == verdict


def stability_world(
    order: tuple[float, float, float], rate_step: float, seeds: int, noise: float = 0.05
):
    """Mean stability ``[seed, target, period]``: target means ``order``, falling by
    ``rate_step`` per larger rate (period 2 has the smallest rate, period 40 the largest),
    plus Gaussian run noise of standard deviation ``noise``."""
    rng = np.random.default_rng(1)
    by_rate = -rate_step * np.asarray([0, 1, 2, 3])  # period 2 has the smallest rate
    stable = np.asarray(order)[None, :, None] + by_rate[None, None, :]
    return stable + rng.normal(0, noise, (seeds, 3, 4))


@pytest.mark.parametrize(
    "order, seeds, noise, verdict",
    [
        ((99, 97, 95), 6, 0.05, "holds"),
        ((95, 97, 99), 6, 0.05, "fails"),
        ((99, 97, 95), 3, 20.0, "inconclusive"),  # underpowered: noise 10x the order's steps
        ((99, 97, 95), 1, 0.05, "inconclusive"),  # one seed: no interval
    ],
)
def test_target_order_m4_has_a_ci_and_a_joint_rule(order, seeds, noise, verdict):
    main = target_sweep({"mean_stability": stability_world(order, 1.0, seeds, noise)}, seeds)
    m4 = claims.check_target_order(main, claims.iterative_rates(main, LAYERS))
    assert m4.verdict == verdict and m4.ci is not None
    assert "S-R at" in m4.statement and "R-L at" in m4.statement


@pytest.mark.parametrize(
    "rate_step, seeds, noise, verdict",
    [
        (1.0, 6, 0.05, "holds"),
        (-1.0, 6, 0.05, "fails"),
        (1.0, 3, 20.0, "inconclusive"),
        (1.0, 1, 0.05, "inconclusive"),
    ],
)
def test_rate_order_m5_and_c4(rate_step, seeds, noise, verdict):
    stable = stability_world((99, 97, 95), rate_step, seeds, noise)
    main = target_sweep({"mean_stability": stable}, seeds)
    rates = claims.iterative_rates(main, LAYERS)
    assert claims.check_rate_order(main, rates).verdict == verdict
    assert claims.check_rate_lowers_stability(main, rates).verdict == verdict


@pytest.mark.parametrize(
    "advantage, seeds, noise, verdict",
    [
        (0.02, 6, 0.002, "holds"),
        (-0.02, 6, 0.002, "fails"),
        (0.002, 3, 0.02, "inconclusive"),  # underpowered: run noise 10x the advantage
        (0.02, 1, 0.002, "inconclusive"),
    ],
)
def test_large_minus_small_c3_is_paired_at_equal_period(advantage, seeds, noise, verdict):
    rng = np.random.default_rng(2)
    offset = rng.normal(0, 0.05, (seeds, 1, 1))  # seed effects cancel in the pairs
    best = 0.7 + offset + np.asarray([0, 0, advantage])[None, :, None]
    best = best + rng.normal(0, noise, (seeds, 3, 4))
    main = target_sweep({"best_accuracy": best, "final_accuracy": best}, seeds)
    c3 = claims.check_large_vs_small(main)
    assert c3.verdict == verdict
    assert c3.statistic == pytest.approx(100 * (best[:, 2] - best[:, 0]).mean())
    assert "Secondary test, pre-registered" in c3.statement


def baseline_sweep(values: dict[str, np.ndarray]) -> SweepResult:
    """A ``baselines`` sweep ``[seed, method]`` (none, scratch)."""
    seeds = len(next(iter(values.values())))
    axes = {"seed": np.arange(seeds), "method": np.asarray(["none", "scratch"])}
    final = {name: np.asarray(v) for name, v in values.items()}
    return SweepResult(axes=axes, steps=np.arange(1, 2), metrics={}, final=final)


@pytest.mark.parametrize(
    "gain, seeds, noise, verdict",
    [
        (0.02, 6, 0.002, "holds"),
        (-0.02, 6, 0.002, "fails"),
        (0.002, 3, 0.02, "inconclusive"),
        (0.02, 1, 0.002, "inconclusive"),
    ],
)
def test_scratch_c5_and_noise_c6(gain, seeds, noise, verdict):
    rng = np.random.default_rng(4)
    offset = rng.normal(0, 0.05, seeds)
    prune_l = 0.7 + offset + gain + rng.normal(0, noise, seeds)
    best = np.broadcast_to(0.7 + offset[:, None, None], (seeds, 3, 4)).copy()
    best[:, 2, -1] = prune_l  # Prune_L at the largest rate (period 40)
    main = target_sweep({"best_accuracy": best}, seeds)
    baselines = baseline_sweep({"best_accuracy": np.stack([0.7 + offset] * 2, axis=1)})
    rates = claims.iterative_rates(main, LAYERS)
    assert claims.check_scratch(main, baselines, rates).verdict == verdict
    noise_best = (0.7 + offset + gain)[:, None, None] + rng.normal(0, noise, (seeds, 2, 2))
    noise = SweepResult(
        axes={
            "seed": np.arange(seeds),
            "method": np.asarray(["zeroing", "gaussian"]),
            "window": np.asarray([1, 226]),
        },
        steps=np.arange(1, 2),
        metrics={},
        final={"best_accuracy": noise_best},
    )
    config = ml_collections.ConfigDict({"noise": {"retrain_period": 8}})
    assert claims.check_noise_helps(main, baselines, noise, config).verdict == verdict


@pytest.mark.parametrize(
    "sign, seeds, verdict", [(+1, 6, "holds"), (-1, 6, "fails"), (+1, 2, "inconclusive")]
)
def test_flatness_c7_within_seeds(sign, seeds, verdict):
    rng = np.random.default_rng(5)
    stable = stability_world((99, 97, 95), 2.0, seeds)
    noise_level = 0.1 if verdict != "inconclusive" else 50.0
    trace = 10 + sign * (stable - 95) + rng.normal(0, noise_level, stable.shape)
    radius = 0.2 - sign * 0.01 * (stable - 95) + rng.normal(0, noise_level / 100, (*stable.shape,))
    main = target_sweep(
        {
            "mean_stability": stable,
            "hessian_trace_top": trace,
            "gradient_covariance_trace": trace,
            "sharpness_radius": np.clip(radius, 0.01, 0.39)[..., None],
        },
        seeds,
    )
    base_stable = np.full((seeds, 2), 100.0)
    baselines = baseline_sweep(
        {
            "mean_stability": base_stable,
            "hessian_trace_top": 15 + sign * 5 + rng.normal(0, noise_level, (seeds, 2)),
            "gradient_covariance_trace": 15 + sign * 5 + rng.normal(0, noise_level, (seeds, 2)),
            "sharpness_radius": np.full((seeds, 2, 1), 0.2 - sign * 0.05),
        }
    )
    flatness = dict(
        epsilon_max=0.4, num_eigenvalues=4, num_images=64, loss_rise=0.1, num_directions=1
    )
    config = ml_collections.ConfigDict({"flatness": flatness})
    verdicts = [c.verdict for c in claims.flatness_claims(main, baselines, config)]
    assert verdicts == [verdict] * 3
