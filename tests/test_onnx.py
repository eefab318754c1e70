"""pixel_shuffle / pixel_unshuffle against ONNX's own DepthToSpace and SpaceToDepth.

Each ONNX model is one node, built with ``onnx.helper``, validated by
``onnx.checker`` and run by two independent runners: onnxruntime (CPU) and
``onnx.reference.ReferenceEvaluator``.

Mode ↔ convention (design.md §2): ``DCR`` (the default of both ops, and the only
order of ``SpaceToDepth`` before opset 28) is ``tf``; ``CRD`` is ``torch``.

Inputs tell conventions apart (design.md §5): several output channels (never equal to
the block size), block sizes 2 and 3, non-square spatial sizes, batch 2 and distinct
values; ``test_inputs_tell_modes_apart`` proves it. ONNX is NCHW only, so channels-last
inputs are transposed to NCHW for ONNX and back.

A runner that rejects a combination beyond the baseline (opset 13, float32) is skipped
with its own error message; the baseline never skips.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import pixelshuffle as ps

from .conftest import require

onnx = require("onnx")
onnx_reference = require("onnx.reference")
ort = require("onnxruntime")
ort_state = require("onnxruntime.capi.onnxruntime_pybind11_state")

pytestmark = pytest.mark.frameworks

RUNNERS = ("onnxruntime", "reference")
BLOCKSIZES = (2, 3)
# Output channels per block size: >= 2 and never equal to the block size.
CHANNELS = {2: 3, 3: 2}
BATCH = 2
COARSE_HW = (2, 5)  # the depth side's (H, W): non-square
BASELINE_OPSET = 13  # the opset every runner must support for float32
MODE_OPSET = 28  # SpaceToDepth gained `mode` here; DepthToSpace got a new version too

CONVENTION = {"DCR": "tf", "CRD": "torch", None: "tf"}  # None: attribute omitted

# (op, opset, mode); mode None omits the attribute, so the op's default (DCR) applies.
CASES = [
    ("DepthToSpace", BASELINE_OPSET, "DCR"),
    ("DepthToSpace", BASELINE_OPSET, "CRD"),
    ("DepthToSpace", BASELINE_OPSET, None),
    ("DepthToSpace", MODE_OPSET, "DCR"),
    ("DepthToSpace", MODE_OPSET, "CRD"),
    ("DepthToSpace", MODE_OPSET, None),
    ("SpaceToDepth", BASELINE_OPSET, None),
    ("SpaceToDepth", MODE_OPSET, "DCR"),
    ("SpaceToDepth", MODE_OPSET, "CRD"),
    ("SpaceToDepth", MODE_OPSET, None),
]

DTYPES = {
    "float32": np.float32,
    "float64": np.float64,
    "float16": np.float16,
    "int64": np.int64,
    "int32": np.int32,
    "int8": np.int8,
    "uint8": np.uint8,
    "bool": np.bool_,
}


def _case_id(op: str, opset: int, mode: str | None) -> str:
    return f"{op}-{mode or 'default'}-opset{opset}"


def _case_params(cases=CASES):
    return [
        pytest.param(op, opset, mode, id=_case_id(op, opset, mode)) for op, opset, mode in cases
    ]


# --------------------------------------------------------------------------- models


@functools.cache
def _model(op: str, opset: int, mode: str | None, blocksize: int, dtype: str):
    """A checked one-node model ``y = op(x)`` on 4-D tensors of `dtype`."""
    if onnx.defs.onnx_opset_version() < opset:
        pytest.skip(
            f"onnx {onnx.__version__} knows opsets up to {onnx.defs.onnx_opset_version()},"
            f" not {opset}"
        )
    elem_type = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(DTYPES[dtype]))
    attributes = {"blocksize": blocksize}
    if mode is not None:
        attributes["mode"] = mode
    node = onnx.helper.make_node(op, ["x"], ["y"], **attributes)
    graph = onnx.helper.make_graph(
        [node],
        f"{op}_{mode or 'default'}_{blocksize}",
        [onnx.helper.make_tensor_value_info("x", elem_type, ["N", "C", "H", "W"])],
        [onnx.helper.make_tensor_value_info("y", elem_type, ["N", "C_out", "H_out", "W_out"])],
    )
    opset_imports = [onnx.helper.make_opsetid("", opset)]
    model = onnx.helper.make_model(
        graph,
        opset_imports=opset_imports,
        # The lowest IR version that carries this opset: what the widest range of
        # onnxruntime releases accepts (onnxruntime 1.32 reads IR <= 14).
        ir_version=onnx.helper.find_min_ir_version_for(opset_imports),
    )
    onnx.checker.check_model(model, full_check=True)
    return model


@functools.cache
def _session(runner: str, op: str, opset: int, mode: str | None, blocksize: int, dtype: str):
    model = _model(op, opset, mode, blocksize, dtype)
    if runner == "onnxruntime":
        return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return onnx_reference.ReferenceEvaluator(model)


# What a runner raises when it does not implement an op version, a dtype or an attribute.
_REJECTIONS = (
    ort_state.NotImplemented,
    ort_state.InvalidGraph,
    ort_state.Fail,
    ort_state.InvalidArgument,
    NotImplementedError,
)


def _run_onnx(runner, op, opset, mode, blocksize, x):
    """Run the ONNX op on NCHW `x`; skip a combination the runner rejects, beyond the baseline."""
    dtype = x.dtype.name
    try:
        session = _session(runner, op, opset, mode, blocksize, dtype)
    except _REJECTIONS as error:
        if opset == BASELINE_OPSET and dtype == "float32":
            raise
        reason = str(error).strip().splitlines()[0]
        attribute = f"mode={mode}" if mode else "mode omitted"
        pytest.skip(f"{runner} rejects {op}(opset {opset}, {attribute}) on {dtype}: {reason}")
    (y,) = session.run(None, {"x": np.ascontiguousarray(x)})
    return np.asarray(y)


# --------------------------------------------------------------------------- inputs


def _values(shape, dtype: str) -> np.ndarray:
    """Distinct values where the dtype can hold them; a fixed mixed pattern otherwise."""
    n = math.prod(shape)
    if dtype == "bool":
        values = np.random.default_rng(0).integers(0, 2, n).astype(bool)
    elif dtype in ("int8", "uint8"):
        values = (np.arange(n) % (127 if dtype == "int8" else 251)).astype(DTYPES[dtype])
    else:
        values = np.arange(n).astype(DTYPES[dtype])
    return values.reshape(shape)


def _input(op: str, blocksize: int, dtype: str = "float32", layout: str = "NCHW", batch=(BATCH,)):
    """The op's input: depth (C·b², H, W) for DepthToSpace, space (C, H·b, W·b) otherwise."""
    channels = CHANNELS[blocksize]
    height, width = COARSE_HW
    if op == "DepthToSpace":
        c, h, w = channels * blocksize**2, height, width
    else:
        c, h, w = channels, height * blocksize, width * blocksize
    trailing = (h, w, c) if layout == "NHWC" else (c, h, w)
    return _values((*batch, *trailing), dtype)


