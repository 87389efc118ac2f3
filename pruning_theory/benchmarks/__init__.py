"""Performance harness: vectorized grids against per-cell loops, PyTorch and the matmul peak.

`timing` (wall clock, compile counting, the measured matmul peak and copy bandwidth), `flops`
(XLA cost analysis of one cell's init, step, metrics and finalize), `cells` (the grid and the
per-cell loop, run through the same segment driver), and `torch_reference` (PyTorch loops over
cells; imported only when torch is installed). The flags and reports are in launch/bench.py.
"""
