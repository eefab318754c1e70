"""GPU kernels (Triton) for the same permuted copies as the CPU kernels.

``_axes.copy_shape`` reduces every op to runs of rows or small 2-D transposes; each
Triton program copies one tile of one row, the outer axes folded into its program id:

- *rows*: a contiguous run read and written as wide vectors;
- *interleave* (NCHW shuffle, ``r`` = 2, 4, 8): ``r`` input rows loaded as one tile,
  transposed in registers and stored as one contiguous run, so both sides are read and
  written with vector accesses (16 bytes for every element size);
- *deinterleave* (NCHW unshuffle): the inverse;
- *tile* (every other transpose, e.g. NHWC in ``torch`` order or ``r = 3``): a 2-D tile
  loaded along the input's contiguous axis and stored along the output's; Triton stages
  it through shared memory between the two. Sides shorter than 16 bytes (a per-pixel
  ``C × r`` transpose, rows interleaved by 3) stay coalesced across a warp but move
  fewer bytes per access.

Rows shorter than a program's share (16 KiB) are stacked: a program also takes several
indices of the longest outer axis, so it has enough to do for 16-byte accesses.

Offsets are 64-bit. Kernels see integers of the element's size, like the CPU ones: a
permutation moves bits, not numbers. On CPU tensors the same kernels run in
Triton's interpreter, which is how CI checks them without a GPU.
"""

from __future__ import annotations

import contextlib
import functools
import types
from typing import Any

import torch
import triton
import triton.language as tl
from triton.runtime.interpreter import InterpretedFunction
from triton.runtime.jit import JITFunction

from ._axes import Axis, CopyShape, copy_shape

__all__ = ["copy_permuted"]

MAX_OUTER = 6  # outer axes a program id is split into; more falls back to torch's copy
_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
_TILE_BYTES = 16384  # per program: enough to hide latency, small enough for many programs
_TRANSPOSE_TILE = 64  # elements per side of a general tile


def _start(pid, tiles, row_blocks, ROWS: tl.constexpr, n1, n2, n3, n4, n5, i0, i1, i2, i3, i4,
           i5, o0, o1, o2, o3, o4, o5):  # fmt: skip
    """Program ``pid``'s tile number and where its rows start in the input and output:
    ``ROWS`` consecutive indices of the innermost outer axis (a vector) and one index of
    each other outer axis."""
    tile = pid % tiles
    rest = pid // tiles
    k5 = (rest % row_blocks) * ROWS + tl.arange(0, ROWS)
    rest = rest // row_blocks
    k4 = rest % n4
    rest = rest // n4
    k3 = rest % n3
    rest = rest // n3
    k2 = rest % n2
    rest = rest // n2
    k1 = rest % n1
    k0 = rest // n1
    base_in = k0 * i0 + k1 * i1 + k2 * i2 + k3 * i3 + k4 * i4 + k5 * i5
    base_out = k0 * o0 + k1 * o1 + k2 * o2 + k3 * o3 + k4 * o4 + k5 * o5
    return tile, k5 < n5, base_in, base_out


def _rows(
    src, dst,
    n1, n2, n3, n4, n5, i0, i1, i2, i3, i4, i5, o0, o1, o2, o3, o4, o5,
    run, tiles, row_blocks,
    ROWS: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0).to(tl.int64)
    tile, row_inside, base_in, base_out = _start(
        pid, tiles, row_blocks, ROWS,
        n1, n2, n3, n4, n5, i0, i1, i2, i3, i4, i5, o0, o1, o2, o3, o4, o5,
    )  # fmt: skip
    offsets = tile * BLOCK + tl.arange(0, BLOCK)
    inside = row_inside[:, None] & (offsets < run)[None, :]
    values = tl.load(src + base_in[:, None] + offsets[None, :], mask=inside)
    tl.store(dst + base_out[:, None] + offsets[None, :], values, mask=inside)


