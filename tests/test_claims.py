"""Seed statistics, claims documents, atomic saving and the work-directory guard."""

import dataclasses
import json

import matplotlib.pyplot as plt
import ml_collections
import numpy as np
import pytest
from scipy import stats

from pruning_theory import experiment as experiments
from pruning_theory import runner
from pruning_theory.claims import (
    SPLIT_RULE,
    Claim,
    Half,
    attach_halves,
    binomial_ci,
    claims_document,
    claims_markdown,
    combine_verdicts,
    diverged_note,
    drop_diverged,
    drop_diverged_seeds,
    format_ci,
    mean_ci,
    replicated_analysis,
    replication_status,
    split_seeds,
    summarize,
    tally_text,
    verdict_above,
    verdict_within,
)
from pruning_theory.engine.results import SweepResult
from pruning_theory.experiment import Experiment
from pruning_theory.workdir import FINISHED_MARKER, atomic_write, prepare_workdir, write_json


def test_mean_ci_is_the_student_t_interval():
    values = np.array([[1.0, 10.0], [2.0, 20.0], [4.0, 30.0]])
    mean, low, high = mean_ci(values, axis=0)
    np.testing.assert_allclose(mean, [7 / 3, 20.0])
    half = stats.t.ppf(0.975, 2) * np.array([np.std([1, 2, 4], ddof=1), 10.0]) / np.sqrt(3)
    np.testing.assert_allclose(high - mean, half)
    np.testing.assert_allclose(mean - low, half)


def test_mean_ci_of_one_replicate_is_unbounded():
    _, low, high = mean_ci(np.array([0.7]))
    assert low == -np.inf and high == np.inf


def test_binomial_ci_contains_the_proportion_and_narrows_with_trials():
    low, high = binomial_ci(50, 100)
    assert low < 0.5 < high
    low_big, high_big = binomial_ci(5000, 10000)
    assert high_big - low_big < (high - low) / 5
    # Clopper-Pearson's 95% bounds are the 2.5% and 97.5% quantiles of beta distributions.
    expected = (stats.beta.ppf(0.025, 50, 51), stats.beta.ppf(0.975, 51, 50))
    np.testing.assert_allclose((low, high), expected, rtol=1e-9)


@pytest.mark.parametrize(
    "ci, verdict",
    [
        ((0.45, 0.55), "holds"),
        ((0.65, 0.7), "fails"),
        ((0.55, 0.65), "inconclusive"),
        ((0.4, 0.6), "holds"),  # the bounds belong to the band
        ((0.6, 0.7), "inconclusive"),  # touching the band is not outside it
        ((0.3, 0.4), "inconclusive"),
    ],
)
def test_verdict_within_band(ci, verdict):
    assert verdict_within(ci, 0.4, 0.6) == verdict


def test_claims_document_and_markdown():
    claims = [
        Claim("C1", "loss goes to zero", "holds", 1e-3, None, 0.0),
        Claim("C2", "near chance", "inconclusive", 0.55, (0.45, float("inf"))),
    ]
    document = claims_document("yang2023", "tiny", claims)
    assert json.loads(json.dumps(document))["claims"] == [
        {"id": "C1", "kind": "claim", "statement": "loss goes to zero", "verdict": "holds",
         "statistic": 1e-3, "ci": None, "theory": 0.0, "halves": None, "replication": None},
        {"id": "C2", "kind": "claim", "statement": "near chance", "verdict": "inconclusive",
         "statistic": 0.55, "ci": [0.45, None], "theory": None, "halves": None,
         "replication": None},
    ]  # fmt: skip
    assert document["summary"]["claim"]["holds"] == 1
    assert document["notes"] == [] and document["split"] is None
    table = claims_markdown(document)
    assert "| C2 | inconclusive | - | 0.55 | [0.45, -] | n/a | n/a | - | near chance |" in table
    assert "No split-half replication was recorded" in table


def test_bad_verdict_is_refused():
    with pytest.raises(ValueError, match="'maybe'"):
        Claim("C1", "x", "maybe", 0.0)


