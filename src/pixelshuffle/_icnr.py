"""ICNR: initialise the convolution that feeds a shuffle so that it starts as nearest upsampling.

Aitken et al. 2017 ("Checkerboard artifact free sub-pixel convolution") observed that a
sub-pixel convolution with independently initialised weights starts with a checkerboard
pattern that training has to remove. ICNR ("initialised to convolution NN resize") gives
every depth channel that feeds the same output channel the same kernel, so that
``pixel_shuffle(conv(x))`` starts as nearest-neighbour upsampling of one convolution.

Which depth channels feed the same output channel depends on the convention, so the
replication is done in PyTorch's order, where it is a ``repeat_interleave``, and moved into
the target convention with :func:`pixelshuffle.channel_permutation` — the one place that
knows the digit orders.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from ._convention import Convention
from ._errors import PixelShuffleError, PixelShuffleTypeError, format_product, format_shape
from ._factor import normalize_factor
from ._layout import parse_layout
from ._ops import channel_permutation

__all__ = ["icnr_"]

Init = Callable[[torch.Tensor], object]

_CHANNELS_FIRST = {1: "NCL", 2: "NCHW", 3: "NCDHW"}


def conv_layout(rank: int, convention: Convention) -> str:
    """The channels-first layout of a ``rank``-D convolution whose letters fit ``convention``.

    A 1-D order string may name its axis ``l`` or ``w`` (``'cl'``, ``'wc'``); the layout
    follows it, since the convention is the same either way.
    """
    if rank == 1 and not convention.is_preset and "w" in convention.spec:
        return "NCW"
    return _CHANNELS_FIRST[rank]


def resolve(
    where: str,
    factor: int | Sequence[int],
    convention: str | Convention,
    rank: int,
    rank_source: str,
) -> tuple[tuple[int, ...], Convention, str]:
    """Validate a factor and convention for a ``rank``-D channels-first convolution.

    Returns the factor per spatial axis, the parsed convention and the layout to shuffle
    in. ``rank_source`` says where the rank came from, for the message of a factor with
    the wrong number of values. Errors carry the ``where`` prefix once.
    """
    try:
        parsed = Convention(convention)
        layout = conv_layout(rank, parsed)
        parsed.order_for(layout)  # an order string must name exactly these axes
        if isinstance(factor, (tuple, list)) and len(factor) != rank:
            raise PixelShuffleError(
                f"factor {tuple(factor)!r} has {len(factor)} value{'s' * (len(factor) != 1)}"
                f" but {rank_source} has {rank} spatial ax{'es' if rank != 1 else 'is'};"
                " give one int or one per spatial axis"
            )
        factors = normalize_factor(factor, parse_layout(layout))
    except PixelShuffleError as error:
        raise type(error)(f"{where}: {error}") from None
    return factors, parsed, layout


def describe(op: str, convention: object) -> str:
    """``op(convention='tf')``: the prefix of a message, the convention as given."""
    shown = convention.spec if isinstance(convention, Convention) else convention
    return f"{op}(convention={shown!r})"


def icnr_(
    weight: torch.Tensor,
    factor: int | Sequence[int],
    convention: str | Convention = "torch",
    init: Init = torch.nn.init.kaiming_normal_,
) -> torch.Tensor:
    """ICNR-initialise, in place, the weight of a convolution that feeds a pixel shuffle.

    After it, ``pixel_shuffle(conv(x), factor, convention=convention)`` equals
    nearest-neighbour upsampling (by ``factor``) of ``x`` convolved with one
    ``init``-initialised sub-kernel: each output channel's ``∏f`` depth channels share
    that channel's kernel, placed where ``convention`` reads them. The layer starts free
    of checkerboard artifacts (Aitken et al. 2017). Unlike ports that assume PyTorch's
    channel order, it is right for every convention, rank and per-axis factor.

    Depth channel ``d`` feeds output channel ``(d // P) % C``, where ``P`` is the product
    of the factors whose digits come after ``c`` in the convention; conventions with the
    same ``P`` get the same weight (``'torch'`` and ``'caffe'``, ``'tf'`` and ``'whc'``).

    Only the weight is touched: give the convolution no bias or zero it (a bias drawn
    per depth channel brings the checkerboard back); :class:`SubPixelConv` does that.

    Args:
        weight: the weight of an ungrouped ``Conv1d``/``Conv2d``/``Conv3d``, shape
            ``(C·∏f, C_in, *kernel)``, floating point. ``ConvTranspose`` weights, laid
            out ``(C_in, C_out, *kernel)``, are not supported.
        factor: the factor of the shuffle that follows: one int, or one per spatial axis
            of the weight's kernel.
        convention: the convention of that shuffle: ``'torch'``, ``'tf'``, ``'caffe'``,
            an alias or an order string of ``c`` and the kernel's axes (``'whc'`` in
            2-D, ``'dhcw'`` in 3-D, ``'lc'`` or ``'wc'`` in 1-D).
        init: an in-place initialiser (``torch.nn.init.*_``) called once on the
            sub-kernel, a fresh tensor of shape ``(C, C_in, *kernel)`` with the weight's
            dtype and device. Its fan-in is the weight's.

    Returns:
        ``weight``, modified in place.

    Raises:
        PixelShuffleTypeError: ``weight`` is not a tensor (a module, say), or ``init`` is
            not callable.
        PixelShuffleError: a weight with fewer than 3 or more than 5 dimensions, a
            factor with more or fewer values than the kernel has axes, an output channel
            count not divisible by ``∏f``, or a convention that does not fit the rank.

    Example:
        >>> import torch
        >>> import pixelshuffle as ps
        >>> conv = torch.nn.Conv2d(3, 2 * 3 * 3, 3, padding=1, bias=False)  # C = 2
        >>> _ = ps.nn.icnr_(conv.weight, 3, convention="tf")
        >>> y = ps.pixel_shuffle(conv(torch.randn(1, 3, 4, 5)), 3, convention="tf")
        >>> y.shape
        torch.Size([1, 2, 12, 15])
        >>> nearest = torch.nn.functional.interpolate(y[..., ::3, ::3], scale_factor=3)
        >>> torch.equal(y, nearest)  # every 3×3 block is one value
        True

        Where the copies of each sub-kernel go depends on the convention:

        >>> w = torch.empty(4, 1, 1)  # a Conv1d that feeds a shuffle by 2 with C = 2
        >>> fill = lambda sub: sub.copy_(torch.tensor([[[10.0]], [[20.0]]]))
        >>> ps.nn.icnr_(w, 2, "torch", init=fill).flatten()
        tensor([10., 10., 20., 20.])
        >>> ps.nn.icnr_(w, 2, "tf", init=fill).flatten()
        tensor([10., 20., 10., 20.])
    """
    where = describe("icnr_", convention)
    if not isinstance(weight, torch.Tensor):
        raise PixelShuffleTypeError(f"{where}: {_not_a_weight(weight)}")
    if not callable(init):
        raise PixelShuffleTypeError(
            f"{where}: init must be an in-place initialiser such as"
            f" torch.nn.init.kaiming_normal_, got {type(init).__name__} {init!r}"
        )
    shape = tuple(weight.shape)
    rank = weight.ndim - 2
    if rank not in _CHANNELS_FIRST:
        raise PixelShuffleError(
            f"{where}: weight must be a 1-D, 2-D or 3-D convolution weight (out_channels,"
            f" in_channels, *kernel) with 3 to 5 dimensions, got {weight.ndim} with shape"
            f" {format_shape(shape)}"
        )
    source = f"the weight of shape {format_shape(shape)} ({rank}-D convolution)"
    factors, parsed, layout = resolve(where, factor, convention, rank, source)
    depth = math.prod(factors)
    out_channels = shape[0]
    if out_channels % depth:
        raise PixelShuffleError(
            f"{where}: the weight's output channels (dim 0) must be divisible by"
            f" {format_product(factors)}, got {out_channels} for weight shape"
            f" {format_shape(shape)}; a convolution that feeds a shuffle by"
            f" {factors if rank > 1 else factors[0]} has C·{depth} output channels"
        )
    if weight.numel() == 0:
        return weight  # nothing to initialise; torch.nn.init would warn
    sub = torch.empty((out_channels // depth, *shape[1:]), dtype=weight.dtype, device=weight.device)
    init(sub)
    # In torch order depth channel d feeds output channel d // ∏f; p[j] is the torch-order
    # channel that dst-order channel j must hold, so channel j gets sub-kernel p[j] // ∏f.
    p = channel_permutation(out_channels, factors, src="torch", dst=parsed, layout=layout)
    channel_of = torch.from_numpy(p // depth).to(weight.device)
    with torch.no_grad():
        weight.copy_(sub.index_select(0, channel_of))
    return weight


def _not_a_weight(value: object) -> str:
    kind = type(value).__name__
    if isinstance(value, torch.nn.modules.conv._ConvTransposeNd):
        return (
            f"expected the weight tensor of a Conv1d/Conv2d/Conv3d, got a {kind} module;"
            " ICNR initialises the convolution that feeds a pixel shuffle, and transposed"
            " convolutions (weight laid out (in_channels, out_channels, *kernel)) are not"
            " supported"
        )
    if isinstance(value, torch.nn.Module):
        return (
            f"expected a weight tensor, got a {kind} module; pass its weight, e.g."
            " icnr_(conv.weight, factor)"
        )
    return f"expected a weight tensor, got {kind} {value!r}"
