"""pixel_shuffle / pixel_unshuffle against the element-wise index oracle (NumPy).

Every convention (presets and every order string) × layout × rank × direction, on
shapes that tell conventions apart: several output channels, factors 2 and 3,
non-square factors and non-square spatial sizes, with and without batch axes.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pixelshuffle as ps

from . import oracle

FACTORS = {1: [(3,), (2,)], 2: [(2, 3), (3, 3), (3, 2)], 3: [(2, 1, 3), (3, 2, 2)]}
COARSE = {1: (5,), 2: (2, 3), 3: (2, 1, 3)}
BATCHES = [(), (2,), (2, 1)]


def _cases():
    for rank, layouts in oracle.LAYOUTS_BY_RANK.items():
        for layout in layouts:
            conventions = ["torch", "tf", "caffe", *oracle.all_orders(layout)]
            for k, (convention, factors) in enumerate(
                itertools.product(conventions, FACTORS[rank])
            ):
                yield pytest.param(
                    layout,
                    convention,
                    factors,
                    BATCHES[k % 3],
                    id=f"{layout}-{convention}-{'x'.join(map(str, factors))}",
                )


def _order(convention: str, layout: str) -> str:
    return oracle.preset_order(convention, layout) if convention in ps.PRESETS else convention


def _depth_input(layout, factors, batch, channels=2):
    coarse = COARSE[len(factors)]
    depth = channels * math.prod(factors)
    trailing = (*coarse, depth) if layout.endswith("C") else (depth, *coarse)
    shape = batch + trailing
    return np.arange(math.prod(shape), dtype=np.int64).reshape(shape)


@pytest.mark.parametrize(("layout", "convention", "factors", "batch"), list(_cases()))
def test_shuffle_matches_oracle(layout, convention, factors, batch):
    x = _depth_input(layout, factors, batch)
    before = x.copy()
    result = ps.pixel_shuffle(x, factors, convention=convention, layout=layout)
    expected = oracle.shuffle(x, factors, _order(convention, layout), layout)
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(x, before)
    assert not np.shares_memory(result, x)


@pytest.mark.parametrize(("layout", "convention", "factors", "batch"), list(_cases()))
def test_unshuffle_matches_oracle(layout, convention, factors, batch):
    coarse = COARSE[len(factors)]
    fine = tuple(s * f for s, f in zip(coarse, factors))
    trailing = (*fine, 2) if layout.endswith("C") else (2, *fine)
    x = np.arange(math.prod(batch + trailing), dtype=np.int64).reshape(batch + trailing)
    before = x.copy()
    result = ps.pixel_unshuffle(x, factors, convention=convention, layout=layout)
    expected = oracle.unshuffle(x, factors, _order(convention, layout), layout)
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(x, before)
    assert not np.shares_memory(result, x)


@pytest.mark.parametrize("layout", oracle.ALL_LAYOUTS)
def test_discriminating_shapes_tell_presets_apart(layout):
    """Guards the suite itself: on these shapes no two presets may agree (beyond 1-D,
    where torch and caffe coincide by definition)."""
    rank = len(layout) - 2
    factors = FACTORS[rank][0]
    x = _depth_input(layout, factors, ())
    outputs = {c: ps.pixel_shuffle(x, factors, convention=c, layout=layout) for c in ps.PRESETS}
    assert not np.array_equal(outputs["torch"], outputs["tf"])
    assert not np.array_equal(outputs["caffe"], outputs["tf"])
    assert np.array_equal(outputs["torch"], outputs["caffe"]) == (rank == 1)


@st.composite
def _problems(draw):
    rank = draw(st.sampled_from([1, 2, 3]))
    layout = draw(st.sampled_from(oracle.LAYOUTS_BY_RANK[rank]))
    factors = tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
    if draw(st.booleans()) and len(set(factors)) == 1:
        factors = factors[0]
    conventions = ["torch", "tf", "caffe", "pytorch", "dcr", "realsr", *oracle.all_orders(layout)]
    convention = draw(st.sampled_from(conventions))
    channels = draw(st.integers(0, 3))
    coarse = tuple(
        draw(st.lists(st.integers(0 if channels else 1, 3), min_size=rank, max_size=rank))
    )
    batch = tuple(draw(st.lists(st.integers(1, 2), max_size=2)))
    dtype = draw(
        st.sampled_from(["bool", "uint8", "int16", "int64", "float16", "float32", "complex64"])
    )
    return layout, factors, convention, channels, coarse, batch, dtype


def _canonical(convention: str) -> str:
    return ps.Convention(convention).spec


@given(_problems())
def test_property_shuffle_and_unshuffle(problem):
    layout, factor, convention, channels, coarse, batch, dtype = problem
    rank = len(layout) - 2
    factors = (factor,) * rank if isinstance(factor, int) else factor
    depth = channels * math.prod(factors)
    trailing = (*coarse, depth) if layout.endswith("C") else (depth, *coarse)
    x = (np.arange(math.prod(batch + trailing)) % 251).astype(dtype).reshape(batch + trailing)
    order = _order(_canonical(convention), layout)

    up = ps.pixel_shuffle(x, factor, convention=convention, layout=layout)
    assert up.dtype == x.dtype
    np.testing.assert_array_equal(up, oracle.shuffle(x, factors, order, layout))

    down = ps.pixel_unshuffle(up, factor, convention=convention, layout=layout)
    np.testing.assert_array_equal(down, oracle.unshuffle(up, factors, order, layout))
    np.testing.assert_array_equal(down, x)


def test_noncontiguous_input():
    base = np.arange(2 * 24 * 5 * 14).reshape(2, 24, 5, 14)
    x = base[:, ::2, :, ::2]  # strided on the channel and width axes
    for convention in ("torch", "tf", "caffe"):
        expected = oracle.shuffle(
            np.ascontiguousarray(x), (3, 2), _order(convention, "NCHW"), "NCHW"
        )
        np.testing.assert_array_equal(ps.pixel_shuffle(x, (3, 2), convention=convention), expected)
    transposed = np.arange(4 * 6 * 9 * 2).reshape(2, 9, 6, 4).transpose(0, 3, 2, 1)  # (2, 4, 6, 9)
    expected = oracle.unshuffle(np.ascontiguousarray(transposed), (2, 3), "hcw", "NCHW")
    np.testing.assert_array_equal(
        ps.pixel_unshuffle(transposed, (2, 3), convention="hcw"), expected
    )


@pytest.mark.parametrize("convention", ["torch", "tf", "caffe"])
def test_factor_one_copies(convention):
    x = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    for op in (ps.pixel_shuffle, ps.pixel_unshuffle):
        y = op(x, 1, convention=convention)
        np.testing.assert_array_equal(y, x)
        assert not np.shares_memory(y, x)
        y[...] = -1
        assert x.min() == 0


def test_zero_size_inputs():
    assert ps.pixel_shuffle(np.zeros((0, 18, 2, 3)), 3, convention="tf").shape == (0, 2, 6, 9)
    assert ps.pixel_shuffle(np.zeros((1, 0, 2, 3)), 3).shape == (1, 0, 6, 9)
    assert ps.pixel_unshuffle(np.zeros((1, 2, 0, 6)), (2, 3), layout="NCHW").shape == (1, 12, 0, 2)
    assert ps.pixel_shuffle(np.zeros((4, 0, 12)), (2, 3), layout="NHWC").shape == (8, 0, 2)


def test_no_batch_axis_equals_batch_of_one():
    x = np.arange(2 * 3 * 18).reshape(2, 3, 18)
    for convention in ("torch", "tf", "caffe"):
        alone = ps.pixel_shuffle(x, 3, convention=convention, layout="NHWC")
        batched = ps.pixel_shuffle(x[None], 3, convention=convention, layout="NHWC")
        np.testing.assert_array_equal(alone, batched[0])