def test_sweep_result_round_trip_and_tidy_csv(tmp_path):
    result = SweepResult(
        axes={"seed": np.array([0, 1]), "pruning_rate": np.array([0.0, 0.5, 0.9])},
        steps=np.array([10, 20]),
        metrics={"loss": np.arange(12.0).reshape(2, 3, 2), "vector": np.zeros((2, 3, 2, 4))},
        final={"test_accuracy": np.full((2, 3), 0.75)},
    )
    result.save(tmp_path)
    loaded = SweepResult.load(tmp_path)
    np.testing.assert_array_equal(loaded.metrics["loss"], result.metrics["loss"])
    np.testing.assert_array_equal(loaded.final["test_accuracy"], result.final["test_accuracy"])
    np.testing.assert_array_equal(loaded.axes["pruning_rate"], [0.0, 0.5, 0.9])
    assert list(loaded.axes) == ["seed", "pruning_rate"]
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "seed,pruning_rate,step,loss,test_accuracy"
    assert len(lines) == 1 + 2 * 3 * 2
    assert lines[1] == "0,0.0,10,0.0,"
    assert lines[2] == "0,0.0,20,1.0,0.75"
    np.testing.assert_array_equal(result.last("loss"), result.metrics["loss"][..., -1])


def test_finished_workdir_is_refused_without_overwrite(tmp_path):
    workdir = prepare_workdir(tmp_path / "run")
    write_json(workdir / FINISHED_MARKER, {"claims": []})
    with pytest.raises(FileExistsError, match="run.*--overwrite"):
        prepare_workdir(workdir)
    assert prepare_workdir(workdir, overwrite=True) == workdir
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="file"):
        prepare_workdir(tmp_path / "file")


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write(tmp_path / "a.txt", b"hello")
    atomic_write(tmp_path / "a.txt", b"world")
    assert (tmp_path / "a.txt").read_bytes() == b"world"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


# ------------------------------------------------------- verdict combination and formatting


@pytest.mark.parametrize(
    "verdicts, combined",
    [
        (["holds", "holds"], "holds"),
        (["holds", "inconclusive"], "inconclusive"),
        (["holds", "fails", "inconclusive"], "fails"),
        ([], "inconclusive"),  # nothing checked is no evidence: never holds vacuously
    ],
)
def test_combine_verdicts(verdicts, combined):
    assert combine_verdicts(verdicts) == combined
    assert combine_verdicts(iter(verdicts)) == combined


def test_combine_verdicts_refuses_an_unknown_verdict():
    with pytest.raises(ValueError, match="'maybe'"):
        combine_verdicts(["holds", "maybe"])


def test_format_ci():
    assert format_ci((0.123456, 2.0)) == "[0.1235, 2]"
    assert format_ci((0.123456, 2.0), ".3f") == "[0.123, 2.000]"
    assert format_ci([None, 1.5]) == "[-, 1.5]"
    assert format_ci(None) == "-"


def test_claim_kind_and_replication_are_checked():
    assert Claim("S1", "x", "holds", 0.0, kind="sanity").as_dict()["kind"] == "sanity"
    with pytest.raises(ValueError, match="'finding'"):
        Claim("C1", "x", "holds", 0.0, kind="finding")
    with pytest.raises(ValueError, match="'yes'"):
        Claim("C1", "x", "holds", 0.0, replication="yes")


# ------------------------------------------------------------------- split-half replication


def gains_sweep(gains, *, diverged_seeds=(), seeds=None) -> SweepResult:
    """A synthetic sweep: one per-seed ``gain`` (seed x 2 rates), some seeds diverged."""
    gains = np.asarray(gains, dtype=float)
    seeds = np.arange(len(gains)) if seeds is None else np.asarray(seeds)
    diverged = np.full((len(gains), 2), -1)
    for seed in diverged_seeds:
        diverged[list(seeds).index(seed), 1] = 10
    return SweepResult(
        axes={"seed": seeds, "pruning_rate": np.array([0.0, 0.5])},
        steps=np.array([10, 20]),
        metrics={"loss": np.zeros((len(gains), 2, 2))},
        final={"gain": np.stack([np.zeros_like(gains), gains], axis=1)},
        diverged_at=diverged,
    )


def gain_analyze(config, sweeps, minimum_seeds=2):
    """A toy experiment: G holds if the 95% CI of the mean gain (p = 0.5 minus p = 0) is
    above 0, fails if below; a sanity row; an exploratory row. Raises below ``minimum_seeds``."""
    gain = sweeps["metrics"].final["gain"]
    if gain.shape[0] < minimum_seeds:
        raise ValueError(f"needs {minimum_seeds} seeds, got {gain.shape[0]}")
    mean, low, high = mean_ci(gain[:, 1] - gain[:, 0])
    ci = (float(low), float(high))
    verdict = verdict_above(ci, 0.0) if low > 0 else ("fails" if high < 0 else "inconclusive")
    claims = [
        Claim("G", "pruning gains", verdict, float(mean), ci),
        Claim("S", "dense gain is 0", "holds", 0.0, kind="sanity"),
        Claim("E", "post hoc", "inconclusive", 0.0, kind="exploratory"),
    ]
    return claims, {"seeds": list(sweeps["metrics"].axes["seed"])}


