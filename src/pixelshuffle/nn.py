"""PyTorch modules: drop-in replacements for ``torch.nn.PixelShuffle``/``PixelUnshuffle``.

Importing this module imports torch. It also has the building blocks around the op
(ICNR initialisation, sub-pixel upsamplers, space-to-depth stems) and the functions that
port layers between conventions. The two shuffle modules hold no parameters or buffers,
validate and plan their configuration when they are built, and work with autograd (the backward
is the inverse op), ``torch.compile(fullgraph=True)``, ``torch.export``,
``torch.jit.trace`` and ``torch.onnx.export``, which writes ONNX's own
``DepthToSpace``/``SpaceToDepth`` where ONNX has the op.
"""

from __future__ import annotations

from collections.abc import Sequence

try:
    import torch
except ImportError as error:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("pixelshuffle.nn needs PyTorch: pip install 'pixelshuffle[torch]'") from error

from ._blocks import DesubpixelDownsampler, SpaceToDepthStem, SubPixelConv, Upsampler
from ._convention import Convention
from ._errors import PixelShuffleError
from ._icnr import icnr_
from ._layout import Layout
from ._ops import prepare, run_prepared
from ._plan import Direction
from ._weights import permute_inputs_, permute_outputs_

__all__ = [
    "DesubpixelDownsampler",
    "PixelShuffle",
    "PixelUnshuffle",
    "SpaceToDepthStem",
    "SubPixelConv",
    "Upsampler",
    "icnr_",
    "permute_inputs_",
    "permute_outputs_",
]


class _Shuffle(torch.nn.Module):
    _direction: Direction = "shuffle"

    def __init__(
        self,
        factor: int | Sequence[int],
        convention: str | Convention = "torch",
        layout: str | Layout = "NCHW",
    ) -> None:
        super().__init__()
        # validated and planned once, here: forward only runs the plan
        self._prepared = prepare(
            type(self).__name__, self._direction, factor, convention, layout, None
        )
        self.factor = factor if type(factor) is int else self._prepared.factors
        self.convention = Convention(convention).spec
        self.layout = self._prepared.layout.name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_prepared(self._prepared, self._direction, x)

    def __prepare_scriptable__(self) -> torch.nn.Module:
        # torch.jit.script calls this on every submodule before compiling it
        raise PixelShuffleError(
            f"{type(self).__name__}: torch.jit.script cannot compile this module (its"
            " forward runs the library's planned op in Python); use torch.export.export,"
            " torch.compile or torch.jit.trace, which all support it"
        )

    def extra_repr(self) -> str:
        return f"{self.factor!r}, convention={self.convention!r}, layout={self.layout!r}"


class PixelShuffle(_Shuffle):
    """Depth to space in any convention; equal to ``torch.nn.PixelShuffle`` by default.

    Args:
        factor: one int, or one per spatial axis of ``layout``.
        convention: ``'torch'`` (default), ``'tf'``, ``'caffe'``, an alias or an order
            string; see :class:`pixelshuffle.Convention`.
        layout: ``'NCHW'`` (default) or any layout of :data:`pixelshuffle.LAYOUTS`.

    Shape:
        ``(*, C·∏f, S_1, .., S_k) -> (*, C, S_1·f_1, .., S_k·f_k)``, channel axis last
        for channels-last layouts. A ``channels_last`` tensor stays ``channels_last``.

    Raises:
        PixelShuffleError: at construction for a bad factor, convention or layout; in
            ``forward`` for an input whose rank or channel count does not fit.

    Example:
        >>> import torch
        >>> import pixelshuffle as ps
        >>> layer = ps.nn.PixelShuffle(3, convention="tf")
        >>> layer
        PixelShuffle(3, convention='tf', layout='NCHW')
        >>> layer(torch.zeros(2, 18, 4, 5)).shape
        torch.Size([2, 2, 12, 15])

        With the defaults it is ``torch.nn.PixelShuffle``; other conventions differ once
        there are two output channels or more:

        >>> x = torch.arange(8.0).reshape(1, 8, 1, 1)
        >>> torch.equal(ps.nn.PixelShuffle(2)(x), torch.nn.PixelShuffle(2)(x))
        True
        >>> ps.nn.PixelShuffle(2, convention="tf")(x)[0, 0]
        tensor([[0., 2.],
                [4., 6.]])
        >>> ps.nn.PixelShuffle((1, 2), layout="NHWC")(torch.zeros(4, 6, 10)).shape
        torch.Size([4, 12, 5])
    """

    _direction = "shuffle"

    @property
    def upscale_factor(self) -> int | tuple[int, ...]:
        """The factor, under the name ``torch.nn.PixelShuffle`` uses."""
        return self.factor


class PixelUnshuffle(_Shuffle):
    """Space to depth in any convention; equal to ``torch.nn.PixelUnshuffle`` by default.

    The exact inverse of :class:`PixelShuffle` with the same arguments. ``'tf'`` is
    ``tf.nn.space_to_depth``, ONNX ``SpaceToDepth`` and timm's TResNet stem.

    Args:
        factor: one int, or one per spatial axis of ``layout``.
        convention: see :class:`PixelShuffle`.
        layout: see :class:`PixelShuffle`.

    Shape:
        ``(*, C, S_1·f_1, .., S_k·f_k) -> (*, C·∏f, S_1, .., S_k)``.

    Example:
        >>> import torch
        >>> import pixelshuffle as ps
        >>> ps.nn.PixelUnshuffle((2, 3), layout="NHWC")(torch.zeros(1, 4, 9, 5)).shape
        torch.Size([1, 2, 3, 30])
    """

    _direction = "unshuffle"

    @property
    def downscale_factor(self) -> int | tuple[int, ...]:
        """The factor, under the name ``torch.nn.PixelUnshuffle`` uses."""
        return self.factor
