"""Arrays of frameworks the library has no dedicated backend for."""

from __future__ import annotations

import numpy as np

import pixelshuffle as ps

from . import oracle


class DuckArray:
    """An array of some other framework: NumPy-style shape, reshape and transpose only."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def reshape(self, shape):
        return DuckArray(self.data.reshape(shape))

    def transpose(self, perm):
        return DuckArray(self.data.transpose(perm))

    def copy(self):
        return DuckArray(self.data.copy())


class _Namespace:
    """A minimal array-API namespace over NumPy."""

    @staticmethod
    def reshape(x, shape):
        return ArrayAPIArray(np.reshape(x.data, shape))

    @staticmethod
    def permute_dims(x, axes):
        return ArrayAPIArray(np.transpose(x.data, axes))

    @staticmethod
    def asarray(x, copy=None):
        return ArrayAPIArray(np.array(x.data, copy=copy))


class ArrayAPIArray:
    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.shape = data.shape

    def __array_namespace__(self, api_version=None):
        return _Namespace


def test_duck_array():
    x = np.arange(2 * 18 * 2 * 3).reshape(2, 18, 2, 3)
    result = ps.pixel_shuffle(DuckArray(x), (3, 2), convention="caffe")
    assert isinstance(result, DuckArray)
    np.testing.assert_array_equal(result.data, oracle.shuffle(x, (3, 2), "cwh", "NCHW"))
    same = ps.pixel_unshuffle(DuckArray(x), 1)
    assert same.data is not x
    assert not np.shares_memory(same.data, x)


def test_array_api_array():
    x = np.arange(3 * 4 * 6 * 2).reshape(3, 4, 6, 2)
    result = ps.pixel_unshuffle(ArrayAPIArray(x), 2, convention="tf", layout="NHWC")
    assert isinstance(result, ArrayAPIArray)
    np.testing.assert_array_equal(result.data, oracle.unshuffle(x, (2, 2), "hwc", "NHWC"))


def test_numpy_subclass_keeps_its_type():
    x = np.ma.masked_array(np.arange(18.0).reshape(1, 18, 1, 1))
    result = ps.pixel_shuffle(x, 3, convention="tf")
    assert isinstance(result, np.ma.MaskedArray)
    np.testing.assert_array_equal(result.data, oracle.shuffle(x.data, (3, 3), "hwc", "NCHW"))


def test_generic_arrays_never_alias_on_degenerate_shapes():
    x = np.arange(4.0).reshape(1, 1, 4, 1)  # the unshuffle below is a pure transposed view
    for wrapped in (DuckArray(x), ArrayAPIArray(x)):
        result = ps.pixel_unshuffle(wrapped, (2, 1))
        np.testing.assert_array_equal(result.data[0, :, :, 0], [[0, 2], [1, 3]])
        assert not np.shares_memory(result.data, x)
