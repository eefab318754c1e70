"""PyTorch: memory formats, autograd through the inverse op, ``out=`` and native ONNX nodes.

Imported only once a ``torch.Tensor`` reaches the library, so torch is already loaded.

Which path runs:

- eager, with autograd: :class:`_Rearrange`, whose backward is the inverse plan run on
  the incoming gradient (and is itself differentiable, for double backward);
- ``torch.compile``, ``torch.export``, ``torch.jit.trace``, tensor subclasses and
  dispatch modes: the plain ``reshape → permute → clone`` chain, which every tracer
  understands and Inductor fuses with its neighbours;
- ``torch.onnx.export``: one native ``DepthToSpace``/``SpaceToDepth`` node where ONNX
  has the op, otherwise the same chain (one Reshape, one Transpose, one Reshape);
- contiguous inputs of a shape run before (:class:`_ShapeRecipe`; CPU, and CUDA below
  the Triton kernels' size): no validation or planning again. Small ones take the
  serial CPU kernel where it pays off, PyTorch's own op or one strided copy otherwise;
  from 1 MiB on, the kernel (in parallel) where the full path would have run it, else
  the full path. Small NCHW inputs in channels_last format, in torch order, go straight
  to PyTorch's op, the full path's choice for them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode

from . import _kernels
from ._backends import Backend, Shape, _check_out_metadata, _recipe, _type_name
from ._errors import PixelShuffleError, PixelShuffleTypeError
from ._layout import Layout
from ._memo import evict_oldest
from ._plan import Plan, inverse_plan

__all__ = ["TORCH"]


class _TorchBackend(Backend):
    name = "torch"

    def shape(self, x: Any) -> tuple[Any, ...]:
        if x.is_nested or x.layout != torch.strided:  # no strided view to permute
            dense = ".to_padded_tensor(0.0)" if x.is_nested else ".to_dense()"
            raise PixelShuffleError(
                f"expected a dense tensor (layout torch.strided), got layout {x.layout};"
                f" convert it with {dense} first"
            )
        return tuple(x.shape)

    def transpose(self, x: Any, perm: Sequence[int]) -> Any:
        return x.permute(*perm)

    def sizes_to_check(self, shape: tuple[Any, ...]) -> tuple[Any, ...]:
        if not torch.jit.is_tracing():
            return shape
        # jit.trace records sizes as tensors; validating the example's plain numbers
        # keeps the traced sizes symbolic without a TracerWarning per comparison
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            return tuple(int(size) for size in shape)

    def apply(self, plan: Plan, x: Any, shape: tuple[Any, ...]) -> Any:
        if (
            x.requires_grad
            and torch.is_grad_enabled()
            and _is_plain_eager(x)
            and not _forward_ad_active()
        ):
            return _Rearrange.apply(x, plan)
        return self.rearrange(x, *_recipe(plan, shape))

    def rearrange(self, x: Any, split: Shape, perm: Sequence[int] | None, out: Shape) -> Any:
        y = x.reshape(split)
        if perm is not None:
            y = y.permute(*perm)
        if _kernel_may_copy(x, y):
            result = torch.empty(y.shape, dtype=y.dtype, device=y.device)
            if _kernel_copy(y, result):
                return result.view(out)
        # Exactly one copy, always a fresh tensor: reshape() would return a view of x
        # when nothing moves, also under inference_mode, torch.compile and export.
        return y.clone(memory_format=torch.contiguous_format).view(out)

    def apply_into(self, plan: Plan, x: Any, shape: tuple[Any, ...], out: Any) -> Any:
        split, perm, _ = _recipe(plan, shape)
        moved = x.reshape(split)
        if perm is not None:
            moved = moved.permute(*perm)
        # out's axes split into the blocks of the plan: a view for any strides of out
        target = out.view(moved.shape)
        if _kernel_may_copy(x, moved) and _kernel_may_write(out) and _kernel_copy(moved, target):
            torch.autograd.graph.increment_version(out)  # written behind autograd's back
        else:
            target.copy_(moved)
        return out

    def check_out(
        self, where: str, x: Any, out: Any, expected: tuple[int, ...], eager: bool | None = None
    ) -> None:
        """Raise unless ``out`` may take the result; ``eager``: whether ``x`` is known to
        be a plain tensor outside tracers already (remembered shapes), or ``None``."""
        if not isinstance(out, torch.Tensor):
            raise PixelShuffleTypeError(
                f"{where}: out must be a torch.Tensor like the input, got {_type_name(out)}"
            )
        if out.layout != torch.strided:
            raise PixelShuffleError(
                f"{where}: out must be a dense tensor (layout torch.strided), got layout"
                f" {out.layout}"
            )
        _check_out_metadata(where, out.shape, expected, out.dtype, x.dtype)
        if out.device != x.device:
            raise PixelShuffleError(
                f"{where}: out must be on the input's device {x.device}, got {out.device}"
            )
        if torch.is_grad_enabled() and (x.requires_grad or out.requires_grad):
            raise PixelShuffleError(
                f"{where}: out= does not support autograd, and the input or out requires"
                " grad; drop out= or run under torch.no_grad()"
            )
        if not (_is_plain_eager(x) if eager is None else eager):
            return  # tracers see no storage; functionalization keeps writes apart
        if out.is_inference() and not torch.is_inference_mode_enabled():
            raise PixelShuffleError(
                f"{where}: out was made under torch.inference_mode(), and PyTorch lets such"
                " tensors be written only there; run the call under inference_mode() too,"
                " or pass a tensor made outside it"
            )
        if torch._debug_has_internal_overlap(out) == 1:
            raise PixelShuffleError(
                f"{where}: out has elements that share memory (strides {tuple(out.stride())},"
                " e.g. from expand()); pass a tensor that owns one element per index"
            )
        if _overlaps(x, out):
            raise PixelShuffleError(
                f"{where}: out must not share memory with the input; pass a separate tensor"
            )

    def prefers_channels_last(self, x: Any, layout: Layout) -> bool:
        # torch has memory formats for one batch axis and 2-D or 3-D images only
        if x.dim() != layout.n_axes + 1 or layout.rank not in (2, 3):
            return False
        # Exported graphs (torch.export, ONNX) have no memory format; asking for one
        # would also guard their symbolic sizes against 1.
        if torch.compiler.is_exporting() or x.is_contiguous():
            return False
        fmt = torch.channels_last if layout.rank == 2 else torch.channels_last_3d
        return bool(x.is_contiguous(memory_format=fmt)) and not torch.onnx.is_in_onnx_export()

    def channels_last_native(self, prepared: Any, x: Any) -> Any:
        # channels-last data in torch order: a small transpose per pixel
        if not _pytorch_channels_last_wins(prepared, x):
            return None
        op = getattr(torch.nn.functional, prepared.pytorch_op)
        if prepared.layout.name == "NCHW":
            return op(x, prepared.factors[0])
        # an NHWC tensor is an NCHW tensor in channels_last format, and back
        return op(x.permute(0, 3, 1, 2), prepared.factors[0]).permute(0, 2, 3, 1)

    def native_export(self, prepared: Any, x: Any, shape: tuple[Any, ...]) -> Any:
        node = prepared.onnx_node
        if node is None or len(shape) != 4:
            return None
        # both exporters trace (jit) or compile (dynamo): only then ask the slower question
        tracing = torch.jit.is_tracing() or torch.compiler.is_compiling()
        if not tracing or not torch.onnx.is_in_onnx_export():
            return None
        op_type, mode = node
        blocksize = prepared.factors[0]
        if torch.jit.is_tracing():  # the TorchScript exporter (dynamo=False)
            return _OnnxNode.apply(x, prepared.plan, op_type, mode, blocksize)
        attrs: dict[str, int | str] = {"blocksize": blocksize}
        if mode is not None:
            attrs["mode"] = mode
        _, _, out_shape = _recipe(prepared.plan, shape)
        return torch.onnx.ops.symbolic(op_type, (x,), attrs, dtype=x.dtype, shape=out_shape)

    def run_remembered(self, prepared: Any, x: Any) -> Any:
        recipe = _recipe_for(prepared, x)
        if recipe is None:
            return None
        if recipe.channels_last_input:
            return recipe.native(x, recipe.factor)
        if recipe.copy_plan is not None and _kernel_may_read(x):
            result = x.new_empty(recipe.out)  # dtype and device of x; faster than torch.empty
            _run_copy_plan(recipe, x, result)
            return result
        if recipe.large:
            return None  # autograd, transforms, odd memory: the full path's kernels
        native = recipe.native
        if native is not None and recipe.channels_last:
            return native(x.permute(0, 3, 1, 2), recipe.factor).permute(0, 2, 3, 1)
        if native is not None:
            return native(x, recipe.factor)
        if x.requires_grad:  # views' own backward beats a Python autograd node here
            y = x.view(recipe.split).permute(recipe.perm)
        else:
            y = x.as_strided(recipe.moved_shape, recipe.moved_strides)
        return y.clone(memory_format=torch.contiguous_format).view(recipe.out)

    def run_remembered_into(self, prepared: Any, x: Any, out: Any) -> Any:
        recipe = _recipe_for(prepared, x)
        if recipe is None or recipe.channels_last_input:
            return None
        # recipes are found for plain tensors outside tracers only (_recipe_for)
        self.check_out(prepared.where, x, out, recipe.out, eager=True)
        if (
            recipe.copy_plan is not None
            and _kernel_may_read(x)
            and out.is_contiguous()
            and _kernel_may_write(out)
            and _holds_its_elements(out)
        ):
            _run_copy_plan(recipe, x, out)
            torch.autograd.graph.increment_version(out)  # written behind autograd's back
            return out
        if recipe.large:
            return None  # a strided out, say: the full path's kernels write it
        moved = x.as_strided(recipe.moved_shape, recipe.moved_strides)
        out.view(recipe.moved_shape).copy_(moved)  # out split into the plan's blocks
        return out

    def remember(self, prepared: Any, x: Any, shape: tuple[Any, ...]) -> None:
        # contiguous inputs (and small channels_last ones): one shape then means one
        # layout in memory
        if not (prepared.memoized and _is_plain_eager(x)):
            return
        if not x.is_contiguous():
            _remember_channels_last(prepared, x)
            return
        key = (prepared, x.shape, x.dtype, x.device)
        if key in _RECIPES:
            return
        on_gpu = x.device.type in _kernels.TRITON_DEVICES
        kernel_size = _kernels.GPU_MIN_BYTES if on_gpu else _kernels.MIN_BYTES
        nbytes = x.numel() * x.element_size()
        large = nbytes >= kernel_size
        kernel_fits = _remembered_kernel_applies(x)
        if large and not (kernel_fits and _kernel_applies(x)):
            return  # no CPU kernel for it: each call takes the full path
        if large and prepared.layout.name == "NHWC" and _pytorch_channels_last_wins(prepared, x):
            return
        # PyTorch's own op where it is this very op and the faster one on small CPU
        # tensors (benchmarks/README.md): NHWC through its channels_last view; NCHW
        # upsampling of elements wider than a byte; and any NCHW op below the kernel's
        # sizes, where the strided copy's three calls cost more than the op (up to 4 KiB:
        # 5.2-7.4 against 2.0-3.8 us); the strided copy otherwise.
        native = None
        channels_last = prepared.layout.name == "NHWC" and x.dim() == 4
        channels_first = prepared.layout.name == "NCHW"
        upsampling = prepared.pytorch_op == "pixel_shuffle" and channels_first
        tiny = channels_first and _kernels.below_small_kernels(nbytes, x.element_size())
        if (
            not large
            and prepared.pytorch_op is not None
            and _pytorch_op_serves(x)
            and (channels_last or tiny or (upsampling and x.element_size() > 1))
        ):
            native = getattr(torch.nn.functional, prepared.pytorch_op)
        split, perm, out = _recipe(prepared.plan, shape)
        perm = perm or tuple(range(len(split)))
        moved_shape, moved_strides = _moved_view(split, perm)
        copy_plan = None
        if kernel_fits and on_gpu:
            copy_plan = _kernels.plan_gpu_copy(moved_shape, moved_strides, x.element_size())
        elif kernel_fits:
            copy_plan = _kernels.plan_contiguous_copy(moved_shape, moved_strides, x.element_size())
        # ... and where PyTorch's op copies whole channels-last pixels, even the kernel's,
        # unless that shuffles vectors, or deals them out in bytes or bfloat16
        whole_pixels = native is not None and channels_last
        kind = getattr(copy_plan, "kind", None)
        if (
            whole_pixels
            and _upsamples_into_wide_pixels(prepared, x, _SMALL_WHOLE_PIXEL_BYTES)
            and kind != "shuffle"
            and not (kind == "deal" and x.element_size() <= 2)
        ):
            copy_plan = None
        if large and copy_plan is None:
            return
        _keep(key, _ShapeRecipe(
            split, perm, out, moved_shape, moved_strides, native, channels_last,
            prepared.factors[0], copy_plan, large,
        ))  # fmt: skip


def _remember_channels_last(prepared: Any, x: torch.Tensor) -> None:
    """Remember that a small NCHW tensor in channels_last format, of ``x``'s shape, runs
    PyTorch's own op (which the full path chose for it: :func:`_pytorch_channels_last_wins`),
    so that later calls go to it at once, as fast as the contiguous recipes."""
    if not (
        x.dim() == 4
        and prepared.layout.name == "NCHW"
        and prepared.pytorch_op is not None
        and x.is_contiguous(memory_format=torch.channels_last)
        and x.numel() * x.element_size() < _kernels.MIN_BYTES
        and _pytorch_channels_last_wins(prepared, x)
    ):
        return
    key = (prepared, x.shape, x.dtype, x.device, torch.channels_last)
    if key not in _RECIPES:
        native = getattr(torch.nn.functional, prepared.pytorch_op)
        _keep(key, _ShapeRecipe(
            split=(), perm=(), out=(), moved_shape=(), moved_strides=(), native=native,
            channels_last=False, factor=prepared.factors[0], copy_plan=None, large=False,
            channels_last_input=True,
        ))  # fmt: skip


def _keep(key: tuple[Any, ...], recipe: _ShapeRecipe) -> None:
    """Keep ``recipe`` under ``key``, the oldest recipe going first when there are
    :data:`_MAX_RECIPES`."""
    if len(_RECIPES) >= _MAX_RECIPES:
        evict_oldest(_RECIPES)
    _RECIPES[key] = recipe


def _recipe_for(prepared: Any, x: torch.Tensor) -> _ShapeRecipe | None:
    """The remembered recipe for running ``prepared`` on ``x``, where one applies."""
    # Tracers, modes and subclasses first: under torch.compile a look into the dict
    # would be guarded, and symbolic sizes cannot even be hashed; nested tensors have
    # no single shape.
    if not (prepared.memoized and _untraced() and _is_plain_tensor(x)) or x.is_nested:
        return None
    if x.layout != torch.strided:  # e.g. an mkldnn tensor, "contiguous" but without strides
        return None
    if x.is_contiguous():
        return _RECIPES.get((prepared, x.shape, x.dtype, x.device))
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return _RECIPES.get((prepared, x.shape, x.dtype, x.device, torch.channels_last))
    return None


class _ShapeRecipe(NamedTuple):
    """How to run a prepared op on contiguous inputs of one shape, validated already (or
    with ``channels_last_input``, on NCHW inputs of one shape in channels_last format)."""

    split: tuple[int, ...]
    perm: tuple[int, ...]
    out: tuple[int, ...]
    moved_shape: tuple[int, ...]  # the split, permuted view of a contiguous input
    moved_strides: tuple[int, ...]
    native: Any  # PyTorch's own function, where it is this very op and the faster one
    channels_last: bool  # native runs on the NCHW view of an NHWC tensor
    factor: int
    # the kernel's plan (CPU) or launch (CUDA) from a contiguous input into a fresh output
    copy_plan: Any
    # at or above the kernels' size: run by the kernel, or else by the full path (never
    # by PyTorch's op or the strided clone, which are slower there)
    large: bool
    # for NCHW inputs in channels_last format: only ``native``, on x as it is
    channels_last_input: bool = False


def _pytorch_channels_last_wins(prepared: Any, x: torch.Tensor) -> bool:
    """Whether PyTorch's own kernel beats the library's for channels-last data in torch
    order (NHWC, or NCHW in channels_last format): where the CPU kernels take it in
    parallel they win, except contiguous NHWC upsampling that the kernels can neither
    *shuffle* nor *deal* out, and other upsampling into pixels of 128 bytes or more,
    which PyTorch copies whole (benchmarks/README.md); below the kernels' size, serial,
    and without them, PyTorch's kernel beats the reference path, except for bytes. On
    CPU it keeps the format."""
    if prepared.pytorch_op is None or not _pytorch_op_serves(x):
        return False
    if "cpu" in _kernels.TRITON_DEVICES:  # the Triton kernels' tests, in the interpreter
        return False
    if not _is_plain_eager(x) or x.dim() != 4:  # channels_last: exactly one batch axis
        return False
    nbytes = x.numel() * x.element_size()
    kernels_take_it = (
        _kernel_applies(x)
        and not _forward_ad_active()
        # serial, the kernels lose to PyTorch's here (benchmarks/README.md)
        and _kernels.runs_in_parallel(nbytes)
    )
    if not kernels_take_it:
        return x.element_size() > 1
    if prepared.pytorch_op != "pixel_shuffle":
        return False
    if prepared.layout.name == "NHWC" and x.is_contiguous():
        return _unshuffled_nhwc_pixels(prepared, x)
    return _upsamples_into_wide_pixels(prepared, x, _LARGE_WHOLE_PIXEL_BYTES)


def _unshuffled_nhwc_pixels(prepared: Any, x: torch.Tensor) -> bool:
    """Whether the CPU kernels would copy contiguous NHWC ``x`` by a plan other than
    *shuffle* or *deal*: pixels by 5 or more, or with channels too few to deal out and
    too many to shuffle (a transpose per pixel, or *gather*), which PyTorch's
    channels-last kernel did faster on AMD Zen 4, up to 2x for bytes. Deep pixels that
    the kernels deal out beat PyTorch's kernel, pixels of 128 bytes and more included
    (benchmarks/README.md)."""
    split, perm, _ = _recipe(prepared.plan, tuple(x.shape))
    plan = _kernels.plan_contiguous_copy(*_moved_view(split, perm), x.element_size())
    return getattr(plan, "kind", "shuffle") not in ("shuffle", "deal")


def _moved_view(
    split: tuple[int, ...], perm: Sequence[int] | None
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The shape and strides (in elements) of a contiguous tensor of shape ``split``
    permuted by ``perm`` (``None``: not at all): the view whose copy is the op."""
    strides = _kernels.contiguous_strides(split)
    order = perm or range(len(split))
    return tuple(split[axis] for axis in order), tuple(strides[axis] for axis in order)


