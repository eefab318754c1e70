"""Porting weights between conventions: permute_channels, feature_permutation and the
PyTorch layer functions. A ported producer (or consumer) with the destination shuffle
computes what the original computed with the source shuffle."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pixelshuffle as ps

from .conftest import require

torch = require("torch")
nn = torch.nn

pytestmark = pytest.mark.frameworks

ORDER_STRINGS = {1: "lc", 2: "whc", 3: "hdcw"}  # an order no 2-D/3-D preset has
LAYOUT = {1: "NCL", 2: "NCHW", 3: "NCDHW"}
FACTORS = {1: (3,), 2: (3, 2), 3: (2, 3, 2)}
COARSE = {1: (5,), 2: (4, 3), 3: (2, 3, 2)}
CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def conventions(rank):
    return ["torch", "tf", "caffe", ORDER_STRINGS[rank]]


def pairs():
    return [
        (rank, src, dst)
        for rank in (1, 2, 3)
        for src in conventions(rank)
        for dst in conventions(rank)
        if src != dst
    ]


def _seeded(module):
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, tensor in (*module.named_parameters(), *module.named_buffers()):
            if tensor.is_floating_point():
                values = torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype)
                # running variances must stay positive
                tensor.copy_(values.abs() + 0.5 if name.endswith("var") else values)
    return module.double()


@pytest.mark.parametrize(("rank", "src", "dst"), pairs())
@pytest.mark.parametrize("kind", ["conv", "conv-transpose"])
def test_producer_outputs(rank, src, dst, kind):
    factors, layout, channels = FACTORS[rank], LAYOUT[rank], 2
    depth = channels * math.prod(factors)
    maker = CONV[rank] if kind == "conv" else CONV_T[rank]
    layer = _seeded(maker(3, depth, 3, padding=1))
    x = torch.randn(2, 3, *COARSE[rank], dtype=torch.float64)
    expected = ps.pixel_shuffle(layer(x), factors, convention=src, layout=layout)
    ps.nn.permute_outputs_(layer, factors, src=src, dst=dst, layout=layout)
    result = ps.pixel_shuffle(layer(x), factors, convention=dst, layout=layout)
    # each output channel is computed as before, but oneDNN may block the channels by
    # position and round a sum differently (3e-16 apart for 1-D convs on AMD Zen 4)
    torch.testing.assert_close(result, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("rank", "src", "dst"), pairs())
@pytest.mark.parametrize("kind", ["conv", "conv-transpose"])
def test_consumer_inputs(rank, src, dst, kind):
    factors, layout = FACTORS[rank], LAYOUT[rank]
    depth = 2 * math.prod(factors)
    maker = CONV[rank] if kind == "conv" else CONV_T[rank]
    layer = _seeded(maker(depth, 4, 3, padding=1))
    size = tuple(c * f for c, f in zip(COARSE[rank], factors))
    x = torch.randn(2, 2, *size, dtype=torch.float64)
    expected = layer(ps.pixel_unshuffle(x, factors, convention=src, layout=layout))
    ps.nn.permute_inputs_(layer, factors, src=src, dst=dst, layout=layout)
    result = layer(ps.pixel_unshuffle(x, factors, convention=dst, layout=layout))
    # the sum over input channels runs in another order: equal to float64 rounding
    torch.testing.assert_close(result, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("src", "dst"), [("tf", "torch"), ("torch", "caffe"), ("whc", "tf")])
def test_per_channel_layers_between_producer_and_shuffle(src, dst):
    depth = 2 * 9
    layers = [
        nn.Conv2d(3, depth, 3, padding=1),
        nn.BatchNorm2d(depth),
        nn.PReLU(depth),
        nn.InstanceNorm2d(depth, affine=True, track_running_stats=True),
    ]
    block = _seeded(nn.Sequential(*layers)).eval()
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    expected = ps.pixel_shuffle(block(x), 3, convention=src)
    for layer in block:
        ps.nn.permute_outputs_(layer, 3, src=src, dst=dst)
    torch.testing.assert_close(
        ps.pixel_shuffle(block(x), 3, convention=dst), expected, rtol=1e-12, atol=1e-12
    )


def test_group_norm_and_grouped_convolutions_where_groups_are_kept():
    # torch -> caffe only reorders the offsets inside each channel's block of 9: groups
    # of 9 (or of 18) stay whole, so grouped layers can be ported
    depth = 2 * 9
    block = _seeded(
        nn.Sequential(nn.Conv2d(4, depth, 3, padding=1, groups=2), nn.GroupNorm(2, depth))
    )
    x = torch.randn(2, 4, 4, 5, dtype=torch.float64)
    expected = ps.pixel_shuffle(block(x), 3, convention="torch")
    for layer in block:
        ps.nn.permute_outputs_(layer, 3, src="torch", dst="caffe")
    torch.testing.assert_close(
        ps.pixel_shuffle(block(x), 3, convention="caffe"), expected, rtol=1e-12, atol=1e-12
    )
    consumer = _seeded(nn.Conv2d(depth, 4, 1, groups=2))
    y = torch.randn(2, 2, 6, 9, dtype=torch.float64)
    expected = consumer(ps.pixel_unshuffle(y, 3, convention="torch"))
    ps.nn.permute_inputs_(consumer, 3, src="torch", dst="caffe")
    torch.testing.assert_close(
        consumer(ps.pixel_unshuffle(y, 3, convention="caffe")), expected, rtol=1e-12, atol=0
    )


def test_grouped_layers_that_would_mix_groups_are_refused():
    conv = nn.Conv2d(4, 18, 3, groups=2)
    before = conv.weight.detach().clone()
    with pytest.raises(
        ps.PixelShuffleError,
        match=r"^permute_outputs_\(src='tf', dst='torch', layout='NCHW'\): Conv2d has groups=2,"
        r" and the permutation moves channel \d+ to \d+, out of its group of 9",
    ):
        ps.nn.permute_outputs_(conv, 3, src="tf", dst="torch")
    assert torch.equal(conv.weight, before)
    depthwise = nn.Conv2d(18, 18, 3, groups=18)
    with pytest.raises(ps.PixelShuffleError, match="groups=18"):
        ps.nn.permute_inputs_(depthwise, 3, src="tf", dst="torch")
    with pytest.raises(
        ps.PixelShuffleError,
        match="GroupNorm has num_groups=2, and the permutation moves channel 10 to 5",
    ):
        ps.nn.permute_outputs_(nn.GroupNorm(2, 18), 3, src="tf", dst="torch")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize(("src", "dst"), [("tf", "torch"), ("caffe", "whc")])
def test_linear_feeding_a_reshape_and_reading_a_flatten(layout, src, dst):
    features_shape = (18, 2, 3) if layout == "NCHW" else (2, 3, 18)
    producer = _seeded(nn.Linear(5, 108))
    x = torch.randn(4, 5, dtype=torch.float64)

    def shuffled(linear):
        depth = linear(x).reshape(4, *features_shape)
        return depth

    expected = ps.pixel_shuffle(shuffled(producer), 3, convention=src, layout=layout)
    ps.nn.permute_outputs_(
        producer, 3, src=src, dst=dst, layout=layout, features_shape=features_shape
    )
    assert torch.equal(
        ps.pixel_shuffle(shuffled(producer), 3, convention=dst, layout=layout), expected
    )

    consumer = _seeded(nn.Linear(108, 7))
    image = torch.randn(4, 6, 9, 2, dtype=torch.float64)
    if layout == "NCHW":
        image = image.permute(0, 3, 1, 2)
    expected = consumer(ps.pixel_unshuffle(image, 3, convention=src, layout=layout).flatten(1))
    ps.nn.permute_inputs_(
        consumer, 3, src=src, dst=dst, layout=layout, features_shape=features_shape
    )
    result = consumer(ps.pixel_unshuffle(image, 3, convention=dst, layout=layout).flatten(1))
    torch.testing.assert_close(result, expected, rtol=1e-12, atol=1e-12)


def test_permute_channels_on_arrays_of_every_framework_and_keras_layouts():
    # a Keras Conv2D kernel is (kh, kw, in, out): the producer's channels are axis -1
    kernel = np.random.default_rng(0).standard_normal((3, 3, 4, 18))
    ported = ps.permute_channels(kernel, 3, src="tf", dst="torch", axis=-1)
    p = ps.channel_permutation(18, 3, src="tf", dst="torch")
    np.testing.assert_array_equal(ported, kernel[..., p])
    tensor = torch.from_numpy(kernel)
    assert torch.equal(
        ps.permute_channels(tensor, 3, src="tf", dst="torch", axis=-1), tensor[..., p]
    )
    assert not np.shares_memory(ported, kernel)


def test_feature_permutation_is_the_channel_permutation_on_flat_features():
    p = ps.channel_permutation(18, 3, src="tf", dst="caffe")
    flat = ps.feature_permutation((18, 2, 2), 3, src="tf", dst="caffe")
    np.testing.assert_array_equal(flat.reshape(18, 4)[:, 0] // 4, p)
    last = ps.feature_permutation((2, 2, 18), 3, src="tf", dst="caffe", layout="NHWC")
    np.testing.assert_array_equal(last.reshape(4, 18)[0], p)


def test_errors_name_the_call_and_the_numbers():
    where = r"^permute_channels\(src='tf', dst='torch', layout='NCHW'\): "
    with pytest.raises(ps.PixelShuffleError, match=where + r"axis 4 \(10\): channels must be"):
        ps.permute_channels(np.zeros((1, 1, 1, 1, 10)), 3, src="tf", dst="torch", axis=4)
    with pytest.raises(
        ps.PixelShuffleError, match=where + r"axis 2 is out of range for an array of shape \(4, 9\)"
    ):
        ps.permute_channels(np.zeros((4, 9)), 3, src="tf", dst="torch", axis=2)
    with pytest.raises(
        ps.PixelShuffleTypeError, match=r"cannot port the outputs of a Softmax; supported layers"
    ):
        ps.nn.permute_outputs_(nn.Softmax(1), 3, src="tf", dst="torch")
    with pytest.raises(ps.PixelShuffleError, match=r"a Linear layer needs features_shape"):
        ps.nn.permute_outputs_(nn.Linear(3, 18), 3, src="tf", dst="torch")
    with pytest.raises(
        ps.PixelShuffleError, match=r"features_shape \(9, 2\) holds 18 features, but"
    ):
        ps.nn.permute_outputs_(nn.Linear(3, 36), 3, src="tf", dst="torch", features_shape=(9, 2))
    with pytest.raises(
        ps.PixelShuffleTypeError, match=r"expected a torch.nn.Module, got numpy.ndarray"
    ):
        ps.nn.permute_outputs_(np.zeros(3), 3, src="tf", dst="torch")
