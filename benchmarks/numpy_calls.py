"""NumPy arrays called again and again: the library against NumPy's own copy.

Times ``pixel_shuffle`` on C-contiguous NumPy arrays (a batch of 2 images of 16
channels, factor 2) of 2–3 KiB (below the size from which NumPy shapes are
remembered), 60 KiB, just under 1 MiB and 8 MiB, in NCHW
(`torch` order) and NHWC (`tf` and `torch` order), float32 and uint8, after one call
that remembers the shape; ``x.copy()`` of the same bytes alongside. Median of 7 rounds,
each round looping the call for at least 20 ms. Prints a markdown table. To compare
with an earlier version, run it once with that version's ``src`` first on the path:

    python benchmarks/numpy_calls.py > new.md
    mkdir /tmp/old && git archive <commit> src | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old/src python benchmarks/numpy_calls.py > old.md
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

import pixelshuffle as ps

CASES = [("torch", "NCHW"), ("tf", "NHWC"), ("torch", "NHWC")]
SIZES_KIB = [4, 64, 1024, 8192]


def median_microseconds(call: Callable[[], object]) -> float:
    for _ in range(20):  # the first call validates, plans and remembers the shape
        call()
    start = time.perf_counter()
    call()
    calls = max(10, int(0.02 / (time.perf_counter() - start)))
    rounds = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        rounds.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(rounds)


def main() -> None:
    print("# NumPy arrays, repeated calls\n")
    print("Command: `python benchmarks/numpy_calls.py`\n")
    print(f"- pixelshuffle from {ps.__file__}, numpy {np.__version__}, {platform.platform()}")
    print("- median of 7 rounds of at least 20 ms, after 20 calls that remember the shape\n")
    print("| dtype | size | convention | layout | shape | pixel_shuffle | x.copy() |")
    print("|---|---|---|---|---|---|---|")
    for dtype in (np.float32, np.uint8):
        for kib in SIZES_KIB:
            for convention, layout in CASES:
                elements = kib * 1024 // np.dtype(dtype).itemsize
                side = int((elements / 16 / 2) ** 0.5) // 2 * 2
                shape = (2, 16, side, side) if layout == "NCHW" else (2, side, side, 16)
                x = (np.arange(np.prod(shape)) % 251).astype(dtype).reshape(shape)
                library = median_microseconds(
                    lambda x=x, c=convention, lay=layout: ps.pixel_shuffle(
                        x, 2, convention=c, layout=lay
                    )
                )
                copy = median_microseconds(x.copy)
                print(
                    f"| {np.dtype(dtype).name} | {x.nbytes / 1024:.0f} KiB | {convention} |"
                    f" {layout} | {shape} | {library:.1f} µs | {copy:.1f} µs |"
                )


if __name__ == "__main__":
    main()
