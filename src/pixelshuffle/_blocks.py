"""Building blocks around the shuffle: sub-pixel convolution, EDSR upsampler, space-to-depth stems.

Every block is channels first, ``(N, C, *spatial)``, like ``torch.nn.ConvNd``; the rank
(1-D, 2-D or 3-D) comes from a per-axis factor or from ``dims``. Each validates its whole
configuration when it is built and names the convention it shuffles in.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from types import ModuleType

import torch

from ._convention import Convention
from ._errors import PixelShuffleError, PixelShuffleTypeError, format_product
from ._icnr import describe, icnr_, resolve

__all__ = ["DesubpixelDownsampler", "SpaceToDepthStem", "SubPixelConv", "Upsampler"]

Factor = int | Sequence[int]

_CONV: dict[int, type[torch.nn.Module]] = {
    1: torch.nn.Conv1d,
    2: torch.nn.Conv2d,
    3: torch.nn.Conv3d,
}
_PAD = {1: torch.nn.ReplicationPad1d, 2: torch.nn.ReplicationPad2d, 3: torch.nn.ReplicationPad3d}
_POOL = {1: torch.nn.AvgPool1d, 2: torch.nn.AvgPool2d, 3: torch.nn.AvgPool3d}


class _Config:
    """A block's validated configuration; every check raises with the block's name."""

    def __init__(self, op: str, factor: Factor, convention: str | Convention, dims: object) -> None:
        self.where = describe(op, convention)
        self.rank = self._rank(factor, dims)
        # without dims the rank is the factor's length, so only an explicit dims can clash
        self.factors, parsed, self.layout = resolve(
            self.where, factor, convention, self.rank, f"dims={self.rank}"
        )
        self.convention = parsed.spec
        # shown and stored as given: an int stays an int, like PixelShuffle's factor
        self.factor: int | tuple[int, ...] = (
            self.factors[0] if isinstance(factor, int) else self.factors
        )
        self.depth = math.prod(self.factors)

    def _rank(self, factor: Factor, dims: object) -> int:
        if dims is None:
            if not isinstance(factor, (tuple, list)):
                return 2
            if not 1 <= len(factor) <= 3:
                raise PixelShuffleError(
                    f"{self.where}: factor {tuple(factor)!r} has {len(factor)} values; give one"
                    " int, or one per spatial axis of a 1-D, 2-D or 3-D convolution"
                )
            return len(factor)
        number = self.count("dims", dims, minimum=1)
        if number > 3:
            raise PixelShuffleError(f"{self.where}: dims must be 1, 2 or 3, got {number}")
        return number

    def count(self, name: str, value: object, *, minimum: int = 1) -> int:
        """``value`` as an int of at least ``minimum``, or a message that names ``name``."""
        what = "a positive int" if minimum == 1 else f"an int ≥ {minimum}"
        if isinstance(value, bool):
            raise PixelShuffleTypeError(f"{self.where}: {name} must be {what}, got bool {value}")
        try:
            number = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            raise PixelShuffleTypeError(
                f"{self.where}: {name} must be {what}, got {type(value).__name__} {value!r}"
            ) from None
        if number < minimum:
            raise PixelShuffleError(f"{self.where}: {name} must be {what}, got {number}")
        return number

    def kernel(self, kernel_size: object) -> tuple[int, ...]:
        """One odd size per spatial axis: odd kernels pad symmetrically and keep the size."""
        sizes = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size,)
        if len(sizes) not in (1, self.rank):
            raise PixelShuffleError(
                f"{self.where}: kernel_size {tuple(sizes)!r} has {len(sizes)} values for"
                f" {self.rank} spatial axes; give one int or one per axis"
            )
        checked = tuple(self.count("kernel_size", size) for size in sizes)
        even = [size for size in checked if size % 2 == 0]
        if even:
            raise PixelShuffleError(
                f"{self.where}: kernel_size must be odd so that the convolution keeps the"
                f" spatial size (padding kernel_size // 2), got {even[0]}"
            )
        return checked * self.rank if len(checked) == 1 else checked

    def conv(
        self, in_channels: int, out_channels: int, kernel: tuple[int, ...], bias: bool
    ) -> torch.nn.Module:
        return _CONV[self.rank](
            in_channels, out_channels, kernel, padding=tuple(k // 2 for k in kernel), bias=bias
        )


def _layers() -> ModuleType:
    # pixelshuffle.nn imports this module, so its layers are looked up when a block is built
    from . import nn

    return nn


def _show_kernel(kernel: tuple[int, ...]) -> int | tuple[int, ...]:
    return kernel[0] if len(set(kernel)) == 1 else kernel


def _show_dims(factor: int | tuple[int, ...], dims: int) -> str:
    # a tuple factor says the rank itself; an int factor needs dims unless it is the default 2
    return "" if isinstance(factor, tuple) or dims == 2 else f", dims={dims}"


def _show_bias(conv: torch.nn.Module | None) -> str:
    return "" if conv is None or conv.bias is not None else ", bias=False"


class SubPixelConv(torch.nn.Module):
    """Sub-pixel convolution: ``ConvNd(C_in → C_out·∏f)`` then a pixel shuffle in any convention.

    The convolution keeps the spatial size (odd kernel, padding ``kernel_size // 2``);
    the shuffle (:class:`PixelShuffle`) makes it ``f`` times larger per axis. With
    ``icnr=True`` (the default) the convolution is ICNR-initialised for ``convention``
    and its bias zeroed, so that the fresh layer is exactly nearest-neighbour upsampling
    of one convolution: no checkerboard at the start of training (Aitken et al. 2017).
    ``blur=True`` appends a blur against the checkerboard that training can still bring
    back (Sugawara et al. 2018): per spatial axis, replicate-pad one pixel on the leading
    side and average each pixel with its predecessor (average pool, kernel 2, stride 1).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output, ``C``; the convolution makes ``C·∏f``.
        factor: the upscaling factor, one int or one per spatial axis.
        kernel_size: the convolution's kernel, odd, one int or one per axis.
        convention: the shuffle's convention: ``'torch'`` (default), ``'tf'``,
            ``'caffe'``, an alias or an order string such as ``'whc'``. It decides
            which of the convolution's output channels land where, so it must match the
            weights a model was trained or converted with.
        dims: the number of spatial axes, 1, 2 or 3; by default the length of a tuple
            ``factor``, else 2.
        icnr: ICNR-initialise the convolution (and zero its bias).
        blur: append the blur.
        bias: give the convolution a bias.

    Shape:
        ``(N, C_in, S_1, .., S_k) -> (N, C_out, S_1·f_1, .., S_k·f_k)``; channels first
        only (the layout of ``ConvNd``).

    Example:
        >>> import torch
        >>> import pixelshuffle as ps
        >>> layer = ps.nn.SubPixelConv(3, 2, factor=(2, 3), convention="tf")
        >>> layer
        SubPixelConv(
          3, 2, factor=(2, 3), kernel_size=3, convention='tf', icnr=True, blur=False
          (conv): Conv2d(3, 12, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
          (shuffle): PixelShuffle((2, 3), convention='tf', layout='NCHW')
        )
        >>> y = layer(torch.randn(1, 3, 4, 5))
        >>> y.shape
        torch.Size([1, 2, 8, 15])
        >>> torch.equal(y, y[..., ::2, ::3].repeat_interleave(2, -2).repeat_interleave(3, -1))
        True
        >>> ps.nn.SubPixelConv(4, 4, 2, kernel_size=1, dims=1, blur=True)(torch.ones(2, 4, 7)).shape
        torch.Size([2, 4, 14])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        factor: Factor,
        kernel_size: int | Sequence[int] = 3,
        *,
        convention: str | Convention = "torch",
        dims: int | None = None,
        icnr: bool = True,
        blur: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        config = _Config(type(self).__name__, factor, convention, dims)
        self.in_channels = config.count("in_channels", in_channels)
        self.out_channels = config.count("out_channels", out_channels)
        self.kernel_size = config.kernel(kernel_size)
        self.factor = config.factor
        self.convention = config.convention
        self.dims = config.rank
        self.icnr = bool(icnr)
        self.blur = bool(blur)
        self.conv = config.conv(
            self.in_channels, self.out_channels * config.depth, self.kernel_size, bias
        )
        self.shuffle = _layers().PixelShuffle(config.factors, self.convention, config.layout)
        self.smooth = (
            torch.nn.Sequential(_PAD[self.dims]((1, 0) * self.dims), _POOL[self.dims](2, stride=1))
            if self.blur
            else None
        )
        if self.icnr:
            self._icnr()

    def reset_parameters(self) -> None:
        """Draw the convolution's parameters again (ICNR if the layer was built with it)."""
        self.conv.reset_parameters()  # type: ignore[operator]
        if self.icnr:
            self._icnr()

    def _icnr(self) -> None:
        icnr_(self.conv.weight, self.shuffle.factor, self.convention)  # type: ignore[arg-type]
        if self.conv.bias is not None:
            with torch.no_grad():
                self.conv.bias.zero_()  # type: ignore[operator]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.shuffle(self.conv(x))
        return y if self.smooth is None else self.smooth(y)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, factor={self.factor!r},"
            f" kernel_size={_show_kernel(self.kernel_size)!r}, convention={self.convention!r}"
            f"{_show_dims(self.factor, self.dims)}, icnr={self.icnr}, blur={self.blur}"
            f"{_show_bias(self.conv)}"
        )


class Upsampler(torch.nn.Sequential):
    """EDSR-style 2-D upsampler: stages of ``Conv(C → C·f²)`` and ``PixelShuffle(f)``.

    A scale of ``2**k`` is ``k`` stages by 2; a scale of 3 is one stage by 3 (the
    "Conv + PixelShuffle" upsampler of EDSR, RCAN and SwinIR's ``pixelshuffle`` mode).
    Each stage is a :class:`SubPixelConv` from ``channels`` to ``channels``, ICNR
    initialised by default, so the fresh upsampler is nearest-neighbour upsampling of a
    stack of convolutions. The usual final ``Conv`` to image channels is not part of it.

    Args:
        channels: channels of the input and the output.
        scale: 3 or a power of two (2, 4, 8, ...).
        convention: the convention of every stage's shuffle, see :class:`SubPixelConv`;
            choose the one the weights were trained in (``'tf'`` for a TensorFlow model).
        kernel_size: the kernel of every stage's convolution, odd.
        icnr: ICNR-initialise every stage.
        blur: append the blur of :class:`SubPixelConv` to every stage.
        bias: give the convolutions a bias.

    Shape:
        ``(N, C, H, W) -> (N, C, H·scale, W·scale)``.

    Example:
        >>> import torch
        >>> import pixelshuffle as ps
        >>> up = ps.nn.Upsampler(8, 4, convention="tf")
        >>> [stage.factor for stage in up]
        [2, 2]
        >>> up(torch.zeros(1, 8, 5, 6)).shape
        torch.Size([1, 8, 20, 24])
        >>> ps.nn.Upsampler(8, 3)[0]
        SubPixelConv(
          8, 8, factor=3, kernel_size=3, convention='torch', icnr=True, blur=False
          (conv): Conv2d(8, 72, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
          (shuffle): PixelShuffle((3, 3), convention='torch', layout='NCHW')
        )
    """

    def __init__(
        self,
        channels: int,
        scale: int,
        *,
        convention: str | Convention = "torch",
        kernel_size: int | Sequence[int] = 3,
        icnr: bool = True,
        blur: bool = False,
        bias: bool = True,
    ) -> None:
        config = _Config(type(self).__name__, 2, convention, 2)
        channels = config.count("channels", channels)
        kernel = config.kernel(kernel_size)  # checked here, so that the message names Upsampler
        number = config.count("scale", scale, minimum=2)
        if number == 3:
            factors = [3]
        elif number & (number - 1) == 0:
            factors = [2] * (number.bit_length() - 1)
        else:
            raise PixelShuffleError(
                f"{config.where}: scale must be 3 or a power of two (2, 4, 8, ...), got"
                f" {number}; for another scale use SubPixelConv(channels, channels, {number})"
            )
        super().__init__(
            *(
                SubPixelConv(
                    channels,
                    channels,
                    f,
                    kernel_size,
                    convention=config.convention,
                    icnr=icnr,
                    blur=blur,
                    bias=bias,
                )
                for f in factors
            )
        )
        self.channels = channels
        self.scale = number
        self.convention = config.convention
        self._options = {"kernel_size": _show_kernel(kernel)}
        self._options.update(icnr=bool(icnr), blur=bool(blur), bias=bool(bias))

    def extra_repr(self) -> str:
        # the options that differ from the defaults, so that the text rebuilds the module
        defaults = {"kernel_size": 3, "icnr": True, "blur": False, "bias": True}
        changed = "".join(
            f", {name}={value!r}"
            for name, value in self._options.items()
            if value != defaults[name]
        )
        return f"{self.channels}, {self.scale}, convention={self.convention!r}{changed}"


class _Downsampler(torch.nn.Module):
    """PixelUnshuffle, then optionally a same-size convolution of the ``C·∏f`` channels."""

    def __init__(
        self,
        config: _Config,
        in_channels: int | None,
        out_channels: int | None,
        kernel_size: object,
        bias: bool,
    ) -> None:
        super().__init__()
        self.factor = config.factor
        self.convention = config.convention
        self.dims = config.rank
        self.in_channels = None if in_channels is None else config.count("in_channels", in_channels)
        self.kernel_size = config.kernel(kernel_size)
        self.unshuffle = _layers().PixelUnshuffle(config.factors, self.convention, config.layout)
        self.conv: torch.nn.Module | None = None
        if out_channels is not None:
            if self.in_channels is None:
                raise PixelShuffleError(
                    f"{config.where}: out_channels={out_channels!r} needs in_channels (the"
                    f" input's channel count) to size the convolution from in_channels·"
                    f"{format_product(config.factors)} channels"
                )
            out_channels = config.count("out_channels", out_channels)
            self.conv = config.conv(
                self.in_channels * config.depth, out_channels, self.kernel_size, bias
            )
        self.out_channels = (
            out_channels
            if out_channels is not None or self.in_channels is None
            else self.in_channels * config.depth
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.unshuffle(x)
        return y if self.conv is None else self.conv(y)


class SpaceToDepthStem(_Downsampler):
    """TResNet-style stem: space to depth (lossless, no FLOPs), optionally then a convolution.

    ``SpaceToDepthStem()`` is ``PixelUnshuffle(4, convention='tf')``: TensorFlow's
    ``space_to_depth`` order, which is also what timm's ``SpaceToDepth`` computes
    (without saying so). Give ``out_channels`` (and ``in_channels``) to follow it with a
    convolution from ``in_channels·∏f`` to ``out_channels`` channels.

    Args:
        factor: the downscaling factor, one int or one per spatial axis (default 4).
        convention: the unshuffle's convention (default ``'tf'``); it decides the order
            of the channels the convolution (or the next layer) reads.
        in_channels: the input's channel count; needed with ``out_channels``.
        out_channels: channels of the convolution, or ``None`` for none.
        kernel_size: the convolution's kernel, odd, one int or one per axis.
        dims: the number of spatial axes, 1, 2 or 3; by default the length of a tuple
            ``factor``, else 2.
        bias: give the convolution a bias.

    Attributes:
        out_channels: the output's channel count: ``out_channels`` if given, else
            ``in_channels·∏f``, or ``None`` when neither is known.

    Shape:
        ``(N, C, S_1·f_1, .., S_k·f_k) -> (N, C·∏f or out_channels, S_1, .., S_k)``;
        channels first only.

    Example:
        >>> import torch
        >>> import pixelshuffle as ps
        >>> stem = ps.nn.SpaceToDepthStem()
        >>> stem
        SpaceToDepthStem(
          4, convention='tf'
          (unshuffle): PixelUnshuffle((4, 4), convention='tf', layout='NCHW')
        )
        >>> stem(torch.zeros(2, 3, 224, 224)).shape
        torch.Size([2, 48, 56, 56])
        >>> x = torch.arange(8.0).reshape(1, 2, 2, 2)  # 2 channels of 2×2 pixels
        >>> ps.nn.SpaceToDepthStem(2)(x).flatten()  # offset-major: tf.nn.space_to_depth
        tensor([0., 4., 1., 5., 2., 6., 3., 7.])
        >>> stem = ps.nn.SpaceToDepthStem(4, in_channels=3, out_channels=64)
        >>> stem(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 64, 8, 8])
    """

    def __init__(
        self,
        factor: Factor = 4,
        *,
        convention: str | Convention = "tf",
        in_channels: int | None = None,
        out_channels: int | None = None,
        kernel_size: int | Sequence[int] = 3,
        dims: int | None = None,
        bias: bool = True,
    ) -> None:
        config = _Config(type(self).__name__, factor, convention, dims)
        super().__init__(config, in_channels, out_channels, kernel_size, bias)

    def extra_repr(self) -> str:
        text = f"{self.factor!r}, convention={self.convention!r}"
        text += _show_dims(self.factor, self.dims)
        if self.in_channels is not None:
            text += f", in_channels={self.in_channels}"
        if self.conv is not None:
            text += (
                f", out_channels={self.out_channels},"
                f" kernel_size={_show_kernel(self.kernel_size)!r}{_show_bias(self.conv)}"
            )
        return text


class DesubpixelDownsampler(_Downsampler):
    """Desubpixel downsampling: ``PixelUnshuffle`` then ``ConvNd(C_in·∏f → C_out)``.

    The inverse of :class:`SubPixelConv`'s arrangement: space goes losslessly into
    depth and a convolution mixes it. Porting weights between conventions permutes the
    convolution's *input* channels: with ``p = channel_permutation(C_in·∏f, f, src=a,
    dst=b)``, the weight for ``b`` is the weight for ``a`` indexed ``[:, p]``.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        factor: the downscaling factor, one int or one per spatial axis.
        kernel_size: the convolution's kernel, odd, one int or one per axis.
        convention: the unshuffle's convention (default ``'torch'``).
        dims: the number of spatial axes, 1, 2 or 3; by default the length of a tuple
            ``factor``, else 2.
        bias: give the convolution a bias.

    Shape:
        ``(N, C_in, S_1·f_1, .., S_k·f_k) -> (N, C_out, S_1, .., S_k)``; channels first
        only.

    Example:
        >>> import torch
        >>> import pixelshuffle as ps
        >>> down = ps.nn.DesubpixelDownsampler(3, 16, (2, 3), convention="caffe")
        >>> down
        DesubpixelDownsampler(
          3, 16, factor=(2, 3), kernel_size=3, convention='caffe'
          (unshuffle): PixelUnshuffle((2, 3), convention='caffe', layout='NCHW')
          (conv): Conv2d(18, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
        )
        >>> down(torch.zeros(1, 3, 8, 9)).shape
        torch.Size([1, 16, 4, 3])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        factor: Factor,
        kernel_size: int | Sequence[int] = 3,
        *,
        convention: str | Convention = "torch",
        dims: int | None = None,
        bias: bool = True,
    ) -> None:
        config = _Config(type(self).__name__, factor, convention, dims)
        # both required here; the shared base treats None as "no convolution"
        config.count("in_channels", in_channels)
        config.count("out_channels", out_channels)
        super().__init__(config, in_channels, out_channels, kernel_size, bias)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, factor={self.factor!r},"
            f" kernel_size={_show_kernel(self.kernel_size)!r}, convention={self.convention!r}"
            f"{_show_dims(self.factor, self.dims)}{_show_bias(self.conv)}"
        )