def _library(op, x, blocksize, convention, layout="NCHW"):
    function = ps.pixel_shuffle if op == "DepthToSpace" else ps.pixel_unshuffle
    return function(x, blocksize, convention=convention, layout=layout)


def _assert_same(result, expected):
    assert type(result) is np.ndarray
    assert result.dtype == expected.dtype
    assert result.shape == expected.shape
    np.testing.assert_array_equal(result, expected)


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("blocksize", BLOCKSIZES, ids=lambda b: f"b{b}")
@pytest.mark.parametrize(("op", "opset", "mode"), _case_params())
def test_nchw_matches_onnx(op, opset, mode, blocksize, runner):
    x = _input(op, blocksize)
    expected = _run_onnx(runner, op, opset, mode, blocksize, x)
    _assert_same(_library(op, x, blocksize, CONVENTION[mode]), expected)


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("blocksize", BLOCKSIZES, ids=lambda b: f"b{b}")
@pytest.mark.parametrize(("op", "opset", "mode"), _case_params())
def test_nhwc_matches_onnx_through_transposes(op, opset, mode, blocksize, runner):
    x = _input(op, blocksize, layout="NHWC")
    expected = _run_onnx(runner, op, opset, mode, blocksize, x.transpose(0, 3, 1, 2))
    expected = np.ascontiguousarray(expected.transpose(0, 2, 3, 1))
    _assert_same(_library(op, x, blocksize, CONVENTION[mode], layout="NHWC"), expected)