def _interleave(
    src, dst,
    n1, n2, n3, n4, n5, i0, i1, i2, i3, i4, i5, o0, o1, o2, o3, o4, o5,
    na, in_b, run_length, tiles, row_blocks,
    ROWS: tl.constexpr, BLOCK_A: tl.constexpr, NB: tl.constexpr,
):  # fmt: skip
    # dst[d + a·NB + b] = src[s + a + b·in_b]: NB rows in, one run of na·NB out
    pid = tl.program_id(0).to(tl.int64)
    tile, row_inside, base_in, base_out = _start(
        pid, tiles, row_blocks, ROWS,
        n1, n2, n3, n4, n5, i0, i1, i2, i3, i4, i5, o0, o1, o2, o3, o4, o5,
    )  # fmt: skip
    a = tile * BLOCK_A + tl.arange(0, BLOCK_A)
    b = tl.arange(0, NB).to(tl.int64)
    rows = tl.load(
        src + base_in[:, None, None] + b[None, :, None] * in_b + a[None, None, :],
        mask=row_inside[:, None, None] & (a < na)[None, None, :],
    )
    runs = tl.reshape(tl.permute(rows, (0, 2, 1)), (ROWS, BLOCK_A * NB))
    offsets = tile * BLOCK_A * NB + tl.arange(0, BLOCK_A * NB)
    inside = row_inside[:, None] & (offsets < run_length)[None, :]
    tl.store(dst + base_out[:, None] + offsets[None, :], runs, mask=inside)


def _deinterleave(
    src, dst,
    n1, n2, n3, n4, n5, i0, i1, i2, i3, i4, i5, o0, o1, o2, o3, o4, o5,
    out_a, nb, run_length, tiles, row_blocks,
    ROWS: tl.constexpr, BLOCK_B: tl.constexpr, NA: tl.constexpr,
):  # fmt: skip
    # dst[d + a·out_a + b] = src[s + a + b·NA]: one run of nb·NA in, NA rows out
    pid = tl.program_id(0).to(tl.int64)
    tile, row_inside, base_in, base_out = _start(
        pid, tiles, row_blocks, ROWS,
        n1, n2, n3, n4, n5, i0, i1, i2, i3, i4, i5, o0, o1, o2, o3, o4, o5,
    )  # fmt: skip
    offsets = tile * BLOCK_B * NA + tl.arange(0, BLOCK_B * NA)
    runs = tl.load(
        src + base_in[:, None] + offsets[None, :],
        mask=row_inside[:, None] & (offsets < run_length)[None, :],
    )
    rows = tl.permute(tl.reshape(runs, (ROWS, BLOCK_B, NA)), (0, 2, 1))
    a = tl.arange(0, NA).to(tl.int64)
    b = tile * BLOCK_B + tl.arange(0, BLOCK_B)
    tl.store(
        dst + base_out[:, None, None] + a[None, :, None] * out_a + b[None, None, :],
        rows,
        mask=row_inside[:, None, None] & (b < nb)[None, None, :],
    )