# PyTorch's channels-last kernel copies output pixels this wide whole, as fast as the
# kernels or faster: below 1 MiB, serial, from 32 bytes, unless the copy is a *shuffle*;
# in parallel from 128 bytes (benchmarks/README.md)
_SMALL_WHOLE_PIXEL_BYTES = 32
_LARGE_WHOLE_PIXEL_BYTES = 128


def _upsamples_into_wide_pixels(prepared: Any, x: torch.Tensor, least: int) -> bool:
    """Whether ``prepared`` is PyTorch's pixel_shuffle into channels-last pixels of
    ``least`` bytes or more."""
    if prepared.pytorch_op != "pixel_shuffle":
        return False
    channels = x.shape[-1 if prepared.layout.name == "NHWC" else -3]
    return channels // prepared.factors[0] ** 2 * x.element_size() >= least


def _remembered_kernel_applies(x: torch.Tensor) -> bool:
    """Whether a kernel may copy contiguous inputs like ``x`` (one shape, dtype and
    device) through their addresses: plain CPU or CUDA memory of a kernel element size."""
    if x.device.type == "cuda":
        usable = "cuda" in _kernels.TRITON_DEVICES and _kernels.gpu_kernels() is not None
    else:
        usable = x.device.type == "cpu" and "cpu" not in _kernels.TRITON_DEVICES
    return usable and x.element_size() in _BITS and not x.is_quantized