DTYPE_CASES = [
    ("DepthToSpace", BASELINE_OPSET, "DCR"),
    ("DepthToSpace", BASELINE_OPSET, "CRD"),
    ("SpaceToDepth", BASELINE_OPSET, None),
    ("DepthToSpace", MODE_OPSET, "DCR"),
    ("DepthToSpace", MODE_OPSET, "CRD"),
    ("SpaceToDepth", MODE_OPSET, "DCR"),
    ("SpaceToDepth", MODE_OPSET, "CRD"),
]


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("dtype", [name for name in DTYPES if name != "float32"])
@pytest.mark.parametrize(("op", "opset", "mode"), _case_params(DTYPE_CASES))
def test_dtypes_match_onnx(op, opset, mode, dtype, runner):
    blocksize = 3
    x = _input(op, blocksize, dtype)
    expected = _run_onnx(runner, op, opset, mode, blocksize, x)
    assert expected.dtype == x.dtype
    _assert_same(_library(op, x, blocksize, CONVENTION[mode]), expected)


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("batch", [(), (2, 1)], ids=["no-batch", "batch2x1"])
@pytest.mark.parametrize(
    ("op", "opset", "mode"),
    _case_params(
        [
            ("DepthToSpace", BASELINE_OPSET, "DCR"),
            ("DepthToSpace", BASELINE_OPSET, "CRD"),
            ("SpaceToDepth", BASELINE_OPSET, None),
        ]
    ),
)
def test_batch_axes_match_onnx(op, opset, mode, batch, runner):
    """Any number of batch axes (design.md §2) equals ONNX on the batch flattened to N."""
    blocksize = 3
    x = _input(op, blocksize, batch=batch)
    onnx_output = _run_onnx(runner, op, opset, mode, blocksize, x.reshape(-1, *x.shape[-3:]))
    expected = onnx_output.reshape(*batch, *onnx_output.shape[1:])
    _assert_same(_library(op, x, blocksize, CONVENTION[mode]), expected)


def _guard_params():
    # DepthToSpace at the baseline opset guards float32; opset 28, where onnxruntime
    # implements every dtype and SpaceToDepth has both modes, guards all dtypes.
    yield pytest.param("DepthToSpace", BASELINE_OPSET, "float32", id="DepthToSpace-opset13-float32")
    for op in ("DepthToSpace", "SpaceToDepth"):
        for dtype in DTYPES:
            yield pytest.param(op, MODE_OPSET, dtype, id=f"{op}-opset{MODE_OPSET}-{dtype}")


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("blocksize", BLOCKSIZES, ids=lambda b: f"b{b}")
@pytest.mark.parametrize(("op", "opset", "dtype"), list(_guard_params()))
def test_inputs_tell_modes_apart(op, opset, blocksize, dtype, runner):
    """Guard: on these inputs DCR and CRD differ, so the tests above can tell them apart."""
    x = _input(op, blocksize, dtype)
    dcr = _run_onnx(runner, op, opset, "DCR", blocksize, x)
    crd = _run_onnx(runner, op, opset, "CRD", blocksize, x)
    assert dcr.shape == crd.shape
    assert not np.array_equal(dcr, crd)
    assert not np.array_equal(_library(op, x, blocksize, "tf"), _library(op, x, blocksize, "torch"))


def test_space_to_depth_has_no_mode_before_opset_28():
    """Before opset 28 SpaceToDepth is DCR only: the checker rejects a `mode` attribute."""
    node = onnx.helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=2, mode="CRD")
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph(
        [node],
        "space_to_depth_crd_opset13",
        [value("x", onnx.TensorProto.FLOAT, ["N", "C", "H", "W"])],
        [value("y", onnx.TensorProto.FLOAT, ["N", "C_out", "H_out", "W_out"])],
    )
    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", BASELINE_OPSET)], ir_version=7
    )
    with pytest.raises(onnx.checker.ValidationError, match="Unrecognized attribute: mode"):
        onnx.checker.check_model(model)