def _tile(
    src, dst,
    n1, n2, n3, n4, n5, i0, i1, i2, i3, i4, i5, o0, o1, o2, o3, o4, o5,
    na, in_b, out_a, nb, tiles_b, tiles, row_blocks,
    ROWS: tl.constexpr, BLOCK_A: tl.constexpr, BLOCK_B: tl.constexpr,
):  # fmt: skip
    # dst[d + a·out_a + b] = src[s + a + b·in_b]: loads run along a, stores along b
    pid = tl.program_id(0).to(tl.int64)
    tile, row_inside, base_in, base_out = _start(
        pid, tiles, row_blocks, ROWS,
        n1, n2, n3, n4, n5, i0, i1, i2, i3, i4, i5, o0, o1, o2, o3, o4, o5,
    )  # fmt: skip
    a = (tile // tiles_b) * BLOCK_A + tl.arange(0, BLOCK_A).to(tl.int64)
    b = (tile % tiles_b) * BLOCK_B + tl.arange(0, BLOCK_B).to(tl.int64)
    inside = row_inside[:, None, None] & (a < na)[None, :, None] & (b < nb)[None, None, :]
    values = tl.load(
        src + base_in[:, None, None] + a[None, :, None] + b[None, None, :] * in_b, mask=inside
    )
    tl.store(
        dst + base_out[:, None, None] + a[None, :, None] * out_a + b[None, None, :],
        values,
        mask=inside,
    )


_SOURCES = {"rows": _rows, "interleave": _interleave, "deinterleave": _deinterleave, "tile": _tile}


@functools.cache
def _compiled(interpret: bool) -> dict[str, Any]:
    """The kernels compiled for the GPU or, for CPU tensors, run by Triton's interpreter
    (what the tests use); each mode has its own functions."""
    # both chosen explicitly: triton.jit itself would follow TRITON_INTERPRET
    jit = InterpretedFunction if interpret else JITFunction
    start = jit(_start)
    kernels = {}
    for name, source in _SOURCES.items():
        # the kernels call `_start` by name: give each its own globals with the jitted one
        function = types.FunctionType(
            source.__code__, {**source.__globals__, "_start": start}, source.__name__
        )
        # Triton reads `tl.constexpr` parameters from the annotations
        function.__annotations__ = dict(source.__annotations__)
        function.__qualname__, function.__module__ = source.__qualname__, source.__module__
        kernels[name] = jit(function)
    return kernels


def copy_permuted(source: torch.Tensor, target: torch.Tensor) -> bool:
    """``target[...] = source`` for two tensors of one shape, dtype and device, any
    non-negative strides, by a Triton kernel; ``False`` (nothing written) when none fits."""
    size = source.element_size()
    if size not in _BITS or min((*source.stride(), *target.stride()), default=0) < 0:
        return False
    form = copy_shape(tuple(source.shape), source.stride(), target.stride())
    if form is None or len(form.outer) > MAX_OUTER:
        return False
    launch = _launch(form, size)
    if launch is None:
        return False
    name, grid, arguments, blocks = launch
    on_gpu = source.device.type == "cuda"
    # Triton launches on the current device and its current stream: make them the tensor's
    with torch.cuda.device(source.device) if on_gpu else contextlib.nullcontext():
        _compiled(not on_gpu)[name][(grid,)](_bits(source), _bits(target), *arguments, **blocks)
    return True


def _launch(form: CopyShape, size: int) -> tuple[str, int, tuple[int, ...], dict] | None:
    """Which kernel runs ``form``, its grid, its arguments after the two tensors (outer
    axes, then sizes) and its block sizes."""
    per_tile = _TILE_BYTES // size
    if form.is_rows:
        block = min(per_tile, triton.next_power_of_2(form.nb))
        tiles = triton.cdiv(form.nb, block)
        name, sizes, blocks = "rows", (form.nb, tiles), {"BLOCK": block}
    elif form.interleaves and form.nb in (2, 4, 8):
        block = min(per_tile // form.nb, triton.next_power_of_2(form.na))
        tiles = triton.cdiv(form.na, block)
        # the run's length from here: na·NB in the kernel could overflow 32 bits
        sizes = (form.na, form.in_b, form.na * form.nb, tiles)
        name, blocks = "interleave", {"BLOCK_A": block, "NB": form.nb}
        block *= form.nb
    elif form.deinterleaves and form.na in (2, 4, 8):
        block = min(per_tile // form.na, triton.next_power_of_2(form.nb))
        tiles = triton.cdiv(form.nb, block)
        sizes = (form.out_a, form.nb, form.nb * form.na, tiles)
        name, blocks = "deinterleave", {"BLOCK_B": block, "NA": form.na}
        block *= form.na
    else:
        block_a = min(_TRANSPOSE_TILE, triton.next_power_of_2(form.na))
        block_b = min(_TRANSPOSE_TILE, triton.next_power_of_2(form.nb))
        tiles_b = triton.cdiv(form.nb, block_b)
        tiles = triton.cdiv(form.na, block_a) * tiles_b
        sizes = (form.na, form.in_b, form.out_a, form.nb, tiles_b, tiles)
        name, blocks = "tile", {"BLOCK_A": block_a, "BLOCK_B": block_b}
        block = block_a * block_b
    # Short rows leave a program too little to do (and too little for 16-byte accesses):
    # it then takes several indices of the longest outer axis, moved innermost.
    rows_axis, rest = Axis(1, 0, 0), form.outer
    if form.outer:
        k = max(range(len(form.outer)), key=lambda k: form.outer[k].size)
        rows_axis, rest = form.outer[k], form.outer[:k] + form.outer[k + 1 :]
    rows = min(max(per_tile // block, 1), triton.next_power_of_2(rows_axis.size))
    row_blocks = triton.cdiv(rows_axis.size, rows)
    grid = tiles * row_blocks
    for axis in rest:
        grid *= axis.size
    if grid >= 2**31:  # CUDA's limit on the first grid dimension
        return None
    arguments = (*_outer_arguments((*rest, rows_axis)), *sizes, row_blocks)
    return name, grid, arguments, {"ROWS": rows, **blocks}


def _outer_arguments(outer: tuple[Axis, ...]) -> tuple[int, ...]:
    padded = [Axis(1, 0, 0)] * (MAX_OUTER - len(outer)) + list(outer)
    sizes = [axis.size for axis in padded[1:]]  # the outermost one is implied
    return (
        *sizes,
        *(axis.in_stride for axis in padded),
        *(axis.out_stride for axis in padded),
    )


def _bits(t: torch.Tensor) -> torch.Tensor:
    """``t``'s memory as integers of its element size, from its first element (Triton
    takes a tensor for its data pointer only)."""
    return t.detach().view(_BITS[t.element_size()])
