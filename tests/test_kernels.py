"""The fast CPU kernels give bit-identical results to the reference path and to the
oracle, for every convention, layout, rank, direction and element size, on strided and
channels-last inputs and strided ``out=`` arrays, serial and parallel."""

from __future__ import annotations

import importlib
import math
import os
import sys

import numpy as np
import pytest

import pixelshuffle as ps
from pixelshuffle import _kernels

from . import oracle
from .conftest import require

require("numba")  # the kernels' compiler; without it the library uses the reference path

FACTORS = {1: (3,), 2: (3, 2), 3: (2, 3, 2)}
COARSE = {1: (7,), 2: (5, 4), 3: (3, 2, 4)}


@pytest.fixture(params=["serial", "parallel"])
def kernels_always(request, monkeypatch):
    """Route every copy, however small, through the kernels (serial or parallel)."""
    assert _kernels.cpu_kernels() is not None
    monkeypatch.setattr(_kernels, "MIN_BYTES", 0)
    monkeypatch.setattr(_kernels, "PARALLEL_BYTES", 0 if request.param == "parallel" else 1 << 62)
    # no earlier test's recipe may bypass them
    monkeypatch.setattr(importlib.import_module("pixelshuffle._backends"), "_NUMPY_RECIPES", {})
    if "pixelshuffle._torch" in sys.modules:
        monkeypatch.setattr(sys.modules["pixelshuffle._torch"], "_RECIPES", {})
    calls = []
    for name in ("copy_permuted", "copy_at"):  # the full path's, a remembered shape's
        original = getattr(_kernels.cpu_kernels(), name)

        def counting(*args, original=original):
            calls.append(args[0].kind)
            return original(*args)

        monkeypatch.setattr(_kernels.cpu_kernels(), name, counting)
    return calls


def _depth(layout, dtype, batch=(2,)):
    rank = len(layout) - 2
    depth = 3 * math.prod(FACTORS[rank])
    shape = (
        (*batch, *COARSE[rank], depth) if layout.endswith("C") else (*batch, depth, *COARSE[rank])
    )
    values = np.arange(math.prod(shape)) % 251
    return values.astype(dtype).reshape(shape)


CONVENTIONS = ["torch", "tf", "caffe", "order"]


def _order(convention, layout):
    if convention == "order":
        return layout[1:].replace("C", "").lower()[::-1] + "c"
    return oracle.preset_order(convention, layout)


@pytest.mark.parametrize("dtype", [np.uint8, np.float16, np.float32, np.complex64])
@pytest.mark.parametrize("layout", oracle.ALL_LAYOUTS)
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_numpy_kernels_equal_the_oracle(kernels_always, convention, layout, dtype):
    order = _order(convention, layout)
    factors = FACTORS[len(layout) - 2]
    x = _depth(layout, dtype)
    up = ps.pixel_shuffle(x, factors, convention=order, layout=layout)
    np.testing.assert_array_equal(up, oracle.shuffle(x, factors, order, layout))
    down = ps.pixel_unshuffle(up, factors, convention=order, layout=layout)
    np.testing.assert_array_equal(down, x)
    converted = ps.convert(x, factors, src=order, dst="tf", layout=layout)
    p = ps.channel_permutation(x.shape[-1 if layout.endswith("C") else 1], factors, src=order,
                               dst="tf", layout=layout)  # fmt: skip
    np.testing.assert_array_equal(converted, np.take(x, p, axis=-1 if layout.endswith("C") else 1))
    assert kernels_always  # the kernels ran


def test_numpy_strided_input_and_strided_out(kernels_always):
    base = _depth("NCHW", np.int32, batch=(4,))
    x = base[::2, :, :, ::-1][..., ::-1]  # strided batch; a double reversal is a plain view
    out_base = np.zeros((2, 3, 15, 8 * 2), np.int32)
    out = out_base[..., ::2]
    ps.pixel_shuffle(x, (3, 2), convention="caffe", out=out)
    np.testing.assert_array_equal(
        out, oracle.shuffle(np.ascontiguousarray(x), (3, 2), "cwh", "NCHW")
    )
    assert not out_base[..., 1::2].any()
    reversed_input = base[:, :, ::-1]  # a negative stride: the reference path takes it
    np.testing.assert_array_equal(
        ps.pixel_shuffle(reversed_input, (3, 2), convention="tf"),
        oracle.shuffle(np.ascontiguousarray(reversed_input), (3, 2), "hwc", "NCHW"),
    )


def _torch_case(torch, convention, layout, dtype):
    """The order, factors and test tensor of one :func:`_every_torch_case`, and the dtype
    that holds its values exactly for the oracle."""
    x = torch.from_numpy(_depth(layout, np.int64)).to(getattr(torch, dtype))
    exact = torch.int64 if dtype != "complex64" else x.dtype
    return _order(convention, layout), FACTORS[len(layout) - 2], x, exact


def _every_torch_case(test):
    """Parametrize ``test`` over conventions × torch layouts × dtypes of every size."""
    dtypes = ["bool", "uint8", "bfloat16", "float16", "float32", "int64", "complex64"]
    test = pytest.mark.parametrize("dtype", dtypes)(test)
    test = pytest.mark.parametrize("layout", ["NCHW", "NHWC", "NCL", "NDHWC"])(test)
    return pytest.mark.parametrize("convention", CONVENTIONS)(test)


