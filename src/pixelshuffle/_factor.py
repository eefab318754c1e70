"""Factors: one positive int per spatial axis."""

from __future__ import annotations

import argparse
import operator
from collections.abc import Sequence

from ._errors import PixelShuffleError, PixelShuffleTypeError
from ._layout import Layout

__all__ = ["factor_argument", "normalize_factor"]


def factor_argument(text: str) -> int | tuple[int, ...]:
    """A factor written on the command line or in a spec file: ``3``, ``2,3`` or ``2x3``.

    Example:
        >>> factor_argument("3"), factor_argument("2x3")
        (3, (2, 3))
    """
    try:
        values = tuple(int(part) for part in str(text).replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an int or one int per spatial axis such as 2,3, got {text!r}"
        ) from None
    return values[0] if len(values) == 1 else values


def normalize_factor(factor: int | Sequence[int], layout: Layout) -> tuple[int, ...]:
    """Return one factor per spatial axis of ``layout`` from an int or a sequence of ints."""
    if type(factor).__name__ == "ndarray" and getattr(factor, "ndim", 0) == 1:
        factor = factor.tolist()  # type: ignore[union-attr]
    if isinstance(factor, (list, tuple)):
        if len(factor) != layout.rank:
            axes = ", ".join(layout.spatial)
            raise PixelShuffleError(
                f"factor {tuple(factor)!r} has {len(factor)} value{'s' * (len(factor) != 1)}"
                f" but layout {layout.name!r} has {layout.rank} spatial"
                f" ax{'es' if layout.rank != 1 else 'is'} ({axes}); give one int or one per axis"
            )
        return tuple(_positive_int(f, factor) for f in factor)
    return (_positive_int(factor, factor),) * layout.rank


def _positive_int(value: object, whole: object) -> int:
    of = "" if value is whole else f" in factor {tuple(whole)!r}"  # type: ignore[arg-type]
    if isinstance(value, bool) or type(value).__name__ in ("bool", "bool_"):
        raise PixelShuffleTypeError(
            f"factor must be a positive int or a tuple of them, got bool {bool(value)}{of}"
        )
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise PixelShuffleTypeError(
            f"factor must be a positive int or a tuple of them, got"
            f" {type(value).__name__} {value!r}{of}"
        ) from None
    if number < 1:
        raise PixelShuffleError(f"factor must be positive, got {number}{of}")
    return number
