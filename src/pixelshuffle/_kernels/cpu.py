"""CPU kernels (numba): one pass over memory for any permuted copy the plans produce.

Every op is a permuted copy; ``_axes.copy_shape`` reduces it to runs of rows or small
2-D transposes. Four kernels run those: *rows*, *transpose* (a block at a time),
*gather* (short output runs with a transpose inside, as in NHWC in ``torch`` order:
each run written whole from a table of input offsets) and *shuffle* (the same, a block
of pixels at a time by vector shuffles compiled for the table; most of all for bytes
and bfloat16). *shuffle* also runs the plans called *deal*, which deal consecutive
input out to several output rows (NCHW unshuffles by 3 and 4; deep NHWC pixels by 2
to 4); blocks of 8 or 16 rows run as rounds of two-vector shuffles.

A permutation moves bits, not numbers, so the kernels see unsigned integers of the
element's size (1, 2, 4 or 8 bytes); numba compiles one version per size, serial for
small copies and parallel over rows for large ones. Indices are 64-bit throughout.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import math
import types
from collections.abc import Sequence
from typing import Any, NamedTuple

import numba
import numpy as np
from llvmlite import ir
from numba import cfunc, njit, prange, uint64
from numba.core import types as numba_types
from numba.core.imputils import lower_constant
from numba.extending import intrinsic, models, register_model

from ._axes import Axis, CopyShape, form_of, merged_axes, output_run

__all__ = ["CopyPlan", "copy_at", "copy_permuted", "plan_copy"]

_TILE = 64  # transposes with both sides longer than this are done in tiles
_SHORT_RUN = 64  # output runs of at most this many elements are gathered whole
_SHORT_ROWS = 12  # ... and so are copies of runs shorter than this, where they fit
# A *shuffle* block reads one window of input from each of at most _MAX_SEGMENTS places:
# 64 bytes, or 128 where one pixel needs more (measured: 128 bytes throughout was as
# fast or slower) ...
_WINDOWS = (64, 128)
# ... 16, the r·r rows of NHWC unshuffles by 4 (with 8, those by 3 and 4 were gathered,
# 1.2-7x slower for 16-256 channels on AMD Zen 4); deals store to as many
_MAX_SEGMENTS = 16
_STORE_BYTES = 32  # blocks whose output is whole vectors stored up to 15 % faster
_LONGEST_ROW = 1024  # pixels in a row of the *shuffle* kernel where the plan splits one
_SHORT_ROW_BYTES = 32  # ... and it copies rows up to this long faster than *rows*
# rows that the threads of a *shuffle* share, at least, where there are: enough for each
# thread to take several (their counts differ by one at most)
_THREAD_ROWS = 8 * numba.config.NUMBA_NUM_THREADS
# a *deal* block loads at most this much input, or a 32-byte store per output row
_DEAL_BYTES = 128
_DEAL_LEAST = 8  # ... for rows of at least this many elements


def _cached(decorator: Any, function: Any, **options: Any) -> Any:
    """``function`` compiled by ``decorator(**options)`` with numba's on-disk cache, or
    without it where numba has nowhere to write one (a read-only install and home): then
    each process compiles the kernels again, rather than running without them."""
    try:
        return decorator(cache=True, **options)(function)
    except (RuntimeError, OSError):  # "cannot cache function ...: no locator available"
        return decorator(**options)(function)


# Every index is unsigned 64-bit: numba wraps negative signed indices around at run time,
# and that check alone keeps LLVM from vectorising the loops (2-7x slower measured).
def _row_bases(t, n, in_stride, out_stride):  # pragma: no cover - compiled
    """Where row ``t`` (all outer axes but the last, flattened) starts in each array."""
    base_in = uint64(0)
    base_out = uint64(0)
    rest = uint64(t)  # a copy: changing the prange index itself would serialise the loop
    for axis in range(len(n) - 2, -1, -1):
        index = rest % n[axis]
        rest //= n[axis]
        base_in += index * in_stride[axis]
        base_out += index * out_stride[axis]
    return base_in, base_out


def _row_count(n):  # pragma: no cover - compiled
    """How many rows: the product of all outer axes but the last (looped inside a row)."""
    rows = uint64(1)
    for axis in range(len(n) - 1):
        rows *= n[axis]
    return rows


_row_bases = _cached(njit, _row_bases, inline="always")
_row_count = _cached(njit, _row_count, inline="always")


def _rows(src, dst, n, in_stride, out_stride, run):  # pragma: no cover - compiled
    last = len(n) - 1
    for t in prange(_row_count(n)):
        base_in, base_out = _row_bases(t, n, in_stride, out_stride)
        for i in range(n[last]):
            s = base_in + i * in_stride[last]
            d = base_out + i * out_stride[last]
            for k in range(run):
                dst[d + k] = src[s + k]


def _transpose(src, dst, n, in_stride, out_stride, na, in_b, out_a, nb):  # pragma: no cover
    # dst[.. + a * out_a + b] = src[.. + a + b * in_b]: `a` is contiguous in src, `b` in dst.
    # Shuffles interleave (and unshuffles de-interleave) 2 to 4 rows; written out with
    # literal counts, LLVM turns those loops into vector shuffles at copy speed.
    last = len(n) - 1
    interleave = out_a == nb and nb <= 4
    deinterleave = in_b == na and na <= 4
    # De-interleaving reads each input row once, contiguously, and writes its `na`
    # output rows. Written the other way round (contiguous writes, strided reads), LLVM
    # reads with AVX2/AVX-512 gather instructions, 5-15x slower on AMD Zen 4 (measured;
    # Intel's microcode against Downfall slows them too).
    for t in prange(_row_count(n)):
        base_in, base_out = _row_bases(t, n, in_stride, out_stride)
        for i in range(n[last]):
            s = base_in + i * in_stride[last]
            d = base_out + i * out_stride[last]
            if interleave and nb == 2:
                for a in range(na):
                    for b in range(2):
                        dst[d + a * uint64(2) + uint64(b)] = src[s + a + uint64(b) * in_b]
            elif interleave and nb == 3:
                for a in range(na):
                    for b in range(3):
                        dst[d + a * uint64(3) + uint64(b)] = src[s + a + uint64(b) * in_b]
            elif interleave and nb == 4:
                for a in range(na):
                    for b in range(4):
                        dst[d + a * uint64(4) + uint64(b)] = src[s + a + uint64(b) * in_b]
            elif deinterleave and na == 2:
                for b in range(nb):
                    for a in range(2):
                        dst[d + uint64(a) * out_a + b] = src[s + uint64(a) + b * uint64(2)]
            elif deinterleave and na == 3:
                for b in range(nb):
                    for a in range(3):
                        dst[d + uint64(a) * out_a + b] = src[s + uint64(a) + b * uint64(3)]
            elif deinterleave and na == 4:
                for b in range(nb):
                    for a in range(4):
                        dst[d + uint64(a) * out_a + b] = src[s + uint64(a) + b * uint64(4)]
            elif nb <= _TILE:
                for a in range(na):
                    for b in range(nb):
                        dst[d + a * out_a + b] = src[s + a + b * in_b]
            else:
                tile = uint64(_TILE)
                for a0 in range(uint64(0), na, tile):
                    for b0 in range(uint64(0), nb, tile):
                        for a in range(a0, min(a0 + tile, na)):
                            for b in range(b0, min(b0 + tile, nb)):
                                dst[d + a * out_a + b] = src[s + a + b * in_b]


def _gather(src, dst, n, in_stride, out_stride, offsets):  # pragma: no cover - compiled
    # Per-pixel transposes whose output is short contiguous runs (NHWC in `torch` and
    # `caffe` order): each run is written in one go, gathering its elements from the
    # input through a table of offsets that is the same for every run.
    last = len(n) - 1
    run = uint64(offsets.size)
    for t in prange(_row_count(n)):
        base_in, base_out = _row_bases(t, n, in_stride, out_stride)
        for i in range(n[last]):
            s = base_in + i * in_stride[last]
            d = base_out + i * out_stride[last]
            for k in range(run):
                dst[d + k] = src[s + offsets[k]]


class ShufflePattern:
    """The constant part of a *shuffle* plan, which copies a table of input offsets into
    each short output run, as *gather* does, ``pixels`` runs of consecutive pixels at a
    time. Each block reads one window of input per *segment* (the table's far-apart
    pieces, such as the ``r`` input rows of an unshuffle) and shuffles its runs out of
    them. The table is ``(segment, offset)`` pairs: the offset within the segment's
    window, whose start in the input the plan passes at run time (it depends on the
    image's width, the pattern does not). ``out_table`` places each element the same way
    in the output, whose segments (the ``r`` output rows of a de-interleave) the plan
    also passes at run time; a block stores each unbroken stretch of its output with one
    vector. Pixels are ``in_step`` and ``out_step`` elements apart."""

    __slots__ = (
        "_numba_type_",
        "in_step",
        "loaded",
        "out_segments",
        "out_step",
        "out_table",
        "pixels",
        "segments",
        "table",
    )

    def __init__(
        self,
        table: tuple[tuple[int, int], ...],
        segments: int,
        in_step: int,
        out_step: int,
        pixels: int,
        out_table: tuple[tuple[int, int], ...] | None = None,
        out_segments: int = 1,
    ) -> None:
        self.table, self.segments = table, segments
        self.in_step, self.out_step, self.pixels = in_step, out_step, pixels
        if out_table is None:  # one output run per pixel
            out_table = tuple((0, k) for k in range(len(table)))
        self.out_table = out_table
        self.out_segments = out_segments
        self.loaded = _loaded_window(table, in_step, pixels)
        self._numba_type_ = _ShuffleType(self.key)

    @property
    def key(self) -> tuple:
        return (
            self.table,
            self.segments,
            self.in_step,
            self.out_step,
            self.pixels,
            self.out_table,
            self.out_segments,
        )


def _loaded_window(table: tuple[tuple[int, int], ...], in_step: int, pixels: int) -> int:
    """How many elements a block loads from each segment: its window, rounded up to a
    power of two (loads of other lengths shuffled up to 2.6x slower, measured)."""
    window = (pixels - 1) * in_step + max(offset for _, offset in table) + 1
    return 1 << (window - 1).bit_length()


class _ShuffleType(numba_types.Type):
    """A :class:`ShufflePattern` to numba: the pattern lives in the type, the compiled
    code never reads its value."""

    def __init__(self, key: tuple) -> None:
        self.pattern = key
        super().__init__(name=f"ShufflePattern{key}")

    @property
    def key(self) -> tuple:
        return self.pattern


register_model(_ShuffleType)(models.OpaqueModel)


@lower_constant(_ShuffleType)
def _pattern_constant(context, builder, typ, value):  # pragma: no cover - compiled
    return context.get_constant_null(typ)


_INDEX = ir.IntType(32)


def _mask(indices: Any) -> ir.Constant:
    """A constant shuffle mask: the lanes to pick, in order."""
    indices = list(indices)
    return ir.Constant(ir.VectorType(_INDEX, len(indices)), [_INDEX(k) for k in indices])


def _stores(pattern: tuple, window: int) -> list[tuple[int, int, list[int]]]:
    """A block's stores: ``(output segment, start, lanes)`` for each unbroken stretch of
    its output, ``lanes`` picking the stretch's elements from the joined windows."""
    table, _, in_step, out_step, pixels, out_table, _ = pattern
    placed: dict[int, list[tuple[int, int]]] = {}
    for p in range(pixels):
        for (g, offset), (out_g, out_offset) in zip(table, out_table):
            lane = g * window + offset + p * in_step
            placed.setdefault(out_g, []).append((p * out_step + out_offset, lane))
    stores = []
    for out_g, elements in sorted(placed.items()):
        elements.sort()
        for position, lane in elements:
            if stores and stores[-1][0] == out_g and stores[-1][1] + len(stores[-1][2]) == position:
                stores[-1][2].append(lane)
            else:
                stores.append((out_g, position, [lane]))
    return stores


def _transpose_kind(pattern: tuple, window: int, itemsize: int) -> str | None:
    """Whether a block of ``pattern`` is a transpose that rounds of two-vector shuffles
    do (:func:`_interleaved`, :func:`_dealt`): ``"interleave"`` where the output is the
    windows of 8 or 16 segments interleaved element by element (NHWC unshuffles by 4
    of deep maps), ``"deal"`` where the input is dealt out to as many output segments
    (the inverse: NHWC upsampling by 4), ``None`` otherwise. LLVM lowers the one large
    shuffle of the general case into many more instructions than these ``log2(n)``
    rounds: NHWC unshuffles by 4 of 16-256 channels ran 1.2-4.4x faster with them,
    upsampling 1.1-1.9x, except deals of 8-byte elements (0.8-1.0x); with 4 segments
    they were no faster (measured on AMD Zen 4), so those keep the one shuffle."""
    table, segments, in_step, out_step, pixels, out_table, out_segments = pattern
    rows = max(segments, out_segments)
    if rows < 8 or rows & (rows - 1) or rows > _MAX_SEGMENTS:
        return None
    spread = tuple((g, 0) for g in range(rows))
    packed = tuple((0, k) for k in range(rows))
    if (
        (table, out_table, out_segments) == (spread, packed, 1)
        and (in_step, out_step) == (1, rows)
        and window == pixels
    ):
        return "interleave"
    if (
        (table, out_table, segments) == (packed, spread, 1)
        and (in_step, out_step) == (rows, 1)
        and window == pixels * rows
        and itemsize < 8
    ):
        return "deal"
    return None


def _interleaved(builder: Any, rows: list) -> list:
    """``rows`` (vectors of one length, a power of two of them) interleaved element by
    element, as that many vectors in order: rounds of pairing row ``j`` with row
    ``j + n/2`` into the interleaved halves of both."""
    count, length = len(rows), rows[0].type.count
    low = _mask(k // 2 + (length if k % 2 else 0) for k in range(length))
    high = _mask(length // 2 + k // 2 + (length if k % 2 else 0) for k in range(length))
    for _ in range(count.bit_length() - 1):
        paired = []
        for j in range(count // 2):
            first, second = rows[j], rows[j + count // 2]
            paired += [builder.shuffle_vector(first, second, low)]
            paired += [builder.shuffle_vector(first, second, high)]
        rows = paired
    return rows


def _dealt(builder: Any, rows: list) -> list:
    """The inverse of :func:`_interleaved`: ``rows`` hold ``n`` sequences interleaved
    element by element; rounds split each pair of rows into its even and odd elements."""
    count, length = len(rows), rows[0].type.count
    even = _mask(range(0, 2 * length, 2))
    odd = _mask(range(1, 2 * length, 2))
    for _ in range(count.bit_length() - 1):
        split = [None] * count
        for j in range(count // 2):
            first, second = rows[2 * j], rows[2 * j + 1]
            split[j] = builder.shuffle_vector(first, second, even)
            split[j + count // 2] = builder.shuffle_vector(first, second, odd)
        rows = split
    return rows


@intrinsic
def _shuffle_block(
    typingctx, pattern, src, s, starts, dst, d, out_starts
):  # pragma: no cover - compiled
    """One block of ``pattern``: the window of each segment (from ``s + starts[g]`` in
    ``src``) loaded as one vector, the vectors joined, and each stretch of the block's
    output shuffled out and stored (from ``d + out_starts[g]`` in ``dst`` for output
    segment ``g``; ``src``, ``starts``, ``dst`` and ``out_starts`` are pointers)."""
    table, segments, in_step, _, pixels, _, out_segments = pattern.pattern
    window = _loaded_window(table, in_step, pixels)
    joined = 1 << (segments - 1).bit_length()  # vectors are joined in pairs
    stores = _stores(pattern.pattern, window)
    transpose = _transpose_kind(pattern.pattern, window, src.dtype.bitwidth // 8)

    def codegen(context, builder, signature, args):
        _, src_data, s_value, starts_data, dst_data, d_value, out_starts_data = args
        element = context.get_data_type(signature.args[1].dtype)
        loaded = ir.VectorType(element, window)
        parts = []
        for g in range(joined):
            if g < segments:
                start = builder.add(s_value, builder.load(builder.gep(starts_data, [_INDEX(g)])))
                at = builder.bitcast(builder.gep(src_data, [start]), loaded.as_pointer())
                parts.append(builder.load(at, align=1))
            else:
                parts.append(ir.Constant(loaded, ir.Undefined))
        segment_starts = [d_value] * out_segments
        if out_segments > 1:
            segment_starts = [
                builder.add(d_value, builder.load(builder.gep(out_starts_data, [_INDEX(g)])))
                for g in range(out_segments)
            ]
        if transpose is not None:
            if transpose == "interleave":  # one stretch, stored a window at a time
                rows = _interleaved(builder, parts)
                starts_of_rows = [
                    builder.add(d_value, d_value.type(k * window)) for k in range(len(rows))
                ]
            else:
                unused = ir.Constant(loaded, ir.Undefined)
                rows = [
                    builder.shuffle_vector(
                        parts[0], unused, _mask(range(k * pixels, k * pixels + pixels))
                    )
                    for k in range(out_segments)
                ]
                rows = _dealt(builder, rows)
                starts_of_rows = segment_starts
            for row, at in zip(rows, starts_of_rows):
                stored = row.type.as_pointer()
                builder.store(row, builder.bitcast(builder.gep(dst_data, [at]), stored), align=1)
            return context.get_dummy_value()
        while len(parts) > 1:  # join neighbours: [a, b] -> a ++ b
            both = _mask(range(2 * parts[0].type.count))
            pairs = zip(parts[::2], parts[1::2])
            parts = [builder.shuffle_vector(first, second, both) for first, second in pairs]
        vector = parts[0]
        unused = ir.Constant(vector.type, ir.Undefined)
        for out_g, start, lanes in stores:
            picked = builder.shuffle_vector(vector, unused, _mask(lanes))
            at = builder.gep(dst_data, [builder.add(segment_starts[out_g], d_value.type(start))])
            stored = ir.VectorType(element, len(lanes))
            builder.store(picked, builder.bitcast(at, stored.as_pointer()), align=1)
        return context.get_dummy_value()

    return numba_types.void(pattern, src, s, starts, dst, d, out_starts), codegen


def _shuffle_blocks(
    src,
    dst,
    starts,
    out_starts,
    s,
    d,
    rows,
    in_row,
    out_row,
    blocks,
    in_block,
    out_block,
    tail_in,
    tail_out,
    tail,
):  # pragma: no cover - compiled once per pattern, with PATTERN bound (shuffle_blocks_of)
    # ``rows`` rows of ``blocks`` blocks, and one more block at ``tail_in``/``tail_out``
    # in each where ``tail``; one call for them all, as calls by address are not inlined
    for j in range(rows):
        s_row = s + j * in_row
        d_row = d + j * out_row
        for b in range(blocks):
            _shuffle_block(
                PATTERN,  # noqa: F821
                src,
                s_row + b * in_block,
                starts,
                dst,
                d_row + b * out_block,
                out_starts,
            )
        if tail:
            _shuffle_block(
                PATTERN,  # noqa: F821
                src,
                s_row + tail_in,
                starts,
                dst,
                d_row + tail_out,
                out_starts,
            )


_BLOCK_FUNCTIONS: dict[tuple, Any] = {}


def shuffle_blocks_of(pattern: ShufflePattern, itemsize: int) -> Any:
    """:func:`_shuffle_blocks` for ``pattern`` and ``itemsize``-byte elements, compiled
    (once; cached on disk) as a C function that the *shuffle* kernel calls by address:
    only this small function is compiled per pattern, in about 0.1 s, not the kernels
    (about 2 s for their serial, parallel and address variants, measured)."""
    key = (pattern.key, itemsize)
    if key not in _BLOCK_FUNCTIONS:
        name = "_shuffle_blocks_" + hashlib.sha256(repr(key).encode()).hexdigest()[:20]
        scope = dict(globals(), PATTERN=pattern)
        function = types.FunctionType(_shuffle_blocks.__code__, scope, name)
        function.__qualname__ = name
        element = numba_types.CPointer(numba_types.Integer(f"uint{8 * itemsize}"))
        index = numba_types.uint64
        table = numba_types.CPointer(index)
        signature = numba_types.void(element, element, table, table, *[index] * 11)
        compiled = _cached(cfunc, function, sig=signature)
        # two threads may compile one pattern at once: plans keep the address of the
        # function kept here, which stays alive as long as the process
        _BLOCK_FUNCTIONS.setdefault(key, compiled)
    return _BLOCK_FUNCTIONS[key]


@intrinsic
def _call_blocks(typingctx, address, src, dst, starts, out_starts, sizes):  # pragma: no cover
    """Call the function of :func:`shuffle_blocks_of` at ``address`` over the arrays'
    data and the integers of the tuple ``sizes``."""

    def codegen(context, builder, signature, args):
        arrays = [
            context.make_array(signature.args[k])(context, builder, args[k]).data
            for k in (1, 2, 3, 4)
        ]
        values = [builder.extract_value(args[5], k) for k in range(len(sizes))]
        values = [
            context.cast(builder, value, kind, numba_types.uint64)
            for value, kind in zip(values, sizes)
        ]
        called = ir.FunctionType(
            ir.VoidType(), [array.type for array in arrays] + [ir.IntType(64)] * len(values)
        )
        function = builder.inttoptr(args[0], called.as_pointer())
        builder.call(function, [*arrays, *values])
        return context.get_dummy_value()

    signature = numba_types.void(address, src, dst, starts, out_starts, sizes)
    return signature, codegen


def _shuffle(
    src,
    dst,
    n,
    in_stride,
    out_stride,
    offsets,
    out_offsets,
    starts,
    out_starts,
    blocks_at,
    pixels,
    loaded,
):  # pragma: no cover - compiled
    # *gather* with the table known when compiling: the function at ``blocks_at``
    # (shuffle_blocks_of) copies ``pixels`` pixels at a time with a vector load per
    # segment, shuffles and a store per stretch of output, as a C compiler would do for a
    # constant table (up to 4x faster for bytes, measured). Pixels left at a row's end
    # are copied by one more block that overlaps the one before it (writing some elements
    # twice, with the same values), or gathered one by one where the row is shorter than
    # a block or the block would load past the input's end.
    # The threads share rows of all outer axes but the last two, and each row is one
    # call of the blocks' function, looping the last but one: a call (and a division
    # for its starts) per line of pixels made NHWC unshuffles of 16-64 channels, whose
    # lines are a block or two, 2.5-4x slower (measured on AMD Zen 4).
    last = len(n) - 1
    run = uint64(offsets.size)
    in_block = pixels * in_stride[last]
    out_block = pixels * out_stride[last]
    # a block loads a little past its last element: those at the input's end are gathered
    farthest = uint64(0)
    for g in range(starts.size):
        farthest = max(farthest, starts[g])
    reach = farthest + loaded
    zero = uint64(0)
    one = uint64(1)
    rows = _row_count(n) // n[last - 1]
    whole = n[last] // pixels
    tail = uint64(whole and n[last] % pixels)  # a last block, overlapping the one before
    tail_at = n[last] - pixels if tail else zero
    farthest_block = tail_at if tail else (whole - one if whole else zero)
    for t in prange(rows):
        row_in, row_out = _row_bases(t * n[last - 1], n, in_stride, out_stride)
        # whole rows whose every block loads inside the input; those after them, at the
        # input's end, are copied one by one below
        safe = n[last - 1] if whole else zero
        while safe and (
            row_in + (safe - one) * in_stride[last - 1] + farthest_block * in_stride[last] + reach
            > src.size
        ):
            safe -= one
        sizes = (
            row_in,
            row_out,
            safe,
            in_stride[last - 1],
            out_stride[last - 1],
            whole,
            in_block,
            out_block,
            tail_at * in_stride[last],
            tail_at * out_stride[last],
            tail,
        )
        _call_blocks(blocks_at, src, dst, starts, out_starts, sizes)
        for j in range(safe, n[last - 1]):
            base_in = row_in + j * in_stride[last - 1]
            base_out = row_out + j * out_stride[last - 1]
            blocks = whole
            while blocks and base_in + (blocks - one) * in_block + reach > src.size:
                blocks -= one
            if blocks:
                sizes = (
                    base_in,
                    base_out,
                    one,
                    zero,
                    zero,
                    blocks,
                    in_block,
                    out_block,
                    zero,
                    zero,
                    zero,
                )
                _call_blocks(blocks_at, src, dst, starts, out_starts, sizes)
            for i in range(blocks * pixels, n[last]):
                s = base_in + i * in_stride[last]
                d = base_out + i * out_stride[last]
                for k in range(run):
                    dst[d + out_offsets[k]] = src[s + offsets[k]]


def _variant(function: Any, parallel: bool) -> Any:
    """``function`` compiled serial or parallel. numba's on-disk cache keys a function by
    its qualified name, not by its options, so the parallel copy gets a name of its own;
    otherwise whichever variant compiled first would be loaded for both."""
    if parallel:
        function = types.FunctionType(
            function.__code__, function.__globals__, function.__name__ + "_parallel"
        )
        function.__qualname__ += "_parallel"
    return _cached(njit, function, parallel=parallel, nogil=True, boundscheck=False)


_KERNELS = {
    (name, parallel): _variant(function, parallel)
    for name, function in (
        ("rows", _rows),
        ("transpose", _transpose),
        ("gather", _gather),
        ("shuffle", _shuffle),
    )
    for parallel in (False, True)
}


# Contiguous torch tensors of a remembered shape: the kernels called with the tensors'
# addresses, µs cheaper per call than making NumPy views of them (benchmarks/README.md).
@intrinsic
def _pointer_to(typingctx, address, like):  # pragma: no cover - compiled
    """The integer ``address`` as a pointer to elements of ``like``'s type."""
    pointer = numba_types.CPointer(like.dtype)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(pointer))

    return pointer(address, like), codegen


def _at_addresses(src_address, dst_address, size, like, args):  # pragma: no cover - compiled
    """Run ``kernel`` with ``args`` (a plan's) over ``size`` elements at each address, of
    the type of ``like`` (an array of one element, only its type matters)."""
    src = numba.carray(_pointer_to(src_address, like), size)
    dst = numba.carray(_pointer_to(dst_address, like), size)
    kernel(src, dst, *args)  # noqa: F821 - each copy of this function binds its own


def _address_wrapper(kind: str, parallel: bool) -> Any:
    """:func:`_at_addresses` compiled for one kernel, under a name of its own (numba's
    on-disk cache keys functions by name, as in :func:`_variant`)."""
    name = f"_{kind}_at{'_parallel' if parallel else ''}"
    scope = dict(globals(), kernel=_KERNELS[kind, parallel])
    function = types.FunctionType(_at_addresses.__code__, scope, name)
    function.__qualname__ = name
    return _cached(njit, function, nogil=True)


_AT_ADDRESSES = {key: _address_wrapper(*key) for key in _KERNELS}
# one element of each size, whose type the kernels take from it
_ELEMENT_OF_SIZE = {size: np.zeros(1, dtype=f"u{size}") for size in (1, 2, 4, 8)}


class CopyPlan:
    """A planned copy: its kind (a kernel's name, or *deal*: a de-interleave that the
    *shuffle* kernel runs), the outer axes and the inner 1-D or 2-D block."""

    __slots__ = ("args", "kind")

    def __init__(self, kind: str, args: tuple) -> None:
        self.kind = kind
        self.args = args

    @property
    def kernel(self) -> str:
        return "shuffle" if self.kind == "deal" else self.kind


def plan_copy(
    shape: Sequence[int],
    in_strides: Sequence[int],
    out_strides: Sequence[int],
    itemsize: int,
) -> CopyPlan | None:
    """How to copy an array of ``shape`` between two stridings (in elements) of
    ``itemsize``-byte elements, or ``None`` when no kernel here fits (the caller then
    uses the reference path). Plans are remembered: calls that take the full path each
    time (strided inputs) plan once."""
    return _plan_copy(tuple(shape), tuple(in_strides), tuple(out_strides), itemsize)


@functools.lru_cache(maxsize=512)
def _plan_copy(
    shape: tuple[int, ...], in_strides: tuple[int, ...], out_strides: tuple[int, ...], itemsize: int
) -> CopyPlan | None:
    merged = merged_axes(shape, in_strides, out_strides)
    form = form_of(merged)
    if form is None:
        return None
    if form.is_rows:
        # e.g. NHWC in tf order: runs of r·C, a few bytes long
        if form.nb * itemsize <= _SHORT_ROW_BYTES:
            shuffled = _plan_shuffle(merged, itemsize, least=1)
            if shuffled is not None:
                return shuffled
        if form.nb < _SHORT_ROWS:
            gathered = _plan_gather(merged, from_afar=True)
            if gathered is not None:
                return gathered
        return CopyPlan("rows", (*_outer_arrays(form.outer), np.uint64(form.nb)))
    long_runs = (form.interleaves and form.na >= 8) or (form.deinterleaves and form.nb >= 8)
    deal = None if form.interleaves and form.na >= 8 else _deal(form, itemsize)
    if deal is not None and (long_runs or deal.pixels * itemsize >= _STORE_BYTES):
        return _plan_deal(deal, itemsize)
    if not long_runs:  # the transposes vectorise those; small per-pixel ones are shuffled
        # dealing them out with stores shorter than a vector was up to 2.3x slower
        # than shuffling pixels (uint8 NHWC upsampling of 8-16 channels, measured)
        planned = _plan_shuffle(merged, itemsize)
        if planned is None and deal is not None:
            planned = _plan_deal(deal, itemsize)
        planned = planned or _plan_gather(merged)
        if planned is not None:
            return planned
    sizes = tuple(np.uint64(size) for size in (form.na, form.in_b, form.out_a, form.nb))
    return CopyPlan("transpose", (*_outer_arrays(form.outer), *sizes))


def _short_run(merged: list[Axis], least: int) -> tuple[list[Axis], tuple[Axis, ...]] | None:
    """The innermost axes that fill a short contiguous run of the output (at most
    ``_SHORT_RUN`` elements, from at least ``least`` axes) and the axes outside them;
    ``None`` when there is no such run or nothing outside it."""
    count = output_run(merged, _SHORT_RUN)
    if count < least or count == len(merged):
        return None
    outer = tuple(merged[:-count])
    if len(outer) == 1:
        # one outer axis would be one row, looped on one thread: make each index a row
        outer = (*outer, Axis(1, 0, 0))
    return merged[-count:], outer


def _plan_gather(merged: list[Axis], from_afar: bool = False) -> CopyPlan | None:
    """The *gather* kernel's plan: a short output run from at least two axes (so a
    transpose within it) becomes a table of input offsets; ``None`` when there is no
    such run, or, with ``from_afar``, when the run's pieces lie close together in the
    input (then copying them as rows was as fast or faster, measured on tiny images)."""
    found = _short_run(merged, least=2)
    if found is None:
        return None
    run, outer = found
    if from_afar and max(axis.in_stride for axis in run) < _SHORT_RUN:
        return None
    return CopyPlan("gather", (*_outer_arrays(outer), _table(run)))


def _plan_shuffle(merged: list[Axis], itemsize: int, least: int = 2) -> CopyPlan | None:
    """The *shuffle* kernel's plan: as *gather*'s, and a pattern that reads each of the
    run's pieces (segments) within a window of ``_WINDOWS`` bytes, for a block of
    pixels along the last outer axis; ``None`` where the pieces do not fit or there are
    too many. One pixel at a time of 4- and 8-byte elements from several segments was
    up to 1.3x slower than *gather* on an Intel Xeon, but 2.5-4x faster on AMD Zen 4,
    where the vector gathers LLVM makes of *gather* are slow (measured)."""
    found = _short_run(merged, least)
    if found is None:
        return None
    run, outer = found
    if outer[-1].size == 1:  # one outer axis, split for _short_run into rows of one
        outer = _rows_of_pixels(outer[0])
    pixel = outer[-1]
    if pixel.size < 2:
        return None
    for window_bytes in _WINDOWS:
        window = window_bytes // itemsize
        pixels = _pixels_per_block(run, pixel, window, itemsize)
        if pixels is None:
            continue
        starts, pattern = _shuffle_pattern(run, pixel, window, pixels)
        in_offsets = _table(run)
        out_offsets = np.arange(in_offsets.size, dtype=np.uint64)
        return _shuffle_plan(outer, pattern, itemsize, in_offsets, out_offsets, starts)
    return None


def _shuffle_plan(
    outer: tuple[Axis, ...],
    pattern: ShufflePattern,
    itemsize: int,
    in_offsets: np.ndarray,
    out_offsets: np.ndarray,
    starts: np.ndarray,
    out_starts: np.ndarray | None = None,
    kind: str = "shuffle",
) -> CopyPlan:
    """The *shuffle* kernel's plan (of ``kind`` *shuffle* or *deal*) for ``pattern`` over
    ``outer`` (its pixels along the last); the offsets place one pixel's elements for
    those copied one by one."""
    if out_starts is None:
        out_starts = np.zeros(1, dtype=np.uint64)
    blocks_at = np.uint64(shuffle_blocks_of(pattern, itemsize).address)
    sizes = (blocks_at, np.uint64(pattern.pixels), np.uint64(pattern.loaded))
    tables = (in_offsets, out_offsets, starts, out_starts)
    # the kernel loops the last two outer axes in each row of the threads; where the
    # others would leave too few rows to share, the last but one is a loop of one
    if len(outer) < 3 or math.prod(axis.size for axis in outer[:-2]) < _THREAD_ROWS:
        outer = (*outer[:-1], Axis(1, 0, 0), outer[-1])
    return CopyPlan(kind, (*_outer_arrays(outer), *tables, *sizes))


class _Deal(NamedTuple):
    """A de-interleave that *shuffle* can run (:func:`_deal`)."""

    digits: list[Axis]  # the consecutive input of each ``b``, outermost first
    outer: list[Axis]
    nb: int
    pixels: int  # ``b`` elements per block


def _deal(form: CopyShape, itemsize: int) -> _Deal | None:
    """A de-interleave as a *shuffle*: the transpose's ``b`` elements each read
    consecutive input, and that input is dealt out to several output rows (NCHW
    unshuffles: an input row to ``r`` rows; NHWC upsampling in ``torch`` order: a pixel's
    ``C·r·r`` channels to ``r·r`` runs of ``C``). Each block loads the input of
    ``pixels`` of them as one vector and stores ``pixels`` elements into each output
    row, whose starts are the output segments. Outer axes that continue the ``a`` run in
    the input (``r1`` of NHWC) join it. ``None`` where the input is not consecutive, the
    rows are too many or too short for a block of two.

    Measured on AMD Zen 4, kernel alone (benchmarks/README.md): NCHW unshuffles by 3
    and 4 up to 5x faster than the transposes (median 1.7x), most with deep feature
    maps, whose rows are too short for LLVM's vector loops; NHWC upsampling of 16-256
    channels 1.3-14x faster than the transposes or *gather*. De-interleaves of 2 rows,
    which those loops handle well, were up to 1.8x slower dealt out (bytes), so the plan
    leaves them to the transposes."""
    digits = [Axis(form.na, 1, form.out_a)]
    outer = list(form.outer)
    while (dealt := math.prod(axis.size for axis in digits)) < form.in_b:
        joining = [axis for axis in outer if axis.in_stride == dealt]
        if not joining:
            return None
        outer.remove(joining[0])
        digits.insert(0, joining[0])
    if dealt != form.in_b or not 3 <= dealt <= _MAX_SEGMENTS or form.nb < _DEAL_LEAST:
        return None
    # NHWC pixels by 3 and 4 (9 and 16 rows) load more, so that each row's store is a
    # whole 32-byte vector (from 128 bytes, 8 bytes or less)
    fit = min(max(_DEAL_BYTES, dealt * _STORE_BYTES) // (dealt * itemsize), form.nb)
    pixels = 1 << (fit.bit_length() - 1) if fit else 0
    return _Deal(digits, outer, form.nb, pixels) if pixels >= 2 else None


def _plan_deal(deal: _Deal, itemsize: int) -> CopyPlan:
    """The *shuffle* kernel's plan for ``deal``."""
    dealt = math.prod(axis.size for axis in deal.digits)
    table = tuple((0, k) for k in range(dealt))
    out_table = tuple((k, 0) for k in range(dealt))
    pattern = ShufflePattern(table, 1, dealt, 1, deal.pixels, out_table, dealt)
    in_offsets = np.arange(dealt, dtype=np.uint64)
    out_starts = _table([Axis(axis.size, axis.out_stride, axis.in_stride) for axis in deal.digits])
    starts = np.zeros(1, dtype=np.uint64)
    # rows in the input's order: the output's (each input row read in its turn, r
    # input rows apart) was 3-4x slower with deep feature maps, measured on AMD Zen 4
    rows = sorted(deal.outer, key=lambda axis: -axis.in_stride)
    outer = (*rows, Axis(deal.nb, dealt, 1))
    return _shuffle_plan(
        outer, pattern, itemsize, in_offsets, out_starts, starts, out_starts, kind="deal"
    )


def _rows_of_pixels(axis: Axis) -> tuple[Axis, Axis]:
    """``axis`` (all outer axes merged, as in 1-D NLC) split into rows of pixels, so
    that the threads share the rows and each row has pixels to make blocks of: rows as
    long as a divisor of its size allows, up to ``_LONGEST_ROW``."""
    length = next(n for n in range(min(axis.size, _LONGEST_ROW), 0, -1) if axis.size % n == 0)
    rows = Axis(axis.size // length, axis.in_stride * length, axis.out_stride * length)
    return rows, Axis(length, axis.in_stride, axis.out_stride)


def _pixels_per_block(run: list[Axis], pixel: Axis, window: int, itemsize: int) -> int | None:
    """How many pixels along ``pixel`` a *shuffle* block copies ``run`` for, with windows
    of ``window`` elements (as many as fit, or fewer where that makes the block's output
    a whole number of ``_STORE_BYTES``); ``None`` where a pixel does not fit or its
    pieces lie in more than ``_MAX_SEGMENTS`` segments (see :func:`_shuffle_pattern`)."""
    near = [axis for axis in run if axis.in_stride < window]
    segments = math.prod(axis.size for axis in run if axis.in_stride >= window)
    reach = 1 + sum((axis.size - 1) * axis.in_stride for axis in near)
    if segments > _MAX_SEGMENTS or reach > window:
        return None
    pixels = 1 + (window - reach) // pixel.in_stride if pixel.in_stride else 1
    pixels = min(pixels, pixel.size)  # a short axis: a block per row
    run_bytes = math.prod(axis.size for axis in run) * itemsize
    pixels = next((p for p in range(pixels, 0, -1) if p * run_bytes % _STORE_BYTES == 0), pixels)
    return pixels


def _shuffle_pattern(
    run: list[Axis], pixel: Axis, window: int, pixels: int
) -> tuple[np.ndarray, ShufflePattern]:
    """The segment starts and pattern for copying ``run`` once per pixel along ``pixel``
    with windows of ``window`` elements, ``pixels`` at a time: the run's axes that step
    less than a window stay within one, the others choose the segment."""
    near = [axis.in_stride < window for axis in run]
    starts = _table([axis for axis, is_near in zip(run, near) if not is_near])
    # each element: which segment (its far digits) and where in it (its near digits)
    segment_of = np.zeros(1, dtype=np.int64)
    offset_of = np.zeros(1, dtype=np.int64)
    for axis, is_near in zip(run, near):
        digits = np.arange(axis.size)
        if is_near:
            offset_of = (offset_of[:, None] + digits * axis.in_stride).reshape(-1)
            segment_of = np.repeat(segment_of, axis.size)
        else:
            segment_of = (segment_of[:, None] * axis.size + digits).reshape(-1)
            offset_of = np.repeat(offset_of, axis.size)
    table = tuple(zip(segment_of.tolist(), offset_of.tolist()))
    return starts, ShufflePattern(table, starts.size, pixel.in_stride, pixel.out_stride, pixels)


def _table(axes: list[Axis]) -> np.ndarray:
    """The input offset of each element of ``axes`` (outermost first), in output order."""
    offsets = np.zeros(1, dtype=np.uint64)
    for axis in axes:
        steps = np.arange(axis.size, dtype=np.uint64) * np.uint64(axis.in_stride)
        offsets = (offsets[:, None] + steps[None, :]).reshape(-1)
    return offsets


def _outer_arrays(outer: tuple[Axis, ...]) -> tuple[np.ndarray, ...]:
    # at least two outer axes: rows over all but the last, a loop over the last
    padded = [Axis(1, 0, 0)] * (2 - len(outer)) + list(outer)
    return tuple(np.array([axis[j] for axis in padded], dtype=np.uint64) for j in range(3))


def _threadsafe_layer() -> bool:
    """Whether numba's parallel kernels may be launched from any thread. Its fallback
    threading layer (workqueue) aborts the process when two threads launch at once,
    so without TBB or OpenMP the kernels stay serial."""
    layer = numba.config.THREADING_LAYER
    if layer in ("workqueue",):
        return False
    for module in ("numba.np.ufunc.tbbpool", "numba.np.ufunc.omppool"):
        try:
            importlib.import_module(module)
        except ImportError:  # its library (libtbb, libgomp) is missing
            continue
        return True
    return False


PARALLEL = _threadsafe_layer()
JIT_DISABLED = bool(numba.config.DISABLE_JIT)


def copy_permuted(plan: CopyPlan, src: np.ndarray, dst: np.ndarray, parallel: bool) -> None:
    """Run ``plan`` from the flat array ``src`` into the flat array ``dst`` (unsigned
    integers of the element size, each starting at its array's first element)."""
    _KERNELS[plan.kernel, parallel and PARALLEL](src, dst, *plan.args)


def copy_at(
    plan: CopyPlan, src_address: int, dst_address: int, size: int, itemsize: int, parallel: bool
) -> None:
    """Run ``plan`` between two contiguous buffers of ``size`` elements of ``itemsize``
    bytes at the given addresses, which the caller keeps alive and apart."""
    kernel = _AT_ADDRESSES[plan.kernel, parallel and PARALLEL]
    kernel(src_address, dst_address, size, _ELEMENT_OF_SIZE[itemsize], plan.args)
