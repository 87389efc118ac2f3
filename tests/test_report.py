"""The reproduction report: content, embedded figures, bad inputs, and a headless browser."""

import base64
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from matplotlib import image as mpimg

from pruning_theory import report
from pruning_theory.claims import Claim, claims_document
from pruning_theory.workdir import FINISHED_MARKER, write_json

MAGENTA = (1.0, 0.0, 1.0)


def fake_run(directory: pathlib.Path, experiment: str, color=MAGENTA) -> pathlib.Path:
    """A finished work directory as `runner.run` writes it, with one solid-color figure."""
    directory.mkdir(parents=True)
    claims = [
        Claim("C1", "a | piped statement", "holds", 0.5, (0.4, 0.6), 0.45),
        Claim("C2", "fails here", "fails", 1.25, None, None),
        Claim("C3", "unsure", "inconclusive", -0.01, (-0.02, 0.003)),
    ]
    write_json(directory / "config.json", {"experiment": experiment, "grid": {"seed": [0]}})
    write_json(directory / "run.json", {"seconds": 75.0, "git_commit": "abc123"})
    write_json(directory / "theory.json", {"p_lo": 0.7052774801})
    pixels = np.broadcast_to(np.array(color, np.float32), (60, 80, 3))
    mpimg.imsave(directory / f"{experiment}_curves.png", np.ascontiguousarray(pixels))
    write_json(directory / FINISHED_MARKER, claims_document(experiment, "cpu", claims))
    return directory


def test_markdown_and_html_show_every_claim_figure_and_provenance(tmp_path):
    runs = [
        report.load_run(fake_run(tmp_path / "a", "yang2023")),
        report.load_run(fake_run(tmp_path / "b", "wolfe2021")),
    ]
    markdown = report.markdown_report(runs)
    assert "| [yang2023](#yang2023) | cpu | 1 | 1 | 1 | 1 min 15 s |" in markdown
    assert "wall time of the sweeps and their analysis 2 min 30 s" in markdown
    assert "| C1 | holds | 0.5 | [0.4, 0.6] | 0.45 | a \\| piped statement |" in markdown
    assert "| C2 | **fails** | 1.25 | - | - | fails here |" in markdown
    assert "![yang2023_curves](yang2023_curves.png)" in markdown
    assert '"p_lo": 0.7053' in markdown and "abc123" in markdown
    assert "Random pruning at initialization" in markdown  # the module's summary line
    headline = report.headline_markdown(runs, prefix="docs/report/")
    assert "| [wolfe2021](docs/report/report.md#wolfe2021) | cpu | 1 | 1 | 1 |" in headline
    assert "![yang2023_curves](docs/report/yang2023_curves.png)" in headline
    assert headline.count("| C1 | holds |") == 1  # the first run's claims only

    page = report.html_report(runs)
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(uris) == 2
    assert base64.b64decode(uris[0]) == (tmp_path / "a" / "yang2023_curves.png").read_bytes()
    assert page.count('class="verdict"') == 6
    assert "<script" not in page and "a | piped statement" in page
    assert 'href="#wolfe2021"' in page and 'id="wolfe2021"' in page


def test_cli_writes_report_with_figures_beside_the_markdown(tmp_path):
    workdirs = [fake_run(tmp_path / "a", "yang2023"), fake_run(tmp_path / "b", "wolfe2021")]
    (workdirs[1] / "wolfe2021_curves.png").rename(workdirs[1] / "threshold.png")
    out = tmp_path / "report"
    page = report.write([str(w) for w in workdirs], out, "Title", overwrite=False)
    assert page == out / "report.html" and page.read_text().startswith("<!DOCTYPE html>")
    referenced = re.findall(r"!\[[^]]*\]\(([^)]+)\)", (out / "report.md").read_text())
    assert referenced == ["yang2023_curves.png", "wolfe2021_threshold.png"]
    assert (out / "wolfe2021_threshold.png").read_bytes() == (
        workdirs[1] / "threshold.png"
    ).read_bytes()
    assert sorted(p.name for p in out.glob("*.png")) == sorted(referenced)
    assert "(yang2023_curves.png)" in (out / "headline.md").read_text()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: [str(tmp / "missing")], "does not exist"),
        (lambda tmp: [str(fake_run(tmp / "a", "yang2023")), str(tmp / "b")], "does not exist"),
        (lambda tmp: [str(_unfinished(tmp))], "no finished run"),
        (
            lambda tmp: [
                str(fake_run(tmp / "a", "yang2023")),
                str(fake_run(tmp / "b", "yang2023")),
            ],
            "both hold yang2023",
        ),
        (lambda tmp: [], "no work directories"),
    ],
)
def test_bad_workdirs_are_named_and_nothing_is_written(tmp_path, make, message):
    workdirs = make(tmp_path)
    with pytest.raises(ValueError, match=message):
        report.write(workdirs, tmp_path / "report", "t", overwrite=False)
    assert not (tmp_path / "report").exists()


def _unfinished(tmp: pathlib.Path) -> pathlib.Path:
    directory = fake_run(tmp / "run", "yang2023")
    (directory / FINISHED_MARKER).unlink()
    return directory


def test_existing_report_is_kept_unless_overwrite(tmp_path):
    workdirs = [str(fake_run(tmp_path / "a", "yang2023"))]
    out = tmp_path / "report"
    report.write(workdirs, out, "first", overwrite=False)
    before = (out / "report.html").read_bytes()
    with pytest.raises(FileExistsError, match="--overwrite"):
        report.write(workdirs, out, "second", overwrite=False)
    assert (out / "report.html").read_bytes() == before
    with pytest.raises(ValueError, match="is one of the work directories"):
        report.write(workdirs, tmp_path / "a", "t", overwrite=True)
    report.write(workdirs, out, "second", overwrite=True)
    assert "<title>second</title>" in (out / "report.html").read_text()


def test_cli_names_a_missing_flag(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "launch.report", f"--out={tmp_path / 'r'}"],
        capture_output=True,
        text=True,
        cwd=pathlib.Path(__file__).parents[1],
    )
    assert completed.returncode != 0 and "--workdirs" in completed.stderr
    assert not (tmp_path / "r").exists()


BROWSERS = ("chromium-headless-shell", "chromium", "google-chrome", "chrome")


def _browser() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


@pytest.mark.skipif(_browser() is None, reason="no headless Chromium (apt install chromium)")
def test_headless_browser_shows_the_embedded_figures(tmp_path):
    """The page as a browser draws it: the solid-color figures appear in the screenshot."""
    workdirs = [
        str(fake_run(tmp_path / "a", "yang2023", color=MAGENTA)),
        str(fake_run(tmp_path / "b", "wolfe2021", color=(0.0, 1.0, 1.0))),
    ]
    page = report.write(workdirs, tmp_path / "report", "t", overwrite=False)
    screenshot = tmp_path / "shot.png"
    subprocess.run(
        [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--screenshot={screenshot}", "--window-size=1200,4000", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    pixels = mpimg.imread(screenshot)[..., :3]
    for color in (MAGENTA, (0.0, 1.0, 1.0)):
        drawn = np.all(np.abs(pixels - np.array(color)) < 0.02, axis=-1)
        assert drawn.sum() > 0.5 * 60 * 80, color  # the figure is drawn at least at half size
