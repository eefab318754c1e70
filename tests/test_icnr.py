"""ICNR initialisation: the shuffled convolution starts as nearest upsampling, in every convention.

The property is tested directly, ``shuffle(conv(x, W)) == interpolate(conv(x, W0),
mode='nearest')``, and the weight's layout is checked against the index formula of
design.md §2, written out here without the library. Each case has two output channels
or more and is also shuffled in the other conventions, which must break the property:
a test that passed for every convention would not show that the right one was used.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import pixelshuffle as ps
from pixelshuffle import PixelShuffleError, PixelShuffleTypeError

from . import oracle
from .conftest import require

torch = require("torch")
F = torch.nn.functional

pytestmark = pytest.mark.frameworks

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
LAYOUT = {1: "NCL", 2: "NCHW", 3: "NCDHW"}
# order strings beside the presets: in 1-D there are only two orders ('wc' also checks
# that a 1-D order may name its axis w); 'hcw' and 'hcwd' put the channel digit between
# offsets, which no preset does
ORDER_STRINGS = {1: ("wc",), 2: ("whc", "hcw"), 3: ("hcwd", "dwch")}
SPATIAL = {1: (7,), 2: (4, 5), 3: (2, 3, 4)}
FACTORS = {1: (2, 3), 2: (2, 3, (2, 3), (3, 1)), 3: (2, (1, 2, 3))}
CASES = [
    (rank, factor, convention)
    for rank, factors in FACTORS.items()
    for factor in factors
    for convention in ("torch", "tf", "caffe", *ORDER_STRINGS[rank])
]


def _raises(error, message):
    return pytest.raises(error, match="^" + re.escape(message) + "$")


def _factors(rank, factor):
    return (factor,) * rank if isinstance(factor, int) else tuple(factor)


def _order(convention, rank):
    if convention in ("torch", "tf", "caffe"):
        return oracle.preset_order(convention, _layout(convention, rank))
    return convention


def _layout(convention, rank):
    return "NCW" if rank == 1 and "w" in convention else LAYOUT[rank]


def _below_channel_digit(order, rank, factors):
    """The product of the radices less significant than ``c``: depth channel ``d`` then
    feeds output channel ``(d // product) % C``. ICNR weights depend on nothing else, so
    conventions with the same product (torch and caffe, tf and 'whc') share them."""
    letters = _order("torch", rank)[1:]
    if rank == 1:
        order = order.replace("w", "l")  # the same 1-D axis under its other name
    return math.prod(factors[letters.index(letter)] for letter in order[order.index("c") + 1 :])


def _copy_of(sub):
    def init(tensor):
        tensor.copy_(sub)

    return init


def _conv(x, weight):
    return CONV[weight.ndim - 2](x, weight, padding=weight.shape[-1] // 2)


@pytest.mark.parametrize(("rank", "factor", "convention"), CASES, ids=str)
def test_shuffled_convolution_is_nearest_upsampling(rank, factor, convention):
    factors = _factors(rank, factor)
    channels, in_channels = 2, 3
    generator = torch.Generator().manual_seed(rank * 100 + sum(factors))
    sub = torch.randn(channels, in_channels, *(3,) * rank, generator=generator, dtype=torch.float64)
    weight = torch.empty(channels * math.prod(factors), *sub.shape[1:], dtype=torch.float64)
    ps.nn.icnr_(weight, factor, convention, init=_copy_of(sub))

    x = torch.randn(2, in_channels, *SPATIAL[rank], generator=generator, dtype=torch.float64)
    depth = _conv(x, weight)
    up = ps.pixel_shuffle(depth, factors, convention=convention, layout=_layout(convention, rank))
    nearest = F.interpolate(_conv(x, sub), scale_factor=factors, mode="nearest")
    assert up.shape == (2, channels, *(s * f for s, f in zip(SPATIAL[rank], factors)))
    torch.testing.assert_close(up, nearest)

    # read in a convention whose channel digit sits elsewhere, the weight is not nearest
    mine = _below_channel_digit(_order(convention, rank), rank, factors)
    others = [
        other
        for other in ("torch", "tf", "caffe", *ORDER_STRINGS[rank])
        if _below_channel_digit(_order(other, rank), rank, factors) != mine
    ]
    assert others
    for other in others:
        wrong = ps.pixel_shuffle(depth, factors, convention=other, layout=_layout(other, rank))
        assert not torch.allclose(wrong, nearest), other


def _depth_index(order, rank, c, channels, offsets, factors):
    """design.md §2: the depth index is a mixed-radix number, digits in ``order``."""
    letters = _order("torch", rank)[1:]
    digits = {"c": (c, channels), **dict(zip(letters, zip(offsets, factors)))}
    if rank == 1:
        digits["w"] = digits["l"] = (offsets[0], factors[0])
    index = 0
    for letter in order:
        value, radix = digits[letter]
        index = index * radix + value
    return index


@pytest.mark.parametrize(
    ("rank", "factors", "layout"),
    [(1, (3,), "NCL"), (1, (3,), "NCW"), (2, (2, 3), "NCHW"), (3, (2, 1, 3), "NCDHW")],
)
def test_each_depth_channel_holds_the_kernel_of_its_channel_digit(rank, factors, layout):
    channels = 3
    sub = torch.arange(1.0, channels + 1).reshape(channels, 1, *(1,) * rank)
    for order in oracle.all_orders(layout):  # every order string of the rank, presets too
        weight = torch.zeros(channels * math.prod(factors), 1, *(1,) * rank)
        ps.nn.icnr_(weight, factors, order, init=_copy_of(sub))
        for c in range(channels):
            for offsets in np.ndindex(*factors):
                d = _depth_index(order, rank, c, channels, offsets, factors)
                assert weight.flatten()[d] == c + 1, (order, c, offsets)


def test_presets_are_their_orders_in_every_rank():
    sub = torch.randn(2, 3, 1, 1, 1)
    for preset in ("torch", "tf", "caffe"):
        for rank, factors in ((1, (3,)), (2, (3, 2)), (3, (2, 3, 2))):
            shape = (2 * math.prod(factors), 3, *(1,) * rank)
            kernel = sub.reshape(2, 3, *(1,) * rank)
            a = ps.nn.icnr_(torch.empty(shape), factors, preset, init=_copy_of(kernel))
            order = oracle.preset_order(preset, LAYOUT[rank])
            b = ps.nn.icnr_(torch.empty(shape), factors, order, init=_copy_of(kernel))
            assert torch.equal(a, b), (preset, rank)
    # in 1-D the axis may be called l or w: both spellings of each order agree
    sub = torch.tensor([[[1.0]], [[2.0]]])
    w = {
        spec: ps.nn.icnr_(torch.empty(6, 1, 1), 3, spec, init=_copy_of(sub))
        for spec in ("torch", "caffe", "cl", "cw", "tf", "lc", "wc")
    }
    for same in (("torch", "caffe", "cl", "cw"), ("tf", "lc", "wc")):
        for spec in same[1:]:
            assert torch.equal(w[same[0]], w[spec]), spec
    assert not torch.equal(w["torch"], w["tf"])


def test_conventions_with_the_channel_digit_in_the_same_place_share_the_weight():
    sub = torch.randn(2, 3, 1, 1)
    weights = {
        spec: ps.nn.icnr_(torch.empty(2 * 6, 3, 1, 1), (2, 3), spec, init=_copy_of(sub))
        for spec in ("torch", "caffe", "tf", "whc", "hcw", "wch")
    }
    assert torch.equal(weights["torch"], weights["caffe"])  # c first
    assert torch.equal(weights["tf"], weights["whc"])  # c last
    assert not torch.equal(weights["torch"], weights["tf"])
    # c in the middle: what matters is the product of the offsets after it, 3 and 2 here
    assert not torch.equal(weights["hcw"], weights["wch"])
    for spec in ("torch", "tf"):
        assert not torch.equal(weights["hcw"], weights[spec])


def test_default_init_is_kaiming_normal_of_the_sub_kernel():
    torch.manual_seed(0)
    weight = ps.nn.icnr_(torch.empty(2 * 9, 4, 3, 3), 3, "tf")
    torch.manual_seed(0)
    sub = torch.nn.init.kaiming_normal_(torch.empty(2, 4, 3, 3))
    p = ps.channel_permutation(18, 3, src="torch", dst="tf")
    back_in_torch_order = weight[np.argsort(p)]
    assert torch.equal(back_in_torch_order, sub.repeat_interleave(9, dim=0))


def test_init_gets_one_fresh_sub_kernel_of_the_weight_s_dtype():
    calls = []

    def init(tensor):
        calls.append((tuple(tensor.shape), tensor.dtype))
        torch.nn.init.ones_(tensor)

    weight = torch.zeros(2 * 6, 5, 3, 1, dtype=torch.float64)
    ps.nn.icnr_(weight, (2, 3), "caffe", init=init)
    assert calls == [((2, 5, 3, 1), torch.float64)]
    assert torch.equal(weight, torch.ones_like(weight))
    assert weight.dtype == torch.float64


def test_in_place_on_a_parameter_without_autograd_history():
    conv = torch.nn.Conv2d(3, 2 * 4, 3, padding=1)
    pointer = conv.weight.data_ptr()
    result = ps.nn.icnr_(conv.weight, 2, "tf")
    assert result is conv.weight
    assert conv.weight.data_ptr() == pointer
    assert conv.weight.is_leaf
    assert conv.weight.requires_grad
    conv(torch.randn(1, 3, 4, 5)).sum().backward()
    assert conv.weight.grad is not None


def test_factor_one_and_empty_weights():
    sub = torch.randn(4, 2, 3)
    assert torch.equal(ps.nn.icnr_(torch.empty(4, 2, 3), 1, init=_copy_of(sub)), sub)
    empty = torch.empty(0, 3, 3, 3)
    assert ps.nn.icnr_(empty, 2, "tf") is empty


def test_bias_would_break_the_property_so_the_docs_say_zero_it():
    # the reason SubPixelConv zeroes the bias: a random bias per depth channel is a
    # checkerboard of its own
    conv = torch.nn.Conv2d(3, 2 * 4, 3, padding=1)
    ps.nn.icnr_(conv.weight, 2, "tf")
    y = ps.pixel_shuffle(conv(torch.randn(1, 3, 4, 5)), 2, convention="tf")
    assert not torch.allclose(y, F.interpolate(y[..., ::2, ::2], scale_factor=2))
    torch.nn.init.zeros_(conv.bias)
    y = ps.pixel_shuffle(conv(torch.randn(1, 3, 4, 5)), 2, convention="tf")
    assert torch.equal(y, F.interpolate(y[..., ::2, ::2], scale_factor=2))


def test_errors():
    with _raises(
        PixelShuffleError,
        "icnr_(convention='tf'): the weight's output channels (dim 0) must be divisible by"
        " 2·3 = 6, got 8 for weight shape (8, 4, 3, 3); a convolution that feeds a shuffle"
        " by (2, 3) has C·6 output channels",
    ):
        ps.nn.icnr_(torch.empty(8, 4, 3, 3), (2, 3), "tf")
    with _raises(
        PixelShuffleError,
        "icnr_(convention='torch'): the weight's output channels (dim 0) must be divisible"
        " by 3, got 4 for weight shape (4, 1, 5); a convolution that feeds a shuffle by 3"
        " has C·3 output channels",
    ):
        ps.nn.icnr_(torch.empty(4, 1, 5), 3)
    with _raises(
        PixelShuffleError,
        "icnr_(convention='torch'): factor (2, 2) has 2 values but the weight of shape"
        " (8, 3, 3, 3, 3) (3-D convolution) has 3 spatial axes; give one int or one per"
        " spatial axis",
    ):
        ps.nn.icnr_(torch.empty(8, 3, 3, 3, 3), (2, 2))
    with _raises(
        PixelShuffleError,
        "icnr_(convention='torch'): weight must be a 1-D, 2-D or 3-D convolution weight"
        " (out_channels, in_channels, *kernel) with 3 to 5 dimensions, got 2 with shape"
        " (8, 4)",
    ):
        ps.nn.icnr_(torch.nn.Linear(4, 8).weight, 2)
    with _raises(
        PixelShuffleError,
        "icnr_(convention='whc'): order string 'whc' does not fit layout 'NCDHW': it misses"
        " 'd'; an order for 'NCDHW' uses 'c' and 'd', 'h', 'w' once each, e.g. 'cdhw'",
    ):
        ps.nn.icnr_(torch.empty(16, 1, 1, 1, 1), 2, "whc")
    with _raises(
        PixelShuffleError,
        "icnr_(convention='tensorflw'): unknown convention 'tensorflw'; expected a preset"
        " ('torch', 'tf', 'caffe'), an alias ('pytorch', 'crd', 'onnx_crd', 'paddle',"
        " 'depth_first', 'tensorflow', 'tflite', 'dcr', 'onnx_dcr', 'blocks_first',"
        " 'realsr') or an order string of 'c' and the spatial axis letters such as 'chw'"
        " or 'hwc'; did you mean 'tensorflow'?",
    ):
        ps.nn.icnr_(torch.empty(8, 1, 1, 1), 2, "tensorflw")
    with _raises(PixelShuffleError, "icnr_(convention='torch'): factor must be positive, got 0"):
        ps.nn.icnr_(torch.empty(8, 1, 1, 1), 0)


def test_type_errors():
    with _raises(
        PixelShuffleTypeError,
        "icnr_(convention='torch'): expected a weight tensor, got a Conv2d module; pass its"
        " weight, e.g. icnr_(conv.weight, factor)",
    ):
        ps.nn.icnr_(torch.nn.Conv2d(1, 4, 3), 2)
    with _raises(
        PixelShuffleTypeError,
        "icnr_(convention='tf'): expected the weight tensor of a Conv1d/Conv2d/Conv3d, got"
        " a ConvTranspose2d module; ICNR initialises the convolution that feeds a pixel"
        " shuffle, and transposed convolutions (weight laid out (in_channels, out_channels,"
        " *kernel)) are not supported",
    ):
        ps.nn.icnr_(torch.nn.ConvTranspose2d(4, 1, 3), 2, "tf")
    with _raises(
        PixelShuffleTypeError, "icnr_(convention='torch'): expected a weight tensor, got list []"
    ):
        ps.nn.icnr_([], 2)
    with _raises(
        PixelShuffleTypeError,
        "icnr_(convention='torch'): init must be an in-place initialiser such as"
        " torch.nn.init.kaiming_normal_, got str 'kaiming'",
    ):
        ps.nn.icnr_(torch.empty(4, 1, 1, 1), 2, init="kaiming")
    with _raises(
        PixelShuffleTypeError,
        "icnr_(convention='torch'): factor must be a positive int or a tuple of them, got"
        " float 2.0",
    ):
        ps.nn.icnr_(torch.empty(4, 1, 1, 1), 2.0)
