"""Convention parsing: presets, aliases, order strings, equality."""

from __future__ import annotations

import pickle

import pytest

import pixelshuffle as ps


@pytest.mark.parametrize(
    ("alias", "preset"),
    [
        ("torch", "torch"),
        ("pytorch", "torch"),
        ("crd", "torch"),
        ("ONNX_CRD", "torch"),
        ("paddle", "torch"),
        ("depth_first", "torch"),
        ("tf", "tf"),
        ("tensorflow", "tf"),
        ("DCR", "tf"),
        ("onnx_dcr", "tf"),
        ("tflite", "tf"),
        ("blocks_first", "tf"),
        ("caffe", "caffe"),
        ("RealSR", "caffe"),
    ],
)
def test_aliases(alias, preset):
    assert ps.Convention(alias) == ps.Convention(preset)
    assert ps.Convention(alias).spec == preset
    assert ps.Convention(alias).is_preset


@pytest.mark.parametrize(
    ("convention", "layout", "order"),
    [
        ("torch", "NCHW", "chw"),
        ("torch", "NHWC", "chw"),
        ("torch", "NCL", "cl"),
        ("torch", "NWC", "cw"),
        ("torch", "NDHWC", "cdhw"),
        ("tf", "NCHW", "hwc"),
        ("tf", "NHWC", "hwc"),
        ("tf", "NCW", "wc"),
        ("tf", "NCDHW", "dhwc"),
        ("caffe", "NCHW", "cwh"),
        ("caffe", "NLC", "cl"),
        ("caffe", "NCDHW", "cwhd"),
        ("hcw", "NHWC", "hcw"),
        ("WHC", "nchw", "whc"),
    ],
)
def test_order_for(convention, layout, order):
    assert ps.Convention(convention).order_for(layout) == order


def test_order_strings_are_not_presets():
    chw = ps.Convention("chw")
    assert not chw.is_preset
    assert chw != ps.Convention("torch")
    assert chw.equivalent("torch", layout="NCHW")
    assert not chw.equivalent("caffe", layout="NCHW")
    assert ps.Convention("caffe").equivalent("torch", layout="NCL")


def test_onnx_modes():
    assert ps.Convention("torch").onnx_mode() == "CRD"
    assert ps.Convention("tf").onnx_mode("NHWC") == "DCR"
    assert ps.Convention("hwc").onnx_mode() == "DCR"
    assert ps.Convention("caffe").onnx_mode() is None
    assert ps.Convention("tf").onnx_mode("NCDHW") is None


def test_value_semantics():
    convention = ps.Convention("realsr")
    assert repr(convention) == "Convention('caffe')"
    assert str(convention) == "caffe"
    assert pickle.loads(pickle.dumps(convention)) == convention
    assert len({ps.Convention("tf"), ps.Convention("dcr"), ps.Convention("torch")}) == 2
    assert ps.Convention(convention) == convention
    with pytest.raises(AttributeError):
        convention._spec = "torch"


def test_convention_objects_work_in_ops():
    import numpy as np

    x = np.arange(18).reshape(18, 1, 1)
    np.testing.assert_array_equal(
        ps.pixel_shuffle(x, 3, convention=ps.Convention("tf")),
        ps.pixel_shuffle(x, 3, convention="tensorflow"),
    )
