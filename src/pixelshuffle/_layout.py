"""Layouts: where the channel axis and the spatial axes sit in an array."""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import PixelShuffleError, PixelShuffleTypeError
from ._memo import memoize

__all__ = ["LAYOUTS", "Layout", "parse_layout"]

#: Every layout the library accepts, channels first then channels last, by rank.
LAYOUTS: tuple[str, ...] = ("NCL", "NLC", "NCW", "NWC", "NCHW", "NHWC", "NCDHW", "NDHWC")


@dataclass(frozen=True)
class Layout:
    """A parsed layout such as ``'NHWC'``.

    The array's last ``len(name) - 1`` axes are the channel and spatial axes in this
    order; every axis before them is a batch axis (any number, including none).
    """

    name: str

    @property
    def channels_last(self) -> bool:
        return self.name[-1] == "C"

    @property
    def spatial(self) -> str:
        """The spatial axis letters in layout order, e.g. ``'HW'``."""
        return self.name[1:].replace("C", "")

    @property
    def rank(self) -> int:
        """The number of spatial axes."""
        return len(self.name) - 2

    @property
    def n_axes(self) -> int:
        """How many trailing axes of the array the layout describes (channel + spatial)."""
        return len(self.name) - 1

    @property
    def channel_axis(self) -> int:
        """The channel axis as a negative index."""
        return -1 if self.channels_last else -self.n_axes

    def spatial_axis(self, m: int) -> int:
        """The ``m``-th spatial axis (layout order) as a negative index."""
        first = -self.n_axes if self.channels_last else -self.n_axes + 1
        return first + m

    def __str__(self) -> str:
        return self.name


def parse_layout(layout: str | Layout) -> Layout:
    """Validate a layout string (case-insensitive) and return the parsed :class:`Layout`."""
    if isinstance(layout, Layout):
        return layout
    if not isinstance(layout, str):
        raise PixelShuffleTypeError(
            f"layout must be a string such as 'NCHW', got {type(layout).__name__} {layout!r}"
        )
    return _parse_layout_string(layout)


@memoize(maxsize=64)
def _parse_layout_string(layout: str) -> Layout:
    name = layout.strip().upper()
    if name in LAYOUTS:
        return Layout(name)
    hint = ""
    if "N" + name in LAYOUTS:
        hint = (
            f"; batch axes are implicit, so layout='N{name}' also accepts arrays"
            f" without a batch axis"
        )
    elif name in ("CHANNELS_FIRST", "CHANNELS_LAST"):
        hint = "; name the axes, e.g. 'NCHW' (channels first) or 'NHWC' (channels last)"
    raise PixelShuffleError(
        f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}{hint}"
    )
