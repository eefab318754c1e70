"""The article's central example, written out by hand: 27 channels holding k+1, factor 3.

These arrays are the ground truth that PyTorch, TensorFlow and RealSR's Caffe models
produce (design.md §2); they pin each preset to its framework independently of the
oracle and of the library.
"""

from __future__ import annotations

import numpy as np
import pytest

import pixelshuffle as ps

X = (np.arange(27) + 1).reshape(1, 27, 1, 1)

EXPECTED = {
    # PyTorch F.pixel_shuffle, ONNX DepthToSpace CRD
    "torch": [
        [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
        [[10, 11, 12], [13, 14, 15], [16, 17, 18]],
        [[19, 20, 21], [22, 23, 24], [25, 26, 27]],
    ],
    # tf.nn.depth_to_space, ONNX DepthToSpace DCR
    "tf": [
        [[1, 4, 7], [10, 13, 16], [19, 22, 25]],
        [[2, 5, 8], [11, 14, 17], [20, 23, 26]],
        [[3, 6, 9], [12, 15, 18], [21, 24, 27]],
    ],
    # RealSR's Caffe models: column-major blocks
    "caffe": [
        [[1, 4, 7], [2, 5, 8], [3, 6, 9]],
        [[10, 13, 16], [11, 14, 17], [12, 15, 18]],
        [[19, 22, 25], [20, 23, 26], [21, 24, 27]],
    ],
}


@pytest.mark.parametrize("convention", sorted(EXPECTED))
def test_article_example(convention):
    result = ps.pixel_shuffle(X, 3, convention=convention)
    np.testing.assert_array_equal(result[0], EXPECTED[convention])


@pytest.mark.parametrize("convention", sorted(EXPECTED))
def test_article_example_channels_last(convention):
    result = ps.pixel_shuffle(X.reshape(1, 1, 1, 27), 3, convention=convention, layout="NHWC")
    np.testing.assert_array_equal(np.moveaxis(result[0], -1, 0), EXPECTED[convention])


@pytest.mark.parametrize("convention", sorted(EXPECTED))
def test_article_example_backwards(convention):
    image = np.array(EXPECTED[convention])[None]
    np.testing.assert_array_equal(ps.pixel_unshuffle(image, 3, convention=convention), X)


def test_non_square_factor_by_hand():
    # 2 output channels, factor (H=2, W=3): depth channel = digits in convention order
    x = np.arange(12).reshape(12, 1, 1)
    np.testing.assert_array_equal(
        ps.pixel_shuffle(x, (2, 3), convention="torch")[:, :, :],
        [[[0, 1, 2], [3, 4, 5]], [[6, 7, 8], [9, 10, 11]]],
    )
    np.testing.assert_array_equal(
        ps.pixel_shuffle(x, (2, 3), convention="tf"),
        [[[0, 2, 4], [6, 8, 10]], [[1, 3, 5], [7, 9, 11]]],
    )
    np.testing.assert_array_equal(
        ps.pixel_shuffle(x, (2, 3), convention="caffe"),
        [[[0, 2, 4], [1, 3, 5]], [[6, 8, 10], [7, 9, 11]]],
    )
    np.testing.assert_array_equal(
        ps.pixel_shuffle(x, (2, 3), convention="whc"),  # DCR with column-major blocks
        [[[0, 4, 8], [2, 6, 10]], [[1, 5, 9], [3, 7, 11]]],
    )


def test_one_dimensional_by_hand():
    x = np.arange(6).reshape(6, 1)  # 2 channels, factor 3, NCL
    np.testing.assert_array_equal(ps.pixel_shuffle(x, 3, layout="NCL"), [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(
        ps.pixel_shuffle(x, 3, convention="tf", layout="NCL"), [[0, 2, 4], [1, 3, 5]]
    )


def test_three_dimensional_by_hand():
    x = np.arange(8).reshape(8, 1, 1, 1)  # 1 channel, factor 2 on D, H, W
    torch_order = ps.pixel_shuffle(x, 2, layout="NCDHW")[0]
    caffe_order = ps.pixel_shuffle(x, 2, convention="caffe", layout="NCDHW")[0]
    np.testing.assert_array_equal(torch_order, [[[0, 1], [2, 3]], [[4, 5], [6, 7]]])
    np.testing.assert_array_equal(caffe_order, [[[0, 4], [2, 6]], [[1, 5], [3, 7]]])
