"""Shared figure helpers: bounded intervals, legends, mathtext checks, captions, PNG + PDF."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from pruning_theory import plots  # noqa: E402
from pruning_theory.claims import mean_ci  # noqa: E402


def test_a_proportion_band_stays_in_0_1_where_the_t_interval_does_not():
    accuracies = np.array([[1.0, 0.5], [1.0, 0.55], [1.0, 0.45], [0.7, 0.5]])  # [seed, rate]
    _, t_low, t_high = mean_ci(accuracies)
    assert t_high[0] > 1  # the failure the bounded bands fix
    figure, ax = plt.subplots()
    plots.band(ax, [0, 1], accuracies, label="accuracy", kind="proportion")
    (fill,) = ax.collections
    y = fill.get_paths()[0].vertices[:, 1]
    assert y.max() == 1 and np.isclose(y.min(), min(t_low))  # clipped only where impossible
    plt.close(figure)


def test_bootstrap_interval_stays_in_the_data_range_and_is_reproducible():
    accuracies = np.array([[1.0, 0.5], [1.0, 0.55], [1.0, 0.45], [0.7, 0.5]])
    mean, low, high = plots.bootstrap_mean_ci(accuracies)
    np.testing.assert_allclose(mean, accuracies.mean(axis=0))
    assert np.all(accuracies.min(axis=0) <= low) and np.all(high <= accuracies.max(axis=0))
    assert np.all(low <= mean) and np.all(mean <= high)
    np.testing.assert_array_equal(plots.bootstrap_mean_ci(accuracies)[1], low)


def test_clipped_t_covers_a_known_mean_at_few_seeds_where_the_bootstrap_does_not():
    """Why bounded bands are clipped t-intervals: per-seed accuracies around a true mean 0.9
    (a beta distribution of training outcomes), 4 seeds, 1000 repetitions."""
    rng = np.random.default_rng(0)
    true_mean = 0.9
    samples = rng.beta(true_mean * 20, (1 - true_mean) * 20, size=(4, 1000))
    _, low, high = mean_ci(samples)
    low, high = np.clip(low, 0, 1), np.clip(high, 0, 1)
    clipped = np.mean((low <= true_mean) & (true_mean <= high))
    _, low, high = plots.bootstrap_mean_ci(samples, resamples=1000)
    bootstrap = np.mean((low <= true_mean) & (true_mean <= high))
    assert 0.88 <= clipped <= 0.98, clipped
    assert bootstrap < 0.85, bootstrap
    _, low, high = plots.bootstrap_mean_ci(samples[:, :1] + 0.05, resamples=1000)
    assert not low[0] <= true_mean  # a shifted mean is excluded


def test_one_seed_gives_an_infinite_interval_that_bounds_clip():
    _, low, high = plots.bootstrap_mean_ci(np.array([[0.3, 0.9]]))
    assert np.all(np.isneginf(low)) and np.all(np.isposinf(high))
    figure, ax = plt.subplots()
    plots.band(ax, [0, 1], np.array([[0.3, 0.9]]), label="one seed", kind="proportion")
    (fill,) = ax.collections
    y = fill.get_paths()[0].vertices[:, 1]
    assert y.min() == 0 and y.max() == 1
    plt.close(figure)


def test_clopper_pearson_fraction_of_seeds():
    events = np.array([[1, 0], [1, 0], [1, 1], [1, 0]])
    fraction, low, high = plots.fraction_ci(events)
    np.testing.assert_allclose(fraction, [1.0, 0.25])
    np.testing.assert_allclose([low[0], high[0]], [0.3976, 1.0], atol=1e-4)  # (0.025)^(1/4)
    assert 0 < low[1] < 0.25 < high[1] < 1
    with pytest.raises(ValueError, match="needs 0/1 events per seed, got 0.5"):
        plots.fraction_ci(np.array([[0.5, 1.0]]))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"kind": "fraction"}, "band kind 'fraction' is not one of"),
        ({"interval": "wald"}, "band interval 'wald' is not one of"),
        ({"kind": "proportion"}, r"value 1.2 is outside its bounds \[0.0, 1.0\]"),
        ({"bounds": (0, 100), "interval": "t"}, r"value -3.0 is outside its bounds \[0, 100\]"),
    ],
)
def test_bad_bands_are_refused_naming_the_value(options, message):
    figure, ax = plt.subplots()
    values = np.array([[0.5, 1.2], [-3.0, 0.9]])
    with pytest.raises(ValueError, match=message):
        plots.band(ax, [0, 1], values, label="x", **options)
    plt.close(figure)


def test_bands_name_their_interval_and_a_clipped_t_interval_says_so():
    figure, ax = plt.subplots()
    values = np.array([[1.0, 0.5], [1.0, 0.6], [0.6, 0.5]])
    plots.band(ax, [0, 1], values, label="accuracy", kind="proportion")
    plots.band(ax, [0, 1], 100 * values, label="percent", bounds=(0, 100))
    plots.band(ax, [0, 1], values, label="loss")
    plots.band(ax, [0, 1], values, label="boot", kind="proportion", interval="bootstrap")
    (_, accuracy), (_, percent), _, _ = (f.get_paths()[0].vertices.T for f in ax.collections)
    assert accuracy.max() == 1 and percent.max() == 100  # clipped
    sentence = plots.intervals_sentence(figure)
    assert sentence == (
        "Bands: 95% Student-t intervals of the mean over seeds, clipped to [0, 1]; 95% "
        "Student-t intervals of the mean over seeds, clipped to [0, 100]; 95% Student-t "
        "intervals of the mean over seeds; 95% percentile-bootstrap intervals of the mean over "
        "seeds (2000 resamples of the seeds)."
    )
    plt.close(figure)


def test_figure_problems_find_unlabelled_lines_missing_legends_and_raw_tex():
    figure, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label=r"$\gamma_{j,r}$")
    ax.legend()
    ax.axhline(0.5)
    twin = ax.twinx()
    twin.plot([0, 1], [1, 0], label="train accuracy")
    ax.set_title("mean_j max_r gamma_{j,r}")
    problems = plots.figure_problems(figure)
    assert len(problems) == 3, problems
    assert "1 line(s) without a legend label" in problems[0]
    assert "['train accuracy'] in no legend" in problems[1]
    assert "TeX outside $...$ in 'mean_j max_r gamma_{j,r}'" in problems[2]
    plots.legend(ax, twin)
    assert len(plots.figure_problems(figure)) == 2  # the twin's line is now in ax's legend
    plt.close(figure)
    figure, ax = plt.subplots()
    ax.errorbar([0], [1], yerr=[[0.1], [0.1]], fmt="o", capsize=3)  # data line + caps: one
    ax.errorbar([1], [1], yerr=[[0.1], [0.1]], fmt="o", capsize=3, label="mean, 95% CI")
    ax.legend()
    assert plots.figure_problems(figure) == ["'axes 0': 1 line(s) without a legend label"]
    plt.close(figure)


def test_caption_line():
    assert (
        plots.caption_line("yang2023", "cpu", 16, "46fe0fb3c1a2d4e5f6a7b8c9d0e1f2a3b4c5d6e7-dirty")
        == "experiment yang2023, config cpu, 16 seeds, commit 46fe0fb3c1a2 (dirty)"
    )
    assert (
        plots.caption_line("x", "tiny", None, "unknown")
        == "experiment x, config tiny, commit unknown"
    )


def test_save_writes_png_and_pdf_with_a_caption_and_the_missing_legends(tmp_path):
    figure, ax = plt.subplots(figsize=(4, 3))
    plots.band(ax, [0, 1, 2], np.array([[0.9, 0.8, 1.0], [1.0, 0.7, 0.9]]), label="acc",
               kind="proportion")  # fmt: skip
    caption = plots.caption_line("yang2023", "tiny", 2, "abc")
    text = plots.save(figure, tmp_path / "figure.png", caption=caption)
    assert text == f"{caption}. Bands: 95% Student-t intervals of the mean over seeds, " \
        "clipped to [0, 1]."  # fmt: skip
    assert ax.get_legend() is not None  # added: the labelled band was in no legend
    assert not plt.fignum_exists(figure.number)
    image = Image.open(tmp_path / "figure.png")
    assert round(image.info["dpi"][0]) == plots.DPI and image.width >= 3 * plots.DPI
    assert (tmp_path / "figure.pdf").read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.pdf", "figure.png"]
