"""Every bad input gets the library's own exception, with wording pinned here.

Messages name the operation, convention and layout, the expectation and what was
received, with numbers (design.md §3).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import pixelshuffle as ps
from pixelshuffle import PixelShuffleError, PixelShuffleTypeError


def _raises(error, message):
    return pytest.raises(error, match="^" + re.escape(message) + "$")


def test_exception_classes():
    assert issubclass(PixelShuffleError, ValueError)
    assert issubclass(PixelShuffleTypeError, PixelShuffleError)
    assert issubclass(PixelShuffleTypeError, TypeError)
    assert PixelShuffleError.__module__ == "pixelshuffle"
    assert PixelShuffleTypeError.__module__ == "pixelshuffle"


def test_channels_not_divisible():
    with _raises(
        PixelShuffleError,
        "pixel_shuffle(convention='tf', layout='NHWC'): channel axis (axis -1) must be"
        " divisible by 3·3 = 9, got 12 for input shape (2, 5, 7, 12)",
    ):
        ps.pixel_shuffle(np.zeros((2, 5, 7, 12)), 3, convention="tf", layout="NHWC")


def test_channels_not_divisible_suggests_the_other_layout():
    with _raises(
        PixelShuffleError,
        "pixel_shuffle(convention='torch', layout='NCHW'): channel axis (axis -3) must be"
        " divisible by 2·3 = 6, got 5 for input shape (1, 5, 7, 12); axis -1 (12) is, did"
        " you mean layout='NHWC'?",
    ):
        ps.pixel_shuffle(np.zeros((1, 5, 7, 12)), (2, 3))


def test_one_dimensional_factor_message():
    with _raises(
        PixelShuffleError,
        "pixel_shuffle(convention='caffe', layout='NCL'): channel axis (axis -2) must be"
        " divisible by 3, got 4 for input shape (4, 10)",
    ):
        ps.pixel_shuffle(np.zeros((4, 10)), 3, convention="caffe", layout="NCL")


def test_spatial_not_divisible():
    with _raises(
        PixelShuffleError,
        "pixel_unshuffle(convention='torch', layout='NCHW'): spatial axis W (axis -1) must"
        " be divisible by 3, got 7 for input shape (1, 2, 6, 7)",
    ):
        ps.pixel_unshuffle(np.zeros((1, 2, 6, 7)), (2, 3))
    with _raises(
        PixelShuffleError,
        "pixel_unshuffle(convention='tf', layout='NDHWC'): spatial axis D (axis -4) must"
        " be divisible by 2, got 3 for input shape (3, 4, 4, 1)",
    ):
        ps.pixel_unshuffle(np.zeros((3, 4, 4, 1)), 2, convention="tf", layout="NDHWC")


def test_wrong_rank():
    with _raises(
        PixelShuffleError,
        "pixel_shuffle(convention='torch', layout='NCHW'): input must have at least 3"
        " dimensions (C, H, W) for layout 'NCHW', got 2 with shape (4, 5); for 1-D data use"
        " layout='NCL'",
    ):
        ps.pixel_shuffle(np.zeros((4, 5)), 2)
    with _raises(
        PixelShuffleError,
        "pixel_unshuffle(convention='tf', layout='NDHWC'): input must have at least 4"
        " dimensions (D, H, W, C) for layout 'NDHWC', got 1 with shape (4,)",
    ):
        ps.pixel_unshuffle(np.zeros(4), 2, convention="tf", layout="NDHWC")


def test_unknown_convention():
    with _raises(
        PixelShuffleError,
        "pixel_shuffle(convention='pytoch', layout='NCHW'): unknown convention 'pytoch';"
        " expected a preset ('torch', 'tf', 'caffe'), an alias ('pytorch', 'crd',"
        " 'onnx_crd', 'paddle', 'depth_first', 'tensorflow', 'tflite', 'dcr', 'onnx_dcr',"
        " 'blocks_first', 'realsr') or an order string of 'c' and the spatial axis letters"
        " such as 'chw' or 'hwc'; did you mean 'pytorch'?",
    ):
        ps.pixel_shuffle(np.zeros((1, 4, 1, 1)), 2, convention="pytoch")


@pytest.mark.parametrize(
    ("convention", "layout", "message"),
    [
        (
            "chx",
            "NCHW",
            "order string 'chx' has the letter 'x', which is neither 'c' nor a"
            " spatial axis letter (d, h, w, l)",
        ),
        ("chh", "NCHW", "order string 'chh' repeats the letter 'h'; each digit appears once"),
        (
            "hw",
            "NCHW",
            "order string 'hw' has no channel digit 'c'; write where the channel"
            " digit goes, e.g. 'chw' or 'hwc'",
        ),
        (
            "ch",
            "NCHW",
            "order string 'ch' does not fit layout 'NCHW': it misses 'w'; an"
            " order for 'NCHW' uses 'c' and 'h', 'w' once each, e.g. 'chw'",
        ),
        (
            "cdhw",
            "NCHW",
            "order string 'cdhw' does not fit layout 'NCHW': it has 'd' that"
            " layout 'NCHW' lacks; an order for 'NCHW' uses 'c' and 'h', 'w' once each, e.g."
            " 'chw'",
        ),
        (
            "cl",
            "NCW",
            "order string 'cl' does not fit layout 'NCW': it has 'l' that layout"
            " 'NCW' lacks and misses 'w'; an order for 'NCW' uses 'c' and 'w' once each, e.g."
            " 'cw'",
        ),
    ],
)
def test_bad_order_strings(convention, layout, message):
    x = np.zeros((1, 4, 2, 2))
    with _raises(
        PixelShuffleError, f"pixel_shuffle(convention={convention!r}, layout={layout!r}): {message}"
    ):
        ps.pixel_shuffle(x, 2, convention=convention, layout=layout)


def test_unknown_layout():
    with _raises(
        PixelShuffleError,
        "pixel_shuffle(convention='torch', layout='CHW'): unknown layout 'CHW'; expected one"
        " of NCL, NLC, NCW, NWC, NCHW, NHWC, NCDHW, NDHWC; batch axes are implicit, so"
        " layout='NCHW' also accepts arrays without a batch axis",
    ):
        ps.pixel_shuffle(np.zeros((4, 2, 2)), 2, layout="CHW")
    with pytest.raises(PixelShuffleError, match=re.escape("name the axes, e.g. 'NCHW'")):
        ps.pixel_shuffle(np.zeros((4, 2, 2)), 2, layout="channels_last")
    with _raises(
        PixelShuffleTypeError,
        "pixel_shuffle(convention='torch', layout=4): layout must be a string such as"
        " 'NCHW', got int 4",
    ):
        ps.pixel_shuffle(np.zeros((4, 2, 2)), 2, layout=4)


@pytest.mark.parametrize(
    ("factor", "error", "message"),
    [
        (
            2.0,
            PixelShuffleTypeError,
            "factor must be a positive int or a tuple of them, got float 2.0",
        ),
        (
            True,
            PixelShuffleTypeError,
            "factor must be a positive int or a tuple of them, got bool True",
        ),
        (
            np.bool_(True),
            PixelShuffleTypeError,
            "factor must be a positive int or a tuple of them, got bool True",
        ),
        (
            "2",
            PixelShuffleTypeError,
            "factor must be a positive int or a tuple of them, got str '2'",
        ),
        (
            None,
            PixelShuffleTypeError,
            "factor must be a positive int or a tuple of them, got NoneType None",
        ),
        (0, PixelShuffleError, "factor must be positive, got 0"),
        (-2, PixelShuffleError, "factor must be positive, got -2"),
        ((2, 0), PixelShuffleError, "factor must be positive, got 0 in factor (2, 0)"),
        (
            (2, 1.5),
            PixelShuffleTypeError,
            "factor must be a positive int or a tuple of them, got float 1.5 in factor (2, 1.5)",
        ),
        (
            (2, 3, 4),
            PixelShuffleError,
            "factor (2, 3, 4) has 3 values but layout 'NCHW' has 2 spatial axes (H, W);"
            " give one int or one per axis",
        ),
        (
            (2,),
            PixelShuffleError,
            "factor (2,) has 1 value but layout 'NCHW' has 2 spatial axes (H, W);"
            " give one int or one per axis",
        ),
    ],
)
def test_bad_factors(factor, error, message):
    with _raises(error, f"pixel_shuffle(convention='torch', layout='NCHW'): {message}"):
        ps.pixel_shuffle(np.zeros((1, 4, 2, 2)), factor)


def test_numpy_integer_factors_are_fine():
    x = np.arange(18).reshape(1, 18, 1, 1)
    np.testing.assert_array_equal(ps.pixel_shuffle(x, np.int64(3)), ps.pixel_shuffle(x, 3))
    np.testing.assert_array_equal(ps.pixel_shuffle(x, [3, 3]), ps.pixel_shuffle(x, (3, 3)))


def test_wrong_input_type():
    with _raises(
        PixelShuffleTypeError,
        "pixel_shuffle: expected an array (numpy.ndarray, torch.Tensor, jax.Array, tf.Tensor"
        " or an array with shape, reshape and transpose), got builtins.list; wrap it with"
        " numpy.asarray(...)",
    ):
        ps.pixel_shuffle([[[1.0]]], 1)


def test_bad_convention_type():
    with _raises(
        PixelShuffleTypeError,
        "pixel_unshuffle(convention=3, layout='NCHW'): convention must be a preset name such"
        " as 'torch' or an order string such as 'chw', got int 3",
    ):
        ps.pixel_unshuffle(np.zeros((1, 1, 2, 2)), 2, convention=3)


def test_convert_and_permutation_errors():
    with _raises(
        PixelShuffleError,
        "convert(src='torch', dst='cdhw', layout='NCHW'): order string 'cdhw' does not fit"
        " layout 'NCHW': it has 'd' that layout 'NCHW' lacks; an order for 'NCHW' uses 'c'"
        " and 'h', 'w' once each, e.g. 'chw'",
    ):
        ps.convert(np.zeros((1, 8, 1, 1)), 2, src="torch", dst="cdhw")
    with _raises(
        PixelShuffleError,
        "channel_permutation(src='tf', dst='caffe', layout='NCHW'): channels must be"
        " divisible by 3·3 = 9, got 10",
    ):
        ps.channel_permutation(10, 3, src="tf", dst="caffe")
    with _raises(
        PixelShuffleTypeError,
        "channel_permutation(src='tf', dst='torch', layout='NCHW'): channels must be a"
        " non-negative int, got float 9.0",
    ):
        ps.channel_permutation(9.0, 3, src="tf", dst="torch")
    with _raises(
        PixelShuffleError,
        "channel_permutation(src='tf', dst='torch', layout='NCHW'): channels must be a"
        " non-negative int, got -9",
    ):
        ps.channel_permutation(-9, 3, src="tf", dst="torch")


def test_errors_leave_input_untouched():
    x = np.arange(12.0).reshape(1, 12, 1, 1)
    before = x.copy()
    with pytest.raises(PixelShuffleError):
        ps.pixel_shuffle(x, 3)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"convention": ["torch"]},
            "convention must be a preset name such as 'torch' or an"
            " order string such as 'chw', got list ['torch']",
        ),
        ({"layout": ["NCHW"]}, "layout must be a string such as 'NCHW', got list ['NCHW']"),
    ],
)
def test_unhashable_arguments_are_library_errors(kwargs, message):
    with pytest.raises(PixelShuffleTypeError, match=re.escape(message)):
        ps.pixel_shuffle(np.zeros((1, 4, 2, 2)), 2, **kwargs)


def test_missing_dst_is_a_type_error():
    message = (
        "convert(src='tf', dst=None, layout='NCHW'): convention must be a preset name such as"
        " 'torch' or an order string such as 'chw', got NoneType None"
    )
    with _raises(PixelShuffleTypeError, message):
        ps.convert(np.zeros((1, 8, 2, 2)), 2, src="tf", dst=None)
    with pytest.raises(PixelShuffleTypeError, match="got NoneType None"):
        ps.channel_permutation(8, 2, src="tf", dst=None)
    with pytest.raises(PixelShuffleTypeError, match="got list"):
        ps.convert(np.zeros((1, 8, 2, 2)), 2, src="tf", dst=["torch"])


def test_layout_whitespace_and_array_factors_are_accepted():
    x = np.arange(24).reshape(1, 2, 3, 4)
    np.testing.assert_array_equal(
        ps.pixel_unshuffle(x, np.array([2, 1]), layout=" nhwc "),
        ps.pixel_unshuffle(x, (2, 1), layout="NHWC"),
    )
