"""convert and channel_permutation satisfy their definitions for every pair of conventions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import pixelshuffle as ps

from . import oracle

FACTORS = {1: (3,), 2: (2, 3), 3: (3, 1, 2)}
COARSE = {1: (4,), 2: (2, 3), 3: (1, 2, 2)}


def _conventions(layout):
    return ["torch", "tf", "caffe", *oracle.all_orders(layout)[1::2]]


def _pairs():
    for layout in oracle.ALL_LAYOUTS:
        for src, dst in itertools.product(_conventions(layout), repeat=2):
            yield pytest.param(src, dst, layout, id=f"{layout}-{src}-to-{dst}")


def _order(convention, layout):
    return oracle.preset_order(convention, layout) if convention in ps.PRESETS else convention


def _expected_permutation(channels, factors, src, dst, layout):
    """p[dst index of (c, offsets)] = src index of (c, offsets), from the digit formula."""
    spatial = layout[1:].replace("C", "").lower()
    out_channels = channels // math.prod(factors)
    p = np.empty(channels, dtype=np.int64)
    for c in range(out_channels):
        for offsets in itertools.product(*(range(f) for f in factors)):
            digits = {"c": (c, out_channels), **dict(zip(spatial, zip(offsets, factors)))}

            def index(order, digits=digits):
                value = 0
                for letter in order:
                    digit, radix = digits[letter]
                    value = value * radix + digit
                return value

            p[index(_order(dst, layout))] = index(_order(src, layout))
    return p


@pytest.mark.parametrize(("src", "dst", "layout"), list(_pairs()))
def test_channel_permutation_definition(src, dst, layout):
    rank = len(layout) - 2
    factors = FACTORS[rank]
    channels = 2 * math.prod(factors)
    p = ps.channel_permutation(channels, factors, src=src, dst=dst, layout=layout)
    assert p.dtype == np.int64
    assert p.shape == (channels,)
    np.testing.assert_array_equal(p, _expected_permutation(channels, factors, src, dst, layout))

    trailing = (*COARSE[rank], channels) if layout.endswith("C") else (channels, *COARSE[rank])
    x = np.arange(2 * math.prod(trailing)).reshape(2, *trailing)
    channel_axis = -1 if layout.endswith("C") else -(rank + 1)
    reordered = np.take(x, p, axis=channel_axis)
    np.testing.assert_array_equal(
        ps.pixel_shuffle(x, factors, convention=src, layout=layout),
        ps.pixel_shuffle(reordered, factors, convention=dst, layout=layout),
    )
    converted = ps.convert(x, factors, src=src, dst=dst, layout=layout)
    np.testing.assert_array_equal(converted, reordered)
    assert not np.shares_memory(converted, x)


def test_known_permutations():
    # the weight permutation that ports a TensorFlow-order conv to PyTorch's shuffle
    np.testing.assert_array_equal(
        ps.channel_permutation(8, 2, src="tf", dst="torch"), [0, 2, 4, 6, 1, 3, 5, 7]
    )
    np.testing.assert_array_equal(
        ps.channel_permutation(8, 2, src="torch", dst="caffe"), [0, 2, 1, 3, 4, 6, 5, 7]
    )
    np.testing.assert_array_equal(ps.channel_permutation(18, 3, src="tf", dst="tf"), np.arange(18))
    assert ps.channel_permutation(0, 3, src="tf", dst="torch").shape == (0,)


def test_permutation_inverse_and_composition():
    p_ab = ps.channel_permutation(18, (3, 2), src="torch", dst="tf")
    p_ba = ps.channel_permutation(18, (3, 2), src="tf", dst="torch")
    np.testing.assert_array_equal(p_ab[p_ba], np.arange(18))
    p_bc = ps.channel_permutation(18, (3, 2), src="tf", dst="caffe")
    p_ac = ps.channel_permutation(18, (3, 2), src="torch", dst="caffe")
    np.testing.assert_array_equal(p_ab[p_bc], p_ac)


def test_convert_weight_of_a_producer_layer():
    """Port a conv that feeds a TensorFlow-order shuffle to PyTorch's order."""
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((12, 5))  # (out channels = 3·2·2, in features)
    features = rng.standard_normal((5, 4, 3))  # (in, H, W)
    depth = np.einsum("oi,ihw->ohw", weight, features)
    p = ps.channel_permutation(12, 2, src="tf", dst="torch")
    ported = np.einsum("oi,ihw->ohw", weight[p], features)
    np.testing.assert_allclose(
        ps.pixel_shuffle(depth, 2, convention="tf"), ps.pixel_shuffle(ported, 2, convention="torch")
    )
