"""CPU kernels (numba): one pass over memory for any permuted copy the plans produce.

A plan turns every op into a copy from a strided view of the input (split, then
transposed) into the output. After merging the axes that stay adjacent in both, such a
copy has one of two shapes:

- *rows*: the innermost axis is contiguous in both arrays, so the op copies runs
  (NHWC in ``tf`` order: runs of ``r·C`` elements; conversions between conventions);
- *transpose*: the axis contiguous in the input (``a``) is not the one contiguous in the
  output (``b``), so every block of the two is a small 2-D transpose (NCHW: ``r`` input
  rows interleaved into one output row; NHWC in ``torch`` order: a ``C × r`` transpose
  per pixel; unshuffle: the inverse).

A permutation moves bits, not numbers, so the kernels see unsigned integers of the
element's size (1, 2, 4 or 8 bytes); numba compiles one version per size, serial for
small copies and parallel over rows for large ones. Indices are 64-bit throughout.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["CopyPlan", "copy_permuted", "plan_copy"]

_TILE = 64  # transposes with both sides longer than this are done in tiles


@njit(inline="always", cache=True)
def _row_bases(t, n, in_stride, out_stride):  # pragma: no cover - compiled
    """Where row ``t`` (all outer axes but the last, flattened) starts in each array."""
    base_in = 0
    base_out = 0
    for axis in range(len(n) - 2, -1, -1):
        index = t % n[axis]
        t //= n[axis]
        base_in += index * in_stride[axis]
        base_out += index * out_stride[axis]
    return base_in, base_out


def _rows(src, dst, n, in_stride, out_stride, run):  # pragma: no cover - compiled
    last = len(n) - 1
    rows = 1
    for axis in range(last):
        rows *= n[axis]
    for t in prange(rows):
        base_in, base_out = _row_bases(t, n, in_stride, out_stride)
        for i in range(n[last]):
            s = base_in + i * in_stride[last]
            d = base_out + i * out_stride[last]
            for k in range(run):
                dst[d + k] = src[s + k]


def _transpose(src, dst, n, in_stride, out_stride, na, in_b, out_a, nb):  # pragma: no cover
    # dst[.. + a * out_a + b] = src[.. + a + b * in_b]: `a` is contiguous in src, `b` in dst
    last = len(n) - 1
    rows = 1
    for axis in range(last):
        rows *= n[axis]
    for t in prange(rows):
        base_in, base_out = _row_bases(t, n, in_stride, out_stride)
        for i in range(n[last]):
            s = base_in + i * in_stride[last]
            d = base_out + i * out_stride[last]
            if nb <= 8:
                # few interleaved rows: long contiguous reads along a
                for b in range(nb):
                    for a in range(na):
                        dst[d + a * out_a + b] = src[s + a + b * in_b]
            elif na <= _TILE:
                # few rows to de-interleave: long contiguous writes along b
                for a in range(na):
                    for b in range(nb):
                        dst[d + a * out_a + b] = src[s + a + b * in_b]
            else:
                for a0 in range(0, na, _TILE):
                    for b0 in range(0, nb, _TILE):
                        for a in range(a0, min(a0 + _TILE, na)):
                            for b in range(b0, min(b0 + _TILE, nb)):
                                dst[d + a * out_a + b] = src[s + a + b * in_b]


_OPTIONS = {"nogil": True, "cache": True, "boundscheck": False}
_KERNELS = {
    (name, parallel): njit(parallel=parallel, **_OPTIONS)(function)
    for name, function in (("rows", _rows), ("transpose", _transpose))
    for parallel in (False, True)
}


class CopyPlan:
    """A planned copy: the kernel, its outer axes and the inner 1-D or 2-D block."""

    __slots__ = ("args", "kind")

    def __init__(self, kind: str, args: tuple) -> None:
        self.kind = kind
        self.args = args


def plan_copy(
    shape: tuple[int, ...], in_strides: tuple[int, ...], out_strides: tuple[int, ...]
) -> CopyPlan | None:
    """How to copy an array of ``shape`` between two stridings (in elements), or
    ``None`` when no kernel here fits (the caller then uses the reference path)."""
    axes = [(n, i, o) for n, i, o in zip(shape, in_strides, out_strides) if n != 1]
    if not axes:
        axes = [(1, 1, 1)]
    # order by the output's strides, innermost last, then merge what stays adjacent
    axes.sort(key=lambda axis: -axis[2])
    merged: list[tuple[int, int, int]] = []
    for n, i, o in axes:
        if merged and merged[-1][1] == i * n and merged[-1][2] == o * n:
            merged[-1] = (merged[-1][0] * n, i, o)
        else:
            merged.append((n, i, o))
    inner_n, inner_in, inner_out = merged[-1]
    if inner_in == 1 and inner_out == 1:
        return CopyPlan("rows", (*_outer_arrays(merged[:-1]), inner_n))
    if inner_out != 1:
        return None
    unit = [k for k, axis in enumerate(merged) if axis[1] == 1]
    if not unit:
        return None
    k = unit[0]
    na, _, out_a = merged[k]
    nb, in_b, _ = merged[-1]
    outer = merged[:k] + merged[k + 1 : -1]
    return CopyPlan("transpose", (*_outer_arrays(outer), na, in_b, out_a, nb))


def _outer_arrays(outer: list[tuple[int, int, int]]) -> tuple[np.ndarray, ...]:
    # at least two outer axes: rows over all but the last, a loop over the last
    padded = [(1, 0, 0)] * (2 - len(outer)) + outer
    return tuple(np.array([axis[j] for axis in padded], dtype=np.int64) for j in range(3))


def copy_permuted(plan: CopyPlan, src: np.ndarray, dst: np.ndarray, parallel: bool) -> None:
    """Run ``plan`` from the flat array ``src`` into the flat array ``dst`` (unsigned
    integers of the element size, each starting at its array's first element)."""
    _KERNELS[plan.kind, parallel](src, dst, *plan.args)
