"""Issue 7's CPU targets, judged on a `launch.bench` report (its JSON document)."""


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def cpu_targets(report: dict) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for each CPU target of the cases that were run."""
    rows = []
    for r in report["cases"]:
        name = r["case"]
        rows.append(
            (
                f"{name}: grid >= 1.5x faster than the per-cell loop",
                f"{r['loop_over_grid']:.2f}x",
                _met(r["loop_over_grid"] >= 1.5),
            )
        )
        if "torch_over_grid" in r:
            rows.append(
                (
                    f"{name}: grid >= 5x faster than the PyTorch loop",
                    f"{r['torch_over_grid']:.1f}x",
                    _met(r["torch_over_grid"] >= 5),
                )
            )
        largest = max(r["scaling"], key=lambda s: s["cells"])
        utilization = max(r["grid_utilization"], largest["utilization"])
        rows.append(
            (
                f"{name}: >= 40% of the matmul peak on the largest grid",
                f"{100 * r['grid_utilization']:.1f}% ({r['cells']} cells), "
                f"{100 * largest['utilization']:.1f}% ({largest['cells']} cells)",
                _met(utilization >= 0.4),
            )
        )
        compiles = sorted({s["segment_compiles"] for s in r["scaling"]})
        rows.append(
            (
                f"{name}: one compile per sweep",
                f"segment compiles {compiles} at {[s['cells'] for s in r['scaling']]} cells",
                _met(compiles == [1]),
            )
        )
        smallest = min(r["scaling"], key=lambda s: s["cells"])
        ratio = largest["compile_s"] / smallest["compile_s"]
        rows.append(
            (
                f"{name}: compile time at {largest['cells']} cells within 1.5x of "
                f"{smallest['cells']}",
                f"{largest['compile_s']:.2f} s vs {smallest['compile_s']:.2f} s = {ratio:.2f}x",
                _met(ratio <= 1.5),
            )
        )
    return rows
