"""The Triton GPU kernels give bit-identical results to the oracle for every convention,
layout, rank, direction and element size, on strided and channels-last inputs, strided
``out=`` and autograd's backward.

CI has no GPU: the kernels run on CPU tensors in Triton's interpreter, through the same
dispatch a CUDA tensor takes. The last tests run the compiled kernels where CUDA is.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

import pixelshuffle as ps
from pixelshuffle import _kernels

from . import oracle
from .conftest import require

torch = require("torch")
require("triton")

FACTORS = {1: (3,), 2: (2, 4), 3: (2, 3, 2)}
COARSE = {1: (7,), 2: (5, 3), 3: (3, 2, 4)}
CONVENTIONS = ["torch", "tf", "caffe", "order"]
# the integer type that holds each dtype's test values exactly, for the oracle
EXACT = {torch.complex64: torch.complex64}


@pytest.fixture
def triton_kernels(monkeypatch):
    """Route every torch copy on CPU, however small, through the Triton kernels (run by
    the interpreter) and record which kernel ran."""
    gpu = _kernels.gpu_kernels()
    assert gpu is not None
    monkeypatch.setattr(_kernels, "TRITON_DEVICES", frozenset({"cuda", "cpu"}))
    monkeypatch.setattr(_kernels, "GPU_MIN_BYTES", 0)
    # no recipe from an earlier test may take these shapes past the kernels
    monkeypatch.setattr(importlib.import_module("pixelshuffle._torch"), "_RECIPES", {})
    launched: list[str] = []
    original = gpu.run

    def recording(launch, source, target):
        launched.append(launch.kernel)
        return original(launch, source, target)

    monkeypatch.setattr(gpu, "run", recording)
    return launched


def _order(convention, layout):
    if convention == "order":
        return layout[1:].replace("C", "").lower()[::-1] + "c"
    return oracle.preset_order(convention, layout)


def _depth(layout, dtype, batch=(2,), channels=3):
    rank = len(layout) - 2
    depth = channels * math.prod(FACTORS[rank])
    spatial = COARSE[rank]
    shape = (*batch, *spatial, depth) if layout.endswith("C") else (*batch, depth, *spatial)
    values = torch.arange(math.prod(shape)) % 251
    return values.to(dtype).reshape(shape)


def _numpy(t):
    return t.to(EXACT.get(t.dtype, torch.int64)).numpy()


@pytest.mark.parametrize(
    "dtype",
    [torch.bool, torch.bfloat16, torch.float32, torch.complex64],  # 1, 2, 4, 8 bytes
)
@pytest.mark.parametrize("layout", oracle.ALL_LAYOUTS)
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_kernels_equal_the_oracle(triton_kernels, convention, layout, dtype):
    order = _order(convention, layout)
    factors = FACTORS[len(layout) - 2]
    x = _depth(layout, dtype)
    up = ps.pixel_shuffle(x, factors, convention=order, layout=layout)
    np.testing.assert_array_equal(_numpy(up), oracle.shuffle(_numpy(x), factors, order, layout))
    down = ps.pixel_unshuffle(up, factors, convention=order, layout=layout)
    assert torch.equal(down, x)
    axis = -1 if layout.endswith("C") else 1
    converted = ps.convert(x, factors, src=order, dst="tf", layout=layout)
    permutation = ps.channel_permutation(x.shape[axis], factors, src=order, dst="tf",
                                         layout=layout)  # fmt: skip
    np.testing.assert_array_equal(_numpy(converted), np.take(_numpy(x), permutation, axis=axis))
    assert len(triton_kernels) >= 2  # shuffle and unshuffle (a conversion may be a no-op)


@pytest.mark.parametrize(
    ("convention", "layout", "factor", "channels", "width", "up_kernel", "down_kernel"),
    [
        ("torch", "NCHW", 2, 5, 7, "interleave", "deinterleave"),
        ("torch", "NCHW", 4, 5, 7, "interleave", "deinterleave"),
        ("tf", "NCHW", 8, 5, 7, "interleave", "deinterleave"),
        # rows interleaved by 3, a small transpose per pixel, short tf-order runs: the
        # output walked in order (*gather*); runs of 128 bytes and more: rows
        ("torch", "NCHW", 3, 5, 70, "gather", "gather"),
        ("tf", "NHWC", 3, 5, 7, "gather", "gather"),
        ("torch", "NHWC", 2, 5, 7, "gather", "gather"),
        ("caffe", "NHWC", 2, 3, 7, "gather", "gather"),
        ("tf", "NHWC", 2, 16, 7, "rows", "rows"),
    ],
)
def test_each_access_pattern_has_its_kernel(
    triton_kernels, convention, layout, factor, channels, width, up_kernel, down_kernel
):
    coarse = (3, width)
    depth = channels * factor**2
    shape = (2, *coarse, depth) if layout == "NHWC" else (2, depth, *coarse)
    x = torch.randn(shape)
    up = ps.pixel_shuffle(x, factor, convention=convention, layout=layout)
    order = oracle.preset_order(convention, layout)
    np.testing.assert_array_equal(
        up.numpy(), oracle.shuffle(x.numpy(), (factor, factor), order, layout)
    )
    down = ps.pixel_unshuffle(up, factor, convention=convention, layout=layout)
    assert torch.equal(down, x)
    assert triton_kernels == [up_kernel, down_kernel]


@pytest.mark.parametrize(
    ("dtype", "up_kernel"), [(torch.bfloat16, "gather"), (torch.float32, "interleave")]
)
def test_interleaving_two_byte_rows_walks_the_output(triton_kernels, dtype, up_kernel):
    x = (torch.arange(2 * 12 * 5 * 9) % 251).to(dtype).reshape(2, 12, 5, 9)
    up = ps.pixel_shuffle(x, 2)
    assert torch.equal(up, torch.nn.functional.pixel_shuffle(x, 2))
    assert torch.equal(ps.pixel_unshuffle(up, 2), x)
    assert triton_kernels == [up_kernel, "deinterleave"]
    # into a strided out= only the input is one block: the interleave, not *scatter*
    rows_apart = torch.zeros(2, 3, 20, 18, dtype=dtype)
    ps.pixel_shuffle(x, 2, out=rows_apart[:, :, ::2])
    assert torch.equal(rows_apart[:, :, ::2], up)
    assert triton_kernels[2:] == ["interleave"]


@pytest.mark.parametrize("kernel", ["gather", "scatter"])
def test_walks_compile_once_for_every_batch_size(kernel):
    """The walks take sizes and strides as constants, except the outermost axis's size:
    batches of any size run one compiled kernel."""
    gpu = _kernels.gpu_kernels()
    blocks = []
    for batch in (7, 8, 64):
        shape, in_strides = (batch, 5, 7, 3, 2, 2), (420, 84, 12, 4, 2, 1)  # NHWC by 2
        out_strides = (420, 84, 6, 1, 42, 3)  # into (batch, 5, 2, 7, 2, 3)
        if kernel == "gather":  # contiguous output: the output is walked
            launch = gpu._flat_launch(shape, out_strides, in_strides, 4, gather=True)
        else:
            launch = gpu._flat_launch(shape, in_strides, out_strides, 4, gather=False)
        blocks.append(launch.blocks)
    assert blocks[0] == blocks[1] == blocks[2]


def test_long_rows_span_several_programs(triton_kernels):
    # rows longer than one program's block, and a tail that is not a power of two
    x = torch.randn(1, 4, 3, 5000)
    up = ps.pixel_shuffle(x, 2)
    assert torch.equal(up, torch.nn.functional.pixel_shuffle(x, 2))
    assert torch.equal(ps.pixel_unshuffle(up, 2), x)
    wide = torch.randn(1, 3, 2, 4100 * 3 * 3)  # NHWC tf order: one long run per pixel row
    assert torch.equal(
        ps.pixel_shuffle(wide, 3, convention="tf", layout="NHWC"),
        torch.from_numpy(oracle.shuffle(wide.numpy(), (3, 3), "hwc", "NHWC")),
    )
    assert triton_kernels == ["interleave", "deinterleave", "rows"]


@pytest.mark.parametrize("convention", ["torch", "tf", "caffe"])
def test_channels_last_stays_channels_last(triton_kernels, convention):
    x = _depth("NCHW", torch.float32).contiguous(memory_format=torch.channels_last)
    up = ps.pixel_shuffle(x, (2, 4), convention=convention)
    assert up.is_contiguous(memory_format=torch.channels_last)
    order = oracle.preset_order(convention, "NCHW")
    np.testing.assert_array_equal(up.numpy(), oracle.shuffle(x.numpy(), (2, 4), order, "NCHW"))
    back = ps.pixel_unshuffle(up, (2, 4), convention=convention)
    assert back.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(back, x)
    assert triton_kernels


def test_strided_input_and_strided_out(triton_kernels):
    base = torch.arange(4 * 18 * 6 * 8, dtype=torch.float32).reshape(4, 18, 6, 8)
    x = base[1::2, :, 1:]  # strided batch and rows; each row stays contiguous
    expected = oracle.shuffle(x.contiguous().numpy(), (3, 3), "hwc", "NCHW")
    np.testing.assert_array_equal(ps.pixel_shuffle(x, 3, convention="tf").numpy(), expected)
    tall = torch.zeros(2, 2, 30, 24)
    ps.pixel_shuffle(x, 3, convention="tf", out=tall[:, :, ::2])
    np.testing.assert_array_equal(tall[:, :, ::2].numpy(), expected)
    assert not tall[:, :, 1::2].any()
    # neither the input nor this out one block: a tile transpose between the rows
    assert triton_kernels == ["gather", "tile"]
    # no axis contiguous in the input: the contiguous output walked in order (*gather*)
    columns = base[1::2, :, :, ::2]
    np.testing.assert_array_equal(
        ps.pixel_shuffle(columns, 3, convention="tf").numpy(),
        oracle.shuffle(columns.contiguous().numpy(), (3, 3), "hwc", "NCHW"),
    )
    assert triton_kernels[2:] == ["gather"]
    # neither side one block (a strided out as well): torch's own strided copy
    rows_apart = torch.zeros(2, 2, 36, 12)
    ps.pixel_shuffle(columns, 3, convention="tf", out=rows_apart[:, :, ::2])
    np.testing.assert_array_equal(
        rows_apart[:, :, ::2].numpy(),
        oracle.shuffle(columns.contiguous().numpy(), (3, 3), "hwc", "NCHW"),
    )
    assert len(triton_kernels) == 3


def test_autograd_runs_the_kernels_both_ways(triton_kernels):
    x = torch.randn(2, 18, 5, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(2, 2, 15, 12, dtype=torch.float64)
    (ps.pixel_shuffle(x, 3, convention="caffe") * weight).sum().backward()
    np.testing.assert_array_equal(
        x.grad.numpy(), oracle.unshuffle(weight.numpy(), (3, 3), "cwh", "NCHW")
    )
    assert len(triton_kernels) == 2  # forward and backward


def test_offsets_beyond_2_to_the_31(triton_kernels):
    """64-bit offsets: an input and an ``out=`` of three images 2**30 + 16 bytes apart,
    a stride that fits 32 bits while the third image's offset does not. The memory
    between the images is reserved but never touched, so it costs nothing; 32-bit
    arithmetic would wrap (the interpreter computes in the kernel's own types)."""
    stride = 2**30 + 16
    memory = torch.empty(2 * stride + 2**16, dtype=torch.uint8)
    x = memory.as_strided((3, 8, 3, 4), (stride, 12, 4, 1))
    x.copy_((torch.arange(3 * 8 * 3 * 4) % 251).reshape(3, 8, 3, 4))
    expected = torch.nn.functional.pixel_shuffle(x.contiguous(), 2)
    assert torch.equal(ps.pixel_shuffle(x, 2), expected)
    out = torch.empty_like(memory).as_strided((3, 2, 6, 8), (stride, 48, 8, 1))
    ps.pixel_shuffle(x, 2, out=out)
    assert torch.equal(out, expected)
    assert triton_kernels == ["interleave", "interleave"]


def test_walks_with_offsets_beyond_2_to_the_31(triton_kernels):
    """*gather* from, and *scatter* into, three images 2**30 + 16 bytes apart: offsets
    on the side not walked in order need 64 bits."""
    stride = 2**30 + 16
    memory = torch.empty(2 * stride + 2**16, dtype=torch.uint8)
    x = memory.as_strided((3, 18, 3, 4), (stride, 12, 4, 1))
    x.copy_((torch.arange(3 * 18 * 3 * 4) % 251).reshape(3, 18, 3, 4))
    expected = oracle.shuffle(x.contiguous().numpy(), (3, 3), "hwc", "NCHW")
    np.testing.assert_array_equal(ps.pixel_shuffle(x, 3, convention="tf").numpy(), expected)
    out = torch.empty_like(memory).as_strided((3, 2, 9, 12), (stride, 108, 12, 1))
    ps.pixel_shuffle(x.contiguous(), 3, convention="tf", out=out)
    np.testing.assert_array_equal(out.numpy(), expected)
    assert triton_kernels == ["gather", "scatter"]


def test_run_lengths_beyond_2_to_the_31_are_not_masked_off():
    """Two rows of 2**30 + 5 bytes interleaved into one run longer than 2**31: the store
    mask compares with that length, which must not wrap negative. The kernel runs its
    first program only, on memory that is reserved but, beyond that tile, never touched."""
    gpu = _kernels.gpu_kernels()
    na = 2**30 + 5
    form = _kernels._axes.copy_shape((na, 2), (1, na), (2, 1))
    name, _, arguments, blocks = gpu._launch(form, 1)
    assert name == "interleave"
    block = blocks["BLOCK_A"]
    source = torch.empty(2 * na, dtype=torch.uint8)
    source[:block] = torch.arange(block) % 100
    source[na : na + block] = torch.arange(block) % 100 + 100
    target = torch.empty(2 * na, dtype=torch.uint8)
    gpu._compiled(True)[name][(1,)](source, target, *arguments, **blocks)
    expected = torch.stack([source[:block], source[na : na + block]], dim=1).reshape(-1)
    assert torch.equal(target[: 2 * block], expected)


def test_compiled_kernels_ignore_triton_interpret(monkeypatch):
    """``TRITON_INTERPRET=1`` in the environment must not send CUDA tensors through the
    interpreter: the compiled kernels are made as compiled ones explicitly."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    kernels = _kernels.gpu_kernels()._compiled.__wrapped__(False)
    assert all(type(kernel).__name__ == "JITFunction" for kernel in kernels.values())


@pytest.mark.parametrize("size", [1, 2, 4, 8])
@pytest.mark.parametrize(
    ("pattern", "shape", "in_strides", "out_strides"),
    [  # NCHW, 8 channels, 64 × 128 pixels: NHWC tf order, NCHW up and down (r = 2, 4)
        ("rows", (8, 64, 2, 128 * 2 * 8), (64 * 128 * 32, 128 * 32, 128 * 16, 1),
         (64 * 128 * 32, 128 * 32, 128 * 16, 1)),
        ("interleave", (8, 64, 2, 128, 2), (64 * 128, 128, 128 * 64 * 16, 1, 128 * 64 * 8),
         (64 * 128 * 4, 128 * 4, 256, 2, 1)),
        ("interleave", (8, 64, 4, 128, 4), (64 * 128, 128, 128 * 64 * 32, 1, 128 * 64 * 8),
         (64 * 128 * 16, 128 * 16, 512, 4, 1)),
        ("deinterleave", (8, 64, 2, 128, 2), (64 * 128 * 4, 128 * 4, 256, 2, 1),
         (64 * 128, 128, 128 * 64 * 16, 1, 128 * 64 * 8)),
        ("deinterleave", (8, 64, 4, 128, 4), (64 * 128 * 4, 128 * 16, 512, 4, 1),
         (64 * 128, 128, 128 * 64 * 32, 1, 128 * 64 * 8)),
        # a transpose with both sides long (short ones, as in NHWC torch order, are
        # coalesced across a warp but narrower per thread)
        ("tile", (8, 128, 128), (128 * 128, 1, 128), (128 * 128, 128, 1)),
    ],
)  # fmt: skip
@pytest.mark.filterwarnings("ignore:TRITON_DEFAULT_FP_FUSION")  # copies have no arithmetic
def test_compiled_kernels_read_and_write_16_bytes_at_a_time(
    pattern, shape, in_strides, out_strides, size
):
    """Compiled for an H100 (sm_90; no GPU needed to compile) with the block sizes a
    launch picks, every kernel reads and writes global memory in 16-byte vectors
    whatever the element size, given sizes and strides that are multiples of 16, as
    Triton specialises them at run time."""
    compiler = pytest.importorskip("triton.compiler")
    triton = pytest.importorskip("triton")
    from triton.backends.compiler import GPUTarget

    gpu = _kernels.gpu_kernels()
    form = _kernels._axes.copy_shape(shape, in_strides, out_strides)
    kernel, _, _, blocks = gpu._launch(form, size)
    assert kernel == pattern
    function = gpu._compiled(False)[kernel]
    # the block sizes must reach Triton as constants, as in a real launch
    assert {param.name for param in function.params if param.is_constexpr} == set(blocks)
    names = [name for name in function.arg_names if name not in blocks]
    signature = {name: f"*i{8 * size}" if name in ("src", "dst") else "i64" for name in names}
    signature.update(dict.fromkeys(blocks, "constexpr"))
    aligned = {
        (function.arg_names.index(name),): [["tt.divisibility", 16]]
        for name in names
        if not name.startswith(("tiles", "row_blocks"))
    }
    source = compiler.ASTSource(function, signature, constexprs=blocks, attrs=aligned)
    ptx = triton.compile(source, target=GPUTarget("cuda", 90, 32)).asm["ptx"]
    accesses = {line.split()[1] for line in ptx.splitlines() if ".global." in line}
    assert {access[:2] for access in accesses} == {"ld", "st"}
    assert all(_access_bytes(access) == 16 for access in accesses), accesses


def _access_bytes(access: str) -> int:
    """Bytes moved by one PTX access such as ``ld.global.v4.b32`` (4 × 32 bits)."""
    *_, vector, bits = access.split(".")
    lanes = int(vector[1:]) if vector.startswith("v") else 1
    return lanes * int(bits[1:]) // 8


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
@pytest.mark.parametrize("dtype", [torch.uint8, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("factor", [2, 3, 4])
def test_compiled_kernels_on_cuda_equal_pytorch(monkeypatch, dtype, factor):
    gpu = _kernels.gpu_kernels()
    launched = []
    original = gpu.run

    def recording(launch, source, target):
        launched.append(launch.kernel)
        return original(launch, source, target)

    monkeypatch.setattr(gpu, "run", recording)
    x = (torch.arange(2 * 8 * factor**2 * 128 * 192, device="cuda") % 251).to(dtype)
    x = x.reshape(2, 8 * factor**2, 128, 192)  # at least 1.5 MiB: the kernels' side
    for memory_format in (torch.contiguous_format, torch.channels_last):
        x = x.contiguous(memory_format=memory_format)
        up = ps.pixel_shuffle(x, factor)
        assert torch.equal(up, torch.nn.functional.pixel_shuffle(x, factor))
        # again: a remembered shape, and the compiled kernel launched directly
        assert torch.equal(ps.pixel_shuffle(x, factor), up)
        assert up.is_contiguous(memory_format=memory_format)
        assert torch.equal(ps.pixel_unshuffle(up, factor), x)
        tf_up = ps.pixel_shuffle(x, factor, convention="tf")
        assert torch.equal(tf_up.cpu(), ps.pixel_shuffle(x.cpu(), factor, convention="tf"))
    assert len(launched) == 8  # no call fell back to torch's copy


def test_triton_is_not_loaded_after_tensorflow():
    """TensorFlow's LLVM, loaded first, makes loading Triton abort the process; the
    library then keeps to torch's own copy instead of taking the process down."""
    import os
    import subprocess
    import sys

    require("tensorflow")
    code = (
        "import tensorflow, torch\n"
        "import pixelshuffle as ps\n"
        "from pixelshuffle import _kernels\n"
        "assert _kernels.gpu_kernels() is None\n"
        "x = torch.arange(2 * 8 * 3 * 4.0).reshape(2, 8, 3, 4)\n"
        "assert torch.equal(ps.pixel_shuffle(x, 2), torch.nn.functional.pixel_shuffle(x, 2))\n"
        "print('alive')\n"
    )
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip().endswith("alive")