class TestNumpyRemembered:
    """C-contiguous NumPy arrays of a shape run before take the kernel's plan at once,
    at any size: the same bits as the oracle, fresh arrays, the same errors."""

    @pytest.fixture
    def numpy_kernel(self, monkeypatch):
        from pixelshuffle import _backends

        monkeypatch.setattr(_backends, "_NUMPY_RECIPES", {})
        monkeypatch.setattr(_kernels, "NUMPY_SMALL_BYTES", 0)  # the test arrays are tiny
        calls = []
        original = _kernels.cpu_kernels().copy_permuted

        def counting(*args):
            calls.append(args[0].kind)
            return original(*args)

        monkeypatch.setattr(_kernels.cpu_kernels(), "copy_permuted", counting)
        return calls

    @pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.float16, ">i4", np.complex64])
    @pytest.mark.parametrize("layout", oracle.ALL_LAYOUTS)
    @pytest.mark.parametrize("convention", CONVENTIONS)
    def test_second_calls_equal_the_oracle(self, numpy_kernel, convention, layout, dtype):
        order = _order(convention, layout)
        factors = FACTORS[len(layout) - 2]
        x = _depth(layout, dtype)
        x.flags.writeable = False  # read, never written
        expected = oracle.shuffle(x, factors, order, layout)
        for _ in range(3):
            up = ps.pixel_shuffle(x, factors, convention=order, layout=layout)
            np.testing.assert_array_equal(up, expected)
            assert up.dtype == x.dtype
            assert up.flags.c_contiguous
            assert not np.may_share_memory(up, x)
            np.testing.assert_array_equal(
                ps.pixel_unshuffle(up, factors, convention=order, layout=layout), x
            )
            out = np.empty_like(up)
            out[...] = ~up if out.dtype == np.bool_ else 252  # every element must be written
            ps.pixel_shuffle(x, factors, convention=order, layout=layout, out=out)
            np.testing.assert_array_equal(out, expected)
        # every call but the first of each op (up, down; out= shares up's) took the kernel
        assert len(numpy_kernel) == 3 * 3 - 2

    def test_other_arrays_and_outs_take_the_full_path(self, numpy_kernel):
        x = _depth("NCHW", np.float32)
        expected = oracle.shuffle(x, (3, 2), "hwc", "NCHW")
        ps.pixel_shuffle(x, (3, 2), convention="tf")  # remembered
        strided_out = np.zeros((2, 3, 15, 16), np.float32)
        transposed = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
        masked = np.ma.masked_array(x)
        for array, out in ((x, strided_out[..., ::2]), (transposed, None), (masked, None)):
            result = ps.pixel_shuffle(array, (3, 2), convention="tf", out=out)
            np.testing.assert_array_equal(np.asarray(result), expected)
        assert not strided_out[..., 1::2].any()
        assert numpy_kernel == []
        with pytest.raises(ps.PixelShuffleError, match=r"out must have the result's shape"):
            ps.pixel_shuffle(x, (3, 2), convention="tf", out=np.empty((2, 3, 15, 9), np.float32))
        with pytest.raises(ps.PixelShuffleError, match="must not share memory"):
            ps.pixel_shuffle(x, (3, 2), convention="tf", out=x.reshape(2, 3, 15, 8))


class TestTorch:
    torch = require("torch")

    @_every_torch_case
    def test_torch_kernels_equal_the_reference(self, kernels_always, convention, layout, dtype):
        torch = self.torch
        order, factors, x, exact = _torch_case(torch, convention, layout, dtype)
        up = ps.pixel_shuffle(x, factors, convention=order, layout=layout)
        expected = oracle.shuffle(x.to(exact).numpy(), factors, order, layout)
        assert np.array_equal(up.to(exact).numpy(), expected)
        assert torch.equal(ps.pixel_unshuffle(up, factors, convention=order, layout=layout), x)
        assert kernels_always

    @pytest.mark.parametrize("convention", ["torch", "tf", "caffe"])
    def test_channels_last_and_3d_formats(self, kernels_always, convention):
        torch = self.torch
        x = torch.from_numpy(_depth("NCHW", np.float32)).contiguous(
            memory_format=torch.channels_last
        )
        up = ps.pixel_shuffle(x, (3, 2), convention=convention)
        assert up.is_contiguous(memory_format=torch.channels_last)
        order = oracle.preset_order(convention, "NCHW")
        np.testing.assert_array_equal(up.numpy(), oracle.shuffle(x.numpy(), (3, 2), order, "NCHW"))
        back = ps.pixel_unshuffle(up, (3, 2), convention=convention)
        assert torch.equal(back, x)
        assert back.is_contiguous(memory_format=torch.channels_last)
        v = torch.from_numpy(_depth("NCDHW", np.float32)).contiguous(
            memory_format=torch.channels_last_3d
        )
        volume = ps.pixel_shuffle(v, (2, 3, 2), convention=convention, layout="NCDHW")
        assert volume.is_contiguous(memory_format=torch.channels_last_3d)
        order = oracle.preset_order(convention, "NCDHW")
        np.testing.assert_array_equal(
            volume.numpy(), oracle.shuffle(v.numpy(), (2, 3, 2), order, "NCDHW")
        )

    @pytest.mark.parametrize(
        ("channels", "dtype", "kernel_up"),
        [(3, "float32", True), (8, "float32", True), (32, "float32", False),
         (3, "bfloat16", True), (3, "complex128", False)],
    )  # fmt: skip
    def test_channels_last_torch_order_takes_the_kernels_in_parallel(
        self, kernels_always, channels, dtype, kernel_up
    ):
        """Channels-last data in torch order: the kernels when they run in parallel,
        except upsampling into pixels of 128 bytes or more (32 float32 channels) and
        elements no kernel copies (16 bytes); PyTorch's own kernel otherwise."""
        torch = self.torch
        F = torch.nn.functional
        x = torch.randn(2, channels * 4, 5, 6).to(getattr(torch, dtype))
        x = x.contiguous(memory_format=torch.channels_last)
        in_parallel = _kernels.PARALLEL_BYTES == 0 and _kernels.cpu_kernels().PARALLEL
        up = ps.pixel_shuffle(x, 2)
        assert torch.equal(up, F.pixel_shuffle(x, 2))
        assert up.is_contiguous(memory_format=torch.channels_last)
        assert len(kernels_always) == (1 if in_parallel and kernel_up else 0)
        before = len(kernels_always)
        down = ps.pixel_unshuffle(up, 2)
        assert torch.equal(down, x)
        assert down.is_contiguous(memory_format=torch.channels_last)
        kernel_down = in_parallel and dtype != "complex128"
        assert len(kernels_always) - before == (1 if kernel_down else 0)

    def test_strided_input_and_out(self, kernels_always):
        torch = self.torch
        base = torch.arange(4 * 18 * 5 * 16, dtype=torch.float32).reshape(4, 18, 5, 16)
        x = base[1::2, :, :, ::2]  # strided
        expected = oracle.shuffle(x.contiguous().numpy(), (3, 3), "hwc", "NCHW")
        np.testing.assert_array_equal(ps.pixel_shuffle(x, 3, convention="tf").numpy(), expected)
        wide = torch.zeros(2, 2, 15, 48)
        ps.pixel_shuffle(x, 3, convention="tf", out=wide[..., ::2])
        np.testing.assert_array_equal(wide[..., ::2].numpy(), expected)
        assert not wide[..., 1::2].any()
        out_cl = torch.zeros(2, 2, 15, 24).contiguous(memory_format=torch.channels_last)
        ps.pixel_shuffle(x, 3, convention="tf", out=out_cl)
        np.testing.assert_array_equal(out_cl.numpy(), expected)

    def test_lazy_conjugate_and_negative_views_take_the_reference_path(self, kernels_always):
        torch = self.torch
        z = torch.randn(1, 8, 3, 4, dtype=torch.complex64)
        conj = z.conj()  # a lazy view: its memory holds z
        assert conj.is_conj()
        assert torch.equal(
            ps.pixel_shuffle(conj, 2), torch.nn.functional.pixel_shuffle(conj.resolve_conj(), 2)
        )

    def test_autograd_runs_the_kernels_both_ways(self, kernels_always):
        torch = self.torch
        x = torch.randn(2, 18, 5, 4, dtype=torch.float64, requires_grad=True)
        weight = torch.randn(2, 2, 15, 12, dtype=torch.float64)
        (ps.pixel_shuffle(x, 3, convention="caffe") * weight).sum().backward()
        np.testing.assert_array_equal(
            x.grad.numpy(), oracle.unshuffle(weight.numpy(), (3, 3), "cwh", "NCHW")
        )
        assert len(kernels_always) >= 2  # forward and backward

    def test_large_uint8_tensor_is_copied_in_parallel(self):
        torch = self.torch
        x = (torch.arange(2 * 27 * 128 * 160) % 251).to(torch.uint8).reshape(2, 27, 128, 160)
        assert x.numel() >= _kernels.PARALLEL_BYTES
        wide = ps.pixel_shuffle(x.to(torch.int32), 3, convention="tf")  # 4-byte kernel
        assert torch.equal(ps.pixel_shuffle(x, 3, convention="tf"), wide.to(torch.uint8))