def standardized(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` draws with sample mean exactly 0 and sample sd exactly 1."""
    z = rng.standard_normal(count)
    return (z - z.mean()) / z.std(ddof=1)


def world(first_half_mean, second_half_mean, sd, per_half=8, seed=0) -> dict:
    """Per-seed gains whose two halves have exactly these means and sd."""
    rng = np.random.default_rng(seed)
    gains = np.concatenate([
        first_half_mean + sd * standardized(per_half, rng),
        second_half_mean + sd * standardized(per_half, rng),
    ])  # fmt: skip
    return {"metrics": gains_sweep(gains)}


def the(claims, claim_id):
    return next(claim for claim in claims if claim.id == claim_id)


def test_split_seeds_takes_the_first_ceil_half_of_every_seed_axis():
    sweeps = {
        "metrics": gains_sweep(np.arange(5.0), seeds=[10, 11, 12, 13, 14]),
        "companion": gains_sweep(np.arange(2.0)),
        "theory": SweepResult(axes={"noise": np.array([0.1, 0.2])}, steps=np.array([1]),
                              metrics={"x": np.ones((2, 1))}),
    }  # fmt: skip
    first, second = split_seeds(sweeps, 0), split_seeds(sweeps, 1)
    np.testing.assert_array_equal(first["metrics"].axes["seed"], [10, 11, 12])
    np.testing.assert_array_equal(second["metrics"].axes["seed"], [13, 14])
    np.testing.assert_array_equal(second["metrics"].final["gain"][:, 1], [3.0, 4.0])
    assert second["metrics"].diverged_at.shape == (2, 2)
    np.testing.assert_array_equal(first["companion"].axes["seed"], [0])
    np.testing.assert_array_equal(second["companion"].axes["seed"], [1])
    assert first["theory"] is sweeps["theory"] and second["theory"] is sweeps["theory"]
    with pytest.raises(ValueError, match="half must be 0"):
        split_seeds(sweeps, 2)


@pytest.mark.parametrize(
    "whole, halves, status",
    [
        ("holds", ("holds", "holds"), "replicated"),
        ("inconclusive", ("inconclusive", "inconclusive"), "replicated"),
        ("inconclusive", ("holds", "fails"), "not replicated"),
        ("holds", ("fails", "holds"), "not replicated"),
        ("holds", ("holds", "inconclusive"), "partial"),
        ("holds", ("fails", "fails"), "partial"),
        ("holds", ("holds", None), "n/a"),
    ],
)
def test_replication_status(whole, halves, status):
    results = tuple(None if v is None else Half(v, 0.0) for v in halves)
    assert replication_status(whole, results) == status
    assert replication_status(whole, None) == "n/a"


def test_a_robust_effect_replicates():
    # Each half: mean gain 1, sd 1 over 8 seeds (t = 2.8 > 2.36): holds on either half.
    discarded = []
    analysis = replicated_analysis(gain_analyze, None, world(1.0, 1.0, 1.0), discarded.append)
    claim = the(analysis.claims, "G")
    assert claim.verdict == "holds" and claim.replication == "replicated"
    assert [half.verdict for half in claim.halves] == ["holds", "holds"]
    np.testing.assert_allclose([half.statistic for half in claim.halves], [1.0, 1.0])
    assert analysis.figures == {"seeds": list(range(16))}  # the halves' figures: discarded
    assert discarded == [{"seeds": list(range(8))}, {"seeds": list(range(8, 16))}]
    assert [half["seeds"]["metrics"] for half in analysis.split["halves"]] == [
        list(range(8)), list(range(8, 16))
    ]  # fmt: skip


def test_an_effect_at_the_noise_level_does_not_replicate():
    # Whole: mean 0.6 sd, t = 2.5 > 2.13 holds; each half: t = 1.7 < 2.36, inconclusive.
    marginal = the(replicated_analysis(gain_analyze, None, world(0.6, 0.6, 1.0)).claims, "G")
    assert marginal.verdict == "holds" and marginal.replication == "partial"
    assert [half.verdict for half in marginal.halves] == ["inconclusive", "inconclusive"]
    # Halves pulling apart: the whole is inconclusive, one half holds, the other fails.
    split = the(replicated_analysis(gain_analyze, None, world(1.0, -1.0, 1.0)).claims, "G")
    assert split.verdict == "inconclusive" and split.replication == "not replicated"
    assert [half.verdict for half in split.halves] == ["holds", "fails"]


def test_pure_noise_rarely_replicates_a_verdict_a_real_effect_always_does():
    rng = np.random.default_rng(7)
    replicated = {"null": 0, "effect": 0}
    held = {"null": 0, "effect": 0}
    for _ in range(200):
        noise = rng.standard_normal(16)
        for name, effect in (("null", 0.0), ("effect", 2.0)):
            sweeps = {"metrics": gains_sweep(effect + noise)}
            claim = the(replicated_analysis(gain_analyze, None, sweeps).claims, "G")
            held[name] += claim.verdict != "inconclusive"
            replicated[name] += claim.verdict != "inconclusive" and claim.replication == (
                "replicated"
            )
    assert held["null"] >= 4  # false positives of the whole happen (5% expected) ...
    assert replicated["null"] <= held["null"] / 4  # ... and rarely replicate
    assert replicated["effect"] >= 190


def test_halves_too_small_to_analyze_are_recorded_not_raised():
    sweeps = world(1.0, 1.0, 1.0, per_half=2)
    analyze = lambda config, s: gain_analyze(config, s, minimum_seeds=3)  # noqa: E731
    analysis = replicated_analysis(analyze, None, sweeps)
    assert {claim.replication for claim in analysis.claims} == {"n/a"}
    assert all(claim.halves == (None, None) for claim in analysis.claims)
    for half in analysis.split["halves"]:
        assert not half["available"]
        assert half["reason"] == "analyze raised ValueError: needs 3 seeds, got 2"
    document = claims_document("toy", "tiny", analysis.claims, analysis.notes, analysis.split)
    assert "Half A: unavailable (analyze raised ValueError" in claims_markdown(document)
    assert document["summary"]["claim"]["unavailable"] == ["G"]


def test_diverged_seeds_are_dropped_before_analysis_and_noted_once():
    gains = np.linspace(1.0, 2.0, 6)
    sweeps = {"metrics": gains_sweep(gains, diverged_seeds=[1, 4])}
    seen = []

    def analyze(config, kept):  # as a paper that still drops by hand would
        seen.append(list(kept["metrics"].axes["seed"]))
        result, dropped = drop_diverged(kept["metrics"], "seed")
        claims, figures = gain_analyze(config, {"metrics": result})
        note = diverged_note("metrics", "seed", dropped)
        return [dataclasses.replace(c, statement=c.statement + note) for c in claims], figures

    analysis = replicated_analysis(analyze, None, sweeps)
    assert seen == [[0, 2, 3, 5], [0, 2], [3, 5]]  # all seeds, then halves A and B
    assert analysis.notes == [
        "Excluded: 2 seed value(s) [1, 4] of sweep 'metrics' with a cell whose state or "
        "metrics became NaN/Inf (frozen at divergence)."
    ]
    for claim in analysis.claims:
        assert claim.statement.count("Excluded") == 1
        assert claim.statement.endswith(analysis.notes[0])
    np.testing.assert_allclose(the(analysis.claims, "G").statistic, gains[[0, 2, 3, 5]].mean())


def test_a_seed_diverged_in_one_sweep_leaves_every_sweep():
    sweeps = {
        "metrics": gains_sweep(np.ones(4), diverged_seeds=[2]),
        "ode": gains_sweep(np.ones(4)),  # paired with metrics by seed
        "companion": gains_sweep(np.ones(3), diverged_seeds=[0]),
        "theory": SweepResult(axes={"noise": np.array([0.1])}, steps=np.array([1]),
                              metrics={"x": np.ones((1, 1))}),
    }  # fmt: skip
    kept, notes = drop_diverged_seeds(sweeps)
    assert [list(kept[n].axes["seed"]) for n in ("metrics", "ode", "companion")] == [
        [1, 3], [1, 3], [1]
    ]  # fmt: skip
    assert kept["theory"] is sweeps["theory"]
    assert notes[0].startswith(" Excluded: 1 seed value(s) [2] of sweep 'metrics'")
    assert notes[1].startswith(" Excluded: 1 seed value(s) [0] of sweep 'companion'")
    assert notes[2] == (
        " The same seed value(s) [2, 0] are left out of sweep(s) 'metrics', 'ode', "
        "'companion' too, so runs stay paired across sweeps."
    )
    unchanged, none = drop_diverged_seeds({"ode": sweeps["ode"]})
    assert unchanged["ode"] is sweeps["ode"] and none == []


def test_every_seed_diverged_gives_an_inconclusive_claim_that_says_so():
    sweeps = {"metrics": gains_sweep([1.0, 2.0], diverged_seeds=[0, 1])}
    called = []
    analysis = replicated_analysis(lambda c, s: called.append(s), None, sweeps)
    assert not called and analysis.figures == {}
    (claim,) = analysis.claims
    assert claim.verdict == "inconclusive" and claim.replication == "n/a"
    assert "No seed is left in sweep(s) 'metrics': every one of its seeds" in claim.statement
    assert len(analysis.notes) == 1


def test_halves_are_matched_by_id_and_occurrence():
    whole = [Claim("A", "a", "holds", 1.0), Claim("A", "a2", "fails", 2.0)]
    half = [Claim("A", "a", "holds", 1.5), Claim("A", "a2", "holds", 2.5)]
    attached = attach_halves(whole, [half, []])
    assert [c.halves[0].statistic for c in attached] == [1.5, 2.5]
    assert [c.halves[1] for c in attached] == [None, None]


def test_only_claims_count_and_other_kinds_get_labelled_tables():
    analysis = replicated_analysis(gain_analyze, None, world(1.0, 1.0, 1.0))
    document = claims_document("toy", "cpu", analysis.claims, analysis.notes, analysis.split)
    summary = json.loads(json.dumps(document))["summary"]
    assert summary["claim"]["count"] == 1 and summary["claim"]["holds"] == 1
    assert summary["claim"]["replicated"] == {"holds": 1, "fails": 0, "inconclusive": 0}
    assert summary["sanity"]["count"] == 1 and summary["exploratory"]["inconclusive"] == 1
    assert summary == summarize(document["claims"])
    text = claims_markdown(document)
    assert text.startswith(
        "Claims of toy (cpu): 1 holds (1 replicated), 0 fails (0 replicated), "
        "0 inconclusive (0 replicated)\n"
    )
    assert "Sanity checks (true by construction; not counted):" in text
    assert "Exploratory (hypotheses formed after seeing data; not counted):" in text
    assert text.index("| S | holds |") > text.index("Sanity checks")
    assert "| G | holds | replicated | 1 |" in text and SPLIT_RULE in text


def test_tally_names_the_claims_that_did_not_replicate():
    rows = [
        {"id": "C1", "verdict": "holds", "replication": "replicated"},
        {"id": "C2", "verdict": "holds", "replication": "not replicated"},
        {"id": "C3", "verdict": "fails"},  # an old claims.json: no kind, no halves
    ]
    tally = summarize(rows)["claim"]
    assert tally_text(tally) == (
        "2 holds (1 replicated), 1 fails (0 replicated), 0 inconclusive (0 replicated); "
        "not replicated: C2"
    )
    assert tally["unavailable"] == ["C3"]


# ------------------------------------------------------------------------ through the runner


def toy_sweeps(config, execution=None) -> dict[str, SweepResult]:
    return {"metrics": gains_sweep(np.linspace(1.0, 1.1, 6), diverged_seeds=[4])}


def toy_analyze(config, sweeps):
    claims, _ = gain_analyze(config, sweeps)
    figure, ax = plt.subplots(figsize=(2, 2))
    ax.plot(sweeps["metrics"].final["gain"][:, 1])
    return claims, {"gains": figure}


EXPERIMENT = Experiment("toy_claims", lambda config: None, toy_sweeps, toy_analyze)


def test_the_runner_writes_replicated_claims_notes_and_the_machine(tmp_path, monkeypatch):
    open_before = plt.get_fignums()  # figures other tests of this process left open
    monkeypatch.setitem(experiments.REGISTRY, "toy_claims", __name__)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false")
    config = ml_collections.ConfigDict({"experiment": "toy_claims", "variant": "tiny"})
    document = runner.run(config, tmp_path / "run", show_progress=False)
    on_disk = json.loads((tmp_path / "run" / FINISHED_MARKER).read_text())
    assert on_disk == json.loads(json.dumps(document))
    assert on_disk["notes"] == [
        "Excluded: 1 seed value(s) [4] of sweep 'metrics' with a cell whose state or metrics "
        "became NaN/Inf (frozen at divergence)."
    ]
    assert [h["seeds"]["metrics"] for h in on_disk["split"]["halves"]] == [[0, 1, 2], [3, 5]]
    assert [c["replication"] for c in on_disk["claims"]] == ["replicated"] * 3
    assert on_disk["summary"]["claim"]["replicated"]["holds"] == 1
    assert (tmp_path / "run" / "claims.md").read_text() == claims_markdown(on_disk)
    run_json = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run_json["xla_flags"] == "--xla_cpu_enable_fast_math=false"
    assert run_json["cpu"] == runner.cpu_model() and run_json["cpu"] != "unknown"
    assert (tmp_path / "run" / "gains.png").exists()
    assert plt.get_fignums() == open_before  # the halves' figures were closed, the whole's saved
