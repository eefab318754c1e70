"""The shape of a permuted copy, shared by the CPU and GPU kernels.

A plan turns every op into a copy from a strided view of the input (split, then
transposed) into the output. After merging the axes that stay adjacent in both arrays,
such a copy has one of two forms:

- *rows*: the innermost axis is contiguous in both arrays, so the op copies runs
  (NHWC in ``tf`` order: runs of ``r·C`` elements; conversions between conventions);
- *transpose*: the axis contiguous in the input (``a``) is not the one contiguous in the
  output (``b``), so every block of the two is a small 2-D transpose (NCHW: ``r`` input
  rows interleaved into one output row; NHWC in ``torch`` order: a ``C × r`` transpose
  per pixel; unshuffle: the inverse).

Everything here counts in elements, not bytes.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Axis", "CopyShape", "copy_shape", "form_of", "merged_axes", "output_run"]


class Axis(NamedTuple):
    size: int
    in_stride: int
    out_stride: int


class CopyShape(NamedTuple):
    """``outer`` axes (outermost first) around an inner 1-D run or 2-D transpose:
    ``dst[.. + a·out_a + b] = src[.. + a + b·in_b]`` for ``a < na`` and ``b < nb``.
    A *rows* copy has ``na == 1``: its run is ``b``, contiguous in both arrays."""

    outer: tuple[Axis, ...]
    na: int
    in_b: int
    out_a: int
    nb: int

    @property
    def is_rows(self) -> bool:
        return self.na == 1 and self.in_b == 1

    @property
    def interleaves(self) -> bool:
        """The ``nb`` input rows of a transpose fill one output run, element by element."""
        return not self.is_rows and self.out_a == self.nb

    @property
    def deinterleaves(self) -> bool:
        """One input run of a transpose fills ``na`` output rows, element by element."""
        return not self.is_rows and self.in_b == self.na


def copy_shape(
    shape: tuple[int, ...], in_strides: tuple[int, ...], out_strides: tuple[int, ...]
) -> CopyShape | None:
    """The merged form of a copy of ``shape`` between two stridings (non-negative, in
    elements), or ``None`` when it has neither form (the reference path copies it)."""
    return form_of(merged_axes(shape, in_strides, out_strides))


def form_of(merged: list[Axis]) -> CopyShape | None:
    """:func:`copy_shape` of axes already merged by :func:`merged_axes`."""
    inner = merged[-1]
    if inner.in_stride == 1 and inner.out_stride == 1:
        return CopyShape(tuple(merged[:-1]), 1, 1, 0, inner.size)
    if inner.out_stride != 1:
        return None
    unit = [k for k, axis in enumerate(merged) if axis.in_stride == 1]
    if not unit:
        return None
    k = unit[0]
    a = merged[k]
    return CopyShape(
        tuple(merged[:k] + merged[k + 1 : -1]), a.size, inner.in_stride, a.out_stride, inner.size
    )


def merged_axes(
    shape: tuple[int, ...], in_strides: tuple[int, ...], out_strides: tuple[int, ...]
) -> list[Axis]:
    """The copy's axes in the output's order (innermost last), those that stay adjacent
    in both arrays merged into one."""
    axes = [Axis(n, i, o) for n, i, o in zip(shape, in_strides, out_strides) if n != 1]
    if not axes:
        axes = [Axis(1, 1, 1)]
    axes.sort(key=lambda axis: -axis.out_stride)
    merged: list[Axis] = []
    for axis in axes:
        if (
            merged
            and merged[-1].in_stride == axis.in_stride * axis.size
            and merged[-1].out_stride == axis.out_stride * axis.size
        ):
            merged[-1] = Axis(merged[-1].size * axis.size, axis.in_stride, axis.out_stride)
        else:
            merged.append(axis)
    return merged


def output_run(merged: list[Axis], longest: int) -> int:
    """How many of the innermost ``merged`` axes together fill one contiguous run of the
    output of at most ``longest`` elements (0 when the innermost is not contiguous)."""
    run, count = 1, 0
    for axis in reversed(merged):
        if axis.out_stride != run or run * axis.size > longest:
            break
        run *= axis.size
        count += 1
    return count
