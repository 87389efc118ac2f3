"""The reproduction report: content, embedded figures, bad inputs, and a headless browser."""

import base64
import json
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from matplotlib import image as mpimg

from pruning_theory import report
from pruning_theory.claims import SPLIT_RULE, Claim, attach_halves, claims_document
from pruning_theory.workdir import FINISHED_MARKER, write_json

MAGENTA = (1.0, 0.0, 1.0)


def fake_claims(c2="fails") -> list[Claim]:
    """Three claims (C1 replicated, C2 ``c2`` and not replicated, C3 partial), a sanity check
    and an exploratory row, as `claims.replicated_analysis` returns them."""
    whole = [
        Claim("C1", "a | piped statement", "holds", 0.5, (0.4, 0.6), 0.45),
        Claim("C2", "fails here", c2, 1.25, None, None),
        Claim("C3", "unsure", "inconclusive", -0.01, (-0.02, 0.003)),
        Claim("S1", "masks hold by construction", "holds", 0.0, kind="sanity"),
        Claim("E1", "a pattern seen after the run", "fails", 2.0, kind="exploratory"),
    ]
    halves = [
        [Claim("C1", "", "holds", 0.52, (0.41, 0.63)), Claim("C2", "", "fails", 1.5),
         Claim("C3", "", "holds", 0.01, (0.001, 0.02)), Claim("S1", "", "holds", 0.0),
         Claim("E1", "", "fails", 2.0)],
        [Claim("C1", "", "holds", 0.48, (0.37, 0.59)), Claim("C2", "", "holds", 1.0),
         Claim("C3", "", "inconclusive", -0.02, (-0.05, 0.01)), Claim("S1", "", "holds", 0.0),
         Claim("E1", "", "fails", 2.0)],
    ]  # fmt: skip
    return attach_halves(whole, halves)


SPLIT = {
    "rule": SPLIT_RULE,
    "halves": [
        {"name": "A", "seeds": {"metrics": [0, 1]}, "available": True, "reason": None},
        {"name": "B", "seeds": {"metrics": [2, 3]}, "available": True, "reason": None},
    ],
}


def fake_run(
    directory: pathlib.Path, experiment: str, color=MAGENTA, c2="fails", cpu="AMD EPYC 7B13"
) -> pathlib.Path:
    """A finished work directory as `runner.run` writes it, with one solid-color figure."""
    directory.mkdir(parents=True)
    claims = fake_claims(c2)
    write_json(directory / "config.json", {"experiment": experiment, "grid": {"seed": [0]}})
    write_json(
        directory / "run.json",
        {"seconds": 75.0, "git_commit": "abc123", "cpu": cpu, "xla_flags": ""},
    )
    write_json(directory / "theory.json", {"p_lo": 0.7052774801})
    pixels = np.broadcast_to(np.array(color, np.float32), (60, 80, 3))
    mpimg.imsave(directory / f"{experiment}_curves.png", np.ascontiguousarray(pixels))
    notes = ["Excluded: 1 seed value(s) [3] of sweep 'metrics'."]
    document = claims_document(experiment, "cpu", claims, notes, SPLIT)
    write_json(directory / FINISHED_MARKER, document)
    return directory