def _kernel_may_read(x: torch.Tensor) -> bool:
    """Whether a remembered kernel plan may read the contiguous ``x`` now: no autograd
    to record, no lazy conjugate or negative bit, no transform or mode that must see
    the ops, and memory that holds every element."""
    return (
        not (x.requires_grad and torch.is_grad_enabled())
        and not x.is_conj()
        and not x.is_neg()
        and _no_transforms()
        and _holds_its_elements(x)
    )


def _kernel_may_write(out: torch.Tensor) -> bool:
    """Whether a kernel may write into ``out`` (already checked by ``check_out``) through
    its address: a plain tensor without lazy bits."""
    return type(out) is torch.Tensor and not (out.is_conj() or out.is_neg())


def _holds_its_elements(t: torch.Tensor) -> bool:
    """Whether contiguous ``t``'s storage holds all its elements, at an address aligned
    for them: not a freed or shrunk storage (as FSDP leaves parameters), nor a zero
    tensor's, both of which a kernel reading through the address would overrun."""
    size = t.element_size()
    if (t.storage_offset() + t.numel()) * size > t.untyped_storage().nbytes():
        return False
    address = t.data_ptr()  # 0 for a zero tensor, whatever its storage claims
    return address != 0 and address % size == 0


def _run_copy_plan(recipe: _ShapeRecipe, x: torch.Tensor, result: torch.Tensor) -> None:
    """Run the recipe's kernel plan from contiguous ``x`` into contiguous ``result``."""
    if x.device.type == "cuda":
        _kernels.gpu_kernels().run(recipe.copy_plan, x, result)  # type: ignore[union-attr]
        return
    _kernels.copy_contiguous(
        recipe.copy_plan, x.data_ptr(), result.data_ptr(), x.numel(), x.element_size()
    )


