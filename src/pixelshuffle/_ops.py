"""The operations: shuffle, unshuffle and convention conversion over a cached plan."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from ._backends import Backend, backend_for
from ._convention import Convention, parse_convention
from ._errors import PixelShuffleError, PixelShuffleTypeError, format_product, format_shape
from ._factor import normalize_factor
from ._layout import LAYOUTS, Layout, parse_layout
from ._memo import memoize
from ._plan import Direction, Plan, build_plan

__all__ = ["channel_permutation", "convert", "pixel_shuffle", "pixel_unshuffle"]

ArrayT = TypeVar("ArrayT")
Factor = int | Sequence[int]
ConventionLike = str | Convention
LayoutLike = str | Layout

_CHANNELS_FIRST_TO_LAST = {"NCL": "NLC", "NCW": "NWC", "NCHW": "NHWC", "NCDHW": "NDHWC"}
# the same layout with the channel axis at the other end
_TWIN = {**_CHANNELS_FIRST_TO_LAST, **{v: k for k, v in _CHANNELS_FIRST_TO_LAST.items()}}


def pixel_shuffle(
    x: ArrayT,
    factor: Factor,
    *,
    convention: ConventionLike = "torch",
    layout: LayoutLike = "NCHW",
    out: ArrayT | None = None,
) -> ArrayT:
    """Rearrange depth into space (depth-to-space, sub-pixel upsampling).

    Output pixel (channel ``c``, block offsets ``o_1..o_k``) of each coarse position
    comes from the depth channel whose mixed-radix digits, in the order of
    ``convention``, are ``c`` (radix ``C``) and ``o_m`` (radix ``f_m``).
    ``convention='torch'`` equals :func:`torch.nn.functional.pixel_shuffle` and ONNX
    ``DepthToSpace(mode='CRD')``; ``'tf'`` equals :func:`tf.nn.depth_to_space` and ONNX
    ``DepthToSpace(mode='DCR')``; ``'caffe'`` is RealSR's column-major block order.

    Args:
        x: a NumPy, PyTorch, JAX or TensorFlow array (or any array with ``reshape`` and
            ``transpose``). It is never modified.
        factor: the upscaling factor, one int for every spatial axis or one per axis in
            layout order.
        convention: a preset (``'torch'``, ``'tf'``, ``'caffe'`` or an alias) or an
            order string such as ``'hwc'``; see :class:`Convention`.
        layout: ``'NCHW'``, ``'NHWC'``, ``'NCL'``, ``'NLC'``, ``'NCW'``, ``'NWC'``,
            ``'NCDHW'`` or ``'NDHWC'``. Any number of batch axes may precede the
            channel and spatial axes, including none.
        out: an optional preallocated array of the result's shape, dtype and device
            (NumPy or PyTorch, any strides, not overlapping ``x``), written in one pass
            and returned. Not differentiable, like PyTorch's own ``out=``.

    Returns:
        A new array of the input's type, dtype and device, or ``out``.

    Shape:
        ``(*, C·∏f, S_1, .., S_k) -> (*, C, S_1·f_1, .., S_k·f_k)`` channels first;
        ``(*, S_1, .., S_k, C·∏f) -> (*, S_1·f_1, .., S_k·f_k, C)`` channels last.

    Raises:
        PixelShuffleError: a bad convention, layout or factor, or an input whose rank or
            channel count does not fit.

    Example:
        >>> import numpy as np
        >>> import pixelshuffle as ps
        >>> x = np.arange(8).reshape(1, 8, 1, 1)  # 2 output channels, factor 2
        >>> ps.pixel_shuffle(x, 2, convention="torch")[0, 0]
        array([[0, 1],
               [2, 3]])
        >>> ps.pixel_shuffle(x, 2, convention="tf")[0, 0]
        array([[0, 2],
               [4, 6]])
        >>> ps.pixel_shuffle(x, 2, convention="caffe")[0, 0]
        array([[0, 2],
               [1, 3]])
        >>> ps.pixel_shuffle(np.zeros((5, 6, 12)), (3, 2), layout="NHWC").shape
        (15, 12, 2)
    """
    return _run("pixel_shuffle", "shuffle", x, factor, convention, layout, out=out)


def pixel_unshuffle(
    x: ArrayT,
    factor: Factor,
    *,
    convention: ConventionLike = "torch",
    layout: LayoutLike = "NCHW",
    out: ArrayT | None = None,
) -> ArrayT:
    """Rearrange space into depth (space-to-depth); the exact inverse of :func:`pixel_shuffle`.

    ``convention='torch'`` equals :func:`torch.nn.functional.pixel_unshuffle`;
    ``'tf'`` equals :func:`tf.nn.space_to_depth` and ONNX ``SpaceToDepth``.

    Args:
        x: a NumPy, PyTorch, JAX or TensorFlow array; it is never modified.
        factor: the downscaling factor, one int or one per spatial axis.
        convention: see :func:`pixel_shuffle`.
        layout: see :func:`pixel_shuffle`.
        out: see :func:`pixel_shuffle`.

    Returns:
        A new array of the input's type, dtype and device, or ``out``.

    Shape:
        ``(*, C, S_1·f_1, .., S_k·f_k) -> (*, C·∏f, S_1, .., S_k)`` channels first, and
        the same with the channel axis last for channels-last layouts.

    Example:
        >>> import numpy as np
        >>> import pixelshuffle as ps
        >>> image = np.arange(8).reshape(1, 1, 2, 4)  # one channel, 2×4 pixels
        >>> ps.pixel_unshuffle(image, 2, convention="torch")[0, :, 0, 0]
        array([0, 1, 4, 5])
        >>> ps.pixel_unshuffle(image, 2, convention="caffe")[0, :, 0, 0]
        array([0, 4, 1, 5])
    """
    return _run("pixel_unshuffle", "unshuffle", x, factor, convention, layout, out=out)


def convert(
    x: ArrayT,
    factor: Factor,
    *,
    src: ConventionLike,
    dst: ConventionLike,
    layout: LayoutLike = "NCHW",
    out: ArrayT | None = None,
) -> ArrayT:
    """Reorder the depth channels of ``x`` from convention ``src`` to ``dst``.

    The result satisfies ``pixel_shuffle(convert(x, f, src=a, dst=b), f, convention=b)
    == pixel_shuffle(x, f, convention=a)``. It is ``x`` indexed along the channel axis
    with :func:`channel_permutation`, done as one reshape/transpose.

    Example:
        >>> import numpy as np
        >>> import pixelshuffle as ps
        >>> depth = np.arange(8).reshape(8, 1, 1)  # 2 channels, factor 2, no batch axis
        >>> ps.convert(depth, 2, src="torch", dst="tf")[:, 0, 0]
        array([0, 4, 1, 5, 2, 6, 3, 7])
    """
    return _run("convert", "convert", x, factor, src, layout, dst, out=out)


def channel_permutation(
    channels: int,
    factor: Factor,
    *,
    src: ConventionLike,
    dst: ConventionLike,
    layout: LayoutLike = "NCHW",
) -> np.ndarray:
    """The permutation ``p`` of depth channels that turns ``src`` order into ``dst`` order.

    ``p`` is a 1-D ``int64`` NumPy array of length ``channels`` (the depth channel
    count, ``C·∏f``) such that ``pixel_shuffle(x, f, convention=src) ==
    pixel_shuffle(x[..., p, :, :], f, convention=dst)``: index a weight's output
    channels with it to port the layer that feeds a shuffle.

    Example:
        >>> import pixelshuffle as ps
        >>> ps.channel_permutation(8, 2, src="torch", dst="tf")
        array([0, 4, 1, 5, 2, 6, 3, 7])
        >>> ps.channel_permutation(12, (2, 3), src="tf", dst="caffe")
        array([ 0,  6,  2,  8,  4, 10,  1,  7,  3,  9,  5, 11])
    """
    where = describe_call("channel_permutation", src, layout, dst)
    if isinstance(channels, (bool, np.bool_)) or not isinstance(channels, (int, np.integer)):
        raise PixelShuffleTypeError(
            f"{where}: channels must be a non-negative int, got"
            f" {type(channels).__name__} {channels!r}"
        )
    if channels < 0:
        raise PixelShuffleError(f"{where}: channels must be a non-negative int, got {channels}")
    prepared = prepare("channel_permutation", "convert", factor, src, layout, dst)
    depth = math.prod(prepared.factors)
    if channels % depth:
        raise PixelShuffleError(
            f"{where}: channels must be divisible by {format_product(prepared.factors)},"
            f" got {channels}"
        )
    trailing = [1] * prepared.layout.n_axes
    trailing[prepared.layout.channel_axis] = int(channels)
    index = np.arange(int(channels), dtype=np.int64).reshape(trailing)
    return _run("channel_permutation", "convert", index, factor, src, layout, dst).reshape(-1)


@dataclass(frozen=True, eq=False)
class _Prepared:
    """Everything about a call that does not depend on the input's shape. Compared and
    hashed by identity: the memo hands out one per distinct call, and per-shape recipes
    are keyed by it on every call."""

    where: str
    layout: Layout
    factors: tuple[int, ...]
    plan: Plan
    twin: Plan | None  # the same op for the channels-last twin of a channels-first layout
    onnx_node: tuple[str, str | None] | None  # (op type, mode) of ONNX's own node, if any
    pytorch_op: str | None  # "pixel_shuffle"/"pixel_unshuffle" where PyTorch has this very op
    # The memo's arguments for this op, ``None`` for one made outside the memo. Memoized
    # ops come back as the same object for the same call, so backends may key per-shape
    # recipes by them; copies and pickles return to the memo's object.
    memo_key: tuple[Any, ...] | None = None

    @property
    def memoized(self) -> bool:
        return self.memo_key is not None

    def __copy__(self) -> _Prepared:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> _Prepared:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        if self.memo_key is None:
            fields = dataclasses.fields(self)
            return (_Prepared, tuple(getattr(self, field.name) for field in fields))
        return (_from_memo, self.memo_key)


def _run(
    op: str,
    direction: Direction,
    x: Any,
    factor: Factor,
    convention: ConventionLike,
    layout: LayoutLike,
    dst: ConventionLike | None = None,
    *,
    out: Any = None,
) -> Any:
    prepared = prepare(op, direction, factor, convention, layout, dst)
    return run_prepared(prepared, direction, x, out)


def run_prepared(prepared: _Prepared, direction: Direction, x: Any, out: Any = None) -> Any:
    """Run a validated, planned op on ``x`` (the path the ``nn`` modules take)."""
    where = prepared.where
    backend = backend_for(x, where.partition("(")[0])
    if out is None:
        result = backend.run_remembered(prepared, x)
    else:
        result = backend.run_remembered_into(prepared, x, out)
    if result is not None:
        return result
    try:
        shape = backend.shape(x)
    except PixelShuffleError as error:
        raise PixelShuffleError(f"{where}: {error}") from None
    _check_shape(backend, prepared, direction, backend.sizes_to_check(shape))
    if out is not None:
        if not backend.mutable:
            raise PixelShuffleTypeError(
                f"{where}: out= needs a writeable numpy.ndarray or torch.Tensor input;"
                f" {backend.name} arrays cannot be written in place, use the returned array"
            )
        n_batch = len(shape) - prepared.layout.n_axes
        expected = shape[:n_batch] + prepared.plan.shapes(shape[n_batch:])[1]
        backend.check_out(where, x, out, expected)
        result = backend.apply_into(prepared.plan, x, shape, out)
        backend.remember(prepared, x, shape)
        return result
    native = backend.native_export(prepared, x, shape)
    if native is not None:
        return native
    channels_last = prepared.twin is not None and backend.prefers_channels_last(x, prepared.layout)
    if channels_last or prepared.layout.name == "NHWC":
        native = backend.channels_last_native(prepared, x)
        if native is not None:
            backend.remember(prepared, x, shape)
            return native
    if channels_last:
        # Keep a channels-last tensor channels-last: run the op on its NHWC view.
        ndim = len(shape)
        to_last = (0, *range(2, ndim), 1)
        to_first = (0, ndim - 1, *range(1, ndim - 1))
        last_shape = tuple(shape[axis] for axis in to_last)
        y = backend.apply(prepared.twin, backend.transpose(x, to_last), last_shape)
        return backend.transpose(y, to_first)
    result = backend.apply(prepared.plan, x, shape)
    backend.remember(prepared, x, shape)
    return result


def describe_call(op: str, convention: object, layout: object, dst: object = None) -> str:
    def show(value: object) -> str:
        return repr(value.spec if isinstance(value, Convention) else value)

    layout_text = show(layout.name if isinstance(layout, Layout) else layout)
    if dst is not None or op in ("convert", "channel_permutation"):
        return f"{op}(src={show(convention)}, dst={show(dst)}, layout={layout_text})"
    return f"{op}(convention={show(convention)}, layout={layout_text})"


def prepare(
    op: str,
    direction: Direction,
    factor: Factor,
    convention: ConventionLike,
    layout: LayoutLike,
    dst: ConventionLike | None,
) -> _Prepared:
    # The memo compares keys with ==, so 2.0 and True would hit the entry of 2 and skip
    # validation: memoize plain ints only. Names enter the key as plain strings, which
    # torch.compile looks up with one guard instead of comparing the memo's other keys.
    if type(factor) is int and type(convention) is str and type(layout) is str and dst is None:
        return _prepare_cached(op, direction, factor, convention, layout, None)  # most calls
    plain = (_plain_name(convention), _plain_name(layout), _plain_name(dst))
    if all(name is not _NOT_PLAIN for name in plain):
        if type(factor) is int:
            return _prepare_cached(op, direction, factor, *plain)
        if isinstance(factor, (tuple, list)) and all(type(f) is int for f in factor):
            return _prepare_cached(op, direction, tuple(factor), *plain)
    return _prepare_uncached(op, direction, factor, convention, layout, dst)


_NOT_PLAIN = object()


def _plain_name(name: object) -> object:
    if isinstance(name, Convention):
        return name.spec
    if isinstance(name, Layout):
        return name.name
    if name is None or type(name) is str:
        return name
    return _NOT_PLAIN


def _prepare_uncached(
    op: str,
    direction: Direction,
    factor: Factor,
    convention: ConventionLike,
    layout: LayoutLike,
    dst: ConventionLike | None,
) -> _Prepared:
    where = describe_call(op, convention, layout, dst)
    try:
        parsed_layout = parse_layout(layout)
        factors = normalize_factor(factor, parsed_layout)
        order = parse_convention(convention).order_for(parsed_layout)
        dst_order = None
        if direction == "convert":  # a missing dst is a type error, not "no conversion"
            dst_order = parse_convention(dst).order_for(parsed_layout)  # type: ignore[arg-type]
    except PixelShuffleError as error:
        raise type(error)(f"{where}: {error}") from None
    plan = build_plan(direction, parsed_layout, factors, order, dst_order)
    twin = None
    if parsed_layout.name in _CHANNELS_FIRST_TO_LAST:
        twin_layout = parse_layout(_CHANNELS_FIRST_TO_LAST[parsed_layout.name])
        twin = build_plan(direction, twin_layout, factors, order, dst_order)
    onnx_node = _onnx_node(direction, parsed_layout, factors, order)
    pytorch_op = None  # NHWC: the same op on the tensor's channels_last NCHW view
    square = len(factors) == 2 and factors[0] == factors[1] > 1
    if parsed_layout.name in ("NCHW", "NHWC") and square and order == "chw":
        pytorch_op = {"shuffle": "pixel_shuffle", "unshuffle": "pixel_unshuffle"}.get(direction)
    return _Prepared(where, parsed_layout, factors, plan, twin, onnx_node, pytorch_op)


def _onnx_node(
    direction: Direction, layout: Layout, factors: tuple[int, ...], order: str
) -> tuple[str, str | None] | None:
    """ONNX's own node for the op, where ONNX (opset 13 and later) has one: 4-D NCHW,
    one block size, ``DepthToSpace`` in DCR (``tf``) or CRD (``torch``) mode, and
    ``SpaceToDepth``, which is DCR only."""
    if layout.name != "NCHW" or factors[0] != factors[1] or factors[0] == 1:
        return None
    if direction == "shuffle":
        mode = {"hwc": "DCR", "chw": "CRD"}.get(order)
        return None if mode is None else ("DepthToSpace", mode)
    if direction == "unshuffle" and order == "hwc":
        return ("SpaceToDepth", None)
    return None


@memoize(maxsize=1024)
def _prepare_cached(*arguments: Any) -> _Prepared:
    """:func:`_prepare_uncached` of the same arguments, once per distinct call."""
    return dataclasses.replace(_prepare_uncached(*arguments), memo_key=arguments)


def _from_memo(*arguments: Any) -> _Prepared:
    """The memo's prepared op (unpickling one): a plain function, pickled by name."""
    return _prepare_cached(*arguments)