class TestSmallRemembered:
    """Small contiguous torch inputs of a shape run before: the serial kernel, called
    with the tensors' addresses, where its plan pays off; the same bits as the oracle."""

    torch = require("torch")

    @pytest.fixture
    def small_kernel(self, monkeypatch):
        """Every remembered shape takes the kernel; the calls that did are recorded."""
        from pixelshuffle import _torch

        monkeypatch.setattr(_torch, "_RECIPES", {})
        monkeypatch.setattr(_kernels, "SMALL_WIDE_BYTES", 1)
        monkeypatch.setattr(_kernels, "SMALL_NARROW_BYTES", 1)
        monkeypatch.setattr(_kernels, "SMALL_ROWS_BYTES", 1 << 62)
        calls = []
        original = _kernels.cpu_kernels().copy_at

        def counting(plan, *args):
            calls.append(plan.kind)
            assert args[-1] is False  # serial: every tensor here is below 1 MiB
            return original(plan, *args)

        monkeypatch.setattr(_kernels.cpu_kernels(), "copy_at", counting)
        return calls

    @_every_torch_case
    def test_second_calls_equal_the_oracle(self, small_kernel, convention, layout, dtype):
        torch = self.torch
        order, factors, x, wide = _torch_case(torch, convention, layout, dtype)
        expected = oracle.shuffle(x.to(wide).numpy(), factors, order, layout)
        before = x.clone()
        for _ in range(3):
            up = ps.pixel_shuffle(x, factors, convention=order, layout=layout)
            np.testing.assert_array_equal(up.to(wide).numpy(), expected)
            assert up.is_contiguous()
            assert up.dtype == x.dtype
            down = ps.pixel_unshuffle(up, factors, convention=order, layout=layout)
            assert torch.equal(down, x)
            # every element must be written: none may hold its old value
            out = ~up if dtype == "bool" else torch.full_like(up, 252)
            assert ps.pixel_shuffle(x, factors, convention=order, layout=layout, out=out) is out
            np.testing.assert_array_equal(out.to(wide).numpy(), expected)
        assert torch.equal(x, before)
        # every call but the first of each op (up, down; out= shares up's) took the kernel
        assert len(small_kernel) == 3 * 3 - 2

    def test_requires_grad_takes_autograd_and_no_grad_the_kernel(self, small_kernel):
        torch = self.torch
        x = torch.randn(2, 18, 5, 4, dtype=torch.float64, requires_grad=True)
        weight = torch.randn(2, 2, 15, 12, dtype=torch.float64)
        for _ in range(2):
            y = ps.pixel_shuffle(x, 3, convention="caffe")
            assert y.requires_grad
            (y * weight).sum().backward()
        np.testing.assert_array_equal(
            x.grad.numpy(), 2 * oracle.unshuffle(weight.numpy(), (3, 3), "cwh", "NCHW")
        )
        assert small_kernel == []
        with torch.no_grad():
            y = ps.pixel_shuffle(x, 3, convention="caffe")
        assert not y.requires_grad
        np.testing.assert_array_equal(
            y.numpy(), oracle.shuffle(x.detach().numpy(), (3, 3), "cwh", "NCHW")
        )
        assert len(small_kernel) == 1
        with torch.inference_mode():
            assert torch.equal(ps.pixel_shuffle(x, 3, convention="caffe"), y)
        assert len(small_kernel) == 2

    @pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")  # forward_ad's
    def test_forward_mode_ad_and_lazy_views_take_pytorchs_ops(self, small_kernel):
        import torch.autograd.forward_ad as forward_ad

        torch = self.torch
        x = torch.randn(1, 8, 3, 4)
        tangent = torch.randn_like(x)
        ps.pixel_shuffle(x, 2, convention="tf")  # remembered
        with forward_ad.dual_level():
            y = ps.pixel_shuffle(forward_ad.make_dual(x, tangent), 2, convention="tf")
            assert torch.equal(
                forward_ad.unpack_dual(y).tangent, ps.pixel_shuffle(tangent, 2, convention="tf")
            )
        assert small_kernel == []  # inside the dual level, not even the tangent's call
        z = torch.randn(1, 8, 3, 4, dtype=torch.complex64)
        expected = torch.nn.functional.pixel_shuffle(z, 2)
        assert torch.equal(ps.pixel_shuffle(z, 2), expected)  # remembered
        for lazy in (z.conj(), torch._neg_view(z)):
            assert torch.equal(ps.pixel_shuffle(lazy, 2), expected.conj() if lazy.is_conj()
                               else -expected)  # fmt: skip
            target = torch.zeros(1, 2, 6, 8, dtype=torch.complex64).conj()
            ps.pixel_shuffle(z, 2, out=target)  # written through the lazy bit
            assert torch.equal(target, expected)
        assert small_kernel == []

    def test_out_the_kernel_cannot_write_takes_pytorchs_copy(self, small_kernel):
        torch = self.torch
        x = torch.randn(2, 12, 3, 4)
        expected = oracle.shuffle(x.numpy(), (2, 2), "hwc", "NCHW")
        ps.pixel_shuffle(x, 2, convention="tf")  # remembered
        wide = torch.zeros(2, 3, 6, 16)
        channels_last = torch.zeros(2, 3, 6, 8).contiguous(memory_format=torch.channels_last)
        for out in (wide[..., ::2], channels_last):
            ps.pixel_shuffle(x, 2, convention="tf", out=out)
            np.testing.assert_array_equal(out.numpy(), expected)
        assert not wide[..., 1::2].any()
        assert small_kernel == []
        leaf_out = torch.zeros(2, 3, 6, 8, requires_grad=True)
        with torch.no_grad():
            ps.pixel_shuffle(x, 2, convention="tf", out=leaf_out)
        np.testing.assert_array_equal(leaf_out.detach().numpy(), expected)
        assert len(small_kernel) == 1

    def test_offsets_odd_strides_and_out_inside_a_larger_buffer(self, small_kernel):
        torch = self.torch
        base = torch.arange(1 + 2 * 12 * 3 * 4, dtype=torch.float32)
        x = base[1:].view(2, 12, 3, 4)  # a storage offset of one element
        odd = torch.arange(2 * 12 * 3 * 4, dtype=torch.float32).as_strided(
            (2, 12, 1, 3, 4), (144, 12, 999, 4, 1)
        )  # contiguous, with a size-1 axis of any stride
        assert x.storage_offset() == 1
        assert odd.is_contiguous()
        expected = oracle.shuffle(x.numpy(), (2, 2), "hwc", "NCHW")
        buffer = torch.full((2 + 2 * 3 * 6 * 8,), -1.0)
        out = buffer[1:-1].view(2, 3, 6, 8)
        for _ in range(2):
            np.testing.assert_array_equal(ps.pixel_shuffle(x, 2, convention="tf").numpy(), expected)
            ps.pixel_shuffle(x, 2, convention="tf", out=out)
            np.testing.assert_array_equal(out.numpy(), expected)
            assert buffer[0] == buffer[-1] == -1  # its neighbours untouched
            up = ps.pixel_shuffle(odd, (1, 2, 2), convention="caffe", layout="NCDHW")
            np.testing.assert_array_equal(
                up.numpy(), oracle.shuffle(odd.numpy(), (1, 2, 2), "cwhd", "NCDHW")
            )
        assert len(small_kernel) == 4  # all but the first call of each input

    def test_out_writes_are_seen_by_autograd(self, small_kernel):
        torch = self.torch
        x = torch.randn(1, 8, 3, 4)
        out = torch.zeros(1, 2, 6, 8)
        ps.pixel_shuffle(x, 2, out=out)  # remembered
        weight = torch.ones_like(out, requires_grad=True)
        loss = (weight * out).sum()  # saves out for the backward
        version = out._version
        ps.pixel_shuffle(x + 1, 2, out=out)
        assert len(small_kernel) == 1
        assert out._version > version
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()

    def test_modes_transforms_and_odd_memory_take_pytorchs_ops(self, small_kernel):
        """A default device (a torch-function mode), torch.func.grad, zero tensors and
        freed storage: the kernel never writes or reads through such addresses."""
        torch = self.torch
        x = torch.randn(1, 16, 8, 8)
        expected = torch.nn.functional.pixel_shuffle(x, 2)
        ps.pixel_shuffle(x, 2)  # remembered
        with torch.device("meta"):
            y = ps.pixel_shuffle(x, 2)
        assert y.device.type == "cpu"
        assert torch.equal(y, expected)
        gradient = torch.func.grad(lambda w: (ps.pixel_shuffle(x, 2) * w).sum())(
            torch.ones(1, 4, 16, 16)
        )
        assert torch.equal(gradient, expected)
        zeros = torch._efficientzerotensor(1, 16, 8, 8)
        assert torch.equal(ps.pixel_shuffle(zeros, 2), torch.zeros(1, 4, 16, 16))
        assert small_kernel == []
        freed = torch.randn(1, 16, 8, 8)
        freed.untyped_storage().resize_(0)  # as FSDP frees parameters
        with pytest.raises(RuntimeError, match=r"not allocated|out of bounds"):  # PyTorch's error
            ps.pixel_shuffle(freed, 2)
        assert small_kernel == []

    def test_the_measured_sizes_choose_the_kernel(self, monkeypatch):
        """With the library's own thresholds: tiny tensors keep PyTorch's op, small
        interleaving copies take the kernel, and tf-order NHWC rows take it only while
        they are short of 64 KiB, or short enough to be shuffled."""
        from pixelshuffle import _ops, _torch

        torch = self.torch
        monkeypatch.setattr(_torch, "_RECIPES", {})

        def plan_kind(x, convention, layout, factor=2):
            ps.pixel_shuffle(x, factor, convention=convention, layout=layout)
            prepared = _ops.prepare("pixel_shuffle", "shuffle", factor, convention, layout, None)
            recipe = _torch._RECIPES.get((prepared, x.shape, x.dtype, x.device))
            if recipe is None:
                return "not remembered"
            return None if recipe.copy_plan is None else recipe.copy_plan.kind

        assert plan_kind(torch.randn(1, 16, 8, 8), "torch", "NCHW") is None  # 4 KiB
        # 12 KiB: below the wide elements' size, above the narrow ones'
        assert plan_kind(torch.randn(1, 12, 16, 16), "torch", "NCHW") is None
        assert plan_kind(torch.randn(1, 12, 16, 32).bfloat16(), "torch", "NCHW") == "transpose"
        assert plan_kind(torch.zeros(1, 48, 16, 16, dtype=torch.uint8), "torch", "NCHW") == (
            "transpose"
        )
        assert plan_kind(torch.randn(1, 16, 32, 32), "torch", "NCHW") == "transpose"
        assert plan_kind(torch.randn(1, 32, 32, 16), "torch", "NHWC") == "shuffle"
        assert plan_kind(torch.randn(1, 16, 16, 48), "tf", "NHWC") == "rows"  # 48 KiB
        assert plan_kind(torch.randn(1, 16, 21, 48), "tf", "NHWC") == "rows"  # 63 KiB
        assert plan_kind(torch.randn(1, 16, 22, 48), "tf", "NHWC") is None  # 66 KiB
        # ... unless the rows are short enough to shuffle (8 floats: 32 bytes)
        assert plan_kind(torch.randn(1, 32, 32, 16), "tf", "NHWC") == "shuffle"  # 64 KiB
        # PyTorch's op copies channels-last pixels of 32 bytes or more whole, faster,
        # unless the kernel shuffles them, or deals them out in bytes or bfloat16
        assert plan_kind(torch.randn(2, 16, 20, 48), "torch", "NHWC") is None  # 48 bytes
        wide_dealt = torch.randn(2, 16, 20, 64).bfloat16()  # 32 bytes, 16 channels
        assert plan_kind(wide_dealt, "torch", "NHWC") == "deal"
        assert plan_kind(torch.randn(2, 16, 20, 48).bfloat16(), "torch", "NHWC") == "shuffle"
        assert plan_kind(torch.randn(1, 64, 64, 48), "tf", "NHWC") is None  # 768 KiB
        # from 1 MiB on, every plan runs (in parallel where numba can) ...
        assert plan_kind(torch.randn(4, 64, 64, 64), "torch", "NCHW") == "transpose"
        assert plan_kind(torch.randn(4, 64, 64, 48), "tf", "NHWC") == "rows"
        # ... unless PyTorch's channels-last kernel is the faster: for pixels that the
        # kernels can neither shuffle nor deal out (deep ones by 8), and for all of them
        # where numba runs serially
        parallel = _kernels.runs_in_parallel(1 << 20)
        for channels, kind in ((16, "shuffle"), (32, "deal"), (64, "deal"), (128, "deal")):
            pixels = plan_kind(torch.randn(4, 64, 64, channels), "torch", "NHWC")
            assert pixels == (kind if parallel else "not remembered")
        by_three = plan_kind(torch.randn(4, 64, 64, 9 * 16), "torch", "NHWC", factor=3)
        assert by_three == ("deal" if parallel else "not remembered")  # 9 runs of 16
        deep = torch.randn(4, 16, 16, 64 * 16)  # by 8: 64 runs of 16 channels
        assert plan_kind(deep, "torch", "NHWC", factor=8) == "not remembered"
        # bytes too, where the kernels transpose each pixel; serial, the kernels still
        # beat the reference path for them
        deep_bytes = torch.randint(0, 256, (4, 32, 32, 64 * 32), dtype=torch.uint8)
        assert plan_kind(deep_bytes, "torch", "NHWC", factor=8) == (
            "not remembered" if parallel else "transpose"
        )
        dealt_bytes = torch.randint(0, 256, (4, 64, 64, 256), dtype=torch.uint8)
        assert plan_kind(dealt_bytes, "torch", "NHWC") == "deal"
        shallow_bytes = torch.randint(0, 256, (4, 128, 128, 64), dtype=torch.uint8)
        assert plan_kind(shallow_bytes, "torch", "NHWC") == "shuffle"
        for x, factor in ((deep_bytes, 8), (dealt_bytes, 2)):
            expected = torch.nn.functional.pixel_shuffle(x.permute(0, 3, 1, 2), factor)
            expected = expected.permute(0, 2, 3, 1)
            assert torch.equal(ps.pixel_shuffle(x, factor, layout="NHWC"), expected)

    def test_each_address_wrapper_binds_its_own_kernel(self):
        cpu = _kernels.cpu_kernels()
        assert set(cpu._AT_ADDRESSES) == set(cpu._KERNELS)
        for key, wrapper in cpu._AT_ADDRESSES.items():
            assert wrapper.py_func.__globals__["kernel"] is cpu._KERNELS[key]
        # numba's on-disk cache tells functions apart by their qualified names
        names = {wrapper.py_func.__qualname__ for wrapper in cpu._AT_ADDRESSES.values()}
        assert len(names) == len(cpu._AT_ADDRESSES)

    def test_numba_with_jit_disabled_leaves_the_kernels_out(self):
        import subprocess

        code = (
            "import torch, pixelshuffle as ps\n"
            "from pixelshuffle import _kernels\n"
            "x = torch.randn(2, 16, 64, 64)\n"
            "first, second = (ps.pixel_shuffle(x, 2, convention='tf') for _ in range(2))\n"
            "expected = x.view(2, 2, 2, 4, 64, 64).permute(0, 3, 4, 1, 5, 2)\n"
            "expected = expected.reshape(2, 4, 128, 128)\n"
            "assert torch.equal(first, expected) and torch.equal(second, expected)\n"
            "print(_kernels.cpu_kernels())\n"
        )
        env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
        run = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert run.stdout.strip() == "None"

    def test_large_remembered_shapes_fall_back_to_the_full_path(self, monkeypatch):
        """From 1 MiB on, a remembered shape runs its kernel or else the full path (with
        its own kernels), never the small recipes' PyTorch copies."""
        from pixelshuffle import _torch

        torch = self.torch
        monkeypatch.setattr(_torch, "_RECIPES", {})
        paths = []
        parallels = []
        for name in ("copy_permuted", "copy_at"):
            original = getattr(_kernels.cpu_kernels(), name)

            def counting(*args, original=original, name=name):
                paths.append(name)
                parallels.append(args[-1])
                return original(*args)

            monkeypatch.setattr(_kernels.cpu_kernels(), name, counting)
        x = torch.randn(2, 36, 64, 96, dtype=torch.float64)  # 3.4 MiB
        expected = oracle.shuffle(x.numpy(), (3, 3), "cwh", "NCHW")
        for _ in range(2):
            np.testing.assert_array_equal(ps.pixel_shuffle(x, 3, convention="caffe").numpy(),
                                          expected)  # fmt: skip
        assert paths == ["copy_permuted", "copy_at"]
        assert parallels == [True, True]  # asked for; numba's layer decides (cpu.PARALLEL)
        every_other = torch.zeros(4, 4, 192, 288, dtype=torch.float64)
        ps.pixel_shuffle(x, 3, convention="caffe", out=every_other[::2])  # a strided out
        np.testing.assert_array_equal(every_other[::2].numpy(), expected)
        assert not every_other[1::2].any()
        leaf = x.clone().requires_grad_()
        y = ps.pixel_shuffle(leaf, 3, convention="caffe")
        y.backward(y.detach())
        assert torch.equal(leaf.grad, x)
        assert paths == ["copy_permuted", "copy_at"] + ["copy_permuted"] * 3