# Per (prepared op, input shape, dtype, device), with torch.channels_last added for NCHW
# inputs in that format. Small tensors spend most of a call in Python, which a recipe
# skips; large CPU ones also skip the Python between two parallel launches, long enough
# for numba's threads to fall asleep (benchmarks/README.md).
_RECIPES: dict[tuple[Any, ...], _ShapeRecipe] = {}
_MAX_RECIPES = 512

# dtypes PyTorch's pixel_(un)shuffle implements on CPU (torch 2.13: not the unsigned
# 16-64-bit integers, complex32 or the float8 types, which the library still shuffles)
_PYTORCH_OP_DTYPES = frozenset(
    {
        torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
        torch.float16, torch.bfloat16, torch.float32, torch.float64,
        torch.complex64, torch.complex128,
    }
)  # fmt: skip


def _pytorch_op_serves(x: torch.Tensor) -> bool:
    """Whether PyTorch's own pixel_(un)shuffle may run on ``x`` in the library's place:
    on CPU (where its speed was measured), for a dtype it implements, and not empty
    (torch 2.13's pixel_unshuffle returns an empty input's shape unchanged)."""
    return x.device.type == "cpu" and x.dtype in _PYTORCH_OP_DTYPES and x.numel() > 0


TORCH = _TorchBackend()