def _check_shape(
    backend: Backend, prepared: _Prepared, direction: Direction, shape: tuple[Any, ...]
) -> None:
    layout, factors, where = prepared.layout, prepared.factors, prepared.where
    _known = backend.is_known
    if len(shape) < layout.n_axes:
        axes = ", ".join(layout.name[1:])
        hint = ""
        fitting = [
            name
            for name in LAYOUTS
            if len(name) - 1 == len(shape) and name.endswith("C") == layout.channels_last
        ]
        if fitting:
            hint = f"; for {len(fitting[0]) - 2}-D data use layout={fitting[0]!r}"
        raise PixelShuffleError(
            f"{where}: input must have at least {layout.n_axes} dimensions ({axes}) for"
            f" layout {layout.name!r}, got {len(shape)} with shape {format_shape(shape)}{hint}"
        )
    if direction == "unshuffle":
        for m, f in enumerate(factors):
            axis = layout.spatial_axis(m)
            size = shape[axis]
            if _known(size) and size % f:
                raise PixelShuffleError(
                    f"{where}: spatial axis {layout.spatial[m]} (axis {axis}) must be divisible"
                    f" by {f}, got {size} for input shape {format_shape(shape)}"
                )
        return
    depth = 1
    for f in factors:
        depth *= f
    channels = shape[layout.channel_axis]
    if _known(channels) and channels % depth:
        hint = ""
        other_axis = -layout.n_axes if layout.channels_last else -1
        other = shape[other_axis]
        if _known(other) and other and other % depth == 0:
            hint = f"; axis {other_axis} ({other}) is, did you mean layout={_TWIN[layout.name]!r}?"
        raise PixelShuffleError(
            f"{where}: channel axis (axis {layout.channel_axis}) must be divisible by"
            f" {format_product(factors)}, got {channels} for input shape"
            f" {format_shape(shape)}{hint}"
        )
