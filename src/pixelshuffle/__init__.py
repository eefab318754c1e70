"""Sub-pixel rearrangement (PixelShuffle, depth_to_space) in every framework's convention.

The public surface is exactly what this module exports; everything in ``_``-modules is
private. ``pixelshuffle.nn`` (PyTorch modules) is imported on first use and is left out
of ``__all__``, so that ``from pixelshuffle import *`` never imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._checkpoint import convert_checkpoint as convert_checkpoint
from ._convention import ALIASES as ALIASES
from ._convention import PRESETS as PRESETS
from ._convention import Convention as Convention
from ._convert_model import convert_model as convert_model
from ._errors import PixelShuffleError as PixelShuffleError
from ._errors import PixelShuffleTypeError as PixelShuffleTypeError
from ._layout import LAYOUTS as LAYOUTS
from ._layout import Layout as Layout
from ._ops import channel_permutation as channel_permutation
from ._ops import convert as convert
from ._ops import pixel_shuffle as pixel_shuffle
from ._ops import pixel_unshuffle as pixel_unshuffle
from ._weights import feature_permutation as feature_permutation
from ._weights import permute_channels as permute_channels

if TYPE_CHECKING:
    from . import nn as nn

__version__ = "0.1.0"

__all__ = [
    "ALIASES",
    "LAYOUTS",
    "PRESETS",
    "Convention",
    "Layout",
    "PixelShuffleError",
    "PixelShuffleTypeError",
    "__version__",
    "channel_permutation",
    "convert",
    "convert_checkpoint",
    "convert_model",
    "feature_permutation",
    "permute_channels",
    "pixel_shuffle",
    "pixel_unshuffle",
]


def __getattr__(name: str) -> Any:
    # `nn` needs PyTorch: import it only when asked for, so `import pixelshuffle` stays light.
    if name == "nn":
        import importlib

        module = importlib.import_module(".nn", __name__)
        globals()["nn"] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