def _available_memory() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not every platform reports it
        return 0


@pytest.mark.slow
@pytest.mark.skipif(_available_memory() < 6 * 2**30, reason="needs 6 GiB of free memory")
def test_more_than_2_to_the_31_elements():
    """64-bit indexing: a 2.4 GiB uint8 tensor, checked at sampled positions, most of
    them beyond the first 2**31 elements, against the index formula."""
    torch = require("torch")
    channels, factor, height, width = 2, 3, 4000, 30000
    x = torch.randint(0, 256, (1, channels * factor**2, height, width), dtype=torch.uint8)
    assert x.numel() > 2**31
    for convention, order in (("torch", "chw"), ("tf", "hwc")):
        y = ps.pixel_shuffle(x, factor, convention=convention)
        rng = np.random.default_rng(0)
        rows = rng.integers(0, height * factor, 2000)
        cols = rng.integers(0, width * factor, 2000)
        rows[:1000] = height * factor - 1 - rows[:1000] % 5  # the far end of memory
        c = rng.integers(0, channels, 2000)
        c[:1000] = channels - 1
        i, di = rows // factor, rows % factor
        j, dj = cols // factor, cols % factor
        offset = di * factor + dj
        depth = c * factor**2 + offset if order == "chw" else offset * channels + c
        expected = x[0, torch.from_numpy(depth), torch.from_numpy(i), torch.from_numpy(j)]
        got = y[0, torch.from_numpy(c), torch.from_numpy(rows), torch.from_numpy(cols)]
        assert torch.equal(got, expected), convention
        del y


