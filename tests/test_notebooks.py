"""The Colab notebooks in colabs/: each runs top to bottom, and every notebook is stored clean.

The execution tests start a Jupyter kernel on this interpreter (a kernel spec written to a
temporary directory, so a ``python3`` kernel spec installed elsewhere on the machine, for
another Python, is never picked up) in the repository root, with the checkout first on
``PYTHONPATH`` (the notebooks' install cell then finds the package and does nothing) and
``TMPDIR`` in the test's temporary directory (where the notebooks' work directories land).
"""

import json
import os
import pathlib
import sys

import nbclient
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAPERS = ("acharyya2021", "bartoldson2020", "wolfe2021", "yang2023")
NOTEBOOKS = sorted((ROOT / "colabs").glob("*.ipynb"))
CELL_TIMEOUT_S = 600
KERNEL_NAME = "pruning-theory-tests"
# Folders that hold no notebooks of the project.
SKIPPED_FOLDERS = {".venv", ".git", "runs", "node_modules", ".ipynb_checkpoints"}
# Cell metadata that only an executed or edited notebook carries.
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


def _kernel_manager(directory: pathlib.Path) -> AsyncKernelManager:
    """A kernel manager whose only kernel spec runs ipykernel on this interpreter."""
    spec = directory / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL_NAME, "language": "python"})
    )
    specs = KernelSpecManager(kernel_dirs=[str(spec.parent)], ensure_native_kernel=False)
    return AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)


def test_one_notebook_per_paper():
    assert [path.stem for path in NOTEBOOKS] == list(PAPERS)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    # One extra cell, after the notebook's own: which Python the kernel ran.
    notebook.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))
    client = nbclient.NotebookClient(
        notebook,
        km=_kernel_manager(tmp_path),
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(ROOT)}},
    )
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    # Raises nbclient.exceptions.CellExecutionError, with the cell and its traceback, on error.
    client.execute(env={**os.environ, "PYTHONPATH": python_path, "TMPDIR": str(tmp_path)})
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
def test_notebook_is_stored_stripped(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert "widgets" not in notebook.metadata, f"{path.name}: widget state in the metadata"
    for index, cell in enumerate(notebook.cells):
        where = f"{path.name} cell {index}"
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{where}: outputs are stored"
            assert cell.execution_count is None, f"{where}: execution_count is stored"
        assert not EXECUTION_METADATA & set(cell.metadata), f"{where}: execution metadata"
        assert not cell.get("attachments"), f"{where}: attachments are stored"
