"""The blocks around the shuffle: SubPixelConv, Upsampler, SpaceToDepthStem, DesubpixelDownsampler.

Each block is checked against its definition written out with plain torch ops and the
library's functions, in several conventions, with two channels or more, factor 3 as well
as 2 and non-square sizes and factors; where a convention matters, the test also shows
that another convention gives another result.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import pixelshuffle as ps
from pixelshuffle import PixelShuffleError, PixelShuffleTypeError

from .conftest import require

torch = require("torch")
F = torch.nn.functional

pytestmark = pytest.mark.frameworks

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
LAYOUT = {1: "NCL", 2: "NCHW", 3: "NCDHW"}
SPATIAL = {1: (7,), 2: (4, 5), 3: (2, 3, 4)}
# conventions of every rank that give different results; 'hcw'/'hcwd' put c in the middle
CONVENTIONS = {
    1: ("torch", "tf"),
    2: ("torch", "tf", "caffe", "whc", "hcw"),
    3: ("torch", "tf", "caffe", "hcwd"),
}


def _raises(error, message):
    return pytest.raises(error, match="^" + re.escape(message) + "$")


def _factors(rank, factor):
    return (factor,) * rank if isinstance(factor, int) else tuple(factor)


def _conv(x, conv):
    """``conv`` written out with the functional op, for an independent expectation."""
    padding = tuple(k // 2 for k in conv.weight.shape[2:])
    return CONV[conv.weight.ndim - 2](x, conv.weight, conv.bias, padding=padding)


def _sub_kernel(weight, factors, convention, layout):
    """The ICNR sub-kernel: bring the weight into torch order, take each channel's first copy."""
    depth = math.prod(factors)
    p = ps.channel_permutation(weight.shape[0], factors, src="torch", dst=convention, layout=layout)
    return weight[np.argsort(p)][::depth]


def _blur(y, rank):
    """Sugawara et al.'s blur: each pixel averaged with its predecessor on every axis,
    the first pixel with itself (replication), one axis at a time since the box is separable."""
    for axis in range(-rank, 0):
        previous = (torch.arange(y.shape[axis]) - 1).clamp(min=0)
        y = (y + y.index_select(axis, previous)) / 2
    return y


