"""The Triton kernels on a CUDA GPU, quickly: every case of the main harness's grid,
the library against ``x.clone()``, ``out.copy_(x)``, PyTorch eager and the
view/permute/contiguous recipe, timed with CUDA events; optionally the same cases
again under other kernel settings.

The main harness (``run.py --device cuda``) adds ``torch.compile`` and einops, but
compiles a peer per case; this sweep fits a whole grid, and tuning variants, into the
few minutes a lent GPU gives. Each case checks the library's bytes against the recipe
and records which Triton kernel ran. Implementations take turns within each round, so
clock and thermal drift reach all of them alike.

    python benchmarks/gpu_sweep.py --channels-list 3,64 --json sweep.json
    python benchmarks/gpu_sweep.py --variant warps8:_NUM_WARPS=8 --variant tile32:_TRANSPOSE_TILE=32

A variant sets constants of ``pixelshuffle._kernels.gpu`` for its own timings only.
The ``(graph)`` columns and the variants replay CUDA graphs of the ``out=`` call: the
kernels' own time, without the host's (Python, launch) between calls.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    from pixelshuffle import _bench
except ImportError:  # run from a checkout where the package is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from pixelshuffle import _bench

import torch

import pixelshuffle as ps
from pixelshuffle import _kernels
from pixelshuffle._torch import _RECIPES

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "uint8": torch.uint8}


def _parse_variant(text: str) -> tuple[str, dict[str, int]]:
    name, _, settings = text.partition(":")
    values = {}
    for item in settings.split(","):
        key, _, value = item.partition("=")
        values[key.strip()] = int(value)
    return name, values


def _event_time_us(call: Callable[[], object], number: int) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(number):
        call()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) * 1e3 / number


def _with_settings(
    gpu: Any, settings: dict[str, int], call: Callable[[], object], keep_recipes: bool = False
):
    def run() -> object:
        saved = {key: getattr(gpu, key) for key in settings}
        for key, value in settings.items():
            setattr(gpu, key, value)
        # remembered shapes keep the launch planned under the settings of their first call
        if not keep_recipes:
            _RECIPES.clear()
        try:
            return call()
        finally:
            for key, value in saved.items():
                setattr(gpu, key, value)
            if not keep_recipes:
                _RECIPES.clear()

    return run


def _case_calls(
    case: _bench.Case,
    variants: list[tuple[str, dict[str, int]]],
    e2e_variants: list[tuple[str, dict[str, int]]],
) -> dict:
    """The calls to time for ``case`` (name → call), after checking the library."""
    gpu = _kernels.gpu_kernels()
    in_shape, _ = case.shapes()
    nbytes = math.prod(in_shape) * _bench._ITEMSIZE[case.dtype]
    bits = torch.randint(0, 256, (nbytes,), dtype=torch.uint8, device="cuda")
    x = bits.view(_DTYPES[case.dtype]).view(in_shape)
    split, perm, shape = _bench._recipe(case)
    ref = x.view(split).permute(perm).contiguous().view(shape)
    out = torch.empty_like(ref)
    op = ps.pixel_shuffle if case.direction == "up" else ps.pixel_unshuffle
    kwargs = {"convention": case.convention, "layout": case.layout}

    launched: list[str] = []
    original = gpu.run

    def recording(launch: Any, source: Any, target: Any) -> None:
        launched.append(launch.kernel)
        original(launch, source, target)

    gpu.run = recording
    try:
        y = op(x, case.factor, **kwargs)
    finally:
        gpu.run = original
    if not torch.equal(y.view(torch.uint8), ref.view(torch.uint8)):
        raise AssertionError(f"{case.label}: the library's output differs from the recipe's")
    out.zero_()
    op(x, case.factor, **kwargs, out=out)
    if not torch.equal(out.view(torch.uint8), ref.view(torch.uint8)):
        raise AssertionError(f"{case.label}: out= differs from the recipe")

    flat_x, flat_out = x.view(-1), out.view(-1)
    calls: dict[str, Callable[[], object]] = {
        "clone": x.clone,
        "copy_": lambda: flat_out.copy_(flat_x),
        "library": lambda: op(x, case.factor, **kwargs),
        "library out=": lambda: op(x, case.factor, **kwargs, out=out),
        "recipe": lambda: x.view(split).permute(perm).contiguous(),
    }
    if case.convention == "torch" and case.rank == 2:
        fn = torch.nn.functional.pixel_shuffle
        if case.direction == "down":
            fn = torch.nn.functional.pixel_unshuffle
        x_in = x.permute(0, 3, 1, 2) if case.channels_last else x
        eager = fn(x_in, case.factor)
        back = eager.permute(0, 2, 3, 1) if case.channels_last else eager
        if not torch.equal(back.contiguous().view(torch.uint8), ref.view(torch.uint8)):
            raise AssertionError(f"{case.label}: F.pixel_(un)shuffle differs from the recipe")
        calls["eager"] = lambda: fn(x_in, case.factor)
    # without the host's share: each replay runs the kernels of GRAPHED calls back to back
    graphs = {
        "copy_ (graph)": _graphed(calls["copy_"]),
        "library out= (graph)": _graphed(calls["library out="]),
    }
    for name, settings in variants:
        graphs[name] = _graphed(_with_settings(gpu, settings, calls["library out="]))
    calls.update(graphs)
    for name, settings in e2e_variants:
        call = _with_settings(gpu, settings, calls["library out="], keep_recipes=True)
        out.zero_()
        call()
        call()  # the second call takes the remembered path
        if not torch.equal(out.view(torch.uint8), ref.view(torch.uint8)):
            raise AssertionError(f"{case.label}: variant {name} differs from the recipe")
        calls[name] = call
    kernel = "+".join(dict.fromkeys(launched)) or "torch copy"
    return {"calls": calls, "kernel": kernel, "bytes": nbytes}


GRAPHED = 10


def _graphed(call: Callable[[], object]) -> Callable[[], object]:
    """A call that replays a CUDA graph of GRAPHED calls of ``call``, divided out later."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        call()  # compiles the kernel outside the capture
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(GRAPHED):
            call()
    return graph.replay


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _bench.add_arguments(parser)
    parser.set_defaults(device="cuda")
    parser.add_argument(
        "--channels-list",
        default="3",
        help="comma-separated channel counts on the fine side (default 3)",
    )
    parser.add_argument("--variant", action="append", default=[], help="NAME:KEY=INT,...")
    parser.add_argument(
        "--e2e-variant",
        action="append",
        default=[],
        help="NAME:KEY=INT,... timed as whole out= calls (host included), not graphed",
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--min-ms", type=float, default=2.0, help="per sample (default 2)")
    parser.add_argument("--json", type=Path, help="also write the records here")
    args = parser.parse_args()
    if not args.size and not args.bytes:
        args.size = ["large"]
    if not torch.cuda.is_available():
        print("gpu_sweep: needs a CUDA GPU", file=sys.stderr)
        return 2
    variants = [_parse_variant(text) for text in args.variant]
    e2e_variants = [_parse_variant(text) for text in args.e2e_variant]
    cases = []
    for channels in (int(c) for c in args.channels_list.split(",")):
        args.channels = channels
        cases += [(channels, case) for case in _bench.select_cases(args)]
    print(
        f"# GPU sweep: {torch.cuda.get_device_name()}, torch {torch.__version__},"
        f" triton {_bench._dist_version('triton')}, python {platform.python_version()}"
    )
    print(f"# command: {' '.join(sys.argv)}")
    names = [
        "library",
        "library out=",
        "eager",
        "recipe",
        "library out= (graph)",
        *(name for name, _ in variants),
        *(name for name, _ in e2e_variants),
    ]
    print(
        "| case | C | MiB | kernel | clone µs | copy_ µs | "
        + " | ".join(f"{name} /limit" for name in names)
        + " | library GB/s |"
    )
    print("|" + " --- |" * (6 + len(names) + 1))
    records = []
    started = time.perf_counter()
    for channels, case in cases:
        try:
            prepared = _case_calls(case, variants, e2e_variants)
        except Exception as error:  # report and go on: one broken case must not hide the rest
            print(f"| {case.label} | {channels} | error: {type(error).__name__}: {error} |")
            records.append({"case": case.label, "channels": channels, "error": str(error)})
            continue
        calls = prepared["calls"]
        numbers = {}
        for name, call in calls.items():
            call()
            torch.cuda.synchronize()
            single = _event_time_us(call, 3)
            numbers[name] = max(1, math.ceil(args.min_ms * 1e3 / max(single, 1.0)))
        samples: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.rounds):
            for name, call in calls.items():
                samples[name].append(_event_time_us(call, numbers[name]))
        median = {name: statistics.median(values) for name, values in samples.items()}
        for name in median:
            if name.endswith("(graph)") or name in dict(variants):
                median[name] /= GRAPHED
        limit = dict.fromkeys(["library out=", *dict(e2e_variants)], median["copy_"])
        limit.update(
            dict.fromkeys(["library out= (graph)", *dict(variants)], median["copy_ (graph)"])
        )
        cells = []
        for name in names:
            if name not in median:
                cells.append("n/a")
                continue
            cells.append(f"{median[name] / limit.get(name, median['clone']):.2f}")
        gbps = 2 * prepared["bytes"] / (median["library"] * 1e3)
        print(
            f"| {case.label} | {channels} | {prepared['bytes'] / 2**20:.0f} | {prepared['kernel']}"
            f" | {median['clone']:.1f} | {median['copy_']:.1f} | "
            + " | ".join(cells)
            + f" | {gbps:.0f} |",
            flush=True,
        )
        records.append(
            {
                "case": case.label,
                "channels": channels,
                "kernel": prepared["kernel"],
                "bytes": prepared["bytes"],
                "median_us": median,
                "samples_us": samples,
            }
        )
        del prepared, calls
        torch.cuda.empty_cache()
    print(f"# {len(cases)} cases in {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"command": sys.argv, "records": records}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