def test_markdown_and_html_show_every_claim_figure_and_provenance(tmp_path):
    runs = [
        report.load_run(fake_run(tmp_path / "a", "yang2023")),
        report.load_run(fake_run(tmp_path / "b", "wolfe2021")),
    ]
    markdown = report.markdown_report(runs)
    # Only claims are counted (the sanity check and the exploratory row are not).
    assert (
        "| [yang2023](#yang2023) | cpu | 1 (1 rep.) | 1 (0 rep.) | 1 (0 rep.) | C2 | 1/1 hold "
        "| 1 | 1 min 15 s |"
    ) in markdown
    assert "wall time of the sweeps and their analysis 2 min 30 s" in markdown
    assert (
        "| C1 | holds | replicated | 0.5 | [0.4, 0.6] | holds 0.52 [0.41, 0.63] | "
        "holds 0.48 [0.37, 0.59] | 0.45 | a \\| piped statement |"
    ) in markdown
    assert "| C2 | **fails** | **not replicated** | 1.25 | - | fails 1.5 | holds 1 | -" in markdown
    assert "| C3 | **inconclusive** | partial |" in markdown
    assert (
        "Tally of the claims: 1 holds (1 replicated), 1 fails (0 replicated), 1 inconclusive "
        "(0 replicated); not replicated: C2."
    ) in markdown
    sanity = markdown.index("Sanity checks (true by construction; not counted):")
    exploratory = markdown.index("Exploratory (hypotheses formed after seeing data; not counted):")
    assert markdown.index("| C3 |") < sanity < markdown.index("| S1 |") < exploratory
    assert exploratory < markdown.index("| E1 | **fails** |")
    assert "Note: Excluded: 1 seed value(s) [3]" in markdown
    assert "Half A: analyzed; seeds metrics: [0, 1]." in markdown
    assert markdown.count(SPLIT_RULE) == 1  # once, at the top
    assert "![yang2023_curves](yang2023_curves.png)" in markdown
    assert '"p_lo": 0.7053' in markdown and "abc123" in markdown and "AMD EPYC 7B13" in markdown
    assert "Random pruning at initialization" in markdown  # the module's summary line
    headline = report.headline_markdown(runs, prefix="docs/report/")
    assert "| [wolfe2021](docs/report/report.md#wolfe2021) | cpu | 1 (1 rep.) |" in headline
    assert "![yang2023_curves](docs/report/yang2023_curves.png)" in headline
    assert headline.count("| C1 | holds |") == 1  # the first run's claims only

    page = report.html_report(runs)
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(uris) == 2
    assert base64.b64decode(uris[0]) == (tmp_path / "a" / "yang2023_curves.png").read_bytes()
    assert page.count('class="verdict"') == 2 * (5 + 1)  # 5 verdicts, 1 "not replicated"
    assert page.count("<tr class=not-replicated><td>C2</td>") == 2
    assert "<td class=num>holds 0.52 [0.41, 0.63]</td>" in page
    assert "<h4>Sanity checks (true by construction; not counted)</h4>" in page
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
    assert completed.returncode != 0
    assert "Exactly one of (workdirs, compare)" in completed.stderr
    assert not (tmp_path / "r").exists()


def test_compare_lists_the_verdicts_that_changed_between_two_runs(tmp_path):
    a = report.load_run(fake_run(tmp_path / "amd", "yang2023"))
    b = report.load_run(fake_run(tmp_path / "intel", "yang2023", c2="inconclusive",
                                 cpu="Intel Xeon"))  # fmt: skip
    assert report.changed_verdicts(a, b) == [report.Change("C2", "claim", "fails", "inconclusive")]
    assert report.changed_verdicts(a, a) == []
    text = report.compare_markdown(a, b)
    assert "| CPU | AMD EPYC 7B13 | Intel Xeon |" in text
    assert "Configs: identical." in text
    assert "Verdicts that changed (1):\n\n* C2 (claim): fails -> inconclusive\n" in text
    assert (
        "| C2 | claim | **fails** | **inconclusive** | 1.25 | 1.25 | - | - | not replicated | "
        "not replicated |"
    ) in text
    assert "| C1 | claim | holds | holds | 0.5 | 0.5 |" in text
    assert "| S1 | sanity | holds | holds |" in text
    assert "No verdict changed." in report.compare_markdown(a, a)


