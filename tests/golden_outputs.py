"""Golden outputs of every experiment's `tiny` config: claim numbers and sweep arrays.

A change meant to move code, not to change what it computes (a refactor, a new engine
feature), must leave these identical; `tests/test_golden.py` reruns the tiny configs and
compares. A change meant to alter results re-records them with `make golden`
(`python -m tests.golden_outputs`), and the diff of `tests/golden/*.json` shows which claims
and arrays moved, for review beside the code.

What is recorded per experiment: every claim's id, kind, verdict, statistic and CI (not its
wording), and every array of every saved sweep (`*.npz`) by dtype, shape and sha256 of its
bytes. Arrays are bitwise reproducible only on the machine that recorded them (same CPU model,
jax and jaxlib versions, device and core counts, XLA flags; BUILD.md, "Reproducibility"), so the
comparison runs only there and is skipped, with the reason, elsewhere.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pathlib
import sys
import tempfile
from typing import Any

import numpy as np

GOLDEN_DIR = pathlib.Path(__file__).parent / "golden"
CLAIM_FIELDS = ("id", "kind", "verdict", "statistic", "ci")


def machine() -> dict[str, Any]:
    """What bitwise reproducibility depends on: CPU model, library versions, devices, flags."""
    import jax
    import jaxlib

    from pruning_theory import runner

    return {
        "cpu": runner.cpu_model(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "devices": jax.device_count(),
        "cpu_count": os.cpu_count(),  # XLA's thread pool may split reductions by it
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def fingerprint(workdir: str | pathlib.Path) -> dict[str, Any]:
    """The claims' numbers and the sweep arrays' hashes of a finished work directory."""
    workdir = pathlib.Path(workdir)
    document = json.loads((workdir / "claims.json").read_text())
    claims = [{field: claim.get(field) for field in CLAIM_FIELDS} for claim in document["claims"]]
    arrays = {}
    for path in sorted(workdir.glob("*.npz")):
        with np.load(path) as archive:
            for key in sorted(archive.files):
                value = np.ascontiguousarray(archive[key])
                digest = hashlib.sha256(value.tobytes()).hexdigest()
                arrays[f"{path.name}:{key}"] = [str(value.dtype), list(value.shape), digest]
    return {"claims": claims, "arrays": arrays}


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """One line per claim or array that differs between two fingerprints (empty: identical)."""
    lines = []
    claims = {c["id"]: c for c in expected["claims"]}
    measured = {c["id"]: c for c in actual["claims"]}
    for name in sorted(claims.keys() | measured.keys()):
        if claims.get(name) != measured.get(name):
            lines.append(f"claim {name}: recorded {claims.get(name)}, now {measured.get(name)}")
    arrays, now = expected["arrays"], actual["arrays"]
    for name in sorted(arrays.keys() | now.keys()):
        if arrays.get(name) != now.get(name):
            lines.append(f"array {name}: recorded {arrays.get(name)}, now {now.get(name)}")
    return lines


def run_tiny(name: str, workdir: pathlib.Path) -> None:
    """Runs experiment ``name``'s `tiny` config (launch/configs/<name>.py) into ``workdir``."""
    from pruning_theory import runner

    config = importlib.import_module(f"launch.configs.{name}").get_config("tiny")
    runner.run(config, workdir, show_progress=False)


def path(name: str) -> pathlib.Path:
    """Where experiment ``name``'s golden record lives."""
    return GOLDEN_DIR / f"{name}_tiny.json"


def record(names: list[str]) -> None:
    """Reruns the tiny configs of ``names`` and rewrites their golden records."""
    GOLDEN_DIR.mkdir(exist_ok=True)
    for name in names:
        with tempfile.TemporaryDirectory() as scratch:
            run_tiny(name, pathlib.Path(scratch) / name)
            golden = {"machine": machine(), **fingerprint(pathlib.Path(scratch) / name)}
        path(name).write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
        print(f"recorded {path(name)}: {len(golden['claims'])} claims, "
              f"{len(golden['arrays'])} arrays")  # fmt: skip


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    from pruning_theory import experiment

    record(sys.argv[1:] or list(experiment.names()))
