"""The Colab notebooks in colabs/: each runs top to bottom, and what is stored is small.

The execution tests start a Jupyter kernel on this interpreter (`launch.notebooks`: a kernel
spec written to a temporary directory, so a ``python3`` kernel spec installed elsewhere on the
machine, for another Python, is never picked up) in the repository root, with the checkout
first on ``PYTHONPATH`` (the notebooks' install cell then finds the package and does nothing)
and ``TMPDIR`` in the test's temporary directory (where the notebooks' work directories land).

The notebooks are committed with the outputs of a tiny run (``make notebooks``); the storage
test checks that a notebook is under `launch.notebooks.MAX_BYTES`, holds no widget state,
timings, attachments or errors, and that its outputs, if any, come from the tiny variant.
"""

import base64
import io
import os
import pathlib
import sys

import nbformat
import pytest
from matplotlib import pyplot as plt
from PIL import Image

from launch import notebooks

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAPERS = ("acharyya2021", "bartoldson2020", "wolfe2021", "yang2023")
NOTEBOOKS = sorted((ROOT / "colabs").glob("*.ipynb"))
# Folders that hold no notebooks of the project.
SKIPPED_FOLDERS = {".venv", ".git", "runs", "node_modules", ".ipynb_checkpoints"}
# Cell metadata that an edited or executed notebook carries and a stored one does not.
EXECUTION_METADATA = {"execution", "collapsed", "scrolled", "outputId"}


def repository_notebooks() -> list[pathlib.Path]:
    """Every .ipynb of the checkout, outside virtual environments, run outputs and .git."""
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED_FOLDERS]
        found += [pathlib.Path(folder, name) for name in files if name.endswith(".ipynb")]
    return sorted(found)


def _ids(paths):
    return [str(path.relative_to(ROOT)) for path in paths]


def test_one_notebook_per_paper():
    assert [path.stem for path in NOTEBOOKS] == list(PAPERS)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    # One extra cell, after the notebook's own: which Python the kernel ran.
    notebook.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))
    # Raises nbclient.exceptions.CellExecutionError, with the cell and its traceback, on error.
    notebooks.execute(notebook, tmp_path)
    (output,) = notebook.cells[-1].outputs
    assert output["text"].strip() == sys.executable
    # The figures are shown: the saved PNGs and the knob cell's inline plot.
    images = [
        out
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if "image/png" in out.get("data", {})
    ]
    assert len(images) >= 2, f"{path.name}: {len(images)} images shown"
    knob = [cell for cell in notebook.cells if "plt.show()" in cell.source]
    assert knob and any("image/png" in out.get("data", {}) for out in knob[-1].outputs)


@pytest.mark.parametrize("path", repository_notebooks(), ids=_ids(repository_notebooks()))
def test_stored_notebook_is_small_and_its_outputs_come_from_a_tiny_run(path):
    assert path.stat().st_size < notebooks.MAX_BYTES, f"{path.name}: {path.stat().st_size} bytes"
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert "widgets" not in notebook.metadata, f"{path.name}: widget state in the metadata"
    outputs = [out for cell in notebook.cells for out in cell.get("outputs", [])]
    if outputs:  # executed by `make notebooks`: the tiny variant only, recorded as such
        assert notebooks.variant(notebook) == "tiny", path.name
        assert notebook.metadata.get("pruning_theory", {}).get("variant") == "tiny", path.name
    for index, cell in enumerate(notebook.cells):
        where = f"{path.name} cell {index}"
        assert not EXECUTION_METADATA & set(cell.metadata), f"{where}: execution metadata"
        assert not cell.get("attachments"), f"{where}: attachments are stored"
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"{where}: stores an error"
            assert str(ROOT) not in str(output), f"{where}: a local path ({ROOT}) in the output"


def test_tidy_shrinks_images_and_records_the_variant():
    figure = plt.figure(figsize=(12, 8), dpi=200)
    figure.gca().plot(range(10))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode()
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('VARIANT = "tiny"')
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="a\n"),
        nbformat.v4.new_output("stream", name="stderr", text="b\n"),
        nbformat.v4.new_output("display_data", data={"image/png": data}),
    ]
    cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    notebook.cells.append(cell)
    notebooks.tidy(notebook, "abc123")
    stream, image_output = notebook.cells[0].outputs
    assert stream["text"] == "a\nb\n"
    shrunk = image_output["data"]["image/png"]
    assert len(shrunk) < len(data) / 2
    image = Image.open(io.BytesIO(base64.b64decode(shrunk)))
    assert image.width == notebooks.MAX_WIDTH
    assert "execution" not in notebook.cells[0].metadata
    assert notebook.metadata["pruning_theory"] == {"variant": "tiny", "commit": "abc123"}
