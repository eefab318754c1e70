"""An independent oracle: the index formula of design.md §2, evaluated element by element.

Nothing here uses the library. Preset orders are written out from the specification,
so a library that mixed up two presets disagrees with this file.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

LAYOUTS_BY_RANK = {
    1: ("NCL", "NLC", "NCW", "NWC"),
    2: ("NCHW", "NHWC"),
    3: ("NCDHW", "NDHWC"),
}
ALL_LAYOUTS = tuple(layout for group in LAYOUTS_BY_RANK.values() for layout in group)


def preset_order(preset: str, layout: str) -> str:
    """The digit order of a preset for a layout, from the table in design.md §2."""
    spatial = layout[1:].replace("C", "").lower()
    return {
        "torch": "c" + spatial,  # PyTorch: c-major, then offsets in layout order (CRD)
        "tf": spatial + "c",  # TensorFlow: block offsets first, channel last (DCR)
        "caffe": "c" + spatial[::-1],  # RealSR/Caffe: c-major, column-major blocks
    }[preset]


def all_orders(layout: str) -> list[str]:
    spatial = layout[1:].replace("C", "").lower()
    return ["".join(p) for p in itertools.permutations("c" + spatial)]


def _axes(layout: str, ndim: int) -> tuple[int, list[int], int]:
    """Number of batch axes, spatial axis indices (layout order), channel axis index."""
    n_axes = len(layout) - 1
    n_batch = ndim - n_axes
    letters = layout[1:]
    channel = n_batch + letters.index("C")
    spatial = [n_batch + i for i, letter in enumerate(letters) if letter != "C"]
    return n_batch, spatial, channel


def _depth_index(order: str, layout: str, c: int, channels: int, offsets, factors) -> int:
    spatial = layout[1:].replace("C", "").lower()
    digit = {"c": (c, channels)}
    for letter, o, f in zip(spatial, offsets, factors):
        digit[letter] = (o, f)
    index = 0
    for letter in order:  # most significant first
        value, radix = digit[letter]
        index = index * radix + value
    return index


def shuffle(x: np.ndarray, factors, order: str, layout: str) -> np.ndarray:
    """Depth to space, one element at a time."""
    factors = tuple(factors)
    _, spatial, channel = _axes(layout, x.ndim)
    channels = x.shape[channel] // math.prod(factors)
    out_shape = list(x.shape)
    out_shape[channel] = channels
    for axis, f in zip(spatial, factors):
        out_shape[axis] *= f
    out = np.empty(out_shape, dtype=x.dtype)
    for index in np.ndindex(*out_shape):
        source = list(index)
        offsets = [index[axis] % f for axis, f in zip(spatial, factors)]
        for axis, f in zip(spatial, factors):
            source[axis] = index[axis] // f
        source[channel] = _depth_index(order, layout, index[channel], channels, offsets, factors)
        out[index] = x[tuple(source)]
    return out


def unshuffle(x: np.ndarray, factors, order: str, layout: str) -> np.ndarray:
    """Space to depth, one element at a time: read the pixel each depth channel names."""
    factors = tuple(factors)
    _, spatial, channel = _axes(layout, x.ndim)
    channels = x.shape[channel]
    out_shape = list(x.shape)
    out_shape[channel] = channels * math.prod(factors)
    for axis, f in zip(spatial, factors):
        out_shape[axis] //= f
    out = np.empty(out_shape, dtype=x.dtype)
    # every (c, offsets) pair names one depth channel: write it where the formula says
    for index in np.ndindex(*x.shape):
        target = list(index)
        offsets = [index[axis] % f for axis, f in zip(spatial, factors)]
        for axis, f in zip(spatial, factors):
            target[axis] = index[axis] // f
        target[channel] = _depth_index(order, layout, index[channel], channels, offsets, factors)
        out[tuple(target)] = x[index]
    return out
