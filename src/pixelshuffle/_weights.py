"""Porting weights between conventions: a permutation of depth channels, paid once.

A layer that feeds an upsampling shuffle produces the depth channels; the layer that
consumes a downsampling shuffle reads them. Both are ported by indexing their depth axis
with ``p = channel_permutation(depth, factor, src=src, dst=dst)``:

- producer: ``shuffle_src(conv_W(x)) == shuffle_dst(conv_W[p](x))``: output channels;
- consumer: ``conv_W(unshuffle_src(x)) == conv_W[:, p](unshuffle_dst(x))``: input
  channels, because ``unshuffle_dst(x) == unshuffle_src(x)[p]``.

Per-channel layers between a producer and its shuffle (BatchNorm, PReLU, a bias) are
ported like producers.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

import numpy as np

from ._errors import PixelShuffleError, PixelShuffleTypeError
from ._ops import ConventionLike, Factor, LayoutLike, channel_permutation, describe_call

__all__ = ["feature_permutation", "permute_channels", "permute_inputs_", "permute_outputs_"]

ArrayT = TypeVar("ArrayT")
Side = Literal["outputs", "inputs"]


def permute_channels(
    array: ArrayT,
    factor: Factor,
    *,
    src: ConventionLike,
    dst: ConventionLike,
    axis: int = 0,
    layout: LayoutLike = "NCHW",
) -> ArrayT:
    """``array`` with its depth-channel axis ``axis`` reordered from ``src`` to ``dst``.

    Use ``axis`` for the output channels of the layer that feeds an upsampling shuffle
    (its weight and bias) and for the input channels of the layer that reads a
    downsampling shuffle. Works for NumPy, PyTorch, JAX and TensorFlow arrays; the
    result is a new array of the same type. Layer layouts by framework:

    ======================  ==================  ==================
    weight                  producer (outputs)  consumer (inputs)
    ======================  ==================  ==================
    PyTorch ``Conv*d``      ``axis=0``          ``axis=1``
    PyTorch ``ConvTranspose*d``  ``axis=1``     ``axis=0``
    Keras ``Conv2D`` (HWIO) ``axis=-1``         ``axis=-2``
    bias, BatchNorm, PReLU  ``axis=0``          (unchanged)
    ======================  ==================  ==================

    Example:
        >>> import numpy as np
        >>> import pixelshuffle as ps
        >>> bias = np.arange(8)  # 2 output channels, factor 2, TensorFlow order
        >>> ps.permute_channels(bias, 2, src="tf", dst="torch")
        array([0, 2, 4, 6, 1, 3, 5, 7])
    """
    where = describe_call("permute_channels", src, layout, dst)
    shape = _shape(array, where)
    if not -len(shape) <= axis < len(shape):
        raise PixelShuffleError(
            f"{where}: axis {axis} is out of range for an array of shape {shape}"
        )
    order = _permutation(where, shape[axis], factor, src, dst, layout, f"axis {axis}")
    return _take(array, order, axis)


def feature_permutation(
    features_shape: Sequence[int],
    factor: Factor,
    *,
    src: ConventionLike,
    dst: ConventionLike,
    layout: LayoutLike = "NCHW",
) -> np.ndarray:
    """The permutation of flat features whose unflattened shape is ``features_shape``.

    For a ``Linear`` layer whose output is reshaped to ``features_shape`` (the trailing
    axes of ``layout``, without batch, e.g. ``(C·r², H, W)`` for NCHW or ``(H, W, C·r²)``
    for NHWC) and then shuffled: index its ``weight`` rows and ``bias`` with it. For a
    ``Linear`` that reads a flattened unshuffle, index its ``weight`` columns.

    Example:
        >>> import pixelshuffle as ps
        >>> ps.feature_permutation((8, 1, 2), 2, src="tf", dst="torch")
        array([ 0,  1,  4,  5,  8,  9, 12, 13,  2,  3,  6,  7, 10, 11, 14, 15])
    """
    from ._layout import parse_layout

    where = describe_call("feature_permutation", src, layout, dst)
    parsed = parse_layout(layout)
    shape = tuple(int(size) for size in features_shape)
    if len(shape) != parsed.n_axes:
        raise PixelShuffleError(
            f"{where}: features_shape must have {parsed.n_axes} sizes (the axes"
            f" {parsed.name[1:]} of layout {parsed.name!r}), got {len(shape)}: {shape}"
        )
    axis = parsed.channel_axis % parsed.n_axes
    order = _permutation(where, shape[axis], factor, src, dst, layout, "the channel axis")
    flat = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)
    return np.take(flat, order, axis=axis).reshape(-1)


def permute_outputs_(
    layer: Any,
    factor: Factor,
    *,
    src: ConventionLike,
    dst: ConventionLike,
    layout: LayoutLike = "NCHW",
    features_shape: Sequence[int] | None = None,
) -> Any:
    """Port, in place, a PyTorch layer whose outputs an upsampling shuffle reads.

    ``layer`` is a ``Conv1d/2d/3d``, ``ConvTranspose1d/2d/3d`` (grouped only where every
    channel stays in its group), a ``Linear`` whose output is reshaped to
    ``features_shape``, or a per-channel layer between the producer and the shuffle:
    ``BatchNorm*``, ``InstanceNorm*``, ``GroupNorm`` (where groups are kept), ``PReLU``.
    Returns ``layer``.

    Example:
        >>> import torch
        >>> import pixelshuffle as ps
        >>> conv = torch.nn.Conv2d(4, 2 * 9, 3, padding=1)
        >>> tf_model = torch.nn.Sequential(conv, ps.nn.PixelShuffle(3, convention="tf"))
        >>> x = torch.randn(1, 4, 5, 6)
        >>> expected = tf_model(x)
        >>> _ = ps.nn.permute_outputs_(conv, 3, src="tf", dst="torch")
        >>> torch.equal(torch.nn.PixelShuffle(3)(conv(x)), expected)
        True
    """
    return _permute_layer(layer, factor, src, dst, layout, features_shape, "outputs")


def permute_inputs_(
    layer: Any,
    factor: Factor,
    *,
    src: ConventionLike,
    dst: ConventionLike,
    layout: LayoutLike = "NCHW",
    features_shape: Sequence[int] | None = None,
) -> Any:
    """Port, in place, a PyTorch layer that reads a downsampling shuffle's channels.

    ``layer`` is a ``Conv*d``, ``ConvTranspose*d`` or a ``Linear`` reading the flattened
    unshuffle of shape ``features_shape``. Returns ``layer``.

    Example:
        >>> import torch
        >>> import pixelshuffle as ps
        >>> conv = torch.nn.Conv2d(3 * 16, 8, 3)
        >>> x = torch.randn(1, 3, 16, 20)
        >>> expected = conv(ps.pixel_unshuffle(x, 4, convention="tf"))
        >>> _ = ps.nn.permute_inputs_(conv, 4, src="tf", dst="torch")
        >>> torch.allclose(conv(torch.nn.PixelUnshuffle(4)(x)), expected, atol=1e-6)
        True
    """
    return _permute_layer(layer, factor, src, dst, layout, features_shape, "inputs")


def _permute_layer(
    layer: Any,
    factor: Factor,
    src: ConventionLike,
    dst: ConventionLike,
    layout: LayoutLike,
    features_shape: Sequence[int] | None,
    side: Side,
) -> Any:
    torch = sys.modules.get("torch")
    op = "permute_outputs_" if side == "outputs" else "permute_inputs_"
    where = describe_call(op, src, layout, dst)
    if torch is None or not isinstance(layer, torch.nn.Module):
        raise PixelShuffleTypeError(
            f"{where}: expected a torch.nn.Module, got {type(layer).__module__}."
            f"{type(layer).__qualname__}; for arrays use pixelshuffle.permute_channels"
        )
    name = type(layer).__name__
    nn = torch.nn
    conv_types = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
    transposed_types = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    per_channel = (
        nn.modules.batchnorm._NormBase,  # BatchNorm*d, InstanceNorm*d, SyncBatchNorm
        nn.GroupNorm,
        nn.PReLU,
    )
    with torch.no_grad():
        if isinstance(layer, nn.Linear):
            _permute_linear(layer, factor, src, dst, layout, features_shape, side, where)
        elif isinstance(layer, conv_types + transposed_types):
            transposed = isinstance(layer, transposed_types)
            channels = layer.out_channels if side == "outputs" else layer.in_channels
            order = _permutation(where, channels, factor, src, dst, layout, f"{name} {side}")
            _permute_conv(layer, order, side, transposed, where)
        elif isinstance(layer, per_channel) and side == "outputs":
            _permute_per_channel(layer, factor, src, dst, layout, where)
        else:
            supported = (
                "Conv*d, ConvTranspose*d, Linear, BatchNorm*d, InstanceNorm*d, GroupNorm, PReLU"
                if side == "outputs"
                else "Conv*d, ConvTranspose*d, Linear"
            )
            raise PixelShuffleTypeError(
                f"{where}: cannot port the {side} of a {name}; supported layers: {supported}"
            )
    return layer


def _permute_conv(layer: Any, order: np.ndarray, side: Side, transposed: bool, where: str) -> None:
    # Conv weights are (out, in/groups, *k), ConvTranspose weights (in, out/groups, *k).
    name, groups = type(layer).__name__, layer.groups
    full_axis = (1 if transposed else 0) if side == "outputs" else (0 if transposed else 1)
    channels = len(order)
    size = channels // groups
    check_groups(order, groups, f"{where}: {name} has groups={groups}")
    weight = layer.weight
    if weight.shape[full_axis] == channels:  # the axis spans every channel: index it
        weight.copy_(weight.index_select(full_axis, _index(order, weight)))
    else:  # the other axis holds channels / groups per group: permute within groups
        local = order.reshape(groups, size) % size
        rows = weight.shape[1 - full_axis] // groups
        for g in range(groups):
            block = weight.narrow(1 - full_axis, g * rows, rows)
            block.copy_(block.index_select(full_axis, _index(local[g], weight)))
    if side == "outputs" and layer.bias is not None:
        layer.bias.copy_(layer.bias.index_select(0, _index(order, layer.bias)))


def _permute_linear(
    layer: Any,
    factor: Factor,
    src: ConventionLike,
    dst: ConventionLike,
    layout: LayoutLike,
    features_shape: Sequence[int] | None,
    side: Side,
    where: str,
) -> None:
    features = layer.out_features if side == "outputs" else layer.in_features
    if features_shape is None:
        raise PixelShuffleError(
            f"{where}: a Linear layer needs features_shape, the shape its {features}"
            f" {'outputs are reshaped to' if side == 'outputs' else 'inputs were flattened from'}"
            " (without the batch axis), e.g. (channels, height, width)"
        )
    if math.prod(features_shape) != features:
        raise PixelShuffleError(
            f"{where}: features_shape {tuple(features_shape)} holds"
            f" {math.prod(features_shape)} features, but the Linear layer has {features}"
            f" {side}"
        )
    order = feature_permutation(features_shape, factor, src=src, dst=dst, layout=layout)
    if side == "outputs":
        layer.weight.copy_(layer.weight.index_select(0, _index(order, layer.weight)))
        if layer.bias is not None:
            layer.bias.copy_(layer.bias.index_select(0, _index(order, layer.bias)))
    else:
        layer.weight.copy_(layer.weight.index_select(1, _index(order, layer.weight)))


def _permute_per_channel(
    layer: Any, factor: Factor, src: ConventionLike, dst: ConventionLike, layout: Any, where: str
) -> None:
    torch = sys.modules["torch"]
    name = type(layer).__name__
    if isinstance(layer, torch.nn.PReLU):
        if layer.num_parameters == 1:
            return  # one slope for every channel
        channels = layer.num_parameters
    elif isinstance(layer, torch.nn.GroupNorm):
        channels = layer.num_channels
    else:
        channels = layer.num_features
    order = _permutation(where, channels, factor, src, dst, layout, f"{name} channels")
    if isinstance(layer, torch.nn.GroupNorm):
        check_groups(
            order, layer.num_groups, f"{where}: GroupNorm has num_groups={layer.num_groups}"
        )
    permute_channel_tensors(layer, order)


def permute_channel_tensors(layer: Any, order: np.ndarray) -> None:
    """Index, in place, every parameter and buffer of ``layer`` whose first axis holds
    the ``len(order)`` channels (weights, biases, running statistics)."""
    for tensor in (*layer.parameters(recurse=False), *layer.buffers(recurse=False)):
        if tensor.dim() >= 1 and tensor.shape[0] == len(order):
            tensor.copy_(tensor.index_select(0, _index(order, tensor)))


def check_groups(order: np.ndarray, groups: int, context: str) -> None:
    """Refuse a permutation that moves a channel into another of ``groups`` equal groups:
    a grouped layer (or GroupNorm) cannot absorb it."""
    size = len(order) // groups
    moved = [j for j in range(len(order)) if order[j] // size != j // size]
    if groups > 1 and moved:
        raise PixelShuffleError(
            f"{context}, and the permutation moves channel {order[moved[0]]} to {moved[0]},"
            f" out of its group of {size}; a grouped layer can only be ported when every"
            " channel stays in its group"
        )


def _permutation(
    where: str,
    channels: int,
    factor: Factor,
    src: ConventionLike,
    dst: ConventionLike,
    layout: LayoutLike,
    what: str,
) -> np.ndarray:
    return permutation_for(f"{where}: {what} ({channels})", channels, factor, src, dst, layout)


def permutation_for(
    context: str,
    channels: int,
    factor: Factor,
    src: ConventionLike,
    dst: ConventionLike,
    layout: LayoutLike,
) -> np.ndarray:
    """:func:`channel_permutation`, with its errors told in the caller's ``context``."""
    try:
        return channel_permutation(int(channels), factor, src=src, dst=dst, layout=layout)
    except PixelShuffleError as error:
        detail = str(error).partition("): ")[2] or str(error)
        raise type(error)(f"{context}: {detail}") from None


def _shape(array: Any, where: str) -> tuple[int, ...]:
    shape = getattr(array, "shape", None)
    if shape is None:
        raise PixelShuffleTypeError(
            f"{where}: expected an array with a shape, got {type(array).__module__}."
            f"{type(array).__qualname__}"
        )
    return tuple(int(size) for size in shape)


def _index(order: np.ndarray, like: Any) -> Any:
    torch = sys.modules["torch"]
    return torch.as_tensor(order, device=like.device)


def _take(array: Any, order: np.ndarray, axis: int) -> Any:
    package = type(array).__module__.partition(".")[0]
    if isinstance(array, np.ndarray):
        return np.take(array, order, axis=axis)
    if package == "torch":
        return array.index_select(axis, _index(order, array))
    if package in ("jax", "jaxlib"):
        return sys.modules["jax.numpy"].take(array, order, axis=axis)
    if package == "tensorflow":
        return sys.modules["tensorflow"].gather(array, order, axis=axis)
    index = (slice(None),) * (axis % len(array.shape)) + (order,)
    return array[index]
