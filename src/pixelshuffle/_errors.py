"""The library's exceptions and the helpers that word their messages."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["PixelShuffleError", "PixelShuffleTypeError", "format_product", "format_shape"]


class PixelShuffleError(ValueError):
    """Raised for every invalid argument or input of :mod:`pixelshuffle`.

    It subclasses :class:`ValueError`, so existing ``except ValueError`` blocks keep
    working. Messages name the operation, the convention and layout, what was expected
    and what was received.

    Example:
        >>> import numpy as np
        >>> import pixelshuffle as ps
        >>> ps.pixel_shuffle(np.zeros((2, 5, 7, 12)), 3, convention="tf", layout="NHWC")
        Traceback (most recent call last):
        ...
        pixelshuffle.PixelShuffleError: pixel_shuffle(convention='tf', layout='NHWC'): channel axis (axis -1) must be divisible by 3·3 = 9, got 12 for input shape (2, 5, 7, 12)
    """

    __module__ = "pixelshuffle"


class PixelShuffleTypeError(PixelShuffleError, TypeError):
    """Raised when an argument has the wrong type (a float factor, a list as input, ...).

    It is both a :class:`PixelShuffleError` and a :class:`TypeError`.
    """

    __module__ = "pixelshuffle"


def format_product(factors: Sequence[int]) -> str:
    """``(3, 3)`` -> ``'3·3 = 9'``; a single factor is printed alone."""
    total = 1
    for f in factors:
        total *= f
    if len(factors) == 1:
        return str(total)
    return "·".join(str(f) for f in factors) + f" = {total}"


def format_shape(shape: Sequence[object]) -> str:
    """A shape as a plain tuple of ints, whatever the framework's shape type prints."""
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
