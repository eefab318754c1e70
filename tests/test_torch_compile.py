"""torch.compile (static and dynamic shapes, no graph breaks), torch.export, and TorchScript."""

from __future__ import annotations

import pytest

import pixelshuffle as ps

from .conftest import require

torch = require("torch")

pytestmark = pytest.mark.frameworks

LAYERS = [
    ("up-tf", lambda: ps.nn.PixelShuffle(3, convention="tf"), (2, 18, 4, 5), (3, 18, 6, 7)),
    ("up-caffe-2x3", lambda: ps.nn.PixelShuffle((2, 3), convention="caffe"), (2, 12, 4, 5),
     (1, 12, 3, 2)),
    ("down-torch", lambda: ps.nn.PixelUnshuffle(3), (2, 2, 6, 9), (3, 2, 12, 3)),
    ("down-tf-nhwc", lambda: ps.nn.PixelUnshuffle(2, convention="tf", layout="NHWC"),
     (2, 4, 6, 3), (1, 8, 2, 3)),
    ("up-ncl", lambda: ps.nn.PixelShuffle(3, convention="torch", layout="NCL"), (2, 6, 5),
     (4, 6, 7)),
    ("up-ndhwc", lambda: ps.nn.PixelShuffle((2, 1, 2), convention="dhwc", layout="NDHWC"),
     (1, 2, 3, 2, 8), (2, 1, 2, 3, 8)),
]  # fmt: skip
IDS = [case[0] for case in LAYERS]


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize(("name", "make", "shape", "other_shape"), LAYERS, ids=IDS)
def test_compiled_module_equals_eager(name, make, shape, other_shape, dynamic):
    layer = make()
    # fullgraph=True turns any graph break into an error
    compiled = torch.compile(layer, fullgraph=True, dynamic=dynamic)
    for size in (shape, other_shape):  # another batch and spatial size must not crash
        x = torch.randn(size)
        assert torch.equal(compiled(x), layer(x))


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
def test_compiled_function_and_backward(dynamic):
    def model(x, weight):
        up = ps.pixel_shuffle(x, (3, 2), convention="tf")
        return ps.pixel_unshuffle(up * weight, (3, 2), convention="caffe")

    compiled = torch.compile(model, fullgraph=True, dynamic=dynamic)
    for batch, height, width in [(2, 4, 5), (3, 2, 7)]:
        x = torch.randn(batch, 12, height, width, requires_grad=True)
        weight = torch.randn(batch, 2, 3 * height, 2 * width)
        expected = model(x, weight)
        (grad_expected,) = torch.autograd.grad(expected.sum(), x)
        result = compiled(x, weight)
        (grad,) = torch.autograd.grad(result.sum(), x)
        assert torch.equal(result, expected)
        assert torch.equal(grad, grad_expected)


def test_compiled_channels_last_stays_channels_last():
    layer = ps.nn.PixelShuffle(3, convention="caffe")
    x = torch.randn(2, 18, 4, 5).contiguous(memory_format=torch.channels_last)
    result = torch.compile(layer, fullgraph=True)(x)
    assert torch.equal(result, layer(x))
    assert result.is_contiguous(memory_format=torch.channels_last)


def test_compiled_out_argument():
    def into(x, out):
        return ps.pixel_shuffle(x, 3, convention="tf", out=out)

    x = torch.randn(2, 18, 4, 5)
    out = torch.empty(2, 2, 12, 15)
    torch.compile(into, fullgraph=True)(x, out)
    assert torch.equal(out, ps.pixel_shuffle(x, 3, convention="tf"))


def test_compile_reports_library_errors():
    layer = ps.nn.PixelShuffle(3, convention="tf")
    with pytest.raises(Exception, match=r"must be divisible by 3·3 = 9, got 10"):
        torch.compile(layer, fullgraph=True)(torch.zeros(1, 10, 2, 2))


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 2 * 9, 3, padding=1),
        ps.nn.PixelShuffle(3, convention="tf"),
        torch.nn.Conv2d(2, 4, 3, padding=1),
        ps.nn.PixelUnshuffle((2, 3), convention="caffe"),
    ).eval()


def test_torch_export_with_dynamic_shapes():
    model = _model()
    batch = torch.export.Dim("batch", max=64)
    height = torch.export.Dim("height", max=512)
    width = torch.export.Dim("width", max=512)
    # PixelUnshuffle((2, 3)) after ×3 needs an even height: say so with 2·Dim
    program = torch.export.export(
        model,
        (torch.randn(2, 3, 4, 5),),
        dynamic_shapes=({0: batch, 2: 2 * height, 3: width},),
    )
    # a plain aten graph: portable to any runtime that has reshape/permute/clone
    targets = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert not any("pixelshuffle" in target for target in targets)
    for shape in [(2, 3, 4, 5), (3, 3, 6, 7)]:
        x = torch.randn(shape)
        assert torch.equal(program.module()(x), model(x))


def test_torch_export_keeps_gradients_correct():
    model = torch.nn.Sequential(ps.nn.PixelShuffle(2, convention="caffe"))
    program = torch.export.export(model, (torch.randn(1, 8, 3, 5),))
    x = torch.randn(1, 8, 3, 5, requires_grad=True)
    weight = torch.randn(1, 2, 6, 10)
    (program.module()(x) * weight).sum().backward()
    assert torch.equal(x.grad, ps.pixel_unshuffle(weight, 2, convention="caffe"))


def test_jit_trace_works():
    model = _model()
    traced = torch.jit.trace(model, (torch.randn(2, 3, 4, 5),))
    x = torch.randn(2, 3, 4, 5)
    assert torch.equal(traced(x), model(x))
    assert not traced.graph.findAllNodes("prim::PythonOp")  # runs without Python


def test_jit_script_raises_a_library_error_naming_the_alternatives():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 9, 1), ps.nn.PixelShuffle(3))
    with pytest.raises(
        ps.PixelShuffleError,
        match=r"^PixelShuffle: torch\.jit\.script cannot compile this module .*"
        r"use torch\.export\.export, torch\.compile or torch\.jit\.trace",
    ):
        torch.jit.script(model)


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
def test_compiled_functions_plan_without_warnings_or_recompiles(dynamic, recwarn):
    def model(x):
        up = ps.pixel_shuffle(x, (5, 7), convention=ps.Convention("wch"))
        return ps.pixel_unshuffle(up, (5, 7), convention="caffe")

    x = torch.randn(2, 70, 3, 2)
    # cold: nothing planned for factor (5, 7) yet, and a Convention built in the trace
    cold = torch.compile(model, fullgraph=True, dynamic=dynamic)(x)
    expected = model(x)
    assert torch.equal(cold, expected)

    # warm: the compiled code looks its plan up; plans added later by other calls must
    # not make it recompile
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, dynamic=dynamic)
    assert torch.equal(compiled(x), expected)
    ps.pixel_shuffle(torch.randn(1, 4, 1, 1), (2, 1), convention="whc")
    ps.pixel_unshuffle(torch.randn(1, 4, 4, 1), 2, convention="hcw", layout="NHWC")
    with torch._dynamo.config.patch(error_on_recompile=True):
        assert torch.equal(compiled(x), expected)
    assert not [w for w in recwarn.list if "lru_cache" in str(w.message)]