def _is_plain_eager(x: torch.Tensor) -> bool:
    """Whether ``x`` is a real tensor outside any tracer, where custom paths may run."""
    return _untraced() and _is_plain_tensor(x)


def _untraced() -> bool:
    return not torch.compiler.is_compiling() and not torch.jit.is_tracing()


def _no_transforms() -> bool:
    """Whether no forward-mode AD, functorch transform (``torch.func.grad``, whose fresh
    tensors are wrappers without memory) or torch-function mode (``torch.device(...)``
    as a default device, among others) is about, which writes through addresses would
    bypass."""
    return (
        not _forward_ad_active()
        and torch._C._functorch.peek_interpreter_stack() is None
        and torch._C._len_torch_function_stack() == 0
    )


def _forward_ad_active() -> bool:
    """Whether dual tensors may be about: forward-mode AD follows tangents through
    PyTorch's own ops only, not through writes into fresh memory or a Python node."""
    return torch.autograd.forward_ad._current_level >= 0


def _is_plain_tensor(x: torch.Tensor) -> bool:
    """No subclass, dispatch mode or torch.func wrapper: a tensor with real memory."""
    return (
        type(x) is torch.Tensor
        and _get_current_dispatch_mode() is None
        and not torch._C._functorch.is_functorch_wrapped_tensor(x)
    )