def test_kernels_from_many_threads_at_once():
    """Data loaders call the op from several threads: results stay right, and a
    parallel launch from two threads must not bring the process down."""
    import concurrent.futures

    torch = require("torch")
    x = (torch.arange(4 * 27 * 96 * 128) % 251).to(torch.uint8).reshape(4, 27, 96, 128)
    expected = ps.pixel_shuffle(x.to(torch.int32), 3, convention="tf").to(torch.uint8)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: ps.pixel_shuffle(x, 3, convention="tf"), range(16)))
    assert all(torch.equal(result, expected) for result in results)


def test_kernels_that_cannot_load_leave_the_reference_path(monkeypatch):
    """Kernels that fail to load (not just missing): the library warns once and runs
    without them rather than failing."""
    real_import = importlib.import_module

    def failing(name, *args):
        if name.endswith("_kernels.cpu"):
            raise RuntimeError("cannot cache function '_row_bases': no locator available")
        return real_import(name, *args)

    monkeypatch.setattr(_kernels, "_LOADED", {})
    monkeypatch.setattr(_kernels.importlib, "import_module", failing)
    with pytest.warns(RuntimeWarning, match="without its CPU kernels.*no locator"):
        assert _kernels.cpu_kernels() is None
    assert _kernels.cpu_kernels() is None  # and it warns once
    monkeypatch.setattr(_kernels, "MIN_BYTES", 0)
    x = (np.arange(2 * 12 * 5 * 4) % 251).astype(np.uint8).reshape(2, 12, 5, 4)
    np.testing.assert_array_equal(
        ps.pixel_shuffle(x, 2, convention="tf"), oracle.shuffle(x, (2, 2), "hwc", "NCHW")
    )


