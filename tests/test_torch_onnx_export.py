"""torch.onnx.export of the nn modules: onnxruntime reproduces PyTorch's numbers, and the
graph uses ONNX's own DepthToSpace/SpaceToDepth wherever ONNX has the op, otherwise one
Reshape → Transpose → Reshape. Both exporters: the default (dynamo) and ``dynamo=False``."""

from __future__ import annotations

import io
import warnings
from collections import Counter

import numpy as np
import pytest

import pixelshuffle as ps

from .conftest import require

torch = require("torch")
onnx = require("onnx")
ort = require("onnxruntime")
require("onnxscript")  # the default (dynamo) exporter translates through onnxscript

pytestmark = [
    pytest.mark.frameworks,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

NATIVE = "native"
REARRANGE = "rearrange"

CASES = [
    # (id, layer, input shape, expected graph)
    ("up-tf", ps.nn.PixelShuffle(3, convention="tf"), (2, 18, 4, 5), ("DepthToSpace", "DCR")),
    ("up-torch", ps.nn.PixelShuffle(3), (2, 18, 4, 5), ("DepthToSpace", "CRD")),
    ("up-tf-2", ps.nn.PixelShuffle(2, convention="tf"), (1, 12, 3, 5), ("DepthToSpace", "DCR")),
    ("down-tf", ps.nn.PixelUnshuffle(3, convention="tf"), (2, 2, 12, 15), ("SpaceToDepth", None)),
    ("down-torch", ps.nn.PixelUnshuffle(3), (2, 2, 12, 15), REARRANGE),
    ("up-caffe", ps.nn.PixelShuffle(3, convention="caffe"), (2, 18, 4, 5), REARRANGE),
    ("down-caffe", ps.nn.PixelUnshuffle(2, convention="caffe"), (2, 3, 4, 6), REARRANGE),
    ("up-tf-3x2", ps.nn.PixelShuffle((3, 2), convention="tf"), (2, 12, 4, 5), REARRANGE),
    ("up-tf-nhwc", ps.nn.PixelShuffle(3, convention="tf", layout="NHWC"), (2, 4, 5, 18),
     REARRANGE),
    ("down-tf-nhwc", ps.nn.PixelUnshuffle(2, convention="tf", layout="NHWC"), (2, 4, 6, 3),
     REARRANGE),
    ("up-torch-ncl", ps.nn.PixelShuffle(3, layout="NCL"), (2, 6, 5), REARRANGE),
    ("up-tf-ncdhw", ps.nn.PixelShuffle(2, convention="tf", layout="NCDHW"), (1, 16, 2, 3, 2),
     REARRANGE),
    ("up-whc", ps.nn.PixelShuffle(3, convention="whc"), (2, 18, 4, 5), REARRANGE),
]  # fmt: skip
IDS = [case[0] for case in CASES]

DYNAMO_OPSETS = [18, 20]  # torch's dynamo exporter starts at opset 18
TORCHSCRIPT_OPSETS = [13, 17, 20]


def export(model, x, *, dynamo: bool, opset: int):
    """The exported ONNX model, with a dynamic batch axis."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            program = torch.onnx.export(
                model,
                (x,),
                dynamo=True,
                opset_version=opset,
                dynamic_shapes=({0: torch.export.Dim("batch", max=64)},),
                verbose=False,
            )
            return program.model_proto
        buffer = io.BytesIO()
        torch.onnx.export(
            model,
            (x,),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
        )
        return onnx.load_from_string(buffer.getvalue())


def run(model_proto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(
        model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def check_graph(model_proto, expected) -> None:
    nodes = model_proto.graph.node
    ops = Counter(node.op_type for node in nodes)
    if expected == REARRANGE:
        # shape arithmetic aside (the TorchScript exporter computes dynamic shapes with
        # Shape/Gather/...), the data moves through one Reshape, Transpose, Reshape
        assert ops["Transpose"] == 1, ops
        assert ops["Reshape"] == 2, ops
        assert not ops["DepthToSpace"]
        assert not ops["SpaceToDepth"]
        return
    op_type, mode = expected
    assert [node.op_type for node in nodes] == [op_type], ops
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute}
    assert attributes["blocksize"] in (2, 3)
    if mode is None:
        assert "mode" not in attributes
    else:
        assert attributes["mode"] == mode.encode()


@pytest.mark.parametrize(("dynamo", "opset"), [
    *((True, opset) for opset in DYNAMO_OPSETS),
    *((False, opset) for opset in TORCHSCRIPT_OPSETS),
], ids=lambda v: str(v))  # fmt: skip
@pytest.mark.parametrize(("name", "layer", "shape", "expected"), CASES, ids=IDS)
def test_export_runs_in_onnxruntime_with_native_nodes(name, layer, shape, expected, dynamo, opset):
    x = torch.randn(shape)
    model_proto = export(layer, x, dynamo=dynamo, opset=opset)
    check_graph(model_proto, expected)
    for batch in (shape[0], 3):  # the batch axis stays dynamic
        sample = torch.randn(batch, *shape[1:])
        np.testing.assert_array_equal(run(model_proto, sample.numpy()), layer(sample).numpy())


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_channels_last_input_exports_without_extra_transposes(dynamo):
    layer = ps.nn.PixelShuffle(3, convention="tf")
    x = torch.randn(2, 18, 4, 5).contiguous(memory_format=torch.channels_last)
    model_proto = export(layer, x, dynamo=dynamo, opset=18)
    check_graph(model_proto, ("DepthToSpace", "DCR"))
    np.testing.assert_array_equal(run(model_proto, x.contiguous().numpy()), layer(x).numpy())


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float64, torch.uint8])
def test_export_keeps_dtypes(dynamo, dtype):
    layer = ps.nn.PixelShuffle(2, convention="tf")
    x = (torch.arange(2 * 12 * 3 * 5) % 251).reshape(2, 12, 3, 5).to(dtype)
    model_proto = export(layer, x, dynamo=dynamo, opset=18)
    np.testing.assert_array_equal(run(model_proto, x.numpy()), layer(x).numpy())


class _SuperResolution(torch.nn.Module):
    """The acceptance model: Conv2d → PixelShuffle(3, tf) → Conv2d."""

    def __init__(self) -> None:
        super().__init__()
        self.head = torch.nn.Conv2d(3, 4 * 9, 3, padding=1)
        self.shuffle = ps.nn.PixelShuffle(3, convention="tf")
        self.tail = torch.nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, x):
        return self.tail(self.shuffle(self.head(x)))


@pytest.mark.parametrize("opset", range(13, 21))
@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_super_resolution_model_exports_one_dcr_node_and_no_transpose(dynamo, opset):
    torch.manual_seed(0)
    model = _SuperResolution().eval()
    x = torch.randn(2, 3, 5, 7)
    # torch's dynamo exporter builds opset 18 and converts down; where ONNX's converter
    # cannot (13 and 14 here) it keeps 18. The TorchScript exporter writes what is asked.
    model_proto = export(model, x, dynamo=dynamo, opset=opset)
    (written,) = (o.version for o in model_proto.opset_import if o.domain == "")
    assert written == opset or (dynamo and opset < 18 and written == 18)
    ops = Counter(node.op_type for node in model_proto.graph.node)
    assert ops["DepthToSpace"] == 1
    assert ops["Transpose"] == 0
    (node,) = (node for node in model_proto.graph.node if node.op_type == "DepthToSpace")
    assert {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute} == {
        "blocksize": 3,
        "mode": b"DCR",
    }
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(run(model_proto, x.numpy()), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC", "NCL", "NDHWC"])
@pytest.mark.parametrize("direction", ["shuffle", "unshuffle", "convert"])
@pytest.mark.parametrize("convention", ["torch", "tf", "caffe"])
def test_the_size_free_form_used_while_tracing_equals_the_op(layout, direction, convention):
    from pixelshuffle._ops import prepare
    from pixelshuffle._torch import _rearrange_without_sizes

    from . import oracle

    rank = len(layout) - 2
    factors = {1: (3,), 2: (3, 2), 3: (2, 1, 3)}[rank]
    dst = "tf" if convention != "tf" else "caffe"
    prepared = prepare("test", direction, factors, convention, layout, dst)
    depth, coarse = 2 * int(np.prod(factors)), {1: (4,), 2: (2, 3), 3: (2, 2, 1)}[rank]
    if direction == "unshuffle":
        depth, coarse = 2, tuple(c * f for c, f in zip(coarse, factors))
    shape = (2, *coarse, depth) if layout.endswith("C") else (2, depth, *coarse)
    x = torch.arange(int(np.prod(shape))).reshape(shape)
    order = oracle.preset_order(convention, layout)
    expected = {
        "shuffle": lambda: oracle.shuffle(x.numpy(), factors, order, layout),
        "unshuffle": lambda: oracle.unshuffle(x.numpy(), factors, order, layout),
        "convert": lambda: ps.convert(x, factors, src=convention, dst=dst, layout=layout).numpy(),
    }[direction]()
    np.testing.assert_array_equal(_rearrange_without_sizes(x, prepared.plan).numpy(), expected)


def test_acceptance_trains_compiles_exports_and_runs_in_onnxruntime():
    """Conv2d → PixelShuffle(3, tf) → Conv2d: trains, compiles with fullgraph=True,
    exports with torch.export and to ONNX (one DCR DepthToSpace, no Transpose), and
    onnxruntime reproduces its output."""
    torch.manual_seed(0)
    model = _SuperResolution()
    images = torch.rand(4, 3, 6, 5)
    target = torch.nn.functional.interpolate(images, scale_factor=3, mode="bilinear")
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(images), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]

    model.eval()
    x = torch.randn(2, 3, 5, 7)
    with torch.no_grad():
        expected = model(x)
        torch._dynamo.reset()
        torch.testing.assert_close(torch.compile(model, fullgraph=True)(x), expected)
        program = torch.export.export(model, (x,))
        torch.testing.assert_close(program.module()(x), expected)
    for dynamo in (True, False):
        model_proto = export(model, x, dynamo=dynamo, opset=18)
        ops = Counter(node.op_type for node in model_proto.graph.node)
        assert ops["DepthToSpace"] == 1
        assert ops["Transpose"] == 0
        np.testing.assert_allclose(run(model_proto, x.numpy()), expected.numpy(), atol=1e-5)
