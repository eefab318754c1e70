"""Per-call host overhead on a tiny tensor, where the copy costs almost nothing.

Times a (1, 16, 8, 8) float32 tensor (4 KiB; also its unshuffle, and a uint8 tensor)
through the library and through PyTorch's own op and the plain view/permute/clone
chain, on one thread, as the best of 5 rounds of 20,000 calls (the minimum, not the
median: what is measured is the code path, and the minimum is the sample least
disturbed by the machine). Prints a markdown table.

    python benchmarks/overhead.py > benchmarks/results/overhead-cpu/results.md
"""

from __future__ import annotations

import platform
import timeit
from collections.abc import Callable

import torch

import pixelshuffle as ps

F = torch.nn.functional
CALLS = 20_000


def best_microseconds(call: Callable[[], object]) -> float:
    call()  # the first call validates, plans and remembers the shape
    return min(timeit.repeat(call, number=CALLS, repeat=5)) / CALLS * 1e6


def main() -> None:
    torch.set_num_threads(1)
    x = torch.randn(1, 16, 8, 8)
    x_grad = x.clone().requires_grad_()
    nhwc = x.permute(0, 2, 3, 1).contiguous()
    split, perm, shape = (1, 4, 2, 2, 8, 8), (0, 1, 4, 2, 5, 3), (1, 4, 16, 16)
    ps_module, torch_module = ps.nn.PixelShuffle(2), torch.nn.PixelShuffle(2)
    contiguous = torch.contiguous_format
    out = torch.empty(shape)
    image = F.pixel_shuffle(x, 2)  # the unshuffles' input: (1, 4, 16, 16)
    x_bytes = torch.randint(0, 256, (1, 16, 8, 8), dtype=torch.uint8)
    rows = [
        ("F.pixel_shuffle(x, 2)", lambda: F.pixel_shuffle(x, 2)),
        ("ps.pixel_shuffle(x, 2)", lambda: ps.pixel_shuffle(x, 2)),
        ("ps.pixel_shuffle(x, 2, convention='tf')",
         lambda: ps.pixel_shuffle(x, 2, convention="tf")),
        ("x.view().permute().clone().view() (tf order)",
         lambda: x.view(split).permute(perm).clone(memory_format=contiguous).view(shape)),
        ("torch.nn.PixelShuffle(2)(x)", lambda: torch_module(x)),
        ("ps.nn.PixelShuffle(2)(x)", lambda: ps_module(x)),
        ("F.pixel_shuffle(x, 2), x requires grad", lambda: F.pixel_shuffle(x_grad, 2)),
        ("ps.pixel_shuffle(x, 2), x requires grad", lambda: ps.pixel_shuffle(x_grad, 2)),
        ("ps.pixel_shuffle(x, 2, convention='tf'), x requires grad",
         lambda: ps.pixel_shuffle(x_grad, 2, convention="tf")),
        ("out.view(split of out).copy_(permuted view of x) (by hand)",
         lambda: out.view(1, 4, 8, 2, 8, 2).copy_(x.view(split).permute(perm))),
        ("ps.pixel_shuffle(x, 2, out=out)", lambda: ps.pixel_shuffle(x, 2, out=out)),
        ("F.pixel_unshuffle(image, 2)", lambda: F.pixel_unshuffle(image, 2)),
        ("ps.pixel_unshuffle(image, 2)", lambda: ps.pixel_unshuffle(image, 2)),
        ("F.pixel_shuffle(x, 2), uint8", lambda: F.pixel_shuffle(x_bytes, 2)),
        ("ps.pixel_shuffle(x, 2), uint8", lambda: ps.pixel_shuffle(x_bytes, 2)),
        ("F.pixel_shuffle on the NHWC tensor's NCHW view",
         lambda: F.pixel_shuffle(nhwc.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)),
        ("ps.pixel_shuffle(nhwc, 2, layout='NHWC')",
         lambda: ps.pixel_shuffle(nhwc, 2, layout="NHWC")),
    ]  # fmt: skip
    print("# Per-call overhead: a (1, 16, 8, 8) float32 tensor, 1 thread\n")
    print("Command: `python benchmarks/overhead.py`\n")
    print(f"- torch {torch.__version__}, pixelshuffle {ps.__version__}, {platform.platform()}")
    print(f"- best of 5 rounds of {CALLS} calls, after one call that remembers the shape\n")
    print("| call | µs per call |")
    print("|---|---|")
    for name, call in rows:
        print(f"| `{name}` | {best_microseconds(call):.2f} |")


if __name__ == "__main__":
    main()
