"""The CPU kernels alone, across channel counts: each plan's serial kernel against a
single-threaded ``np.copyto`` of the same bytes.

The main harness (``run.py``) times images of 3 channels; networks shuffle feature maps
of 16 to 256. This sweep plans the `torch`-order copy of an 8 MiB array for every
direction, layout (NCHW, NHWC), factor (2, 3, 4), channel count (3, 16, 64, 256) and
element size (1, 2, 4, 8 bytes), runs the plan's kernel on one thread (repeatable on a
shared machine, unlike two), checks the result and prints a markdown table: the kernel
chosen, its median time and its ratio to the copy.

To compare with an earlier version, give its ``src`` folder: its package is loaded
beside this one (under another name, with its own numba cache), and each case times
the copy, this version and that one in turn, ``--rounds`` times, keeping each one's
best ratio to the copy. Timings on a shared VM drift between runs by up to 2x, so only
such interleaved comparisons can tell versions apart there:

    mkdir /tmp/old && git archive <commit> src | tar -x -C /tmp/old
    python benchmarks/kernel_sweep.py --against /tmp/old/src --rounds 3
"""

from __future__ import annotations

import argparse
import importlib
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pixelshuffle._kernels import cpu_kernels

NBYTES = 8 << 20


def _median_us(call: Callable[[], object], repeats: int = 15) -> float:
    call()
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def _moved(
    direction: str, layout: str, r: int, channels: int, itemsize: int
) -> tuple[np.ndarray, np.ndarray]:
    """A C-contiguous input of about NBYTES and its `torch`-order permuted view."""
    pixels = NBYTES // itemsize // channels
    height = int((pixels / 2) ** 0.5) // r * r
    width = pixels // height // r * r
    h, w, c = height // r, width // r, channels
    dtype = np.dtype(f"u{itemsize}")
    if (direction, layout) == ("down", "NCHW"):
        x = np.empty((c, h * r, w * r), dtype)
        moved = x.reshape(c, h, r, w, r).transpose(0, 2, 4, 1, 3)
    elif (direction, layout) == ("up", "NCHW"):
        x = np.empty((c * r * r, h, w), dtype)
        moved = x.reshape(c, r, r, h, w).transpose(0, 3, 1, 4, 2)
    elif direction == "down":
        x = np.empty((h * r, w * r, c), dtype)
        moved = x.reshape(h, r, w, r, c).transpose(0, 2, 4, 1, 3)
    else:
        x = np.empty((h, w, c * r * r), dtype)
        moved = x.reshape(h, w, c, r, r).transpose(0, 3, 1, 4, 2)
    x[...] = np.arange(x.size, dtype=np.uint64).reshape(x.shape).astype(dtype)
    return x, moved


def _kernel_and_copy(
    kernels: Any, plan: Any, x: np.ndarray, out: np.ndarray
) -> tuple[float, float]:
    """Median µs of the serial kernel copying ``x`` into ``out`` by ``plan``, and of
    ``np.copyto`` of the same bytes."""
    src, dst, copy = x.reshape(-1), out.reshape(-1), np.empty(x.size, x.dtype)
    took = _median_us(lambda: kernels.copy_permuted(plan, src, dst, False))
    return took, _median_us(lambda: np.copyto(copy, src))


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
        return names[0]
    except (OSError, IndexError):
        return platform.processor() or platform.machine()


def _baseline_kernels(src: str) -> Any:
    """The CPU kernels of the ``pixelshuffle`` package in the folder ``src``, loaded as
    ``pixelshuffle_baseline`` from a copy (its imports inside are relative)."""
    folder = Path(tempfile.mkdtemp(prefix="pixelshuffle-baseline-"))
    shutil.copytree(
        Path(src) / "pixelshuffle",
        folder / "pixelshuffle_baseline",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    sys.path.insert(0, str(folder))
    return importlib.import_module("pixelshuffle_baseline._kernels.cpu")


def _measure(kernels: Any, x: np.ndarray, moved: np.ndarray) -> tuple[Any, float, float]:
    """``kernels``' plan for copying ``x`` to ``moved``'s order, the serial kernel's
    median µs and its ratio to ``np.copyto``, the result checked (no plan: ``None``)."""
    itemsize = x.itemsize
    out = np.empty(moved.shape, moved.dtype)
    in_strides = [s // itemsize for s in moved.strides]
    out_strides = [s // itemsize for s in out.strides]
    plan = kernels.plan_copy(moved.shape, in_strides, out_strides, itemsize)
    if plan is None:
        return None, float("nan"), float("nan")
    took, copied = _kernel_and_copy(kernels, plan, x, out)
    assert np.array_equal(out, moved), "wrong result"
    return plan, took, took / copied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", default="3,16,64,256")
    parser.add_argument("--itemsize", default="4,2,1,8")
    parser.add_argument("--against", metavar="SRC", help="an earlier version's src folder")
    parser.add_argument("--rounds", type=int, default=1, help="measurements of each case")
    args = parser.parse_args()
    kernels = cpu_kernels()
    if kernels is None:
        raise SystemExit("the CPU kernels are not available (pip install numba)")
    baseline = _baseline_kernels(args.against) if args.against else None
    print(f"Kernel sweep on {_cpu_name()}, one thread\n")
    if baseline is None:
        print("| elements | factor | channels | layout | direction | kernel | µs | / copy |")
        print("|---|---|---|---|---|---|---|---|")
    else:
        print(
            "| elements | factor | channels | layout | direction | kernel | / copy"
            " | before | / copy before | before / now |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
    for itemsize in (int(s) for s in args.itemsize.split(",")):
        for r in (2, 3, 4):
            for channels in (int(c) for c in args.channels.split(",")):
                for layout in ("NCHW", "NHWC"):
                    for direction in ("up", "down"):
                        x, moved = _moved(direction, layout, r, channels, itemsize)
                        case = f"| {8 * itemsize}-bit | {r} | {channels} | {layout} | {direction}"
                        if baseline is None:
                            plan, took, ratio = _measure(kernels, x, moved)
                            if plan is not None:
                                print(
                                    f"{case} | {plan.kind} | {took:.0f} | {ratio:.2f}× |",
                                    flush=True,
                                )
                            continue
                        ratios: dict[str, list[float]] = {"now": [], "before": []}
                        plans = {}
                        for _ in range(args.rounds):  # interleaved, so that drift hits both
                            for name, version in (("now", kernels), ("before", baseline)):
                                plans[name], _, ratio = _measure(version, x, moved)
                                ratios[name].append(ratio)
                        now, before = min(ratios["now"]), min(ratios["before"])
                        kinds = [getattr(plans[name], "kind", "none") for name in ("now", "before")]
                        print(
                            f"{case} | {kinds[0]} | {now:.2f}× | {kinds[1]} | {before:.2f}×"
                            f" | {before / now:.2f} |",
                            flush=True,
                        )


if __name__ == "__main__":
    main()
