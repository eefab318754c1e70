"""convert_model: every supported producer/consumer pattern, rank and pair of conventions
gives a model that computes what the original computed; everything else is refused,
by name, before anything changes."""

from __future__ import annotations

import math

import pytest

import pixelshuffle as ps

from .conftest import require
from .test_porting import CONV, CONV_T, FACTORS, LAYOUT, _seeded, conventions, pairs

torch = require("torch")
nn = torch.nn
F = nn.functional

pytestmark = pytest.mark.frameworks

BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


def _input(rank, channels, coarse_factor=1, factors=None):
    sizes = {1: (5,), 2: (4, 3), 3: (2, 3, 2)}[rank]
    if factors is not None:
        sizes = tuple(s * f for s, f in zip(sizes, factors))
    generator = torch.Generator().manual_seed(2)
    return torch.randn(2, channels, *sizes, dtype=torch.float64, generator=generator)


def _producer_model(rank, src, pattern):
    factors, layout = FACTORS[rank], LAYOUT[rank]
    depth = 2 * math.prod(factors)
    if pattern == "conv-bn-relu":
        layers = [CONV[rank](3, depth, 3, padding=1), BN[rank](depth), nn.ReLU()]
    else:  # "convtranspose-prelu"
        layers = [CONV_T[rank](3, depth, 3, padding=1), nn.PReLU(depth)]
    shuffle = ps.nn.PixelShuffle(factors, convention=src, layout=layout)
    return _seeded(nn.Sequential(*layers, shuffle, CONV[rank](2, 3, 3, padding=1))).eval()


def _consumer_model(rank, src, pattern):
    factors, layout = FACTORS[rank], LAYOUT[rank]
    depth = 2 * math.prod(factors)
    unshuffle = ps.nn.PixelUnshuffle(factors, convention=src, layout=layout)
    if pattern == "bn-conv":
        tail = [BN[rank](depth), nn.SiLU(), CONV[rank](depth, 4, 3, padding=1)]
    else:  # "convtranspose"
        tail = [CONV_T[rank](depth, 4, 3, padding=1)]
    return _seeded(nn.Sequential(CONV[rank](3, 2, 1), unshuffle, *tail)).eval()


@pytest.mark.parametrize(("rank", "src", "dst"), pairs())
@pytest.mark.parametrize("pattern", ["conv-bn-relu", "convtranspose-prelu"])
def test_upsampling_models_keep_their_outputs(rank, src, dst, pattern):
    model = _producer_model(rank, src, pattern)
    x = _input(rank, 3)
    expected = model(x)
    ported = ps.convert_model(model, dst)
    torch.testing.assert_close(ported(x), expected, rtol=1e-12, atol=1e-12)
    assert torch.equal(model(x), expected)  # inplace=False left the original alone
    shuffle = ported[-2]
    assert ps.Convention(dst).equivalent(
        getattr(shuffle, "convention", "torch"), layout=LAYOUT[rank]
    )


@pytest.mark.parametrize(("rank", "src", "dst"), pairs())
@pytest.mark.parametrize("pattern", ["bn-conv", "convtranspose"])
def test_downsampling_models_keep_their_outputs(rank, src, dst, pattern):
    model = _consumer_model(rank, src, pattern)
    x = _input(rank, 3, factors=FACTORS[rank])
    expected = model(x)
    ported = ps.convert_model(model, dst)
    torch.testing.assert_close(ported(x), expected, rtol=1e-12, atol=1e-12)


def test_tensorflow_order_becomes_native_pytorch_modules():
    model = nn.Sequential(
        nn.Conv2d(3, 2 * 9, 3, padding=1),
        ps.nn.PixelShuffle(3, convention="tf"),
        nn.Conv2d(2, 3 * 16, 3, padding=1),
        nn.ReLU(),
        ps.nn.PixelUnshuffle(4, convention="tf"),
        nn.Conv2d(3 * 16 * 16, 5, 1),
    ).double()
    x = torch.randn(1, 3, 8, 4, dtype=torch.float64)
    expected = model(x)
    ported = ps.convert_model(model, "torch")
    assert type(ported[1]) is nn.PixelShuffle
    assert type(ported[4]) is ps.nn.PixelUnshuffle or type(ported[4]) is nn.PixelUnshuffle
    torch.testing.assert_close(ported(x), expected, rtol=1e-12, atol=1e-12)
    kept = ps.convert_model(model, "torch", native=False)
    assert type(kept[1]) is ps.nn.PixelShuffle
    assert kept[1].convention == "torch"


def test_pytorch_shuffles_become_tensorflow_order():
    model = nn.Sequential(nn.Conv2d(3, 4 * 4, 3, padding=1), nn.PixelShuffle(2)).double()
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    expected = model(x)
    ported = ps.convert_model(model, "tf")
    assert repr(ported[1]) == "PixelShuffle(2, convention='tf', layout='NCHW')"
    # a convolution's output channels in another order may round differently (oneDNN
    # blocks them by position: 3e-16 apart on AMD Zen 4); the shuffles themselves are exact
    torch.testing.assert_close(ported(x), expected, rtol=1e-12, atol=1e-12)
    channels = ported[0](x)  # in tf order
    in_torch_order = channels[:, ps.channel_permutation(16, 2, src="tf", dst="torch")]
    assert torch.equal(ported[1](channels), nn.functional.pixel_shuffle(in_torch_order, 2))


