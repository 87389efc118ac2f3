"""LAPACK calls on one OpenBLAS thread, beside XLA's own threads.

jaxlib runs LAPACK (eigendecompositions, Cholesky factorizations, triangular solves) through
scipy's OpenBLAS, whose worker threads busy-wait for work. On a 2-core machine shared with
XLA's thread pool (and other jobs) that spinning took over 90% of acharyya2021's pruning time
(200 Cholesky factorizations of 392 x 392, the size of docs/papers/acharyya2021.md's real-data
edge reweighting: 45x more CPU time than on one thread; BENCHMARKS.md). `one_lapack_thread`
limits it for a block of code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import scipy.linalg  # noqa: F401  (loads the OpenBLAS that jaxlib's LAPACK kernels call)
import threadpoolctl


@contextlib.contextmanager
def one_lapack_thread() -> Iterator[None]:
    """Runs the block with OpenBLAS (and any other BLAS) on one thread.

    threadpoolctl reaches only libraries already loaded, hence the module-level
    ``import scipy.linalg``.
    """
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        yield