def test_no_parallel_launches_on_numbas_workqueue_layer():
    import subprocess
    import sys

    code = "from pixelshuffle._kernels import cpu; print(cpu.PARALLEL)"
    environment = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue"}
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True
    )
    assert completed.stdout.strip() == "False"


@pytest.mark.parametrize("dtype", [np.uint8, np.float16, np.float32, np.complex64])
@pytest.mark.parametrize("layout", ["NLC", "NHWC", "NDHWC", "NCHW"])
@pytest.mark.parametrize("convention", ["torch", "caffe"])  # depth first: per-pixel transposes
def test_short_output_runs_are_shuffled_or_gathered(kernels_always, convention, layout, dtype):
    """A few channels by the factor (a small transpose per pixel): each short output run
    is written whole from a table of input offsets, by vector shuffles (``shuffle``)
    where the run fits the kernel's windows (here always for elements of up to 4 bytes),
    else one run at a time (``gather``), in rows of many pixels and in tiny images alike;
    NCHW rows (split by 2 along W here) keep to the transposes."""
    order = _order(convention, layout)
    rank = len(layout) - 2
    factors = FACTORS[rank]
    for spatial in ({1: (300,), 2: (3, 301), 3: (2, 3, 150)}[rank], (2,) * rank):
        long_rows = list(kernels_always)  # the kernels of the images of long rows
        depth = 3 * math.prod(factors)
        shape = (5, *spatial, depth) if layout.endswith("C") else (5, depth, *spatial)
        x = (np.arange(math.prod(shape)) % 251).astype(dtype).reshape(shape)
        up = ps.pixel_shuffle(x, factors, convention=order, layout=layout)
        np.testing.assert_array_equal(up, oracle.shuffle(x, factors, order, layout))
        np.testing.assert_array_equal(ps.pixel_unshuffle(up, factors, convention=order,
                                                         layout=layout), x)  # fmt: skip
    if layout == "NCHW":  # tiny NCHW images have short runs too, and gather them
        assert set(long_rows) == {"transpose"}
    else:
        assert set(kernels_always) <= {"shuffle", "gather"}
        if np.dtype(dtype).itemsize <= 4:
            assert set(long_rows) == {"shuffle"}