def test_custom_forward_with_functional_activations_and_scalars():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2 * 6, 3, padding=1)
            self.shuffle = ps.nn.PixelShuffle((3, 2), convention="caffe")
            self.down = ps.nn.PixelUnshuffle((3, 2), convention="caffe")
            self.head = nn.Conv2d(12, 3, 1)

        def forward(self, x):
            y = self.shuffle(F.leaky_relu(self.conv(x), 0.1) * 0.5 + 1.0)
            return self.head(torch.tanh(self.down(y)))

    model = _seeded(Block())
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    expected = model(x)
    ported = ps.convert_model(model, "tf")
    torch.testing.assert_close(ported(x), expected, rtol=1e-12, atol=1e-12)
    assert ported.shuffle.convention == "tf"


def test_inplace_changes_the_model_itself():
    model = _producer_model(2, "tf", "conv-bn-relu")
    x = _input(2, 3)
    expected = model(x)
    assert ps.convert_model(model, "torch", inplace=True) is model
    torch.testing.assert_close(model(x), expected, rtol=1e-12, atol=1e-12)


class _SkipConnection(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(18, 18, 3, padding=1)
        self.shuffle = ps.nn.PixelShuffle(3, convention="tf")

    def forward(self, x):
        y = self.conv(x)
        return self.shuffle(y), y.mean()


class _InputShuffle(nn.Module):
    def __init__(self):
        super().__init__()
        self.shuffle = ps.nn.PixelShuffle(3, convention="tf")

    def forward(self, x):
        return self.shuffle(x)


class _TwiceCalled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(18, 18, 1)
        self.shuffle = ps.nn.PixelShuffle(3, convention="tf")

    def forward(self, x):
        return self.shuffle(self.conv(x)), self.conv(x)


class _DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(18, 18, 1)
        self.shuffle = ps.nn.PixelShuffle(3, convention="tf")

    def forward(self, x):
        if x.sum() > 0:
            x = -x
        return self.shuffle(self.conv(x))


REFUSALS = [
    (
        "skip-connection",
        _SkipConnection,
        r"shuffle 'shuffle': the output of 'conv' \(Conv2d\) also feeds 'shuffle'"
        r" \(PixelShuffle\), \.mean\(\) \(mean\), which would see permuted channels",
    ),
    ("model-input", _InputShuffle, r"shuffle 'shuffle' reads the model's input 'x'"),
    ("called-twice", _TwiceCalled, r"shuffle 'shuffle': 'conv' \(Conv2d\) is called 2 times"),
    ("untraceable", _DataDependent, r"torch.fx cannot trace _DataDependent"),
    (
        "linear-producer",
        lambda: nn.Sequential(
            nn.Linear(4, 72), nn.Unflatten(1, (18, 2, 2)), ps.nn.PixelShuffle(3, convention="tf")
        ),
        r"shuffle '2' is fed by '1' \(Unflatten\), which is not a Conv\*d or ConvTranspose\*d"
        r" and does not treat channels independently; port the layer that produces its"
        r" channels with pixelshuffle\.nn\.permute_outputs_",
    ),
    (
        "mixing-groups",
        lambda: nn.Sequential(
            nn.Conv2d(4, 18, 3, groups=2), ps.nn.PixelShuffle(3, convention="tf")
        ),
        r"'0' \(Conv2d\) has 2 groups, and the permutation moves channel 10 to 5, out of its"
        r" group of 9",
    ),
    (
        "concatenation",
        lambda: _Concat(),
        r"shuffle 'shuffle' is fed by cat\(\) \(cat\), which is not a Conv\*d",
    ),
    (
        "shared-weights",
        lambda: _Shared(),
        r"'a' and 'b' share a parameter",
    ),
]


class _Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 9, 1)
        self.b = nn.Conv2d(3, 9, 1)
        self.shuffle = ps.nn.PixelShuffle(3, convention="tf")

    def forward(self, x):
        return self.shuffle(torch.cat([self.a(x), self.b(x)], 1))


class _Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 18, 1)
        self.b = nn.Conv2d(3, 18, 1)
        self.b.weight = self.a.weight
        self.shuffle = ps.nn.PixelShuffle(3, convention="tf")

    def forward(self, x):
        return self.shuffle(self.a(x) + 0.0), self.b(x)


@pytest.mark.parametrize(("name", "make", "message"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_name_the_layer_and_change_nothing(name, make, message):
    model = make()
    state = {key: value.clone() for key, value in model.state_dict().items()}
    with pytest.raises(ps.PixelShuffleError, match=r"^convert_model\(dst='torch'\): " + message):
        ps.convert_model(model, "torch", inplace=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key])


def test_refuses_what_is_not_a_module():
    with pytest.raises(
        ps.PixelShuffleTypeError, match=r"expected a torch\.nn\.Module, got builtins\.int"
    ):
        ps.convert_model(3, "torch")
    with pytest.raises(
        ps.PixelShuffleError, match=r"^convert_model\(dst='xyz'\): unknown convention"
    ):
        ps.convert_model(nn.Identity(), "xyz")


def test_every_convention_round_trips_through_every_other():
    model = _producer_model(2, "torch", "conv-bn-relu")
    x = _input(2, 3)
    expected = model(x)
    for dst in conventions(2):
        model = ps.convert_model(model, dst)
        torch.testing.assert_close(model(x), expected, rtol=1e-12, atol=1e-12)
