"""GPU kernels (Triton) for the same permuted copies as the CPU kernels.

``_axes.copy_shape`` reduces every op to runs of rows or small 2-D transposes; each
Triton program copies one tile of one row, the outer axes folded into its program id:

- *rows*: a contiguous run read and written as wide vectors;
- *interleave* (NCHW shuffle, ``r`` = 2, 4, 8): ``r`` input rows loaded as one tile,
  transposed in registers and stored as one contiguous run, so both sides are read and
  written with vector accesses (16 bytes for every element size);
- *deinterleave* (NCHW unshuffle): the inverse;
- *tile* (any other transpose): a 2-D tile loaded along the input's contiguous axis and
  stored along the output's; Triton stages it through shared memory between the two.

Where one side is a single contiguous block, two kernels walk it in order instead:
*gather* (the output, stored in whole vectors, each element loaded from the offset its
digits give) and *scatter* (the input). Their sizes and strides are constants, so each
digit costs a multiply and a shift, and Triton compiles one per shape. On an H200 they
beat *tile* and short *rows* (NHWC in every order, NCHW by 3) and 2-byte interleaves,
by up to 50x for bytes (benchmarks/README.md); :func:`_plan` chooses.

Rows shorter than a program's share (16 KiB) are stacked: a program also takes several
indices of the longest outer axis, so it has enough to do for 16-byte accesses.

A call's launch is planned once per shape and stridings (:func:`plan_copy`), and the
compiled kernel Triton returns is launched directly after that: at copy speed a 128 MiB
tensor takes about 70 us on an H200, and Triton's JIT launch alone took 46 us of host
time a call.

Offsets are 64-bit where a tensor needs them. Kernels see integers of the element's
size, like the CPU ones: a permutation moves bits, not numbers. On CPU tensors the same
kernels run in Triton's interpreter, which is how CI checks them without a GPU.
"""

from __future__ import annotations

import functools
import types
from typing import Any, NamedTuple

import torch
import triton.language as tl
from triton.runtime.interpreter import InterpretedFunction
from triton.runtime.jit import JITFunction

from .._memo import evict_oldest, memoize
from ._axes import Axis, CopyShape, copy_shape

__all__ = ["Launch", "copy_permuted", "plan_copy", "run"]

MAX_OUTER = 6  # outer axes a program id is split into; more falls back to torch's copy
_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
_TILE_BYTES = 16384  # per program: enough to hide latency, small enough for many programs
_TRANSPOSE_TILE = 64  # elements per side of a general tile
_NUM_WARPS = 4  # per program
FLAT_AXES = 8  # axes of the *scatter* and *gather* kernels' digits
_FLAT_BLOCK = 4096  # elements per *scatter* or *gather* program
# 0: never *scatter* or *gather*; 1: where they beat the other kernels, *gather* first;
# 2, 3: *scatter* or *gather* first wherever they can (for measuring)
_FLAT = 1


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


