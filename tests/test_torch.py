"""PyTorch: equality with torch.nn.functional.pixel_shuffle/pixel_unshuffle, memory
formats, dtypes, autograd and the nn modules."""

from __future__ import annotations

import math
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import pixelshuffle as ps

from . import oracle
from .conftest import require

torch = require("torch")
F = torch.nn.functional

pytestmark = pytest.mark.frameworks

DTYPES = [
    torch.bool, torch.uint8, torch.int8, torch.int32, torch.int64, torch.float16,
    torch.bfloat16, torch.float32, torch.float64, torch.complex64,
]  # fmt: skip


def _depth(batch, channels, factor, height=2, width=5, dtype=torch.float32):
    shape = (*batch, channels * factor * factor, height, width)
    values = torch.arange(math.prod(shape)).reshape(shape)
    if dtype == torch.bool:  # an irregular pattern, so that conventions still differ
        return values % 3 == 0
    return (values % 251).to(dtype)


@pytest.mark.parametrize("factor", [2, 3])
@pytest.mark.parametrize("batch", [(), (2,), (2, 3)], ids=["no-batch", "batch", "2-batch-axes"])
def test_shuffle_equals_torch(factor, batch):
    x = _depth(batch, 3, factor)
    torch.testing.assert_close(
        ps.pixel_shuffle(x, factor), F.pixel_shuffle(x, factor), rtol=0, atol=0
    )
    assert not torch.equal(ps.pixel_shuffle(x, factor, convention="tf"), F.pixel_shuffle(x, factor))
    assert not torch.equal(
        ps.pixel_shuffle(x, factor, convention="caffe"), F.pixel_shuffle(x, factor)
    )


@pytest.mark.parametrize("factor", [2, 3])
@pytest.mark.parametrize("batch", [(), (2,), (2, 3)], ids=["no-batch", "batch", "2-batch-axes"])
def test_unshuffle_equals_torch(factor, batch):
    x = torch.arange(math.prod((*batch, 2, 2 * factor, 5 * factor))).reshape(
        *batch, 2, 2 * factor, 5 * factor
    )
    assert torch.equal(ps.pixel_unshuffle(x, factor), F.pixel_unshuffle(x, factor))
    assert not torch.equal(
        ps.pixel_unshuffle(x, factor, convention="tf"), F.pixel_unshuffle(x, factor)
    )
    assert not torch.equal(
        ps.pixel_unshuffle(x, factor, convention="caffe"), F.pixel_unshuffle(x, factor)
    )


@pytest.mark.parametrize(
    ("convention", "order"), [("torch", "chw"), ("tf", "hwc"), ("caffe", "cwh"), ("whc", "whc")]
)
def test_channels_last_memory_format(convention, order):
    x = _depth((2,), 2, 3).contiguous(memory_format=torch.channels_last)
    result = ps.pixel_shuffle(x, 3, convention=convention)
    expected = oracle.shuffle(x.numpy(), (3, 3), order, "NCHW")
    np.testing.assert_array_equal(result.numpy(), expected)
    assert result.is_contiguous(memory_format=torch.channels_last)
    if convention == "torch":
        assert torch.equal(result, F.pixel_shuffle(x, 3))
    back = ps.pixel_unshuffle(result, 3, convention=convention)
    assert torch.equal(back, x)
    assert back.is_contiguous(memory_format=torch.channels_last)
    if convention == "torch":
        assert torch.equal(back, F.pixel_unshuffle(result, 3))


