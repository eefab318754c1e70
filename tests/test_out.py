"""``out=`` with NumPy arrays: one pass into a preallocated array of any strides, and
clear errors for an ``out`` of the wrong shape or dtype, or one that overlaps the input.
PyTorch's ``out=`` is tested in test_torch_out.py."""

from __future__ import annotations

import numpy as np
import pytest

import pixelshuffle as ps

from . import oracle
from .conftest import require

OPS = [
    ("shuffle", lambda x, **kw: ps.pixel_shuffle(x, (3, 2), convention="caffe", **kw)),
    ("unshuffle", lambda x, **kw: ps.pixel_unshuffle(x, (3, 2), convention="tf", **kw)),
    ("convert", lambda x, **kw: ps.convert(x, (3, 2), src="torch", dst="whc", **kw)),
]
INPUT_SHAPES = {"shuffle": (2, 12, 4, 5), "unshuffle": (2, 2, 12, 10), "convert": (2, 12, 4, 5)}


@pytest.mark.parametrize(("name", "op"), OPS, ids=[name for name, _ in OPS])
def test_numpy_out(name, op):
    x = np.arange(np.prod(INPUT_SHAPES[name]), dtype=np.int16).reshape(INPUT_SHAPES[name])
    expected = op(x)
    out = np.full(expected.shape, -1, dtype=np.int16)
    assert op(x, out=out) is out
    np.testing.assert_array_equal(out, expected)
    # a strided out: every other column of a wider array
    wide = np.full((*expected.shape[:-1], 2 * expected.shape[-1]), -1, dtype=np.int16)
    op(x, out=wide[..., ::2])
    np.testing.assert_array_equal(wide[..., ::2], expected)
    assert (wide[..., 1::2] == -1).all()


def test_numpy_out_matches_the_oracle():
    x = np.arange(2 * 12 * 4 * 5).reshape(2, 4, 5, 12)
    out = np.empty((2, 12, 10, 2), dtype=x.dtype)
    ps.pixel_shuffle(x, (3, 2), convention="hwc", layout="NHWC", out=out)
    np.testing.assert_array_equal(out, oracle.shuffle(x, (3, 2), "hwc", "NHWC"))


def test_numpy_out_errors():
    x = np.zeros((2, 12, 4, 5), dtype=np.float32)
    where = r"^pixel_shuffle\(convention='tf', layout='NCHW'\): "
    with pytest.raises(
        ps.PixelShuffleError,
        match=where + r"out must have the result's shape \(2, 2, 12, 10\), got \(2, 2, 10, 12\)",
    ):
        ps.pixel_shuffle(x, (3, 2), convention="tf", out=np.zeros((2, 2, 10, 12), np.float32))
    with pytest.raises(
        ps.PixelShuffleError, match=where + "out must have the input's dtype float32, got float64"
    ):
        ps.pixel_shuffle(x, (3, 2), convention="tf", out=np.zeros((2, 2, 12, 10)))
    read_only = np.zeros((2, 2, 12, 10), np.float32)
    read_only.flags.writeable = False
    with pytest.raises(ps.PixelShuffleError, match=where + "out must be writeable"):
        ps.pixel_shuffle(x, (3, 2), convention="tf", out=read_only)
    with pytest.raises(ps.PixelShuffleError, match=where + "out must not share memory"):
        ps.pixel_shuffle(x, (3, 2), convention="tf", out=x.reshape(2, 2, 12, 10))
    with pytest.raises(ps.PixelShuffleTypeError, match=where + "out must be a numpy.ndarray"):
        ps.pixel_shuffle(x, (3, 2), convention="tf", out=[0] * 480)
    assert not x.any()  # nothing was written on failure


def test_immutable_arrays_have_no_out():
    jnp = require("jax.numpy")
    x = jnp.zeros((1, 9, 2, 2))
    with pytest.raises(
        ps.PixelShuffleTypeError,
        match=r"out= needs a writeable numpy.ndarray or torch.Tensor input; jax arrays cannot"
        r" be written in place",
    ):
        ps.pixel_shuffle(x, 3, out=np.zeros((1, 1, 6, 6)))
