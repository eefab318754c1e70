"""CPU kernels (numba): one pass over memory for any permuted copy the plans produce.

Every op is a permuted copy; ``_axes.copy_shape`` reduces it to runs of rows or small
2-D transposes. Three kernels run those: *rows*, *transpose* (a block at a time) and
*blocks* (the smallest transposes, one element of the block at a time along a row of
pixels).

A permutation moves bits, not numbers, so the kernels see unsigned integers of the
element's size (1, 2, 4 or 8 bytes); numba compiles one version per size, serial for
small copies and parallel over rows for large ones. Indices are 64-bit throughout.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

import numba
import numpy as np
from numba import njit, prange, uint64

from ._axes import Axis, CopyShape, copy_shape

__all__ = ["CopyPlan", "copy_permuted", "plan_copy"]

_TILE = 64  # transposes with both sides longer than this are done in tiles
_SMALL_BLOCK = 64  # transposes of at most this many elements are copied along an axis
_LONG_AXIS = 16  # ... one at least this long
_SWEEP_BYTES = 32768  # ... in stretches that span about this much of both arrays
_PIXEL_STEP = 8  # ... whose steps are at most this many blocks


# Every index is unsigned 64-bit: numba wraps negative signed indices around at run time,
# and that check alone keeps LLVM from vectorising the loops (2-7x slower measured).
@njit(inline="always", cache=True)
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


@njit(inline="always", cache=True)
def _row_count(n):  # pragma: no cover - compiled
    """How many rows: the product of all outer axes but the last (looped inside a row)."""
    rows = uint64(1)
    for axis in range(len(n) - 1):
        rows *= n[axis]
    return rows


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
    # de-interleaving 1- and 2-byte elements vectorises with contiguous reads, wider ones
    # with contiguous writes (measured: up to 3.5x apart either way)
    narrow = src.itemsize <= 2
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
            elif deinterleave and na == 2 and narrow:
                for b in range(nb):
                    for a in range(2):
                        dst[d + uint64(a) * out_a + b] = src[s + uint64(a) + b * uint64(2)]
            elif deinterleave and na == 2:
                for a in range(2):
                    for b in range(nb):
                        dst[d + uint64(a) * out_a + b] = src[s + uint64(a) + b * uint64(2)]
            elif deinterleave and na == 3 and narrow:
                for b in range(nb):
                    for a in range(3):
                        dst[d + uint64(a) * out_a + b] = src[s + uint64(a) + b * uint64(3)]
            elif deinterleave and na == 3:
                for a in range(3):
                    for b in range(nb):
                        dst[d + uint64(a) * out_a + b] = src[s + uint64(a) + b * uint64(3)]
            elif deinterleave and na == 4 and narrow:
                for b in range(nb):
                    for a in range(4):
                        dst[d + uint64(a) * out_a + b] = src[s + uint64(a) + b * uint64(4)]
            elif deinterleave and na == 4:
                for a in range(4):
                    for b in range(nb):
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


def _blocks(src, dst, n, in_stride, out_stride, na, in_b, out_a, nb, chunk):  # pragma: no cover
    # Small transposes (a few channels by the factor, as in NHWC `torch` and `caffe`
    # orders): each element of the block is copied along the last outer axis at once, a
    # strided copy with fixed strides, instead of one tiny block per pixel; `chunk`
    # indices at a time, so that what one pass touches stays in the L1 cache for the next.
    last = len(n) - 1
    for t in prange(_row_count(n)):
        base_in, base_out = _row_bases(t, n, in_stride, out_stride)
        for i0 in range(uint64(0), n[last], chunk):
            i1 = min(i0 + chunk, n[last])
            for a in range(na):
                for b in range(nb):
                    s = base_in + a + b * in_b
                    d = base_out + a * out_a + b
                    for i in range(i0, i1):
                        dst[d + i * out_stride[last]] = src[s + i * in_stride[last]]


def _variant(function: Any, parallel: bool) -> Any:
    """``function`` compiled serial or parallel. numba's on-disk cache keys a function by
    its qualified name, not by its options, so the parallel copy gets a name of its own;
    otherwise whichever variant compiled first would be loaded for both."""
    if parallel:
        function = types.FunctionType(
            function.__code__, function.__globals__, function.__name__ + "_parallel"
        )
        function.__qualname__ += "_parallel"
    return njit(parallel=parallel, nogil=True, cache=True, boundscheck=False)(function)


_KERNELS = {
    (name, parallel): _variant(function, parallel)
    for name, function in (("rows", _rows), ("transpose", _transpose), ("blocks", _blocks))
    for parallel in (False, True)
}


class CopyPlan:
    """A planned copy: the kernel, its outer axes and the inner 1-D or 2-D block."""

    __slots__ = ("args", "kind")

    def __init__(self, kind: str, args: tuple) -> None:
        self.kind = kind
        self.args = args


def plan_copy(
    shape: tuple[int, ...],
    in_strides: tuple[int, ...],
    out_strides: tuple[int, ...],
    itemsize: int,
    parallel: bool,
) -> CopyPlan | None:
    """How to copy an array of ``shape`` between two stridings (in elements) of
    ``itemsize``-byte elements, on several threads or one, or ``None`` when no kernel
    here fits (the caller then uses the reference path)."""
    form = copy_shape(shape, in_strides, out_strides)
    if form is None:
        return None
    if form.is_rows:
        return CopyPlan("rows", (*_outer_arrays(form.outer), np.uint64(form.nb)))
    sizes = tuple(np.uint64(size) for size in (form.na, form.in_b, form.out_a, form.nb))
    along = _long_axis(form, itemsize, parallel and PARALLEL)
    if along is not None:
        axis = form.outer[along]
        outer = form.outer[:along] + form.outer[along + 1 :] + (axis,)
        chunk = max(1, _SWEEP_BYTES // ((axis.in_stride + axis.out_stride) * itemsize))
        return CopyPlan("blocks", (*_outer_arrays(outer), *sizes, np.uint64(chunk)))
    return CopyPlan("transpose", (*_outer_arrays(form.outer), *sizes))


def _long_axis(form: CopyShape, itemsize: int, parallel: bool) -> int | None:
    """For a small transpose, the outer axis to copy each of its elements along: a long
    axis of adjacent pixels, the innermost in the output (a row's pixels). ``None`` where
    the per-block kernel is as fast or faster (measured, benchmarks/README.md): serial
    copies; large blocks; output runs (``nb``) long enough to write as vectors; rows
    interleaved from long runs, which it vectorises; no axis of adjacent pixels."""
    block = form.na * form.nb
    if not parallel or block > _SMALL_BLOCK or form.nb >= 32 or form.nb * itemsize >= 64:
        return None
    if (form.interleaves and form.na >= 8) or (form.deinterleaves and form.nb >= 8):
        return None
    long_axes = [
        k
        for k, axis in enumerate(form.outer)
        # adjacent pixels: the axis does not continue the block's own runs (in NCHW the
        # image rows do) and steps by at most a few blocks (not by planes or images)
        if axis.size >= _LONG_AXIS
        and form.na < axis.in_stride <= _PIXEL_STEP * block
        and form.nb < axis.out_stride <= _PIXEL_STEP * block
    ]
    return min(long_axes, key=lambda k: form.outer[k].out_stride, default=None)


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


def copy_permuted(plan: CopyPlan, src: np.ndarray, dst: np.ndarray, parallel: bool) -> None:
    """Run ``plan`` from the flat array ``src`` into the flat array ``dst`` (unsigned
    integers of the element size, each starting at its array's first element)."""
    _KERNELS[plan.kind, parallel and PARALLEL](src, dst, *plan.args)