def test_channels_last_3d_memory_format():
    x = torch.arange(2 * 2 * 12 * 2 * 3 * 2).reshape(2, 24, 2, 3, 2).float()
    x = x.contiguous(memory_format=torch.channels_last_3d)
    result = ps.pixel_shuffle(x, (2, 3, 2), convention="caffe", layout="NCDHW")
    assert result.is_contiguous(memory_format=torch.channels_last_3d)
    expected = oracle.shuffle(x.numpy(), (2, 3, 2), "cwhd", "NCDHW")
    np.testing.assert_array_equal(result.numpy(), expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_dtypes_equal_torch(dtype):
    x = _depth((2,), 2, 3, dtype=dtype)
    y = ps.pixel_shuffle(x, 3)
    assert y.dtype == dtype
    assert torch.equal(y, F.pixel_shuffle(x, 3))
    z = ps.pixel_unshuffle(y, 3)
    assert z.dtype == dtype
    assert torch.equal(z, F.pixel_unshuffle(y, 3))


@pytest.mark.parametrize("layout", oracle.ALL_LAYOUTS)
@pytest.mark.parametrize("convention", ["torch", "tf", "caffe"])
def test_torch_equals_numpy_everywhere(layout, convention):
    rank = len(layout) - 2
    factors = {1: (3,), 2: (3, 2), 3: (2, 3, 1)}[rank]
    coarse = {1: (4,), 2: (2, 3), 3: (2, 1, 3)}[rank]
    depth = 2 * math.prod(factors)
    shape = (2, *coarse, depth) if layout.endswith("C") else (2, depth, *coarse)
    x = np.arange(math.prod(shape)).reshape(shape)
    result = ps.pixel_shuffle(torch.from_numpy(x), factors, convention=convention, layout=layout)
    assert isinstance(result, torch.Tensor)
    order = oracle.preset_order(convention, layout)
    np.testing.assert_array_equal(result.numpy(), oracle.shuffle(x, factors, order, layout))
    np.testing.assert_array_equal(
        result.numpy(), ps.pixel_shuffle(x, factors, convention=convention, layout=layout)
    )
    back = ps.pixel_unshuffle(result, factors, convention=convention, layout=layout)
    np.testing.assert_array_equal(back.numpy(), x)


def test_input_is_not_modified_and_output_is_fresh():
    x = _depth((1,), 2, 3)
    before = x.clone()
    for factor in (1, 3):
        y = ps.pixel_shuffle(x, factor, convention="tf")
        y.fill_(-1)
        assert torch.equal(x, before)
    y = ps.pixel_unshuffle(x.contiguous(memory_format=torch.channels_last), 1)
    y.fill_(-1)
    assert torch.equal(x, before)


def test_noncontiguous_input():
    base = torch.arange(2 * 36 * 4 * 10).reshape(2, 36, 4, 10)
    x = base[:, ::2, :, 1::2]  # (2, 18, 4, 5), strided
    assert not x.is_contiguous()
    assert torch.equal(ps.pixel_shuffle(x, 3), F.pixel_shuffle(x.contiguous(), 3))
    expected = oracle.shuffle(x.numpy(), (3, 3), "hwc", "NCHW")
    np.testing.assert_array_equal(ps.pixel_shuffle(x, 3, convention="tf").numpy(), expected)


@pytest.mark.parametrize(
    ("convention", "order"), [("torch", "chw"), ("tf", "hwc"), ("caffe", "cwh"), ("hcw", "hcw")]
)
def test_gradient_is_the_inverse_shuffle(convention, order):
    x = _depth((2,), 2, 3, dtype=torch.float64).requires_grad_()
    weight = torch.randn(2, 2, 6, 15, dtype=torch.float64)
    (ps.pixel_shuffle(x, 3, convention=convention) * weight).sum().backward()
    np.testing.assert_array_equal(
        x.grad.numpy(), oracle.unshuffle(weight.numpy(), (3, 3), order, "NCHW")
    )


def test_modules_equal_torch_modules():
    x = _depth((2,), 3, 2)
    assert torch.equal(ps.nn.PixelShuffle(2)(x), torch.nn.PixelShuffle(2)(x))
    y = torch.nn.PixelShuffle(2)(x)
    assert torch.equal(ps.nn.PixelUnshuffle(2)(y), torch.nn.PixelUnshuffle(2)(y))
    assert ps.nn.PixelShuffle(2).upscale_factor == 2
    assert ps.nn.PixelUnshuffle(3).downscale_factor == 3
    assert list(ps.nn.PixelShuffle(2).parameters()) == []
    assert ps.nn.PixelShuffle(2).state_dict() == {}


def test_modules_match_functions_and_repr():
    layer = ps.nn.PixelShuffle((3, 2), convention="realsr", layout="NHWC")
    assert repr(layer) == "PixelShuffle((3, 2), convention='caffe', layout='NHWC')"
    x = torch.arange(2 * 3 * 4 * 12.0).reshape(2, 3, 4, 12)
    expected = ps.pixel_shuffle(x, (3, 2), convention="caffe", layout="NHWC")
    assert torch.equal(layer(x), expected)
    clone = pickle.loads(pickle.dumps(layer))
    assert repr(clone) == repr(layer)
    assert torch.equal(clone(x), expected)
    rebuilt = eval(repr(layer), {"PixelShuffle": ps.nn.PixelShuffle})
    assert torch.equal(rebuilt(x), expected)


def test_modules_validate_at_construction():
    with pytest.raises(ps.PixelShuffleError, match=r"^PixelShuffle\(convention='xyz'"):
        ps.nn.PixelShuffle(2, convention="xyz")
    with pytest.raises(ps.PixelShuffleTypeError, match=r"got float 2\.5"):
        ps.nn.PixelUnshuffle(2.5)
    with pytest.raises(ps.PixelShuffleError, match="has 3 values but layout 'NHWC' has 2"):
        ps.nn.PixelUnshuffle((2, 2, 2), layout="NHWC")


def test_torch_errors_are_library_errors():
    with pytest.raises(
        ps.PixelShuffleError,
        match=r"channel axis \(axis -3\) must be divisible by 3·3 = 9, got 10 for input shape"
        r" \(2, 10, 4, 4\)",
    ):
        ps.pixel_shuffle(torch.zeros(2, 10, 4, 4), 3)


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors is in prototype")
def test_sparse_nested_and_mkldnn_tensors_are_refused_clearly():
    dense = torch.randn(1, 8, 2, 3)
    ps.pixel_shuffle(dense, 2)  # a dense input of the same shape, remembered first
    cases = [
        (dense.to_sparse(), "torch.sparse_coo", r"\.to_dense\(\)"),
        (torch.nested.nested_tensor([dense[0], dense[0]], layout=torch.jagged), "torch.jagged",
         r"\.to_padded_tensor\(0\.0\)"),
        (torch.nested.nested_tensor([dense[0], dense[0]]), "torch.strided",
         r"\.to_padded_tensor\(0\.0\)"),
    ]  # fmt: skip
    outs = [torch.zeros(1, 2, 4, 6).to_sparse()]
    if torch.backends.mkldnn.is_available():
        cases.append((dense.to_mkldnn(), "torch._mkldnn", r"\.to_dense\(\)"))
        outs.append(torch.zeros(1, 2, 4, 6).to_mkldnn())
    for tensor, layout, hint in cases:
        message = f"dense tensor .*got layout {layout};.*{hint}"
        with pytest.raises(ps.PixelShuffleError, match=message):
            ps.pixel_shuffle(tensor, 2)
    for out in outs:
        message = f"out must be a dense tensor .*got layout {out.layout}"
        with pytest.raises(ps.PixelShuffleError, match=message):
            ps.pixel_shuffle(dense, 2, out=out)


def test_an_inference_tensor_as_out_is_refused_outside_inference_mode(monkeypatch):
    from pixelshuffle import _torch

    monkeypatch.setattr(_torch, "_RECIPES", {})
    x = torch.randn(1, 8, 2, 3)
    with torch.inference_mode():
        out = torch.zeros(1, 2, 4, 6)
    message = r"out was made under torch\.inference_mode"
    with pytest.raises(ps.PixelShuffleError, match=message):
        ps.pixel_shuffle(x, 2, out=out)  # the full path
    ps.pixel_shuffle(x, 2)  # remembers the shape
    with pytest.raises(ps.PixelShuffleError, match=message):
        ps.pixel_shuffle(x, 2, out=out)  # the remembered one
    assert not out.any()  # never written
    with torch.inference_mode():
        assert ps.pixel_shuffle(x, 2, out=out) is out  # inside: allowed
    assert torch.equal(out, torch.nn.functional.pixel_shuffle(x, 2))


def test_tiny_tensors_do_not_load_the_kernels():
    require("numba")
    code = (
        "import sys, torch, pixelshuffle as ps\n"
        "for size in (4, 64):  # 512 bytes, then 64 KiB\n"
        "    x = torch.randn(1, 16, size, size)\n"
        "    for _ in range(3): ps.pixel_shuffle(x, 2)\n"
        "    print('numba' in sys.modules)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PIXELSHUFFLE_KERNELS"}
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert run.stdout.split() == ["False", "True"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("convention", ["torch", "tf", "caffe"])
def test_cuda_keeps_device_and_memory_format(convention):
    x = _depth((2,), 2, 3).cuda().contiguous(memory_format=torch.channels_last)
    result = ps.pixel_shuffle(x, 3, convention=convention)
    assert result.device == x.device
    assert result.is_contiguous(memory_format=torch.channels_last)
    expected = ps.pixel_shuffle(x.cpu().contiguous(), 3, convention=convention)
    assert torch.equal(result.cpu(), expected)


def test_result_never_aliases_input_in_inference_mode_and_compile():
    def check(fn, x):
        y = fn(x)
        assert y.untyped_storage().data_ptr() != x.untyped_storage().data_ptr()

    cases = [
        (lambda t: ps.pixel_shuffle(t, 1), torch.arange(240.0).reshape(2, 8, 3, 5)),
        (lambda t: ps.pixel_shuffle(t, 2), torch.arange(4.0).reshape(1, 4, 1, 1)),
        (lambda t: ps.pixel_unshuffle(t, (2, 1)), torch.arange(4.0).reshape(1, 1, 4, 1)),
        (
            lambda t: ps.convert(t, 2, src="torch", dst="torch"),
            torch.arange(8.0).reshape(2, 4, 1, 1).contiguous(memory_format=torch.channels_last),
        ),
    ]
    for fn, x in cases:
        check(fn, x)
        with torch.inference_mode():
            check(fn, x.clone())
        check(torch.compile(fn, fullgraph=True), x)


@pytest.mark.parametrize("layout", oracle.ALL_LAYOUTS)
@pytest.mark.parametrize("convention", ["torch", "tf", "caffe"])
def test_modules_in_every_layout_equal_the_oracle(layout, convention):
    rank = len(layout) - 2
    factors = {1: (3,), 2: (2, 3), 3: (2, 3, 1)}[rank]
    coarse = {1: (4,), 2: (3, 2), 3: (1, 2, 3)}[rank]
    depth = 2 * math.prod(factors)
    shape = (2, *coarse, depth) if layout.endswith("C") else (2, depth, *coarse)
    x = torch.arange(math.prod(shape)).reshape(shape)
    order = oracle.preset_order(convention, layout)
    up = ps.nn.PixelShuffle(factors, convention=convention, layout=layout)(x)
    np.testing.assert_array_equal(up.numpy(), oracle.shuffle(x.numpy(), factors, order, layout))
    down = ps.nn.PixelUnshuffle(factors, convention=convention, layout=layout)(up)
    assert torch.equal(down, x)


def test_modules_ignore_device_and_dtype_moves_and_copy():
    import copy

    layer = ps.nn.PixelUnshuffle((2, 3), convention="tf")
    x = torch.arange(2 * 4 * 9.0).reshape(1, 2, 4, 9)
    expected = layer(x)
    for moved in (layer.double(), layer.half(), layer.to("cpu"), layer.to(torch.bfloat16)):
        assert moved is layer  # nothing to move: no parameters, no buffers
    assert torch.equal(layer(x), expected)
    twin = copy.deepcopy(layer)
    assert repr(twin) == repr(layer) == "PixelUnshuffle((2, 3), convention='tf', layout='NCHW')"
    assert layer.extra_repr() == "(2, 3), convention='tf', layout='NCHW'"
    assert torch.equal(twin(x), expected)
    assert list(layer.buffers()) == []
    assert torch.equal(layer(x.double()), expected.double())  # follows the input's dtype


class TestRememberedShapes:
    """After one call validates a contiguous input's shape, later calls of that shape
    take a remembered recipe: the same results, fresh tensors, gradients and errors."""

    @pytest.fixture
    def recipes(self, monkeypatch):
        from pixelshuffle import _torch

        monkeypatch.setattr(_torch, "_RECIPES", {})
        used = []
        original = _torch.TORCH.run_remembered

        def spying(prepared, x):
            result = original(prepared, x)
            used.append(result is not None)
            return result

        def spying_into(prepared, x, out):
            result = original_into(prepared, x, out)
            used.append(result is not None)
            return result

        original_into = _torch.TORCH.run_remembered_into
        monkeypatch.setattr(_torch.TORCH, "run_remembered", spying)
        monkeypatch.setattr(_torch.TORCH, "run_remembered_into", spying_into)
        return _torch._RECIPES, used

    @pytest.mark.parametrize("layout", ["NCHW", "NHWC", "NCL", "NCDHW", "NDHWC"])
    @pytest.mark.parametrize("convention", ["torch", "tf", "caffe", "order"])
    def test_second_call_equals_the_oracle(self, recipes, layout, convention):
        memo, used = recipes
        rank = len(layout) - 2
        order = (
            layout[1:].replace("C", "").lower()[::-1] + "c"
            if convention == "order"
            else oracle.preset_order(convention, layout)
        )
        factors = (2, 3, 2)[:rank]
        depth = 3 * math.prod(factors)
        spatial = (4, 3, 2)[:rank]
        shape = (2, *spatial, depth) if layout.endswith("C") else (2, depth, *spatial)
        x = torch.randn(shape)
        first = ps.pixel_shuffle(x, factors, convention=order, layout=layout)
        second = ps.pixel_shuffle(x, factors, convention=order, layout=layout)
        expected = oracle.shuffle(x.numpy(), factors, order, layout)
        np.testing.assert_array_equal(second.numpy(), expected)
        np.testing.assert_array_equal(first.numpy(), expected)
        assert second.data_ptr() not in (x.data_ptr(), first.data_ptr())
        assert second.is_contiguous()
        back = ps.pixel_unshuffle(second, factors, convention=order, layout=layout)
        assert torch.equal(
            ps.pixel_unshuffle(second, factors, convention=order, layout=layout), back
        )
        assert torch.equal(back, x)
        assert used == [False, True, False, True]
        assert len(memo) == 2

    def test_a_plan_that_moves_nothing_still_copies(self, recipes):
        x = torch.randn(2, 12, 3, 4)
        results = [ps.convert(x, 2, src="torch", dst="chw") for _ in range(2)]
        assert all(torch.equal(result, x) for result in results)
        assert all(result.data_ptr() != x.data_ptr() for result in results)
        assert recipes[1] == [False, True]

    @pytest.mark.parametrize("convention", ["torch", "caffe"])
    def test_gradient_through_a_remembered_shape(self, recipes, convention):
        x = torch.randn(2, 18, 3, 4, dtype=torch.float64, requires_grad=True)
        weight = torch.randn(2, 2, 9, 12, dtype=torch.float64)
        ps.pixel_shuffle(x.detach(), 3, convention=convention)  # remembers the shape
        (ps.pixel_shuffle(x, 3, convention=convention) * weight).sum().backward()
        order = oracle.preset_order(convention, "NCHW")
        np.testing.assert_array_equal(
            x.grad.numpy(), oracle.unshuffle(weight.numpy(), (3, 3), order, "NCHW")
        )
        assert recipes[1] == [False, True]
        assert torch.autograd.gradgradcheck(
            lambda t: ps.pixel_shuffle(t, 3, convention=convention), (x,)
        )

    def test_other_shapes_and_memory_formats_take_the_full_path(self, recipes):
        x = torch.randn(1, 8, 3, 3)
        ps.pixel_shuffle(x, 2, convention="tf")
        with pytest.raises(ps.PixelShuffleError, match="divisible by 2·2 = 4, got 6"):
            ps.pixel_shuffle(torch.randn(1, 6, 3, 3), 2, convention="tf")
        channels_last = torch.randn(1, 8, 3, 3).contiguous(memory_format=torch.channels_last)
        up = ps.pixel_shuffle(channels_last, 2, convention="tf")
        assert up.is_contiguous(memory_format=torch.channels_last)
        np.testing.assert_array_equal(
            up.numpy(), oracle.shuffle(channels_last.numpy(), (2, 2), "hwc", "NCHW")
        )
        assert recipes[1] == [False, False, False]

    @pytest.mark.parametrize("op", ["pixel_shuffle", "pixel_unshuffle"])
    def test_small_channels_last_inputs_go_straight_to_pytorchs_op(self, recipes, op):
        """NCHW tensors in channels_last format, in torch order, below the kernels' size:
        later calls of a shape run PyTorch's own op at once, the full path's choice, with
        its channels-last result and gradient; a contiguous tensor of the same shape
        keeps a recipe of its own, and out= takes the full path."""
        memo, used = recipes
        x = torch.randn(2, 12, 6, 4, dtype=torch.float64)
        if op == "pixel_unshuffle":
            x = torch.randn(2, 3, 6, 4, dtype=torch.float64)
        channels_last = x.contiguous(memory_format=torch.channels_last).requires_grad_()
        ours, theirs = getattr(ps, op), getattr(torch.nn.functional, op)
        for _ in range(2):
            y = ours(channels_last, 2)
            assert torch.equal(y, theirs(channels_last, 2))
            assert y.is_contiguous(memory_format=torch.channels_last)
        assert used == [False, True]
        weight = torch.randn_like(y)
        (y * weight).sum().backward()
        inverse = oracle.unshuffle if op == "pixel_shuffle" else oracle.shuffle
        expected = inverse(weight.detach().numpy(), (2, 2), "chw", "NCHW")
        np.testing.assert_array_equal(channels_last.grad.numpy(), expected)
        assert [key[-1] for key in memo] == [torch.channels_last]
        contiguous = ours(x, 2)  # the same shape, contiguous: not the recipe above
        assert contiguous.is_contiguous()
        assert torch.equal(contiguous, theirs(x, 2))
        out = torch.empty_like(y).contiguous(memory_format=torch.channels_last)
        ours(channels_last.detach(), 2, out=out)
        assert torch.equal(out, y.detach())
        assert used[-1] is False  # out= takes the full path
        assert len(memo) == 2

    def test_compiling_after_eager_calls_of_the_same_shape(self, recipes):
        x = torch.randn(2, 12, 3, 4)
        eager = ps.pixel_shuffle(x, 2, convention="tf")
        compiled = torch.compile(
            lambda t: ps.pixel_shuffle(t, 2, convention="tf") * 2, fullgraph=True
        )
        torch.testing.assert_close(compiled(x), eager * 2)
        assert torch.equal(ps.pixel_shuffle(x, 2, convention="tf"), eager)
        assert recipes[1][-1] is True

    def test_memory_stays_bounded(self, recipes):
        from pixelshuffle import _torch

        for width in range(1, _torch._MAX_RECIPES + 20):
            ps.pixel_shuffle(torch.zeros(1, 4, 1, width), 2, convention="tf")
        assert 0 < len(recipes[0]) <= _torch._MAX_RECIPES

    @pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
    def test_pytorchs_own_op_where_it_applies(self, recipes, layout):
        from pixelshuffle import _torch

        shape = (2, 3, 4, 12) if layout == "NHWC" else (2, 12, 3, 4)
        bits = {1: torch.uint8, 2: torch.int16, 4: torch.int32}
        for dtype in (torch.float32, torch.uint16, torch.float8_e4m3fn, torch.uint8):
            x = torch.arange(math.prod(shape)).reshape(shape).to(dtype)
            order = oracle.preset_order("torch", layout)
            expected = oracle.shuffle(x.view(bits[x.element_size()]).numpy(), (2, 2), order, layout)
            for _ in range(2):
                y = ps.pixel_shuffle(x, 2, layout=layout)
                np.testing.assert_array_equal(y.view(bits[y.element_size()]).numpy(), expected)
                assert y.is_contiguous()
            native = _torch._RECIPES[(ps_prepared(layout), x.shape, dtype, x.device)].native
            # PyTorch implements neither uint16 nor float8; its op beats the strided copy
            # of tensors this small (the tiny ones below the kernel's sizes) on bytes too
            wanted = dtype in (torch.float32, torch.uint8)
            assert (native is not None) == wanted, dtype

    @pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
    def test_tiny_nchw_tensors_take_pytorchs_op_both_ways(self, recipes, dtype):
        """Below the kernel's sizes an NCHW call in ``torch`` order, up or down, ends in
        PyTorch's own op (one call, not the strided copy's three); from there, bytes
        upsampled take the kernel or, where it may not run, the strided copy."""
        from pixelshuffle import _kernels, _torch

        order = oracle.preset_order("torch", "NCHW")
        for op, direction, shape in (
            (ps.pixel_shuffle, "shuffle", (2, 12, 3, 4)),
            (ps.pixel_unshuffle, "unshuffle", (2, 3, 6, 8)),
        ):
            x = torch.randint(0, 200, shape).to(dtype)
            expected = getattr(oracle, direction)(x.numpy(), (2, 2), order, "NCHW")
            for _ in range(2):  # the first call remembers the shape, the second uses it
                np.testing.assert_array_equal(op(x, 2).numpy(), expected)
            prepared = ps_prepared("NCHW", direction)
            native = _torch._RECIPES[(prepared, x.shape, dtype, x.device)].native
            assert native is getattr(torch.nn.functional, prepared.pytorch_op)
        if dtype == torch.uint8:
            x = torch.zeros(1, 4, 96, 96, dtype=dtype)  # 36 KiB
            assert not _kernels.below_small_kernels(x.numel(), 1)
            ps.pixel_shuffle(x, 2)
            assert _torch._RECIPES[(ps_prepared("NCHW"), x.shape, dtype, x.device)].native is None

    def test_a_shape_on_another_device_keeps_its_memory_format(self, recipes):
        cpu = torch.randn(2, 3, 4, 8)
        meta = torch.empty(2, 3, 4, 8, device="meta")
        for x in (cpu, meta, meta, cpu):
            y = ps.pixel_shuffle(x, 2, layout="NHWC")
            assert y.is_contiguous()
            assert (y.device, y.shape) == (x.device, (2, 6, 8, 2))
        assert recipes[1] == [False, False, True, True]

    def test_symbolic_tracing_takes_the_full_path(self, recipes):
        from torch.fx.experimental.proxy_tensor import make_fx

        x = torch.randn(2, 12, 3, 4)
        expected = ps.pixel_shuffle(x, 2, convention="tf")
        ps.pixel_shuffle(x, 2, convention="tf")  # remembered
        traced = make_fx(lambda t: ps.pixel_shuffle(t, 2, convention="tf"),
                         tracing_mode="symbolic")(x)  # fmt: skip
        torch.testing.assert_close(traced(x), expected)
        torch.testing.assert_close(traced(torch.randn(3, 12, 5, 4)).shape, (3, 3, 10, 8))

    def test_unmemoized_calls_leave_no_recipes(self, recipes):
        x = torch.randn(2, 12, 3, 4)
        for _ in range(3):
            ps.pixel_shuffle(x, np.int64(2), convention="tf")  # not a plain int: no memo
        assert recipes[0] == {}

    @pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
    def test_empty_inputs_keep_the_results_shape(self, recipes, dtype):
        # PyTorch 2.13's own pixel_unshuffle returns an empty input's shape unchanged
        for _ in range(2):
            down = ps.pixel_unshuffle(torch.zeros(1, 4, 4, 0, dtype=dtype), 2, layout="NHWC")
            assert down.shape == (1, 2, 2, 0)
            up = ps.pixel_shuffle(torch.zeros(1, 0, 8, 2, 2, dtype=dtype), 2)
            assert up.shape == (1, 0, 2, 4, 4)

    def test_copies_and_pickles_of_modules_share_recipes(self, recipes):
        import copy

        module = ps.nn.PixelShuffle(2, convention="tf")
        x = torch.randn(1, 8, 3, 3)
        clones = [module, copy.deepcopy(module), copy.copy(module)]
        clones.append(pickle.loads(pickle.dumps(module)))
        for clone in clones:
            assert torch.equal(clone(x), module(x))
        assert len(recipes[0]) == 1

    def test_eviction_from_many_threads(self, recipes, monkeypatch):
        import concurrent.futures
        import sys

        from pixelshuffle import _torch

        monkeypatch.setattr(_torch, "_MAX_RECIPES", 4)
        monkeypatch.setattr(sys, "getswitchinterval", sys.getswitchinterval)
        sys.setswitchinterval(1e-6)  # switch threads as often as possible
        try:

            def run(width):
                x = torch.zeros(1, 4, 1, width)
                return ps.pixel_shuffle(x, 2, convention="tf").shape == (1, 1, 2, 2 * width)

            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                results = list(pool.map(run, [1 + i % 40 for i in range(2000)]))
        finally:
            sys.setswitchinterval(0.005)
        assert all(results)
        assert len(recipes[0]) <= 4 + 4  # a few threads may each add one before evicting

    def test_out_through_a_remembered_shape(self, recipes):
        x = torch.randn(2, 12, 3, 4)
        before = x.clone()
        expected = oracle.shuffle(x.numpy(), (2, 2), "hwc", "NCHW")
        wide = torch.zeros(2, 3, 6, 16)
        for out in (torch.empty(2, 3, 6, 8), wide[..., ::2], torch.empty(2, 3, 6, 8)):
            assert ps.pixel_shuffle(x, 2, convention="tf", out=out) is out
            np.testing.assert_array_equal(out.numpy(), expected)
        assert not wide[..., 1::2].any()
        assert recipes[1] == [False, True, True]
        errors = {}
        memo = recipes[0]
        for remembered in (False, True):  # the full path's errors, then the recipe's
            memo.clear()
            if remembered:
                ps.pixel_shuffle(x, 2, convention="tf")
            assert len(memo) == remembered
            for name, bad in (
                ("shape", torch.empty(2, 3, 6, 9)),
                ("dtype", torch.empty(2, 3, 6, 8, dtype=torch.float64)),
                ("overlap", x.view(2, 3, 6, 8)),
                ("type", np.empty((2, 3, 6, 8), np.float32)),
            ):
                with pytest.raises(ps.PixelShuffleError) as error:
                    ps.pixel_shuffle(x, 2, convention="tf", out=bad)
                errors.setdefault(name, set()).add(str(error.value))
        assert all(len(messages) == 1 for messages in errors.values())  # the same errors
        assert torch.equal(x, before)  # the overlapping out= was refused, not written


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")  # forward_ad's own
def test_forward_mode_ad_through_kernels_and_the_autograd_node():
    import torch.autograd.forward_ad as forward_ad

    x = torch.randn(4, 64, 64, 64)  # 4 MiB: the kernels' side
    tangent = torch.randn_like(x)
    expected = ps.pixel_shuffle(tangent, 2, convention="tf")
    with forward_ad.dual_level():
        for primal in (x, x.clone().requires_grad_()):
            dual = forward_ad.make_dual(primal, tangent)
            y = ps.pixel_shuffle(dual, 2, convention="tf")
            assert torch.equal(forward_ad.unpack_dual(y).tangent, expected)


def ps_prepared(layout, direction="shuffle"):
    from pixelshuffle import _ops

    op = "pixel_shuffle" if direction == "shuffle" else "pixel_unshuffle"
    return _ops.prepare(op, direction, 2, "torch", layout, None)
