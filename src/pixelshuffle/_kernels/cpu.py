"""CPU kernels (numba): one pass over memory for any permuted copy the plans produce.

Every op is a permuted copy; ``_axes.copy_shape`` reduces it to runs of rows or small
2-D transposes. Three kernels run those: *rows*, *transpose* (a block at a time) and
*gather* (short output runs with a transpose inside, as in NHWC in ``torch`` order:
each run written whole from a table of input offsets).

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
from numba.core import types as numba_types
from numba.extending import intrinsic

from ._axes import Axis, form_of, merged_axes, output_run

__all__ = ["CopyPlan", "copy_at", "copy_permuted", "plan_copy"]

_TILE = 64  # transposes with both sides longer than this are done in tiles
_SHORT_RUN = 64  # output runs of at most this many elements are gathered whole
_SHORT_ROWS = 12  # ... and so are copies of runs shorter than this, where they fit


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
    for name, function in (
        ("rows", _rows),
        ("transpose", _transpose),
        ("gather", _gather),
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
    return njit(nogil=True, cache=True)(function)


_AT_ADDRESSES = {key: _address_wrapper(*key) for key in _KERNELS}
# one element of each size, whose type the kernels take from it
_ELEMENT_OF_SIZE = {size: np.zeros(1, dtype=f"u{size}") for size in (1, 2, 4, 8)}


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
) -> CopyPlan | None:
    """How to copy an array of ``shape`` between two stridings (in elements), or
    ``None`` when no kernel here fits (the caller then uses the reference path)."""
    merged = merged_axes(shape, in_strides, out_strides)
    form = form_of(merged)
    if form is None:
        return None
    if form.is_rows:
        if form.nb < _SHORT_ROWS:  # e.g. NHWC unshuffles in tf order: runs of r·C
            gathered = _plan_gather(merged, from_afar=True)
            if gathered is not None:
                return gathered
        return CopyPlan("rows", (*_outer_arrays(form.outer), np.uint64(form.nb)))
    long_runs = (form.interleaves and form.na >= 8) or (form.deinterleaves and form.nb >= 8)
    if not long_runs:  # the transposes vectorise those; small per-pixel ones gather
        gathered = _plan_gather(merged)
        if gathered is not None:
            return gathered
    sizes = tuple(np.uint64(size) for size in (form.na, form.in_b, form.out_a, form.nb))
    return CopyPlan("transpose", (*_outer_arrays(form.outer), *sizes))


def _plan_gather(merged: list[Axis], from_afar: bool = False) -> CopyPlan | None:
    """The *gather* kernel's plan: the innermost axes that fill a short contiguous run of
    the output (at most ``_SHORT_RUN`` elements, from at least two axes, so a transpose
    within it) become a table of input offsets; ``None`` when there is no such run, or,
    with ``from_afar``, when the run's pieces lie close together in the input (then
    copying them as rows was as fast or faster, measured on tiny images)."""
    count = output_run(merged, _SHORT_RUN)
    if count < 2 or count == len(merged):
        return None
    if from_afar and max(axis.in_stride for axis in merged[-count:]) < _SHORT_RUN:
        return None
    offsets = np.zeros(1, dtype=np.uint64)
    for axis in merged[-count:]:  # outermost first: the table follows the output's order
        steps = np.arange(axis.size, dtype=np.uint64) * np.uint64(axis.in_stride)
        offsets = (offsets[:, None] + steps[None, :]).reshape(-1)
    outer = tuple(merged[:-count])
    if len(outer) == 1:
        # one outer axis would be one row, looped on one thread: make each index a row
        outer = (*outer, Axis(1, 0, 0))
    return CopyPlan("gather", (*_outer_arrays(outer), offsets))


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
    _KERNELS[plan.kind, parallel and PARALLEL](src, dst, *plan.args)


def copy_at(
    plan: CopyPlan, src_address: int, dst_address: int, size: int, itemsize: int, parallel: bool
) -> None:
    """Run ``plan`` between two contiguous buffers of ``size`` elements of ``itemsize``
    bytes at the given addresses, which the caller keeps alive and apart."""
    kernel = _AT_ADDRESSES[plan.kind, parallel and PARALLEL]
    kernel(src_address, dst_address, size, _ELEMENT_OF_SIZE[itemsize], plan.args)
