"""Performance harness: vectorized grids against per-cell loops, PyTorch and the matmul peak.

`timing` (wall clock, compile counting, the measured matmul peak and copy bandwidth), `flops`
(XLA cost analysis of one cell's init, step, metrics and finalize), `cells` (the grid and the
per-cell loop, run through the same segment driver), and `torch_reference` (PyTorch loops over
cells; imported only when torch is installed). The flags and reports are in launch/bench.py.

Whole jobs, seen from outside: `recording` (every sweep a run starts, the runner's stages, and
dry runs that train nothing), `stages` (exclusive wall time and compiles per stage), `phases`
(a sweep's data, init, evaluation and finalize timed alone), `profile` (where a job's time
goes, from compile to figures) and `roofline` (a config's expected time on an H100).
"""