def test_compare_names_absent_claims_and_config_differences(tmp_path):
    a = report.load_run(fake_run(tmp_path / "a", "yang2023"))
    directory = fake_run(tmp_path / "b", "yang2023")
    document = json.loads((directory / FINISHED_MARKER).read_text())
    document["claims"] = document["claims"][1:]  # no C1
    write_json(directory / FINISHED_MARKER, document)
    write_json(directory / "config.json", {"experiment": "yang2023", "grid": {"seed": [0, 1]}})
    b = report.load_run(directory)
    assert report.changed_verdicts(a, b) == [report.Change("C1", "claim", "holds", None)]
    text = report.compare_markdown(a, b)
    assert "* C1 (claim): holds -> absent" in text
    assert "Configs: differ in grid.seed: [0] vs [0, 1]." in text
    assert "| C1 | claim | **holds** | **absent** |" in text


def test_compare_cli_writes_compare_md_and_prints_the_changes(tmp_path):
    a = fake_run(tmp_path / "a", "yang2023")
    b = fake_run(tmp_path / "b", "yang2023", c2="holds")
    out = tmp_path / "cmp"
    command = [sys.executable, "-m", "launch.report", f"--compare={a},{b}", f"--out={out}"]
    root = pathlib.Path(__file__).parents[1]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=root)
    assert completed.returncode == 0, completed.stderr
    assert "Verdicts that changed (1):\n  C2 (claim): fails -> holds" in completed.stdout
    assert (out / "compare.md").read_text().startswith("# yang2023: run A vs run B")
    again = subprocess.run(command, capture_output=True, text=True, cwd=root)
    assert again.returncode != 0 and "--overwrite" in again.stderr


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: [fake_run(tmp / "a", "yang2023")], "takes two work directories"),
        (
            lambda tmp: [fake_run(tmp / "a", "yang2023"), fake_run(tmp / "b", "wolfe2021")],
            "hold different experiments",
        ),
        (lambda tmp: [fake_run(tmp / "a", "yang2023"), tmp / "missing"], "does not exist"),
    ],
)
def test_compare_refuses_bad_workdirs_and_writes_nothing(tmp_path, make, message):
    with pytest.raises(ValueError, match=message):
        report.compare(make(tmp_path), tmp_path / "cmp")
    assert not (tmp_path / "cmp").exists()


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


def _set_commit(directory: pathlib.Path, commit: str) -> pathlib.Path:
    info = json.loads((directory / "run.json").read_text())
    write_json(directory / "run.json", {**info, "git_commit": commit})
    return directory


def test_labelled_runs_of_one_experiment_are_set_side_by_side(tmp_path):
    tiny = fake_run(tmp_path / "runs" / "tiny", "yang2023")
    cpu = fake_run(tmp_path / "runs" / "cpu", "yang2023", c2="holds", color=(0.0, 1.0, 1.0))
    out = tmp_path / "runs" / "report"
    report.write([f"tiny={tiny}", f"cpu={cpu}"], out, "t")
    markdown = (out / "report.md").read_text()
    assert "## yang2023: tiny, cpu side by side" in markdown
    assert "| id | kind | tiny | cpu |" in markdown
    assert "| C1 | claim | holds 0.5 [0.4, 0.6] | holds 0.5 [0.4, 0.6] |" in markdown
    assert "| C2 | claim | **fails 1.25 -** | **holds 1.25 -** |" in markdown
    assert (
        "| yang2023_curves | ![yang2023_curves](yang2023-tiny_curves.png) | "
        "![yang2023_curves](yang2023-cpu_curves.png) |"
    ) in markdown
    assert "## yang2023 (tiny)" in markdown and "## yang2023 (cpu)" in markdown
    assert "[yang2023 (cpu)](#yang2023-cpu)" in markdown
    assert (out / "yang2023-cpu_curves.png").read_bytes() == (
        cpu / "yang2023_curves.png"
    ).read_bytes()
    page = (out / "report.html").read_text()
    assert '<h2 id="yang2023-tiny">yang2023 (tiny)</h2>' in page
    assert "<td class=num><b>fails 1.25 -</b></td><td class=num><b>holds 1.25 -</b></td>" in page
    assert page.count('<div class="row"><figure>') == 1
    assert len(re.findall(r'src="data:image/png', page)) == 4  # side by side, then per run


