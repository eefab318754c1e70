"""Factors: one positive int per spatial axis."""

from __future__ import annotations

import operator
from collections.abc import Sequence

from ._errors import PixelShuffleError, PixelShuffleTypeError
from ._layout import Layout

__all__ = ["normalize_factor"]


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
