"""``out=`` with PyTorch tensors: any memory format or strides, and library errors for a
wrong shape, dtype or device, overlapping memory, or autograd."""

from __future__ import annotations

import numpy as np
import pytest

import pixelshuffle as ps

from .conftest import require
from .test_out import INPUT_SHAPES, OPS

torch = require("torch")

pytestmark = pytest.mark.frameworks


@pytest.mark.parametrize(("name", "op"), OPS, ids=[name for name, _ in OPS])
@pytest.mark.parametrize("out_format", ["contiguous", "channels_last", "strided"])
def test_torch_out(name, op, out_format):
    x = torch.arange(float(np.prod(INPUT_SHAPES[name]))).reshape(INPUT_SHAPES[name])
    expected = op(x)
    if out_format == "contiguous":
        out = torch.full(expected.shape, -1.0)
    elif out_format == "channels_last":
        out = torch.full(expected.shape, -1.0).contiguous(memory_format=torch.channels_last)
    else:
        out = torch.full((*expected.shape[:-1], 3 * expected.shape[-1]), -1.0)[..., ::3]
    assert op(x, out=out) is out
    assert torch.equal(out, expected)
    if out_format == "channels_last":
        assert out.is_contiguous(memory_format=torch.channels_last)


def test_torch_out_with_channels_last_input():
    x = torch.randn(2, 18, 4, 5).contiguous(memory_format=torch.channels_last)
    out = torch.empty(2, 2, 12, 15)
    ps.pixel_shuffle(x, 3, convention="tf", out=out)
    assert torch.equal(out, ps.pixel_shuffle(x.contiguous(), 3, convention="tf"))


def test_torch_out_errors():
    x = torch.zeros(2, 18, 4, 5)
    where = r"^pixel_shuffle\(convention='torch', layout='NCHW'\): "
    cases = [
        (
            torch.zeros(2, 2, 12, 14),
            r"out must have the result's shape \(2, 2, 12, 15\), got \(2, 2, 12, 14\)",
        ),
        (
            torch.zeros(2, 2, 12, 15, dtype=torch.float64),
            "out must have the input's dtype torch.float32, got torch.float64",
        ),
        (
            torch.zeros(2, 2, 12, 15, device="meta"),
            "out must be on the input's device cpu, got meta",
        ),
        (
            torch.zeros(1, 1, 1, 1).expand(2, 2, 12, 15),
            r"out has elements that share memory \(strides \(0, 0, 0, 0\)",
        ),
    ]
    for out, message in cases:
        with pytest.raises(ps.PixelShuffleError, match=where + message):
            ps.pixel_shuffle(x, 3, out=out)
    with pytest.raises(ps.PixelShuffleTypeError, match=where + "out must be a torch.Tensor"):
        ps.pixel_shuffle(x, 3, out=np.zeros((2, 2, 12, 15), np.float32))


def test_torch_out_must_not_overlap_the_input():
    storage = torch.arange(2000.0)
    x = storage[:360].view(1, 18, 4, 5)
    before = x.clone()
    with pytest.raises(ps.PixelShuffleError, match="out must not share memory with the input"):
        ps.pixel_shuffle(x, 3, out=storage[300:660].view(1, 2, 12, 15))
    assert torch.equal(x, before)
    # the same storage, disjoint bytes: allowed
    ps.pixel_shuffle(x, 3, out=storage[360:720].view(1, 2, 12, 15))
    assert torch.equal(storage[360:720].view(1, 2, 12, 15), ps.pixel_shuffle(x, 3))


def test_torch_out_refuses_autograd():
    x = torch.zeros(1, 9, 2, 2, requires_grad=True)
    with pytest.raises(ps.PixelShuffleError, match=r"out= does not support autograd"):
        ps.pixel_shuffle(x, 3, out=torch.empty(1, 1, 6, 6))
    with torch.no_grad():
        ps.pixel_shuffle(x, 3, out=torch.empty(1, 1, 6, 6))