def _flat(
    src, dst, n,
    S1: tl.constexpr, S2: tl.constexpr, S3: tl.constexpr, S4: tl.constexpr,
    S5: tl.constexpr, S6: tl.constexpr, S7: tl.constexpr,
    T0: tl.constexpr, T1: tl.constexpr, T2: tl.constexpr, T3: tl.constexpr,
    T4: tl.constexpr, T5: tl.constexpr, T6: tl.constexpr, T7: tl.constexpr,
    BLOCK: tl.constexpr, WIDE: tl.constexpr, GATHER: tl.constexpr,
):  # fmt: skip
    # One side is a contiguous block, walked in order (the source for *scatter*, the
    # target for *gather*); element k of it is at the offset on the other side that its
    # digits (sizes S0..S7, most significant first) give with strides T0..T7. Sizes and
    # strides are constants, so each digit costs a multiply and a shift.
    if WIDE:
        k = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK).to(tl.int64)
    else:
        k = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = k < n
    walked = k
    offset = (k % S7) * T7
    k = k // S7
    offset += (k % S6) * T6
    k = k // S6
    offset += (k % S5) * T5
    k = k // S5
    offset += (k % S4) * T4
    k = k // S4
    offset += (k % S3) * T3
    k = k // S3
    offset += (k % S2) * T2
    k = k // S2
    offset += (k % S1) * T1
    offset += (k // S1) * T0
    if GATHER:
        tl.store(dst + walked, tl.load(src + offset, mask=inside), mask=inside)
    else:
        tl.store(dst + offset, tl.load(src + walked, mask=inside), mask=inside)


_SOURCES = {
    "rows": _rows,
    "interleave": _interleave,
    "deinterleave": _deinterleave,
    "tile": _tile,
    "scatter": _flat,
    "gather": _flat,
}


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


class Launch(NamedTuple):
    """One kernel launch, planned for one shape and pair of stridings."""

    kernel: str  # a key of _SOURCES
    grid: int
    arguments: tuple[int, ...]  # after the two tensors: outer axes, then sizes
    blocks: dict[str, int]  # the constexpr block sizes


def copy_permuted(source: torch.Tensor, target: torch.Tensor) -> bool:
    """``target[...] = source`` for two tensors of one shape, dtype and device, any
    non-negative strides, by a Triton kernel; ``False`` (nothing written) when none fits."""
    size = source.element_size()
    if size not in _BITS:
        return False
    launch = plan_copy(tuple(source.shape), source.stride(), target.stride(), size)
    if launch is None:
        return False
    run(launch, source, target)
    return True


def plan_copy(
    shape: tuple[int, ...], in_strides: tuple[int, ...], out_strides: tuple[int, ...], size: int
) -> Launch | None:
    """The launch that copies ``shape`` between two stridings (in elements) of elements
    of ``size`` bytes; ``None`` where no kernel fits. Memoized: at copy speed a large
    tensor's kernel takes tens of µs, and planning it in Python about as long again."""
    settings = (_TILE_BYTES, _TRANSPOSE_TILE, _FLAT, _FLAT_BLOCK)  # part of the key
    return _planned(shape, in_strides, out_strides, size, settings)


@memoize(1024)
def _planned(
    shape: tuple[int, ...],
    in_strides: tuple[int, ...],
    out_strides: tuple[int, ...],
    size: int,
    settings: tuple[int, ...],
) -> Launch | None:
    return _plan(shape, in_strides, out_strides, size)


def _plan(
    shape: tuple[int, ...], in_strides: tuple[int, ...], out_strides: tuple[int, ...], size: int
) -> Launch | None:
    if min((*in_strides, *out_strides), default=0) < 0:
        return None
    form = copy_shape(shape, in_strides, out_strides)
    launch = None
    if form is not None and len(form.outer) <= MAX_OUTER:
        launch = _launch(form, size)
    if _FLAT == 0 or (_FLAT == 1 and launch is not None and not _walk_wins(launch, size)):
        return launch
    scatter = _flat_launch(shape, in_strides, out_strides, size, gather=False)
    gather = _flat_launch(shape, out_strides, in_strides, size, gather=True)
    if _FLAT == 2:
        return scatter or gather or launch
    if _FLAT == 1 and launch is not None and launch.kernel == "interleave":
        return gather or launch  # *scatter* measured slower than the interleave
    # *gather* stores whole vectors and was as fast as *scatter* or faster on an H200 in
    # all but a few cases (benchmarks/README.md)
    return gather or scatter or launch


def _walk_wins(launch: Launch, size: int) -> bool:
    """Whether walking one side in order (*gather*, *scatter*) beat ``launch`` on an
    H200 (benchmarks/README.md): general transposes, rows under 128 bytes, and rows of
    2-byte elements interleaved."""
    if launch.kernel == "rows":
        return launch.blocks["BLOCK"] * size < 128
    return launch.kernel == "tile" or (launch.kernel == "interleave" and size == 2)


def _flat_launch(
    shape: tuple[int, ...],
    walk_strides: tuple[int, ...],
    other_strides: tuple[int, ...],
    size: int,
    gather: bool,
) -> Launch | None:
    """The *scatter* (or *gather*) launch, where the source (target) is one contiguous
    block in some order of its axes, described in at most :data:`FLAT_AXES` merged axes."""
    axes = sorted(
        ((n, w, o) for n, w, o in zip(shape, walk_strides, other_strides) if n != 1),
        key=lambda axis: -axis[1],
    )
    merged: list[list[int]] = []
    expected = 1
    for n, w, o in reversed(axes):  # innermost first
        if w != expected:
            return None  # not one contiguous block
        expected *= n
        if merged and o == merged[-1][0] * merged[-1][1]:
            merged[-1][0] *= n  # contiguous on the other side too: one axis
        else:
            merged.append([n, o])
    if len(merged) > FLAT_AXES or not merged:
        return None
    merged.reverse()  # most significant first
    # padded at the least significant end: the outermost axis stays S0, which the kernel
    # never needs, so batches of any size share one compiled kernel
    merged += [[1, 0]] * (FLAT_AXES - len(merged))
    total = expected
    block = min(_FLAT_BLOCK, _pow2_at_least(total))
    grid = _cdiv(total, block)
    reach = sum((n - 1) * o for n, o in merged)
    blocks = {f"S{k}": n for k, (n, _) in enumerate(merged) if k}
    blocks.update({f"T{k}": o for k, (_, o) in enumerate(merged)})
    wide = grid * block >= 2**31 or reach >= 2**31
    blocks.update(BLOCK=block, WIDE=int(wide), GATHER=int(gather))
    return Launch("gather" if gather else "scatter", grid, (total,), blocks)


def run(launch: Launch, source: torch.Tensor, target: torch.Tensor) -> None:
    """Run a launch from :func:`plan_copy` from ``source`` into ``target``, tensors of
    the shape and strides it was planned for (or views with their first elements)."""
    src, dst = _bits(source), _bits(target)
    if source.device.type != "cuda":  # CPU tensors: Triton's interpreter (the tests)
        _compiled(True)[launch.kernel][(launch.grid,)](src, dst, *launch.arguments, **launch.blocks)
        return
    global _DIRECT_LAUNCH
    # Triton launches on the current device and its current stream: make them the tensor's
    device = source.device
    current = device.index == torch.cuda.current_device()
    key = None
    if _DIRECT_LAUNCH and current:
        # the same launch copies elements of any type of one size: the type is in the key
        key = (launch.kernel, launch.grid, launch.arguments, tuple(launch.blocks.items()),
               src.dtype, device.index, src.data_ptr() % 16, dst.data_ptr() % 16,
               _NUM_WARPS)  # fmt: skip
        compiled = _COMPILED.get(key)
        if compiled is not None:
            stream = torch.cuda.current_stream(device).cuda_stream
            try:
                compiled[(launch.grid, 1, 1)](
                    src, dst, *launch.arguments, *launch.blocks.values(), stream=stream
                )
                return
            except TypeError:  # another Triton's calling convention: launch as below
                _DIRECT_LAUNCH = False
    kernel = _compiled(False)[launch.kernel][(launch.grid,)]
    if current:
        compiled = kernel(src, dst, *launch.arguments, **launch.blocks, num_warps=_NUM_WARPS)
    else:
        with torch.cuda.device(device):
            compiled = kernel(src, dst, *launch.arguments, **launch.blocks, num_warps=_NUM_WARPS)
    if key is not None and compiled is not None:
        if len(_COMPILED) >= _MAX_COMPILED:
            evict_oldest(_COMPILED)
        _COMPILED[key] = compiled


# Triton's JIT launch binds and specializes every argument again on each call, which
# cost about as much as copying 128 MiB on an H200; the compiled kernel it returns is
# launched directly next time (its alignment specialization is part of the key).
_DIRECT_LAUNCH = True
_COMPILED: dict[tuple[Any, ...], Any] = {}
_MAX_COMPILED = 1024


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _pow2_at_least(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def _launch(form: CopyShape, size: int) -> Launch | None:
    """Which kernel runs ``form``, its grid, its arguments after the two tensors (outer
    axes, then sizes) and its block sizes."""
    per_tile = _TILE_BYTES // size
    if form.is_rows:
        block = min(per_tile, _pow2_at_least(form.nb))
        tiles = _cdiv(form.nb, block)
        name, sizes, blocks = "rows", (form.nb, tiles), {"BLOCK": block}
    elif form.interleaves and form.nb in (2, 4, 8):
        block = min(per_tile // form.nb, _pow2_at_least(form.na))
        tiles = _cdiv(form.na, block)
        # the run's length from here: na·NB in the kernel could overflow 32 bits
        sizes = (form.na, form.in_b, form.na * form.nb, tiles)
        name, blocks = "interleave", {"BLOCK_A": block, "NB": form.nb}
        block *= form.nb
    elif form.deinterleaves and form.na in (2, 4, 8):
        block = min(per_tile // form.na, _pow2_at_least(form.nb))
        tiles = _cdiv(form.nb, block)
        sizes = (form.out_a, form.nb, form.nb * form.na, tiles)
        name, blocks = "deinterleave", {"BLOCK_B": block, "NA": form.na}
        block *= form.na
    else:
        block_a = min(_TRANSPOSE_TILE, _pow2_at_least(form.na))
        block_b = min(_TRANSPOSE_TILE, _pow2_at_least(form.nb))
        tiles_b = _cdiv(form.nb, block_b)
        tiles = _cdiv(form.na, block_a) * tiles_b
        sizes = (form.na, form.in_b, form.out_a, form.nb, tiles_b, tiles)
        name, blocks = "tile", {"BLOCK_A": block_a, "BLOCK_B": block_b}
        block = block_a * block_b
    # Short rows leave a program too little to do (and too little for 16-byte accesses):
    # it then takes several indices of the longest outer axis, moved innermost.
    rows_axis, rest = Axis(1, 0, 0), form.outer
    if form.outer:
        k = max(range(len(form.outer)), key=lambda k: form.outer[k].size)
        rows_axis, rest = form.outer[k], form.outer[:k] + form.outer[k + 1 :]
    rows = min(max(per_tile // block, 1), _pow2_at_least(rows_axis.size))
    row_blocks = _cdiv(rows_axis.size, rows)
    grid = tiles * row_blocks
    for axis in rest:
        grid *= axis.size
    if grid >= 2**31:  # CUDA's limit on the first grid dimension
        return None
    arguments = (*_outer_arguments((*rest, rows_axis)), *sizes, row_blocks)
    return Launch(name, grid, arguments, {"ROWS": rows, **blocks})


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
