"""Conventions: the order of the channel digits that a depth channel index is made of."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from ._errors import PixelShuffleError, PixelShuffleTypeError
from ._layout import Layout, parse_layout
from ._memo import memoize

__all__ = ["ALIASES", "PRESETS", "Convention", "parse_convention"]

#: The preset conventions, each described by the framework behaviour it reproduces.
PRESETS: Mapping[str, str] = MappingProxyType(
    {
        "torch": "channel digit first, then the spatial offsets in layout order (ONNX CRD)",
        "tf": "spatial offsets in layout order, then the channel digit (ONNX DCR)",
        "caffe": "channel digit first, then the spatial offsets in reverse order (RealSR)",
    }
)

#: Other names accepted for the presets (case-insensitive).
ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "pytorch": "torch",
        "crd": "torch",
        "onnx_crd": "torch",
        "paddle": "torch",
        "depth_first": "torch",
        "tensorflow": "tf",
        "tflite": "tf",
        "dcr": "tf",
        "onnx_dcr": "tf",
        "blocks_first": "tf",
        "realsr": "caffe",
    }
)

_SPATIAL = "dhwl"


class Convention:
    """Which depth channel feeds which output pixel: the order of the channel digits.

    A depth channel index is a mixed-radix number whose digits are the output channel
    ``c`` (radix ``C``) and the block offset along each spatial axis (radix: the factor
    on that axis). A convention is the order of those digits, most significant first.

    ``spec`` is a preset name (``'torch'``, ``'tf'``, ``'caffe'`` or an alias from
    :data:`ALIASES`), which works for every rank and layout, or an explicit order string
    such as ``'chw'`` or ``'whc'``: ``c`` plus one lowercase letter per spatial axis of
    the layout it is used with.

    Example:
        >>> import pixelshuffle as ps
        >>> ps.Convention("pytorch")
        Convention('torch')
        >>> ps.Convention("tf").order_for("NCHW")
        'hwc'
        >>> ps.Convention("caffe").order_for("NCDHW")
        'cwhd'
        >>> ps.Convention("caffe").equivalent("torch", layout="NCL")
        True
    """

    __slots__ = ("_spec",)
    _spec: str

    def __init__(self, spec: str | Convention) -> None:
        if isinstance(spec, Convention):
            canonical = spec.spec
        elif isinstance(spec, str):
            canonical = _canonical_spec(spec)
        else:
            raise PixelShuffleTypeError(
                "convention must be a preset name such as 'torch' or an order string such"
                f" as 'chw', got {type(spec).__name__} {spec!r}"
            )
        object.__setattr__(self, "_spec", canonical)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Convention is immutable")

    @property
    def spec(self) -> str:
        """The canonical preset name or order string."""
        return self._spec

    @property
    def is_preset(self) -> bool:
        """Whether this is one of the rank-generic presets ``torch``, ``tf``, ``caffe``."""
        return self._spec in PRESETS

    def order_for(self, layout: str | Layout) -> str:
        """The digit order for ``layout``, most significant first, e.g. ``'chw'``.

        Raises:
            PixelShuffleError: an order string that does not name exactly ``c`` and the
                spatial axes of ``layout``.
        """
        return _order_for(self._spec, parse_layout(layout))

    def equivalent(self, other: str | Convention, *, layout: str | Layout) -> bool:
        """Whether both conventions order the digits the same way for ``layout``."""
        return self.order_for(layout) == parse_convention(other).order_for(layout)

    def onnx_mode(self, layout: str | Layout = "NCHW") -> Literal["DCR", "CRD"] | None:
        """The ONNX ``DepthToSpace`` mode equal to this convention for a 2-D ``layout``.

        ``None`` where ONNX has no such mode (other ranks, other orders).

        Example:
            >>> import pixelshuffle as ps
            >>> ps.Convention("tf").onnx_mode(), ps.Convention("caffe").onnx_mode()
            ('DCR', None)
        """
        parsed = parse_layout(layout)
        if parsed.rank != 2:
            return None
        order = self.order_for(parsed)
        return {"hwc": "DCR", "chw": "CRD"}.get(order)  # type: ignore[return-value]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Convention):
            return self._spec == other._spec
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Convention, self._spec))

    def __repr__(self) -> str:
        return f"Convention({self._spec!r})"

    def __str__(self) -> str:
        return self._spec

    def __reduce__(self) -> tuple[type[Convention], tuple[str]]:
        return (Convention, (self._spec,))


def parse_convention(convention: str | Convention) -> Convention:
    """Return ``convention`` as a :class:`Convention`, validating a string."""
    if isinstance(convention, Convention):
        return convention
    if not isinstance(convention, str):
        return Convention(convention)  # raises the type error
    return _parse_convention_string(convention)


@memoize(maxsize=256)
def _parse_convention_string(convention: str) -> Convention:
    return Convention(convention)


# the letters of a complete order string for some rank: 1-D (either name), 2-D, 3-D
_ORDER_LETTER_SETS = ({"c", "l"}, {"c", "w"}, {"c", "h", "w"}, {"c", "d", "h", "w"})


def _canonical_spec(spec: str) -> str:
    key = spec.strip().lower()
    if key in PRESETS:
        return key
    if key in ALIASES:
        return ALIASES[key]
    if len(set(key)) == len(key) and set(key) in _ORDER_LETTER_SETS:
        return key  # a well-formed order string (found without difflib, which Dynamo cannot trace)
    close = difflib.get_close_matches(key, [*PRESETS, *ALIASES], n=1, cutoff=0.6)
    looks_like_order = key.isalpha() and len(key) <= 5 and bool(set(key) & set("c" + _SPATIAL))
    if looks_like_order and not close:
        _check_order_letters(spec, key)
        return key
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise PixelShuffleError(
        f"unknown convention {spec!r}; expected a preset ({', '.join(map(repr, PRESETS))}),"
        f" an alias ({', '.join(map(repr, ALIASES))}) or an order string of 'c' and the"
        f" spatial axis letters such as 'chw' or 'hwc'{hint}"
    )


def _check_order_letters(spec: str, order: str) -> None:
    for letter in order:
        if letter != "c" and letter not in _SPATIAL:
            raise PixelShuffleError(
                f"order string {spec!r} has the letter {letter!r}, which is neither 'c' nor"
                f" a spatial axis letter ({', '.join(_SPATIAL)})"
            )
    for letter in order:
        if order.count(letter) > 1:
            raise PixelShuffleError(
                f"order string {spec!r} repeats the letter {letter!r}; each digit appears once"
            )
    if "c" not in order:
        raise PixelShuffleError(
            f"order string {spec!r} has no channel digit 'c'; write where the channel digit"
            f" goes, e.g. {'c' + order!r} or {order + 'c'!r}"
        )
    if len(order) == 1:
        raise PixelShuffleError(
            f"order string {spec!r} has no spatial axis letter; write one per spatial axis,"
            " e.g. 'chw'"
        )


@memoize(maxsize=256)
def _order_for(spec: str, layout: Layout) -> str:
    spatial = layout.spatial.lower()
    if spec == "torch":
        return "c" + spatial
    if spec == "tf":
        return spatial + "c"
    if spec == "caffe":
        return "c" + spatial[::-1]
    expected = set("c" + spatial)
    foreign = [letter for letter in spec if letter not in expected]
    missing = [letter for letter in "c" + spatial if letter not in spec]
    if foreign or missing:
        problems = []
        if foreign:
            problems.append(
                f"has {', '.join(map(repr, foreign))} that layout {layout.name!r} lacks"
            )
        if missing:
            problems.append(f"misses {', '.join(map(repr, missing))}")
        raise PixelShuffleError(
            f"order string {spec!r} does not fit layout {layout.name!r}:"
            f" it {' and '.join(problems)};"
            f" an order for {layout.name!r} uses 'c' and {', '.join(map(repr, spatial))}"
            f" once each, e.g. {'c' + spatial!r}"
        )
    return spec