def _plan_of(moved):
    """The CPU kernels' plan for copying ``moved`` into a C-contiguous array, any size."""
    itemsize = moved.itemsize
    out_strides = np.empty(moved.shape, moved.dtype).strides
    in_elements, out_elements = ([s // itemsize for s in st] for st in (moved.strides, out_strides))
    return _kernels.cpu_kernels().plan_copy(moved.shape, in_elements, out_elements, itemsize)


class TestShuffle:
    """The *shuffle* kernel: a block of pixels per vector load, shuffle and store, with
    the pixels left at a row's end, and any block that would load past the input's end,
    gathered one by one."""

    @pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
    @pytest.mark.parametrize("direction", ["up", "down"])
    @pytest.mark.parametrize("convention", ["torch", "tf", "caffe"])
    def test_every_row_length(self, kernels_always, convention, direction, dtype):
        """Rows of 1 to 23 pixels: no blocks, whole blocks, blocks and leftovers."""
        order = _order(convention, "NHWC")
        for width in range(1, 24):
            shape = (2, 3, width, 3 * 4) if direction == "up" else (2, 3 * 2, width * 2, 3)
            x = (np.arange(math.prod(shape)) * 7 % 251).astype(dtype).reshape(shape)
            if direction == "up":
                got = ps.pixel_shuffle(x, 2, convention=order, layout="NHWC")
                expected = oracle.shuffle(x, (2, 2), order, "NHWC")
            else:
                got = ps.pixel_unshuffle(x, 2, convention=order, layout="NHWC")
                expected = oracle.unshuffle(x, (2, 2), order, "NHWC")
            np.testing.assert_array_equal(got, expected)
        if dtype != np.float32:
            assert "shuffle" in kernels_always

    @pytest.mark.parametrize("factor", [2, 3, 4])
    @pytest.mark.parametrize("convention", ["torch", "tf"])
    def test_unshuffles_read_a_segment_per_input_row(self, convention, factor):
        """An unshuffle's output pixel comes from ``r`` input rows, far apart: one
        window per row (segment). Their starts depend on the width, the pattern not, so
        images of other widths reuse its compiled code."""
        patterns = []
        for width in (40, 41):
            x = np.zeros((1, 2 * factor, width * factor, 3), np.uint8)  # NHWC
            split = x.reshape(1, 2, factor, width, factor, 3)
            moved = split.transpose(0, 1, 3, 5, 2, 4) if convention == "torch" else (
                split.transpose(0, 1, 3, 2, 4, 5))  # fmt: skip
            plan = _plan_of(moved)
            assert plan.kind == "shuffle"
            starts, compiled_blocks = plan.args[5], plan.args[7]  # see cpu._shuffle_plan
            row = width * factor * 3
            assert starts.tolist() == [i * row for i in range(factor)]
            patterns.append(compiled_blocks)
        assert patterns[0] == patterns[1]  # the address of one compiled function

    @pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
    @pytest.mark.parametrize("factor", [2, 3, 4])
    def test_unshuffles_deal_each_input_row_out_to_factor_rows(self, kernels_always, factor, dtype):
        """NCHW unshuffles by 3 and 4: each block loads consecutive input and stores a
        stretch into each of the ``factor`` output rows. Widths from 8 to 70 give blocks
        of 4 to 32 pixels, whole rows of them and rows that end in a block overlapping
        the one before; a batch of 3-D volumes adds outer axes. By 2, the transposes."""
        for width in range(8, 71):
            x = (np.arange(2 * 3 * 2 * factor * width * factor) * 7 % 251).astype(dtype)
            x = x.reshape(2, 3, 2 * factor, width * factor)
            got = ps.pixel_unshuffle(x, factor)
            np.testing.assert_array_equal(got, oracle.unshuffle(x, (factor,) * 2, "chw", "NCHW"))
        volume = (np.arange(2 * 2 * 4 * 6 * 40 * factor) % 251).astype(dtype)
        volume = volume.reshape(2, 2, 4, 6, 40 * factor)
        got = ps.pixel_unshuffle(volume, (2, 3, factor), layout="NCDHW")
        expected = oracle.unshuffle(volume, (2, 3, factor), "cdhw", "NCDHW")
        np.testing.assert_array_equal(got, expected)
        assert set(kernels_always) == {"deal" if factor > 2 else "transpose"}

    @pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
    @pytest.mark.parametrize("factor", [2, 3, 4])
    @pytest.mark.parametrize("convention", ["torch", "caffe"])  # depth first
    def test_deep_nhwc_pixels_are_dealt_out_to_their_runs(
        self, kernels_always, convention, factor, dtype
    ):
        """NHWC upsampling in ``torch`` and ``caffe`` order: each pixel's ``r·r·C``
        consecutive channels are dealt out to ``r·r`` runs of ``C`` (``r`` output rows
        of ``r`` pixels; ``caffe`` takes the offsets column-major), with ``C`` from 8
        to 70: whole blocks, and blocks overlapping the one before. Unshuffled back,
        those runs are the segments of *shuffle* (up to 16)."""
        order = _order(convention, "NHWC")
        for channels in (8, 9, 16, 31, 33, 64, 70):
            shape = (2, 3, 5, factor * factor * channels)
            x = (np.arange(math.prod(shape)) * 7 % 251).astype(dtype).reshape(shape)
            up = ps.pixel_shuffle(x, factor, convention=order, layout="NHWC")
            np.testing.assert_array_equal(up, oracle.shuffle(x, (factor,) * 2, order, "NHWC"))
            down = ps.pixel_unshuffle(up, factor, convention=order, layout="NHWC")
            np.testing.assert_array_equal(down, x)
        assert "deal" in kernels_always
        assert "shuffle" in kernels_always

    @pytest.mark.parametrize("factors", [(2, 4), (4, 4)])
    def test_transposes_of_8_and_16_rows_run_in_rounds(self, kernels_always, factors):
        """NHWC by 4 (or 2 × 4) of deep maps: pixels of 8 or 16 runs of channels are
        interleaved (unshuffles) and dealt out (upsampling) by rounds of two-vector
        shuffles instead of one large shuffle."""
        cpu = _kernels.cpu_kernels()
        order = _order("torch", "NHWC")
        for dtype in (np.uint8, np.uint16, np.float32, np.float64):
            shape = (2, 3, 5, math.prod(factors) * 64)
            x = (np.arange(math.prod(shape)) * 7 % 251).astype(dtype).reshape(shape)
            up = ps.pixel_shuffle(x, factors, convention=order, layout="NHWC")
            np.testing.assert_array_equal(up, oracle.shuffle(x, factors, order, "NHWC"))
            down = ps.pixel_unshuffle(up, factors, convention=order, layout="NHWC")
            np.testing.assert_array_equal(down, x)
        in_rounds = {
            cpu._transpose_kind(key, cpu._loaded_window(key[0], key[2], key[4]), itemsize)
            for key, itemsize in cpu._BLOCK_FUNCTIONS
        }
        assert {"interleave", "deal"} <= in_rounds

    def test_blocks_never_load_past_the_inputs_end(self):
        """A block loads a power-of-two window, a little past its last element: an input
        that ends just before an unreadable page must still copy without a fault (in a
        subprocess, so that a fault fails this test rather than ending the run)."""
        import subprocess

        code = """
import ctypes, mmap, numpy as np
from pixelshuffle import _kernels
page = mmap.PAGESIZE
memory = mmap.mmap(-1, 2 * page)
libc = ctypes.CDLL(None)
address = ctypes.addressof(ctypes.c_char.from_buffer(memory))
buffer = np.frombuffer(memory, np.uint8)
assert libc.mprotect(ctypes.c_void_p(address + page), page, 0) == 0  # PROT_NONE
for width in (5, 6, 7, 16, 17):
    size = 4 * width * 12  # NHWC uint8, torch order, factor 2: pixels of 12 bytes
    x = buffer[page - size : page].reshape(1, 4, width, 12)
    x[...] = np.arange(x.size).reshape(x.shape) % 251
    moved = x.reshape(1, 4, width, 3, 2, 2).transpose(0, 1, 4, 2, 5, 3)
    out = np.empty(moved.shape, np.uint8)
    plan = _kernels.cpu_kernels().plan_copy(moved.shape, moved.strides, out.strides, 1)
    assert plan.kind == "shuffle", plan.kind
    _kernels.copy_contiguous_numpy(plan, x, out)
    assert (out == moved).all()
for width in (8, 9, 31, 33, 40, 64):
    size = 3 * 6 * width * 3  # NCHW uint8, unshuffled by 3: rows dealt out to 3 rows
    x = buffer[page - size : page].reshape(1, 3, 6, 3 * width)
    x[...] = np.arange(x.size).reshape(x.shape) % 251
    moved = x.reshape(1, 3, 2, 3, width, 3).transpose(0, 1, 3, 5, 2, 4)
    out = np.empty(moved.shape, np.uint8)
    plan = _kernels.cpu_kernels().plan_copy(moved.shape, moved.strides, out.strides, 1)
    assert plan.kind == "deal", plan.kind
    _kernels.copy_contiguous_numpy(plan, x, out)
    assert (out == moved).all()
print("ok")
"""
        completed = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
        )
        assert completed.returncode == 0, completed.stderr[-2000:]
        assert completed.stdout.strip() == "ok"

    def test_kernels_compile_uncached_where_numba_cannot_cache(self):
        cpu = _kernels.cpu_kernels()
        calls = []

        def decorator(cache=False, **options):
            calls.append((cache, options))
            if cache:
                raise RuntimeError("cannot cache function: no locator available")
            return lambda function: function

        assert cpu._cached(decorator, len, nogil=True) is len
        assert calls == [(True, {"nogil": True}), (False, {"nogil": True})]

    def test_a_pattern_compiles_where_numba_cannot_cache_it(self, monkeypatch):
        """A cache location that is gone or read-only: the pattern compiles uncached."""
        cpu = _kernels.cpu_kernels()
        real_cfunc = cpu.cfunc

        def cfunc(sig, cache=False):
            if cache:
                raise RuntimeError("cannot cache function: no locator available")
            return real_cfunc(sig)

        monkeypatch.setattr(cpu, "cfunc", cfunc)
        monkeypatch.setattr(cpu, "_BLOCK_FUNCTIONS", {})
        cpu._plan_copy.cache_clear()
        try:
            x = (np.arange(4 * 40 * 12) % 251).astype(np.uint8).reshape(1, 4, 40, 12)
            moved = x.reshape(1, 4, 40, 3, 2, 2).transpose(0, 1, 4, 2, 5, 3)
            plan = _plan_of(moved)
            assert plan.kind == "shuffle"
            out = np.empty(moved.shape, np.uint8)
            _kernels.copy_contiguous_numpy(plan, x, out)
            np.testing.assert_array_equal(out, moved)
        finally:
            cpu._plan_copy.cache_clear()  # no plan may keep the uncached function's address

    def test_one_merged_outer_axis_is_split_into_rows_of_pixels(self):
        """1-D NLC merges batch and length into one outer axis: the plan splits it into
        rows (for the threads) of pixels (for the blocks), by a divisor of its size."""
        x = np.zeros((6, 1000, 12), np.uint8)  # NLC, torch order, factor 4: 6000 pixels
        moved = x.reshape(6, 1000, 3, 4).transpose(0, 1, 3, 2)
        plan = _plan_of(moved)
        assert plan.kind == "shuffle"
        sizes = plan.args[0]
        assert sizes.tolist() == [6000 // 1000, 1, 1000]  # rows of one line of pixels
        prime = np.zeros((1, 1031, 12), np.uint8)  # 1031 pixels: no rows to split into
        moved = prime.reshape(1, 1031, 3, 4).transpose(0, 1, 3, 2)
        assert _plan_of(moved).kind == "gather"


@pytest.mark.parametrize(
    ("shape", "factor", "layout", "dealt_by"),
    [
        ((2, 64, 16, 32), 2, "NCHW", "transpose"),  # runs of 8 or more elements
        ((2, 64, 16, 16), 2, "NCHW", "transpose"),
        ((2, 64, 16, 8), 2, "NCHW", "transpose"),
        ((8, 64, 32), 2, "NCL", "transpose"),
        ((2, 9 * 4, 16, 24), 3, "NCHW", "deal"),
        ((8, 4 * 16, 32), 4, "NCL", "deal"),
        ((2, 3, 5, 3 * 64), 8, "NHWC", "deal"),  # 8 interleaved rows of 3 channels each
    ],
)
def test_long_runs_are_interleaved_by_the_transposes(kernels_always, shape, factor, layout,
                                                     dealt_by):  # fmt: skip
    """Runs of 8 or more: the transposes interleave them (LLVM vectorises those loops).
    Dealing them out again to 3 or more rows is a *deal* (the *shuffle* kernel, a vector
    load of input at a time); to 2 rows, the transposes' again."""
    x = (np.arange(math.prod(shape)) % 251).astype(np.float32).reshape(shape)
    factors = (factor,) * (len(layout) - 2)
    order = oracle.preset_order("torch", layout)
    up = ps.pixel_shuffle(x, factors, convention="torch", layout=layout)
    np.testing.assert_array_equal(up, oracle.shuffle(x, factors, order, layout))
    assert kernels_always == ["transpose"]
    down = ps.pixel_unshuffle(up, factors, convention="torch", layout=layout)
    np.testing.assert_array_equal(down, x)
    assert kernels_always == ["transpose", dealt_by]


def test_gathered_tiny_images_split_into_rows_for_the_threads():
    """Tiny images in a large batch merge into one outer axis; each of its indices must be
    a row of its own, or the parallel kernel would run the whole copy on one thread."""
    cpu = _kernels.cpu_kernels()
    x = np.zeros((4096, 2, 2, 27), np.float32)  # NHWC, torch order, factor 3: 2x2 pixels
    split = x.reshape(4096, 2, 2, 3, 3, 3).transpose(0, 1, 4, 2, 5, 3)
    out = np.empty(split.shape, np.float32)
    plan = cpu.plan_copy(
        split.shape, [s // 4 for s in split.strides], [s // 4 for s in out.strides], 4
    )
    assert plan.kind == "gather"
    sizes = plan.args[0]
    assert math.prod(int(n) for n in sizes[:-1]) >= 4096  # rows the threads share
