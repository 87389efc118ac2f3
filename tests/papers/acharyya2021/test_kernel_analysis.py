"""What the DPP sees beyond k_n = M (`kernel_analysis`), and LAPACK on one thread."""

import numpy as np
import threadpoolctl

from pruning_theory.engine.results import SweepResult
from pruning_theory.papers.acharyya2021 import kernel_analysis, lapack


def test_relative_spectrum_and_group_overlaps_of_a_two_block_kernel():
    block = np.full((3, 3), 0.9) + 0.1 * np.eye(3)
    kernel = np.block([[block, np.zeros((3, 3))], [np.zeros((3, 3)), block]])
    spectrum = kernel_analysis.relative_spectrum(kernel[None])[0]
    np.testing.assert_allclose(spectrum, [1, 1, 0.1 / 2.8, 0.1 / 2.8, 0.1 / 2.8, 0.1 / 2.8])
    within, across = kernel_analysis.group_overlaps(kernel[None], np.array([[0, 0, 0, 1, 1, 1]]))
    np.testing.assert_allclose([within[0], across[0]], [0.9, 0.0])


def fake(errors, probability) -> SweepResult:
    final = {"ge_drop_one": np.asarray(errors)[None, None], "drop_probability_linear":
             np.asarray(probability)[None, None]}  # fmt: skip
    return SweepResult(axes={"seed": [0], "noise": [0.0]}, steps=np.array([1]), metrics={},
                       final=final)  # fmt: skip


def test_drop_one_summary_measures_the_share_of_the_best_drop_captured():
    errors = [1.0, 2.0, 3.0, 2.0]  # uniform drop: 2; best: 1
    uniform = kernel_analysis.drop_one_summary(fake(errors, [0.25] * 4), "linear")
    assert uniform["captured"][0, 0] == 0.0 and uniform["best_probability"][0, 0] == 0.25
    oracle = kernel_analysis.drop_one_summary(fake(errors, [1.0, 0, 0, 0]), "linear")
    assert oracle["captured"][0, 0] == 1.0 and oracle["dpp"][0, 0] == 1.0
    worst = kernel_analysis.drop_one_summary(fake(errors, [0, 0, 1.0, 0]), "linear")
    assert worst["captured"][0, 0] == -1.0
    flat = kernel_analysis.drop_one_summary(fake([1.0] * 4, [0.25] * 4), "linear")
    assert np.isnan(flat["captured"][0, 0])  # nothing to gain: undefined, not 0


def test_one_lapack_thread_limits_openblas_inside_the_block_only():
    def threads():
        return [
            i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
        ]

    before = threads()
    assert before  # scipy's OpenBLAS is loaded by importing `lapack`
    with lapack.one_lapack_thread():
        assert set(threads()) == {1}
    assert threads() == before
