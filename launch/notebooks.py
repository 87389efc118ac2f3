r"""Executes the colabs/ notebooks in place, so they are stored with the outputs of a tiny run.

    python -m launch.notebooks colabs/*.ipynb      # or: make notebooks

Each notebook runs top to bottom with nbclient on a kernel of this interpreter (a kernel spec
written to a temporary directory, so no other Python's ``python3`` kernel is picked up), in
the repository root with the checkout first on ``PYTHONPATH`` and ``TMPDIR`` (where the
notebooks' work directories land) in a temporary directory. The notebook must set
``VARIANT = "tiny"`` (the stored outputs are a smoke test, small and quick to redo). Before
writing, the PNG outputs are shrunk (at most `MAX_WIDTH` pixels wide, 256 colours) so a
notebook stays well under `MAX_BYTES`; cell timings are dropped (they would change every
time); ``metadata.pruning_theory`` records the variant and the commit. A notebook that fails
is left as it was. ``tests/test_notebooks.py`` executes the notebooks and checks what is
stored.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import nbclient
import nbformat
from absl import app
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from launch import cli

ROOT = pathlib.Path(__file__).resolve().parents[1]
KERNEL_NAME = "pruning-theory-notebooks"
CELL_TIMEOUT_S = 600
MAX_WIDTH = 900  # pixels of a stored PNG output
MAX_BYTES = 2**20  # a stored notebook, outputs included
VARIANT = re.compile(r'^VARIANT = "(\w+)"', re.MULTILINE)


def kernel_manager(directory: pathlib.Path) -> AsyncKernelManager:
    """A kernel manager whose only kernel spec runs ipykernel on this interpreter."""
    spec = pathlib.Path(directory) / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL_NAME, "language": "python"})
    )
    specs = KernelSpecManager(kernel_dirs=[str(spec.parent)], ensure_native_kernel=False)
    return AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)


def variant(notebook) -> str | None:
    """The ``VARIANT = "..."`` a notebook's code sets, or None."""
    for cell in notebook.cells:
        found = VARIANT.search(cell.source) if cell.cell_type == "code" else None
        if found:
            return found.group(1)
    return None


def execute(notebook, directory: pathlib.Path) -> None:
    """Runs ``notebook`` in place from the repository root, its temporary files in
    ``directory``.

    Raises:
      nbclient.exceptions.CellExecutionError: with the failing cell and its traceback.
    """
    client = nbclient.NotebookClient(
        notebook,
        km=kernel_manager(directory),
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(ROOT)}},
    )
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    client.execute(env={**os.environ, "PYTHONPATH": python_path, "TMPDIR": str(directory)})


def shrink_png(data: str, max_width: int = MAX_WIDTH) -> str:
    """A base64 PNG at most ``max_width`` wide, in 256 colours (Pillow, matplotlib's own)."""
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(data)))
    if image.width > max_width:
        height = round(image.height * max_width / image.width)
        image = image.resize((max_width, height), Image.Resampling.LANCZOS)
    image = image.convert("RGB").quantize(colors=256)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _coalesced(outputs: list) -> list:
    """Consecutive stream outputs of one stream (stdout, stderr) joined into one."""
    joined = []
    for output in outputs:
        previous = joined[-1] if joined else None
        if (
            previous is not None
            and output.get("output_type") == previous.get("output_type") == "stream"
            and output.get("name") == previous.get("name")
        ):
            previous["text"] += output["text"]
        else:
            joined.append(output)
    return joined


def tidy(notebook, commit: str) -> None:
    """Shrinks the PNG outputs, joins stream outputs, drops cell timings, records the variant
    and the commit."""
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = _coalesced(cell.outputs)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                data["image/png"] = shrink_png(data["image/png"])
                output.get("metadata", {}).pop("image/png", None)  # the old width and height
    notebook.metadata.pop("widgets", None)
    notebook.metadata["pruning_theory"] = {"variant": variant(notebook), "commit": commit}


def _commit() -> str:
    """The short commit of the checkout, ``-dirty`` with local changes to tracked files."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    status = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    )
    dirty = "-dirty" if status.stdout.strip() else ""
    return (head.stdout.strip() or "unknown") + dirty


def regenerate(path: pathlib.Path) -> int:
    """Executes one notebook and writes it back with its outputs; returns its size in bytes.

    Raises:
      ValueError: if the notebook does not set ``VARIANT = "tiny"``, or grows past
        `MAX_BYTES`.
    """
    notebook = nbformat.read(path, as_version=4)
    if variant(notebook) != "tiny":
        raise ValueError(f"{path} sets VARIANT = {variant(notebook)!r}; store tiny outputs only")
    with tempfile.TemporaryDirectory() as directory:
        execute(notebook, pathlib.Path(directory))
    tidy(notebook, _commit())
    nbformat.validate(notebook)
    text = nbformat.writes(notebook) + "\n"
    if len(text.encode()) > MAX_BYTES:
        raise ValueError(f"{path} would be {len(text.encode())} bytes, over {MAX_BYTES}")
    path.write_text(text)
    return len(text.encode())


def main(argv):
    paths = [pathlib.Path(p) for p in argv[1:]] or sorted((ROOT / "colabs").glob("*.ipynb"))
    for path in paths:
        size = regenerate(path)
        print(f"{path}: executed, {size / 1024:.0f} KiB with outputs")


if __name__ == "__main__":
    app.run(cli.with_errors(main), flags_parser=cli.parse_flags)