def _timm_space_to_depth(x, bs):
    """timm's SpaceToDepth maths (TResNet's stem), written out: TensorFlow's channel order."""
    n, c, h, w = x.shape
    x = x.view(n, c, h // bs, bs, w // bs, bs)
    x = x.permute(0, 3, 5, 1, 2, 4).contiguous()
    return x.view(n, c * bs * bs, h // bs, w // bs)


# ---------------------------------------------------------------- SubPixelConv


@pytest.mark.parametrize(
    ("factor", "dims", "rank"),
    [(3, 1, 1), (2, None, 2), ((2, 3), None, 2), ((3, 1), 2, 2), (2, 3, 3), ((1, 2, 3), None, 3)],
    ids=str,
)
def test_sub_pixel_conv_shapes(factor, dims, rank):
    factors = _factors(rank, factor)
    layer = ps.nn.SubPixelConv(3, 2, factor, dims=dims)
    assert layer.dims == rank
    assert layer.conv.weight.shape == (2 * math.prod(factors), 3, *(3,) * rank)
    y = layer(torch.randn(2, 3, *SPATIAL[rank]))
    assert y.shape == (2, 2, *(s * f for s, f in zip(SPATIAL[rank], factors)))


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_sub_pixel_conv_is_conv_then_shuffle_in_its_convention(rank):
    factors = {1: (3,), 2: (2, 3), 3: (2, 1, 3)}[rank]
    x = torch.randn(2, 3, *SPATIAL[rank])
    results = {}
    for convention in CONVENTIONS[rank]:
        layer = ps.nn.SubPixelConv(3, 2, factors, icnr=False, convention=convention)
        torch.manual_seed(0)
        layer.reset_parameters()  # the same random weights for every convention
        expected = ps.pixel_shuffle(
            _conv(x, layer.conv), factors, convention=convention, layout=LAYOUT[rank]
        )
        results[convention] = layer(x)
        torch.testing.assert_close(results[convention], expected, rtol=0, atol=0)
    for convention in CONVENTIONS[rank][1:]:
        assert not torch.allclose(results[convention], results["torch"]), convention


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("factor", [2, 3], ids=["f2", "f3"])
def test_sub_pixel_conv_starts_as_nearest_upsampling(rank, factor):
    factors = (factor,) * rank if rank != 2 else (factor, 5 - factor)  # 2×3 and 3×2 in 2-D
    x = torch.randn(2, 3, *SPATIAL[rank], dtype=torch.float64)
    for convention in CONVENTIONS[rank]:
        layer = ps.nn.SubPixelConv(3, 2, factors, convention=convention).double()
        assert torch.count_nonzero(layer.conv.bias) == 0  # a bias per depth channel would not be
        sub = _sub_kernel(layer.conv.weight, factors, convention, LAYOUT[rank])
        one_conv = CONV[rank](x, sub, padding=1)
        expected = F.interpolate(one_conv, scale_factor=factors, mode="nearest")
        torch.testing.assert_close(layer(x), expected)
        # without ICNR the fresh layer is not nearest upsampling
        plain = ps.nn.SubPixelConv(3, 2, factors, convention=convention, icnr=False).double()
        sub = _sub_kernel(plain.conv.weight, factors, convention, LAYOUT[rank])
        expected = F.interpolate(CONV[rank](x, sub, padding=1), scale_factor=factors)
        assert not torch.allclose(plain(x), expected)


def test_sub_pixel_conv_icnr_follows_the_convention():
    # ICNR for one convention, read by a shuffle in another, is no longer nearest upsampling
    layer = ps.nn.SubPixelConv(3, 2, 3, convention="tf")
    x = torch.randn(1, 3, 4, 5)
    y = layer(x)
    assert torch.equal(y, F.interpolate(y[..., ::3, ::3], scale_factor=3))
    misread = ps.pixel_shuffle(layer.conv(x), 3, convention="torch")
    assert not torch.allclose(misread, F.interpolate(misread[..., ::3, ::3], scale_factor=3))


def test_sub_pixel_conv_reset_parameters_redraws_icnr():
    layer = ps.nn.SubPixelConv(2, 2, (3, 2), convention="caffe")
    before = layer.conv.weight.detach().clone()
    with torch.no_grad():
        layer.conv.bias.fill_(1.0)
    layer.reset_parameters()
    assert not torch.equal(layer.conv.weight, before)
    assert torch.count_nonzero(layer.conv.bias) == 0
    y = layer(torch.randn(1, 2, 4, 5))
    assert torch.equal(y, F.interpolate(y[..., ::3, ::2], scale_factor=(3, 2)))


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_blur_is_the_leading_replicate_pad_and_average_pool(rank):
    factors = {1: (3,), 2: (2, 3), 3: (3, 2, 2)}[rank]
    convention = CONVENTIONS[rank][-1]
    layer = ps.nn.SubPixelConv(2, 2, factors, convention=convention, icnr=False, blur=True)
    x = torch.randn(2, 2, *SPATIAL[rank], dtype=torch.float64)
    layer = layer.double()
    shuffled = ps.pixel_shuffle(
        _conv(x, layer.conv), factors, convention=convention, layout=LAYOUT[rank]
    )
    y = layer(x)
    assert y.shape == shuffled.shape
    torch.testing.assert_close(y, _blur(shuffled, rank))
    assert not torch.allclose(y, shuffled)


def test_sub_pixel_conv_ports_between_conventions_by_permuting_output_channels():
    x = torch.randn(2, 3, 4, 5)
    source = ps.nn.SubPixelConv(3, 2, (3, 2), convention="torch", icnr=False)
    for convention in ("tf", "caffe", "hcw"):
        target = ps.nn.SubPixelConv(3, 2, (3, 2), convention=convention, icnr=False)
        p = torch.from_numpy(ps.channel_permutation(12, (3, 2), src="torch", dst=convention))
        target.load_state_dict(source.state_dict())
        assert not torch.allclose(target(x), source(x))  # same weights: another image
        target.load_state_dict({k: v[p] for k, v in source.state_dict().items()})
        torch.testing.assert_close(target(x), source(x), rtol=0, atol=0)


def test_sub_pixel_conv_repr_rebuilds_the_module():
    layers = [
        ps.nn.SubPixelConv(3, 2, (2, 3), convention="realsr"),
        ps.nn.SubPixelConv(4, 8, 3, 5, dims=1, convention="wc", icnr=False, blur=True),
        ps.nn.SubPixelConv(2, 2, 2, (1, 3, 5), dims=3, bias=False),
    ]
    assert layers[0].extra_repr() == (
        "3, 2, factor=(2, 3), kernel_size=3, convention='caffe', icnr=True, blur=False"
    )
    assert layers[1].extra_repr() == (
        "4, 8, factor=3, kernel_size=5, convention='wc', dims=1, icnr=False, blur=True"
    )
    assert layers[2].extra_repr() == (
        "2, 2, factor=2, kernel_size=(1, 3, 5), convention='torch', dims=3, icnr=True,"
        " blur=False, bias=False"
    )
    for layer in layers:
        rebuilt = eval(f"SubPixelConv({layer.extra_repr()})", {"SubPixelConv": ps.nn.SubPixelConv})
        assert repr(rebuilt) == repr(layer)
    assert "(smooth): Sequential(" in repr(layers[1])
    assert "ReplicationPad1d((1, 0))" in repr(layers[1])
    assert sorted(layers[1].state_dict()) == ["conv.bias", "conv.weight"]


def test_blocks_train_and_trace_without_graph_breaks():
    cases = [
        (ps.nn.SubPixelConv(2, 2, (2, 3), convention="tf", blur=True), (2, 2, 4, 5)),
        (ps.nn.Upsampler(2, 4, convention="caffe"), (1, 2, 3, 4)),
        (ps.nn.SpaceToDepthStem(in_channels=2, out_channels=3), (1, 2, 8, 12)),
        (ps.nn.DesubpixelDownsampler(2, 3, 3, dims=1, convention="tf"), (2, 2, 9)),
    ]
    for layer, shape in cases:
        x = torch.randn(shape)
        layer(x).square().mean().backward()
        assert all(p.grad is not None for p in layer.parameters())
        # fullgraph: the block traces without a graph break (the backend is not under test)
        compiled = torch.compile(layer, fullgraph=True, backend="eager")
        torch.testing.assert_close(compiled(x), layer(x))


def test_sub_pixel_conv_errors():
    with _raises(
        PixelShuffleError,
        "SubPixelConv(convention='torch'): kernel_size must be odd so that the convolution"
        " keeps the spatial size (padding kernel_size // 2), got 4",
    ):
        ps.nn.SubPixelConv(3, 2, 2, kernel_size=4)
    with _raises(
        PixelShuffleError,
        "SubPixelConv(convention='tf'): kernel_size (3, 3, 3) has 3 values for 2 spatial"
        " axes; give one int or one per axis",
    ):
        ps.nn.SubPixelConv(3, 2, 2, (3, 3, 3), convention="tf")
    with _raises(
        PixelShuffleError,
        "SubPixelConv(convention='torch'): factor (2, 3) has 2 values but dims=3 has 3"
        " spatial axes; give one int or one per spatial axis",
    ):
        ps.nn.SubPixelConv(3, 2, (2, 3), dims=3)
    with _raises(
        PixelShuffleError,
        "SubPixelConv(convention='torch'): factor (2, 2, 2, 2) has 4 values; give one int, or"
        " one per spatial axis of a 1-D, 2-D or 3-D convolution",
    ):
        ps.nn.SubPixelConv(3, 2, (2, 2, 2, 2))
    with _raises(
        PixelShuffleError, "SubPixelConv(convention='torch'): dims must be 1, 2 or 3, got 4"
    ):
        ps.nn.SubPixelConv(3, 2, 2, dims=4)
    with _raises(
        PixelShuffleError,
        "SubPixelConv(convention='tf'): in_channels must be a positive int, got 0",
    ):
        ps.nn.SubPixelConv(0, 2, 2, convention="tf")
    with _raises(
        PixelShuffleTypeError,
        "SubPixelConv(convention='torch'): out_channels must be a positive int, got float 2.0",
    ):
        ps.nn.SubPixelConv(3, 2.0, 2)
    with _raises(
        PixelShuffleError,
        "SubPixelConv(convention='chw'): order string 'chw' does not fit layout 'NCDHW': it"
        " misses 'd'; an order for 'NCDHW' uses 'c' and 'd', 'h', 'w' once each, e.g. 'cdhw'",
    ):
        ps.nn.SubPixelConv(3, 2, 2, dims=3, convention="chw")
    with _raises(
        PixelShuffleError,
        "SubPixelConv(convention='torch'): factor must be positive, got 0 in factor (2, 0)",
    ):
        ps.nn.SubPixelConv(3, 2, (2, 0))


# ------------------------------------------------------------------- Upsampler


@pytest.mark.parametrize(("scale", "factors"), [(2, [2]), (3, [3]), (4, [2, 2]), (8, [2, 2, 2])])
def test_upsampler_stages(scale, factors):
    up = ps.nn.Upsampler(4, scale, convention="tf")
    assert [stage.factor for stage in up] == factors
    assert all(isinstance(stage, ps.nn.SubPixelConv) for stage in up)
    assert all(stage.conv.weight.shape[:2] == (4 * f * f, 4) for stage, f in zip(up, factors))
    assert all(stage.convention == "tf" for stage in up)
    assert up(torch.randn(1, 4, 3, 5)).shape == (1, 4, 3 * scale, 5 * scale)


def test_upsampler_starts_as_nearest_upsampling_of_its_convolutions():
    x = torch.randn(2, 3, 3, 4, dtype=torch.float64)
    for convention in ("torch", "tf", "hcw"):
        up = ps.nn.Upsampler(3, 4, convention=convention).double()
        expected = x
        for stage in up:
            sub = _sub_kernel(stage.conv.weight, (2, 2), convention, "NCHW")
            expected = F.interpolate(F.conv2d(expected, sub, padding=1), scale_factor=2)
        torch.testing.assert_close(up(x), expected)


def test_upsampler_ports_between_conventions():
    x = torch.randn(1, 2, 3, 4)
    for scale, factor in ((4, 2), (3, 3)):
        source = ps.nn.Upsampler(2, scale, convention="torch", icnr=False)
        target = ps.nn.Upsampler(2, scale, convention="tf", icnr=False)
        target.load_state_dict(source.state_dict())
        assert not torch.allclose(target(x), source(x))
        p = torch.from_numpy(ps.channel_permutation(2 * factor**2, factor, src="torch", dst="tf"))
        target.load_state_dict({k: v[p] for k, v in source.state_dict().items()})
        torch.testing.assert_close(target(x), source(x))


def test_upsampler_repr():
    up = ps.nn.Upsampler(8, 4, convention="dcr", kernel_size=5, blur=True)
    assert up.extra_repr() == "8, 4, convention='tf', kernel_size=5, blur=True"
    assert repr(up).startswith("Upsampler(\n  8, 4, convention='tf', kernel_size=5, blur=True\n")
    rebuilt = eval(f"Upsampler({up.extra_repr()})", {"Upsampler": ps.nn.Upsampler})
    assert repr(rebuilt) == repr(up)
    assert ps.nn.Upsampler(2, 3).extra_repr() == "2, 3, convention='torch'"
    assert sorted(ps.nn.Upsampler(2, 4, bias=False).state_dict()) == [
        "0.conv.weight",
        "1.conv.weight",
    ]


def test_upsampler_errors():
    with _raises(
        PixelShuffleError,
        "Upsampler(convention='torch'): scale must be 3 or a power of two (2, 4, 8, ...),"
        " got 6; for another scale use SubPixelConv(channels, channels, 6)",
    ):
        ps.nn.Upsampler(8, 6)
    with _raises(
        PixelShuffleError,
        "Upsampler(convention='tf'): scale must be 3 or a power of two (2, 4, 8, ...), got 5;"
        " for another scale use SubPixelConv(channels, channels, 5)",
    ):
        ps.nn.Upsampler(8, 5, convention="tf")
    with _raises(
        PixelShuffleError, "Upsampler(convention='torch'): scale must be an int ≥ 2, got 1"
    ):
        ps.nn.Upsampler(8, 1)
    with _raises(
        PixelShuffleTypeError,
        "Upsampler(convention='torch'): scale must be an int ≥ 2, got bool True",
    ):
        ps.nn.Upsampler(8, True)
    with _raises(
        PixelShuffleError,
        "Upsampler(convention='torch'): kernel_size must be odd so that the convolution keeps"
        " the spatial size (padding kernel_size // 2), got 2",
    ):
        ps.nn.Upsampler(8, 2, kernel_size=2)
    with _raises(
        PixelShuffleError,
        "Upsampler(convention='cl'): order string 'cl' does not fit layout 'NCHW': it has 'l'"
        " that layout 'NCHW' lacks and misses 'h', 'w'; an order for 'NCHW' uses 'c' and 'h',"
        " 'w' once each, e.g. 'chw'",
    ):
        ps.nn.Upsampler(8, 2, convention="cl")


# ------------------------------------------------------------ SpaceToDepthStem


def test_space_to_depth_stem_is_tensorflow_order_like_timm():
    x = torch.arange(2 * 3 * 8 * 12.0).reshape(2, 3, 8, 12)
    stem = ps.nn.SpaceToDepthStem()
    assert stem.factor == 4
    assert stem.convention == "tf"
    y = stem(x)
    assert y.shape == (2, 48, 2, 3)
    assert torch.equal(y, _timm_space_to_depth(x, 4))
    assert torch.equal(y, ps.pixel_unshuffle(x, 4, convention="tf"))
    # PyTorch's own pixel_unshuffle orders the channels differently
    assert not torch.equal(y, F.pixel_unshuffle(x, 4))
    assert torch.equal(ps.nn.SpaceToDepthStem(4, convention="torch")(x), F.pixel_unshuffle(x, 4))
    assert torch.equal(
        ps.nn.SpaceToDepthStem(3)(x[..., :6, :]), _timm_space_to_depth(x[..., :6, :], 3)
    )


@pytest.mark.parametrize(
    ("factor", "dims", "convention", "layout", "shape"),
    [
        ((2, 3), None, "caffe", "NCHW", (1, 2, 4, 9)),
        (3, 1, "tf", "NCL", (2, 2, 12)),
        ((2, 1, 3), None, "hcwd", "NCDHW", (1, 2, 4, 3, 6)),
    ],
    ids=["2-D", "1-D", "3-D"],
)
def test_space_to_depth_stem_any_factor_and_convention(factor, dims, convention, layout, shape):
    x = torch.arange(math.prod(shape), dtype=torch.float32).reshape(shape)
    stem = ps.nn.SpaceToDepthStem(factor, convention=convention, dims=dims)
    expected = ps.pixel_unshuffle(x, factor, convention=convention, layout=layout)
    assert torch.equal(stem(x), expected)
    assert not torch.equal(expected, ps.pixel_unshuffle(x, factor, layout=layout))


def test_space_to_depth_stem_with_a_convolution():
    torch.manual_seed(0)
    stem = ps.nn.SpaceToDepthStem(4, in_channels=3, out_channels=8, kernel_size=(3, 1))
    assert stem.conv.weight.shape == (8, 48, 3, 1)
    assert stem.out_channels == 8
    x = torch.randn(2, 3, 8, 12)
    torch.testing.assert_close(stem(x), _conv(_timm_space_to_depth(x, 4), stem.conv))
    assert stem.extra_repr() == (
        "4, convention='tf', in_channels=3, out_channels=8, kernel_size=(3, 1)"
    )
    assert ps.nn.SpaceToDepthStem((2, 3), in_channels=5).out_channels == 30
    assert ps.nn.SpaceToDepthStem().out_channels is None  # unknown without in_channels
    assert ps.nn.SpaceToDepthStem().conv is None
    assert ps.nn.SpaceToDepthStem(2, dims=3, convention="caffe").extra_repr() == (
        "2, convention='caffe', dims=3"
    )
    for stem in (
        ps.nn.SpaceToDepthStem(4, in_channels=3, out_channels=8, bias=False),
        ps.nn.SpaceToDepthStem((2, 3), convention="torch", in_channels=3),
    ):
        namespace = {"SpaceToDepthStem": ps.nn.SpaceToDepthStem}
        assert repr(eval(f"SpaceToDepthStem({stem.extra_repr()})", namespace)) == repr(stem)


def test_space_to_depth_stem_errors():
    with _raises(
        PixelShuffleError,
        "SpaceToDepthStem(convention='tf'): out_channels=64 needs in_channels (the input's"
        " channel count) to size the convolution from in_channels·4·4 = 16 channels",
    ):
        ps.nn.SpaceToDepthStem(out_channels=64)
    with _raises(
        PixelShuffleError,
        "SpaceToDepthStem(convention='tf'): factor (2, 2) has 2 values but dims=1 has 1"
        " spatial axis; give one int or one per spatial axis",
    ):
        ps.nn.SpaceToDepthStem((2, 2), dims=1)
    with _raises(
        PixelShuffleError,
        "PixelUnshuffle(convention='tf', layout='NCHW'): spatial axis H (axis -2) must be"
        " divisible by 4, got 30 for input shape (1, 3, 30, 32)",
    ):
        ps.nn.SpaceToDepthStem()(torch.zeros(1, 3, 30, 32))


# ------------------------------------------------------- DesubpixelDownsampler


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_desubpixel_downsampler_is_unshuffle_then_conv(rank):
    factors = {1: (3,), 2: (2, 3), 3: (2, 1, 3)}[rank]
    x = torch.randn(2, 2, *(s * f for s, f in zip(SPATIAL[rank], factors)))
    for convention in CONVENTIONS[rank]:
        down = ps.nn.DesubpixelDownsampler(2, 4, factors, convention=convention)
        assert down.conv.weight.shape == (4, 2 * math.prod(factors), *(3,) * rank)
        depth = ps.pixel_unshuffle(x, factors, convention=convention, layout=LAYOUT[rank])
        y = down(x)
        assert y.shape == (2, 4, *SPATIAL[rank])
        torch.testing.assert_close(y, _conv(depth, down.conv), rtol=0, atol=0)


def test_desubpixel_downsampler_ports_between_conventions_by_permuting_input_channels():
    x = torch.randn(2, 2, 8, 15)
    source = ps.nn.DesubpixelDownsampler(2, 3, (2, 3), kernel_size=1, convention="torch")
    for convention in ("tf", "caffe", "hcw"):
        target = ps.nn.DesubpixelDownsampler(2, 3, (2, 3), kernel_size=1, convention=convention)
        target.load_state_dict(source.state_dict())
        assert not torch.allclose(target(x), source(x))
        p = torch.from_numpy(ps.channel_permutation(12, (2, 3), src="torch", dst=convention))
        with torch.no_grad():
            target.conv.weight.copy_(source.conv.weight[:, p])
        torch.testing.assert_close(target(x), source(x))


def test_desubpixel_downsampler_repr_and_errors():
    down = ps.nn.DesubpixelDownsampler(3, 16, 3, 5, convention="tensorflow", dims=1, bias=False)
    assert down.extra_repr() == (
        "3, 16, factor=3, kernel_size=5, convention='tf', dims=1, bias=False"
    )
    namespace = {"DesubpixelDownsampler": ps.nn.DesubpixelDownsampler}
    assert repr(eval(f"DesubpixelDownsampler({down.extra_repr()})", namespace)) == repr(down)
    assert down(torch.zeros(2, 3, 12)).shape == (2, 16, 4)
    with _raises(
        PixelShuffleTypeError,
        "DesubpixelDownsampler(convention='torch'): out_channels must be a positive int, got"
        " NoneType None",
    ):
        ps.nn.DesubpixelDownsampler(3, None, 2)
    with _raises(
        PixelShuffleError,
        "DesubpixelDownsampler(convention='caffe'): in_channels must be a positive int, got -1",
    ):
        ps.nn.DesubpixelDownsampler(-1, 4, 2, convention="caffe")
