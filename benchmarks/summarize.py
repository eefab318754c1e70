"""Summarise a benchmark run against the performance targets of the project (issue 5).

Reads ``results.json`` written by ``pixelshuffle bench`` and prints a markdown table of
the library's ratios (to ``x.clone()`` fresh, to ``out.copy_(x)`` with ``out=``), its
speed-up over PyTorch eager and ``torch.compile`` where those apply, and every target
missed, case by case.

Run: python benchmarks/summarize.py benchmarks/results/medium-cpu/results.json
"""

from __future__ import annotations

import argparse
import json
from typing import Any

FRESH_LIMIT = 1.25  # library allocating, as a multiple of x.clone()
OUT_LIMIT = 1.5  # library with out=, as a multiple of out.copy_(x)


def _ratios(case: dict[str, Any]) -> dict[str, float]:
    return {
        result["implementation"]: result["median_ns"]
        for result in case["results"]
        if result.get("status") == "ok"
    }


def _eager_target(case: dict[str, Any]) -> float:
    """The speed-up over PyTorch eager that issue 5 asks for in this case."""
    if case["layout"] == "NCHW":
        return 2.0 if case["dtype"] == "float32" else 4.0
    if case["dtype"] == "bfloat16" or case["direction"] == "down":
        return 2.0
    return 1.0


def summarize(report: dict[str, Any]) -> str:
    lines = [
        f"Summary of `{report['name']}` ({report['command']})",
        "",
        "| case | library / clone | out= / copy_ | × faster than eager | × faster than"
        " compile | missed |",
        "|---|---|---|---|---|---|",
    ]
    missed_total = 0
    for case in report["cases"]:
        times = _ratios(case)
        library = times.get("pixelshuffle")
        missed = []
        fresh = library / times["clone"] if library and "clone" in times else None
        out = (
            times["pixelshuffle_out"] / times["copy"]
            if "pixelshuffle_out" in times and "copy" in times
            else None
        )
        eager = times["torch"] / library if library and "torch" in times else None
        compiled = (
            times["torch_compile"] / library if library and "torch_compile" in times else None
        )
        if case["size"] != "small":
            if fresh is not None and fresh > FRESH_LIMIT:
                missed.append(f"fresh {fresh:.2f}× > {FRESH_LIMIT}×")
            if out is not None and out > OUT_LIMIT:
                missed.append(f"out= {out:.2f}× > {OUT_LIMIT}×")
        if eager is not None and eager < _eager_target(case):
            missed.append(f"eager {eager:.2f}× < {_eager_target(case)}×")
        if compiled is not None and compiled < 1.0:
            missed.append(f"compile {compiled:.2f}× < 1×")
        missed_total += bool(missed)

        def show(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.2f}×"

        lines.append(
            f"| {case['label']} | {show(fresh)} | {show(out)} | {show(eager)} |"
            f" {show(compiled)} | {'; '.join(missed) or '—'} |"
        )
    lines += ["", f"{missed_total} of {len(report['cases'])} cases miss at least one target."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="a results.json written by pixelshuffle bench")
    args = parser.parse_args()
    with open(args.results, encoding="utf-8") as file:
        print(summarize(json.load(file)), end="")


if __name__ == "__main__":
    main()
