"""Fast paths behind the plan.

The reference path (reshape → transpose → copy by the array's own framework) stays the
fallback and defines the result; a kernel here gives bit-identical results and is used
only where it applies. ``PIXELSHUFFLE_KERNELS=0`` turns the kernels off (for comparison
and debugging). CPU kernels need numba (``pip install 'pixelshuffle[fast]'``), GPU
kernels Triton (``pip install 'pixelshuffle[gpu]'``, or the one a CUDA build of PyTorch
brings); without them the reference path runs.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import math
import operator
import os
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "below_small_kernels",
    "contiguous_strides",
    "copy_contiguous",
    "copy_contiguous_numpy",
    "copy_numpy",
    "copy_strided",
    "cpu_kernels",
    "gpu_kernels",
    "load_triton_first",
    "plan_contiguous_copy",
    "plan_numpy_copy",
    "runs_in_parallel",
]

UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
# Below this, a call through the full path (validation, planning, NumPy views) costs more
# than the frameworks' own copy saves (benchmarks/README.md); remembered torch shapes call
# the kernels more cheaply, from the SMALL_* sizes below.
MIN_BYTES = 1 << 20
# Below MIN_BYTES, contiguous torch inputs of a shape the library has run before take
# the serial kernel from these sizes, where it beat PyTorch's own op and its strided
# copy on small images (benchmarks/README.md): 8 KiB for 1- and 2-byte elements,
# 16 KiB for wider ones ...
SMALL_WIDE_BYTES = 16 << 10
SMALL_NARROW_BYTES = 8 << 10
# ... except for plain runs of rows (NHWC in tf order, runs too long to shuffle), which
# PyTorch's strided copy does as fast or faster from this size on.
SMALL_ROWS_BYTES = 64 << 10
# NumPy's own strided copies are slower than the kernel at every size, but below this a
# call is too small to be worth importing numba for (about 0.2 s, once).
NUMPY_SMALL_BYTES = 4 << 10
# From here on the copy is spread over threads; below, waking them costs more than it saves.
PARALLEL_BYTES = 1 << 20

# The same threshold on CUDA, not measured there: the H200 session timed 128 MiB only,
# where a call's host time (about 35 µs with the direct launch) was half the copy's.
GPU_MIN_BYTES = 1 << 20
# Devices whose torch tensors the Triton kernels copy; the tests add "cpu" to run them in
# Triton's interpreter.
TRITON_DEVICES = frozenset({"cuda"})

_LOADED: dict[str, ModuleType | None] = {}


def cpu_kernels() -> ModuleType | None:
    """The numba CPU kernels, imported on first use; ``None`` when unavailable or off."""
    return _load("cpu")


def gpu_kernels() -> ModuleType | None:
    """The Triton GPU kernels, imported on first use; ``None`` when unavailable or off."""
    return _load("gpu")


def load_triton_first() -> None:
    """Load Triton, where installed, before a module that brings its own LLVM
    (TensorFlow): the other order aborts the process when Triton loads later, as
    ``torch.compile`` does ("Option ... registered more than once", pytorch/pytorch#90166).
    For programs that use both, such as the benchmarks and the tests."""
    if "tensorflow" not in sys.modules:
        with contextlib.suppress(ImportError):
            importlib.import_module("triton")


def _load(name: str) -> ModuleType | None:
    if name not in _LOADED:
        _LOADED[name] = None
        if name == "gpu" and "tensorflow" in sys.modules and "triton" not in sys.modules:
            return None  # loading Triton now would abort the process (load_triton_first)
        if os.environ.get("PIXELSHUFFLE_KERNELS", "1") != "0":
            try:
                module = importlib.import_module(f"{__name__}.{name}")
            except ImportError:  # numba and Triton are optional
                return None
            except (RuntimeError, OSError) as error:  # broken, not missing: say so, once
                warnings.warn(
                    f"pixelshuffle runs without its {name.upper()} kernels, which failed to"
                    f" load: {error}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                return None
            # NUMBA_DISABLE_JIT=1 would run the kernels as (very slow) Python, and the
            # address wrappers not at all
            _LOADED[name] = None if getattr(module, "JIT_DISABLED", False) else module
    return _LOADED[name]


def runs_in_parallel(nbytes: int) -> bool:
    """Whether a CPU kernel copying ``nbytes`` would run on several threads."""
    kernels = cpu_kernels()
    return kernels is not None and kernels.PARALLEL and nbytes >= PARALLEL_BYTES


def copy_strided(
    src: np.ndarray,
    dst: np.ndarray,
    shape: Sequence[int],
    src_strides: Sequence[int],
    dst_strides: Sequence[int],
    nbytes: int,
) -> bool:
    """Copy between two stridings (in elements) of ``shape`` over the flat unsigned
    arrays ``src`` and ``dst``; ``False`` (nothing written) when no kernel applies."""
    kernels = cpu_kernels()
    if kernels is None or min(src_strides, default=0) < 0 or min(dst_strides, default=0) < 0:
        return False
    itemsize = src.dtype.itemsize
    plan = kernels.plan_copy(shape, src_strides, dst_strides, itemsize)
    if plan is None:
        return False
    kernels.copy_permuted(plan, src, dst, nbytes >= PARALLEL_BYTES)
    return True


def copy_contiguous(
    plan: Any, src_address: int, dst_address: int, size: int, itemsize: int
) -> None:
    """Run a plan from :func:`plan_contiguous_copy` between two contiguous buffers of
    ``size`` elements of ``itemsize`` bytes that the caller keeps alive and apart."""
    parallel = size * itemsize >= PARALLEL_BYTES
    cpu_kernels().copy_at(plan, src_address, dst_address, size, itemsize, parallel)  # type: ignore[union-attr]


def below_small_kernels(nbytes: int, itemsize: int) -> bool:
    """Whether a contiguous CPU copy of ``nbytes`` is too small for the serial kernel
    (:data:`SMALL_NARROW_BYTES`, :data:`SMALL_WIDE_BYTES`)."""
    return nbytes < (SMALL_NARROW_BYTES if itemsize <= 2 else SMALL_WIDE_BYTES)


def plan_contiguous_copy(shape: Sequence[int], strides: Sequence[int], itemsize: int) -> Any:
    """A plan for copying a contiguous input, seen through its permuted view of ``shape``
    and ``strides`` (in elements), into a contiguous output; ``None`` where no kernel
    fits or PyTorch's own copy is as fast.

    From :data:`MIN_BYTES` on, every plan runs. Below, calls pay the kernel's call
    (about 1 µs) without threads to share the copy, so the kernel runs only where it
    saved more than that when measured (:data:`SMALL_WIDE_BYTES`, :data:`SMALL_NARROW_BYTES`,
    :data:`SMALL_ROWS_BYTES`)."""
    nbytes = math.prod(shape) * itemsize
    if below_small_kernels(nbytes, itemsize):
        return None
    kernels = cpu_kernels()  # imported only once a copy is large enough for it
    if kernels is None:
        return None
    plan = kernels.plan_copy(shape, strides, contiguous_strides(shape), itemsize)
    if plan is None or (plan.kind == "rows" and SMALL_ROWS_BYTES <= nbytes < MIN_BYTES):
        return None
    return plan


def plan_gpu_copy(shape: Sequence[int], strides: Sequence[int], itemsize: int) -> Any:
    """Like :func:`plan_contiguous_copy`, for CUDA tensors: the Triton launch that copies
    the permuted view into a contiguous output, from :data:`GPU_MIN_BYTES` on."""
    kernels = gpu_kernels()
    if kernels is None or math.prod(shape) * itemsize < GPU_MIN_BYTES:
        return None
    shape = tuple(shape)
    return kernels.plan_copy(shape, tuple(strides), contiguous_strides(shape), itemsize)


def plan_numpy_copy(moved: np.ndarray) -> Any:
    """A plan for copying ``moved`` (a permuted view of a C-contiguous array) into a
    C-contiguous array of its shape, from :data:`NUMPY_SMALL_BYTES` on; ``None`` where
    no kernel fits."""
    itemsize = moved.dtype.itemsize
    if moved.nbytes < NUMPY_SMALL_BYTES or itemsize not in UNSIGNED:
        return None
    if any(stride % itemsize for stride in moved.strides):
        return None
    kernels = cpu_kernels()
    if kernels is None or min(moved.strides, default=0) < 0:
        return None
    in_strides = [stride // itemsize for stride in moved.strides]
    return kernels.plan_copy(moved.shape, in_strides, contiguous_strides(moved.shape), itemsize)


def contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """The strides (in elements) of a C-contiguous array of ``shape``."""
    return tuple(itertools.accumulate((1, *reversed(shape[1:])), operator.mul))[::-1]


def copy_contiguous_numpy(plan: Any, src: np.ndarray, dst: np.ndarray) -> None:
    """Run a plan from :func:`plan_numpy_copy` from C-contiguous ``src`` into
    C-contiguous ``dst`` (the result's shape)."""
    unsigned = UNSIGNED[src.dtype.itemsize]
    parallel = src.nbytes >= PARALLEL_BYTES
    flat_src, flat_dst = src.reshape(-1).view(unsigned), dst.reshape(-1).view(unsigned)
    cpu_kernels().copy_permuted(plan, flat_src, flat_dst, parallel)  # type: ignore[union-attr]


def copy_numpy(src: np.ndarray, dst: np.ndarray) -> bool:
    """``dst[...] = src`` for NumPy arrays of one shape and dtype, any strides, by a
    kernel; ``False`` (nothing written) when none applies."""
    itemsize = src.dtype.itemsize
    if (
        itemsize not in UNSIGNED
        or src.dtype.hasobject
        or src.nbytes < MIN_BYTES
        or min((*src.strides, *dst.strides), default=0) < 0
        or cpu_kernels() is None
        or any(stride % itemsize for stride in (*src.strides, *dst.strides))
    ):
        return False
    return copy_strided(
        _flat(src),
        _flat(dst),
        src.shape,
        [stride // itemsize for stride in src.strides],
        [stride // itemsize for stride in dst.strides],
        src.nbytes,
    )


def _flat(array: np.ndarray) -> Any:
    """A 1-D unsigned view from ``array``'s first element over all the memory it spans."""
    unsigned = array.view(UNSIGNED[array.dtype.itemsize])
    extent = 1 + sum((n - 1) * s for n, s in zip(array.shape, array.strides)) // array.itemsize
    return np.lib.stride_tricks.as_strided(unsigned, shape=(extent,), strides=(array.itemsize,))
