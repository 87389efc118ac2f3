"""The tiny configs still compute what they computed when their golden record was made.

See `tests/golden_outputs.py`: after an intended change of results, `make golden` re-records.
"""

import json

import numpy as np
import pytest

from pruning_theory import experiment
from tests import golden_outputs


def write_run(directory, values, verdict="holds"):
    directory.mkdir()
    claims = [{"id": "C1", "kind": "claim", "verdict": verdict, "statistic": 0.5, "ci": [0, 1]}]
    (directory / "claims.json").write_text(json.dumps({"claims": claims}))
    np.savez(directory / "metrics.npz", accuracy=np.asarray(values, np.float32))
    return golden_outputs.fingerprint(directory)


def test_differences_name_the_changed_claim_and_array(tmp_path):
    recorded = write_run(tmp_path / "a", [0.5, 0.75])
    assert golden_outputs.differences(recorded, write_run(tmp_path / "b", [0.5, 0.75])) == []
    moved = golden_outputs.differences(recorded, write_run(tmp_path / "c", [0.5, 0.7500001]))
    assert len(moved) == 1 and moved[0].startswith("array metrics.npz:accuracy")
    flipped = golden_outputs.differences(recorded, write_run(tmp_path / "d", [0.5, 0.75], "fails"))
    assert len(flipped) == 1 and flipped[0].startswith("claim C1")


def test_every_experiment_has_a_golden_record():
    for name in experiment.names():
        golden = json.loads(golden_outputs.path(name).read_text())
        assert golden["claims"] and golden["arrays"], name


@pytest.mark.slow
@pytest.mark.parametrize("name", experiment.names())
def test_tiny_outputs_match_the_golden_record(name, tmp_path):
    golden = json.loads(golden_outputs.path(name).read_text())
    here = golden_outputs.machine()
    if golden["machine"] != here:
        pytest.skip(f"recorded on {golden['machine']}, this machine is {here}: bitwise outputs "
                    "are compared only on the recording machine")  # fmt: skip
    golden_outputs.run_tiny(name, tmp_path / name)
    problems = golden_outputs.differences(golden, golden_outputs.fingerprint(tmp_path / name))
    assert not problems, "\n".join(
        problems[:20] + ["If the change is meant to alter results, re-record: make golden"]
    )