def _kernel_may_copy(x: torch.Tensor, view: torch.Tensor) -> bool:
    """Whether a kernel may copy ``view`` (of ``x``). The tracers are ruled out
    before any size is compared: under one, a comparison guards or warns."""
    return _untraced() and _kernel_applies(view) and _is_plain_tensor(x) and _no_transforms()


# Kernels see the bits of an element: an integer type of the same size.
_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _kernel_applies(y: torch.Tensor) -> bool:
    """Whether a kernel may copy the (permuted) view ``y``: plain strided memory of a
    kernel element size, large enough to be worth it, no lazy conj/neg bit, and a
    kernel for its device."""
    if not (
        y.layout == torch.strided
        and y.element_size() in _BITS
        and not y.is_conj()
        and not y.is_neg()
        and not y.is_quantized
    ):
        return False
    nbytes = y.numel() * y.element_size()
    if y.device.type in _kernels.TRITON_DEVICES:
        return nbytes >= _kernels.GPU_MIN_BYTES and _kernels.gpu_kernels() is not None
    return (
        y.device.type == "cpu"
        and nbytes >= _kernels.MIN_BYTES
        and _kernels.cpu_kernels() is not None
    )


def _kernel_copy(source: torch.Tensor, target: torch.Tensor) -> bool:
    """``target[...] = source`` (same shape and dtype, any strides) by a kernel."""
    if source.device.type in _kernels.TRITON_DEVICES:
        return _kernels.gpu_kernels().copy_permuted(source, target)  # type: ignore[union-attr]
    return _kernels.copy_strided(
        _flat(source),
        _flat(target),
        source.shape,
        source.stride(),
        target.stride(),
        source.numel() * source.element_size(),
    )