def test_unlabelled_runs_of_one_experiment_ask_for_labels(tmp_path):
    a, b = fake_run(tmp_path / "a", "yang2023"), fake_run(tmp_path / "b", "yang2023")
    with pytest.raises(ValueError, match=r"distinct labels .*--workdirs=tiny=DIR_A,cpu=DIR_B"):
        report.write([str(a), str(b)], tmp_path / "report", "t")
    with pytest.raises(ValueError, match="both hold yang2023 \\(x\\)"):
        report.write([f"x={a}", f"x={b}"], tmp_path / "report", "t")
    assert not (tmp_path / "report").exists()


def test_parse_labelled_keeps_plain_paths():
    from pruning_theory.report_inputs import parse_labelled

    assert parse_labelled(["tiny=runs/a", "runs/b", "/tmp/x=y", "cpu.v2=/abs/c"]) == [
        ("tiny", "runs/a"),
        (None, "runs/b"),
        (None, "/tmp/x=y"),
        ("cpu.v2", "/abs/c"),
    ]


def test_figure_captions_come_from_figures_json(tmp_path):
    directory = fake_run(tmp_path / "a", "yang2023")
    caption = "Test accuracy vs pruning rate; 95% Wilson intervals. yang2023 (cpu), 4 seeds <b>"
    write_json(
        directory / "figures.json", {"yang2023_curves": {"png": "x.png", "caption": caption}}
    )
    run = report.load_run(directory)
    assert "Figure: Test accuracy vs pruning rate; 95% Wilson intervals." in report.markdown_report(
        [run]
    )
    assert "\\<b\\>" in report.markdown_report([run])  # escaped for markdown
    assert f"<figcaption>{html_escape(caption)}</figcaption>" in report.html_report([run])
    (directory / "figures.json").unlink()
    assert "<figcaption>yang2023_curves.png</figcaption>" in report.html_report(
        [report.load_run(directory)]
    )


def html_escape(text: str) -> str:
    import html

    return html.escape(text)


def test_work_directories_are_shown_relative_never_absolute(tmp_path):
    near = fake_run(tmp_path / "runs" / "yang2023", "yang2023")
    far = fake_run(tmp_path / "elsewhere" / "deep" / "wolfe_run", "wolfe2021")
    out = tmp_path / "runs" / "report"
    report.write([str(near), str(far)], out, "t")
    for name in ("report.md", "report.html", "headline.md"):
        text = (out / name).read_text()
        assert str(tmp_path) not in text, name
    markdown = (out / "report.md").read_text()
    assert "work directory ../yang2023" in markdown and "work directory wolfe\\_run" in markdown
    report.compare([near, near], tmp_path / "cmp")
    assert str(tmp_path) not in (tmp_path / "cmp" / "compare.md").read_text()


def test_runs_from_different_or_dirty_commits_are_warned_about(tmp_path):
    a = _set_commit(fake_run(tmp_path / "a", "yang2023"), "abc123")
    b = _set_commit(fake_run(tmp_path / "b", "wolfe2021"), "def456-dirty")
    out = tmp_path / "report"
    command = [sys.executable, "-m", "launch.report", f"--workdirs={a},{b}", f"--out={out}"]
    completed = subprocess.run(
        command, capture_output=True, text=True, cwd=pathlib.Path(__file__).parents[1]
    )
    assert completed.returncode == 0, completed.stderr
    assert (
        "Warning: these runs come from 2 different commits (yang2023 at abc123, wolfe2021 at "
        "def456-dirty)"
    ) in completed.stderr
    assert "Warning: wolfe2021 ran on a commit with local changes (-dirty)" in completed.stderr
    assert "Warning: these runs come from 2 different commits" in (out / "report.md").read_text()
    assert (
        '<p class="warning">Warning: wolfe2021 ran on a commit' in (out / "report.html").read_text()
    )
    same = [report.load_run(a), report.load_run(fake_run(tmp_path / "c", "wolfe2021"))]
    assert report.run_warnings(same) == []