def _flat(t: torch.Tensor) -> Any:
    """A 1-D unsigned NumPy view of the memory ``t`` spans, from its first element."""
    size = t.element_size()
    extent = 1 + sum((n - 1) * s for n, s in zip(t.shape, t.stride()))
    bits = t.detach().view(_BITS[size]).as_strided((extent,), (1,))
    return bits.numpy().view(_kernels.UNSIGNED[size])


def _overlaps(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether the memory spans of ``a`` and ``b`` intersect (conservative)."""
    if a.numel() == 0 or b.numel() == 0 or a.device != b.device:
        return False
    if a.untyped_storage().data_ptr() != b.untyped_storage().data_ptr():
        return False

    def span(t: torch.Tensor) -> tuple[int, int]:
        start = t.data_ptr()
        extent = sum((size - 1) * abs(stride) for size, stride in zip(t.shape, t.stride()))
        return start, start + (extent + 1) * t.element_size()

    (a0, a1), (b0, b1) = span(a), span(b)
    return a0 < b1 and b0 < a1


class _Rearrange(torch.autograd.Function):
    """A plan as one autograd node: the gradient is the inverse plan of the gradient."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, plan: Plan) -> torch.Tensor:  # type: ignore[override]
        return TORCH.rearrange(x, *_recipe(plan, tuple(x.shape)))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        ctx.plan = inputs[1]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return TORCH.apply(inverse_plan(ctx.plan), grad, tuple(grad.shape)), None


class _OnnxNode(torch.autograd.Function):
    """The TorchScript ONNX exporter's hook: computes the plan, exports one ONNX node."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: torch.Tensor, plan: Plan, op_type: str, mode: str | None, blocksize: int
    ) -> torch.Tensor:
        # Written without sizes: the tracer would otherwise reuse size values recorded
        # outside this node, which the exporter cannot map into it.
        return _rearrange_without_sizes(x, plan)

    @staticmethod
    def symbolic(g: Any, x: Any, plan: Plan, op_type: str, mode: str | None, blocksize: int) -> Any:
        if mode is None:
            return g.op(op_type, x, blocksize_i=blocksize)
        return g.op(op_type, x, blocksize_i=blocksize, mode_s=mode)


def _rearrange_without_sizes(x: torch.Tensor, plan: Plan) -> torch.Tensor:
    """The plan with unflatten/flatten, whose only sizes are the factors: every input axis
    holds one coarse symbol (``c`` or ``s<m>``), the one size left to infer (-1)."""
    n_batch = x.dim() - plan.n_axes
    factor = dict(zip((f"o{m}" for m in range(len(plan.factors))), plan.factors))
    blocks_of_axis: dict[int, list[tuple[str, ...]]] = {}
    for block in plan.split_blocks:
        axis = next(k for k, group in enumerate(plan.in_groups) if block[0] in group)
        blocks_of_axis.setdefault(axis, []).append(block)
    for axis in sorted(blocks_of_axis, reverse=True):
        blocks = blocks_of_axis[axis]
        if len(blocks) > 1:
            sizes = [
                math.prod(factor[s] for s in block) if all(s in factor for s in block) else -1
                for block in blocks
            ]
            x = x.unflatten(n_batch + axis, sizes)
    x = x.permute(*range(n_batch), *(n_batch + p for p in plan.perm))
    # blocks now sit in output order; merge each output axis's run of blocks
    ordered = [plan.split_blocks[p] for p in plan.perm]
    start = n_batch
    spans = []
    for group in plan.out_groups:
        count, covered = 0, 0
        while covered < len(group):
            covered += len(ordered[start - n_batch + count])
            count += 1
        spans.append((start, start + count - 1))
        start += count
    for first, last in reversed(spans):
        if last > first:
            x = x.flatten(first, last)
    return x.clone(memory_format=torch.contiguous_format)
