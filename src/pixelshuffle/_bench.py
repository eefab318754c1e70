"""Benchmark harness: the library against memory-copy limits and other frameworks' ops.

Wired as ``pixelshuffle bench``; ``benchmarks/run.py`` calls the same code, and
``benchmarks/README.md`` states the method. Every case (direction × convention × layout
× dtype × factor × size) times, in one process and interleaved round by round, the
library, two memory-copy limits of the same bytes and the peers that implement the same
op. Before anything is timed its output is compared bit for bit with the library's; a
mismatch is reported and never timed.

Frameworks (torch and the peers) are imported by :func:`run`, never when this module is
imported, so that the command line parser can be built without any of them.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import gc
import importlib
import importlib.metadata
import json
import math
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _kernels
from ._files import atomic_output

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "time the library against a memory copy and other frameworks' ops"
DESCRIPTION = (
    "Time pixel_shuffle / pixel_unshuffle against the two limits of a memory copy of the"
    " same bytes (x.clone() for fresh outputs, out.copy_(x) for out=) and against the"
    " peers that compute the same op: PyTorch eager and torch.compile, einops, a plain"
    " view/permute/contiguous recipe, TensorFlow and onnxruntime where installed. Each"
    " implementation's output is checked against the library's before it is timed."
    " Results go to RESULTS_DIR/results.json and results.md."
)

KIB = 1024
MIB = 1024 * KIB
# target input bytes; "tiny" is for the test suite and left out of --help
SIZES = {"tiny": 4 * KIB, "small": 64 * KIB, "medium": 8 * MIB, "large": 128 * MIB}
DIRECTIONS = ("up", "down")
CONVENTIONS = ("torch", "tf", "caffe")
LAYOUTS = ("NCHW", "NHWC", "NCDHW", "NDHWC")
DTYPES = ("float32", "bfloat16", "uint8", "float16", "float64", "int32", "int64")
PEERS = ("torch", "compile", "einops", "recipe", "tensorflow", "onnxruntime")

_ITEMSIZE = {
    "float32": 4,
    "bfloat16": 2,
    "uint8": 1,
    "float16": 2,
    "float64": 8,
    "int32": 4,
    "int64": 8,
}
_DEFAULTS: dict[str, tuple[Any, ...]] = {
    "direction": DIRECTIONS,
    "convention": CONVENTIONS,
    "layout": ("NCHW", "NHWC", "NCDHW"),
    "dtype": ("float32", "bfloat16", "uint8"),
    "factor": (2, 3, 4),
    "size": ("small", "medium", "large"),
}
# --quick: a smoke subset that still tells conventions and layouts apart
_QUICK: dict[str, tuple[Any, ...]] = {
    "direction": DIRECTIONS,
    "convention": ("torch", "tf"),
    "layout": ("NCHW", "NHWC"),
    "dtype": ("float32",),
    "factor": (3,),
    "size": ("small",),
}
# ONNX SpaceToDepth has a mode (and with it CRD, the torch order) from opset 28 on
_ONNX_OPSET = 28
_ONNX_OPSET_D2S = 13


# --------------------------------------------------------------------------- options


def _list_of(allowed: Sequence[str], shown: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        values = [part.strip() for part in text.split(",") if part.strip()]
        bad = [value for value in values if value not in allowed]
        if bad or not values:
            raise argparse.ArgumentTypeError(
                f"expected one or more of {', '.join(shown)} (comma-separated), got {text!r}"
            )
        return values

    return parse


def _factors(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(value < 2 for value in values):
        raise argparse.ArgumentTypeError(
            f"expected one or more ints >= 2 (comma-separated), got {text!r}"
        )
    return values


def _positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the harness's options to ``parser`` (a top-level parser or a subcommand's).

    Every case filter takes comma-separated values and may be repeated; a filter left
    out means all its values (or the ``--quick`` subset's).
    """
    select = parser.add_argument_group("cases (comma-separated, repeatable)")
    select.add_argument(
        "--direction",
        type=_list_of(DIRECTIONS, DIRECTIONS),
        action="extend",
        help="up (pixel_shuffle), down (pixel_unshuffle); default both",
    )
    select.add_argument(
        "--convention",
        type=_list_of(CONVENTIONS, CONVENTIONS),
        action="extend",
        help="torch, tf, caffe; default all",
    )
    select.add_argument(
        "--layout",
        type=_list_of(LAYOUTS, LAYOUTS),
        action="extend",
        help=f"{', '.join(LAYOUTS)}; default NCHW,NHWC,NCDHW",
    )
    select.add_argument(
        "--dtype",
        type=_list_of(DTYPES, DTYPES),
        action="extend",
        help=f"{', '.join(DTYPES)}; default float32,bfloat16,uint8",
    )
    select.add_argument("--factor", type=_factors, action="extend", help="ints >= 2; default 2,3,4")
    select.add_argument(
        "--size",
        type=_list_of(tuple(SIZES), tuple(name for name in SIZES if name != "tiny")),
        action="extend",
        help="small (~64 KiB), medium (~8 MiB), large (>= 128 MiB) input bytes; default all",
    )
    select.add_argument(
        "--bytes",
        type=_positive(int),
        metavar="N",
        help="target input bytes of every case instead of --size",
    )
    select.add_argument(
        "--channels",
        type=_positive(int),
        default=3,
        help="channels on the fine (space) side, e.g. 3 for RGB (default 3)",
    )
    select.add_argument(
        "--quick",
        action="store_true",
        help=(
            "smoke subset: up,down × torch,tf × NCHW,NHWC × float32 × factor 3 × small,"
            " 5 repeats; explicit filters override it"
        ),
    )
    method = parser.add_argument_group("method")
    method.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default cpu)"
    )
    method.add_argument(
        "--repeats",
        type=_positive(int),
        help="timed samples per implementation (default 11, 5 with --quick)",
    )
    method.add_argument(
        "--warmup",
        type=_positive(int),
        default=3,
        help="untimed calls before calibrating (default 3)",
    )
    method.add_argument(
        "--min-sample-ms",
        type=_positive(float),
        default=5.0,
        metavar="MS",
        help=(
            "loop the call until one sample takes at least this long, so that small"
            " sizes are not timer noise (default 5)"
        ),
    )
    method.add_argument(
        "--threads",
        type=_positive(int),
        help="torch threads, also given to TensorFlow and onnxruntime (default torch's)",
    )
    method.add_argument(
        "--skip",
        type=_list_of(PEERS, PEERS),
        action="extend",
        default=[],
        help=f"peers to leave out, recorded as skipped: {', '.join(PEERS)}",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--output-dir",
        type=Path,
        metavar="RESULTS_DIR",
        help="where results.json and results.md go (default benchmarks/results/NAME)",
    )
    output.add_argument(
        "--name", help="folder name under benchmarks/results (default: a timestamp)"
    )
    output.add_argument(
        "--force", action="store_true", help="overwrite results already in RESULTS_DIR"
    )


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One benchmark case: what is computed, and on which shape."""

    direction: str
    convention: str
    layout: str
    dtype: str
    factor: int
    size: str
    batch: int
    channels: int  # on the fine (space) side
    coarse: tuple[int, ...]  # spatial sizes on the coarse (depth) side, layout order

    @property
    def letters(self) -> list[str]:
        return [axis.lower() for axis in self.layout if axis not in "NC"]

    @property
    def channels_last(self) -> bool:
        return self.layout.endswith("C")

    @property
    def rank(self) -> int:
        return len(self.coarse)

    def groups(self) -> tuple[list[list[str]], list[list[str]]]:
        """The input and output axes as einops-style groups of elementary axes.

        The depth group lists the channel digits most significant first, which is all
        a convention is (design §2); fine spatial axes are (coarse, offset) pairs.
        """
        factors = [f"f{letter}" for letter in self.letters]
        depth = _depth_digits(self.convention, factors)
        fine_spatial = [[letter, f"f{letter}"] for letter in self.letters]
        coarse_spatial = [[letter] for letter in self.letters]
        if self.channels_last:
            coarse = [["n"], *coarse_spatial, depth]
            fine = [["n"], *fine_spatial, ["c"]]
        else:
            coarse = [["n"], depth, *coarse_spatial]
            fine = [["n"], ["c"], *fine_spatial]
        return (coarse, fine) if self.direction == "up" else (fine, coarse)

    def sizes(self) -> dict[str, int]:
        sizes = {"n": self.batch, "c": self.channels}
        for letter, size in zip(self.letters, self.coarse):
            sizes[letter] = size
            sizes[f"f{letter}"] = self.factor
        return sizes

    def shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The input and output shapes."""
        sizes = self.sizes()

        def shape(groups: list[list[str]]) -> tuple[int, ...]:
            return tuple(math.prod(sizes[axis] for axis in group) for group in groups)

        source, target = self.groups()
        return shape(source), shape(target)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shapes()[0]) * _ITEMSIZE[self.dtype]

    @property
    def key(self) -> str:
        return "-".join(
            (self.direction, self.convention, self.layout, self.dtype, f"f{self.factor}", self.size)
        )

    @property
    def label(self) -> str:
        return (
            f"{self.direction} {self.convention} {self.layout} {self.dtype}"
            f" f={self.factor} {self.size}"
        )


def _depth_digits(convention: str, factors: list[str]) -> list[str]:
    """The order of the depth digits: c and one block offset per spatial axis."""
    if convention == "torch":
        return ["c", *factors]
    if convention == "tf":
        return [*factors, "c"]
    return ["c", *reversed(factors)]  # caffe: column-major blocks


def plan_case(
    direction: str,
    convention: str,
    layout: str,
    dtype: str,
    factor: int,
    size: str,
    target_bytes: int,
    channels: int = 3,
) -> Case:
    """A batch of non-square images whose input holds at least ``target_bytes``.

    Spatial sizes keep a 3:4 (2-D) or 2:3:4 (3-D) aspect; the last one is rounded up,
    so the input is never smaller than asked and every fine size divides by the factor.
    """
    rank = len(layout) - 2
    batch = 2 if target_bytes < MIB else 4
    per_image = max(1.0, target_bytes / (_ITEMSIZE[dtype] * channels * factor**rank * batch))
    aspect = (3, 4) if rank == 2 else (2, 3, 4)
    unit = (per_image / math.prod(aspect)) ** (1 / rank)
    coarse = [max(1, round(a * unit)) for a in aspect[:-1]]
    coarse.append(max(1, math.ceil(per_image / math.prod(coarse))))
    if len(set(coarse)) == 1:  # square images cannot tell the spatial axes apart
        coarse[-1] += 1
    return Case(direction, convention, layout, dtype, factor, size, batch, channels, tuple(coarse))


def select_cases(args: argparse.Namespace) -> list[Case]:
    """The cases the options ask for, in a stable order (size outermost)."""
    base = _QUICK if args.quick else _DEFAULTS

    def pick(name: str) -> list[Any]:
        chosen = getattr(args, name)
        return list(dict.fromkeys(chosen)) if chosen else list(base[name])

    if args.bytes:
        sizes = [(f"{args.bytes}B", args.bytes)]
    else:
        sizes = [(name, SIZES[name]) for name in pick("size")]
    return [
        plan_case(direction, convention, layout, dtype, factor, size, target, args.channels)
        for size, target in sizes
        for dtype in pick("dtype")
        for factor in pick("factor")
        for layout in pick("layout")
        for convention in pick("convention")
        for direction in pick("direction")
    ]


# --------------------------------------------------------------------------- implementations


class _NotApplicable(Exception):
    """The implementation does not compute this case (another convention, layout, ...)."""


class _NotInstalled(Exception):
    """The peer's framework cannot be imported."""


class _Mismatch(Exception):
    """The output is not the library's (or, for a limit, not the input's) bytes."""


@dataclass
class _Inputs:
    """What the implementations of one case share."""

    torch: Any
    case: Case
    options: argparse.Namespace
    x: Any  # the input, contiguous in the case's layout
    ref: Any  # the library's fresh output: the reference
    out: Any  # the preallocated output, contiguous in the layout
    shared: dict[str, Any]  # what the whole run shares (imported frameworks)
    cache: dict[str, Any] = field(default_factory=dict)  # what this case's impls share

    @property
    def op(self) -> Callable[..., Any]:
        import pixelshuffle

        if self.case.direction == "up":
            return pixelshuffle.pixel_shuffle
        return pixelshuffle.pixel_unshuffle

    def kwargs(self) -> dict[str, str]:
        return {"convention": self.case.convention, "layout": self.case.layout}

    def to_first(self) -> tuple[int, ...]:
        ndim = self.x.dim()
        return (0, ndim - 1, *range(1, ndim - 1))

    def to_last(self) -> tuple[int, ...]:
        ndim = self.x.dim()
        return (0, *range(2, ndim), 1)

    def poison(self) -> None:
        """Fill ``out`` with values that differ from the reference everywhere."""
        if self.out.dtype.is_floating_point:
            self.out.fill_(float("nan"))
        else:
            self.out.copy_(self.torch.bitwise_not(self.ref))


@dataclass
class _Timed:
    """A checked implementation: the call to time and how to read its result."""

    call: Callable[[], object]
    produce: Callable[[], Any]  # runs once; the result, comparable with expected
    expected: Any
    notes: list[str] = field(default_factory=list)
    number: int = 1
    samples: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class _Impl:
    key: str
    label: str
    regime: str  # "fresh" or "out"
    kind: str  # "limit", "library" or "peer"
    peer: str | None  # its --skip name
    setup: Callable[[_Inputs], _Timed]
    how: str


def _fresh(inputs: _Inputs, y: Any) -> Any:
    """``y``, after making sure it owns its memory (a view of x would time nothing)."""
    torch = inputs.torch
    if isinstance(y, torch.Tensor) and (
        y.untyped_storage().data_ptr() == inputs.x.untyped_storage().data_ptr()
    ):
        raise _Mismatch("the result shares memory with the input instead of being a new tensor")
    return y


def _memory_format(torch: Any, y: Any) -> str:
    if y.is_contiguous():
        return "contiguous"
    for name in ("channels_last", "channels_last_3d"):
        if y.dim() in (4, 5) and y.is_contiguous(memory_format=getattr(torch, name)):
            return name
    return "strided"


def _require_torch_2d(inputs: _Inputs, what: str) -> None:
    if inputs.case.convention != "torch":
        raise _NotApplicable(f"{what} implements the torch convention only")
    if inputs.case.rank != 2:
        raise _NotApplicable(f"{what} is 2-D only")


def _setup_clone(inputs: _Inputs) -> _Timed:
    x = inputs.x
    return _Timed(x.clone, lambda: _fresh(inputs, x.clone()), x)


def _setup_copy(inputs: _Inputs) -> _Timed:
    # flat views of the same bytes, so that copy_ is a plain memcpy whatever the layout
    src, dst = inputs.x.view(-1), inputs.out.view(-1)

    def produce() -> Any:
        inputs.poison()
        dst.copy_(src)
        return dst

    return _Timed(lambda: dst.copy_(src), produce, src)


def _setup_library(inputs: _Inputs) -> _Timed:
    op, x, factor, kwargs = inputs.op, inputs.x, inputs.case.factor, inputs.kwargs()
    return _Timed(
        lambda: op(x, factor, **kwargs),
        lambda: _fresh(inputs, op(x, factor, **kwargs)),
        inputs.ref,
    )


def _setup_library_out(inputs: _Inputs) -> _Timed:
    op, x, out, factor, kwargs = (
        inputs.op,
        inputs.x,
        inputs.out,
        inputs.case.factor,
        inputs.kwargs(),
    )

    def produce() -> Any:
        inputs.poison()
        op(x, factor, **kwargs, out=out)
        return out

    return _Timed(lambda: op(x, factor, **kwargs, out=out), produce, inputs.ref)


def _channels_first_view(inputs: _Inputs) -> tuple[Any, str]:
    """The input as a channels-first tensor in channels_last memory format (no copy)."""
    case = inputs.case
    if not case.channels_last:
        raise _NotApplicable(
            "only for channels-last layouts (whose memory is a channels_last NCHW tensor)"
        )
    return inputs.x.permute(inputs.to_first()), "NC" + case.layout[1:-1]


def _setup_library_cl(inputs: _Inputs) -> _Timed:
    x_cl, layout = _channels_first_view(inputs)
    op, factor, convention = inputs.op, inputs.case.factor, inputs.case.convention
    notes: list[str] = []

    def produce() -> Any:
        y = _fresh(inputs, op(x_cl, factor, convention=convention, layout=layout))
        notes.append(f"output {_memory_format(inputs.torch, y)}")
        return y.permute(inputs.to_last())

    return _Timed(
        lambda: op(x_cl, factor, convention=convention, layout=layout),
        produce,
        inputs.ref,
        notes,
    )


def _setup_library_cl_out(inputs: _Inputs) -> _Timed:
    x_cl, layout = _channels_first_view(inputs)
    out_cl = inputs.out.permute(inputs.to_first())
    op, factor, convention = inputs.op, inputs.case.factor, inputs.case.convention

    def call() -> object:
        return op(x_cl, factor, convention=convention, layout=layout, out=out_cl)

    def produce() -> Any:
        inputs.poison()
        call()
        return inputs.out

    return _Timed(call, produce, inputs.ref)


def _torch_function(inputs: _Inputs) -> tuple[Callable[..., Any], Any, tuple[int, ...] | None]:
    """F.pixel_(un)shuffle, its input, and the permutation back to the case's layout."""
    F = inputs.torch.nn.functional
    fn = F.pixel_shuffle if inputs.case.direction == "up" else F.pixel_unshuffle
    if inputs.case.channels_last:
        # PyTorch's op sees NCHW shapes: NHWC is an NCHW tensor in channels_last format
        return fn, inputs.x.permute(inputs.to_first()), inputs.to_last()
    return fn, inputs.x, None


def _setup_torch(inputs: _Inputs) -> _Timed:
    _require_torch_2d(inputs, "F.pixel_shuffle")
    fn, x_in, back = _torch_function(inputs)
    factor = inputs.case.factor
    notes: list[str] = []

    def produce() -> Any:
        y = _fresh(inputs, fn(x_in, factor))
        notes.append(f"output {_memory_format(inputs.torch, y)}")
        return y if back is None else y.permute(back)

    return _Timed(lambda: fn(x_in, factor), produce, inputs.ref, notes)


def _setup_compile(inputs: _Inputs) -> _Timed:
    _require_torch_2d(inputs, "F.pixel_shuffle")
    torch = inputs.torch
    fn, x_in, back = _torch_function(inputs)
    factor = inputs.case.factor

    def peer(t: Any) -> Any:
        return fn(t, factor)

    # A fresh cache per case: with dynamic=False every shape recompiles, and past
    # dynamo's recompile limit it would silently fall back to eager.
    torch._dynamo.reset()
    compiled = torch.compile(peer, dynamic=False, fullgraph=True)
    start = time.perf_counter()
    compiled(x_in)
    notes = [f"compiled in {time.perf_counter() - start:.1f} s"]

    def produce() -> Any:
        y = _fresh(inputs, compiled(x_in))
        notes.append(f"output {_memory_format(torch, y)}")
        return y if back is None else y.permute(back)

    return _Timed(lambda: compiled(x_in), produce, inputs.ref, notes)


def _pattern(groups: list[list[str]]) -> str:
    return " ".join(group[0] if len(group) == 1 else f"({' '.join(group)})" for group in groups)


def _setup_einops(inputs: _Inputs) -> _Timed:
    try:
        from einops import rearrange
    except ImportError as error:
        raise _NotInstalled(f"einops is not installed ({error})") from None
    source, target = inputs.case.groups()
    pattern = f"{_pattern(source)} -> {_pattern(target)}"
    sizes = {name: size for name, size in inputs.case.sizes().items() if name.startswith("f")}
    x = inputs.x
    return _Timed(
        lambda: rearrange(x, pattern, **sizes),
        lambda: _fresh(inputs, rearrange(x, pattern, **sizes)),
        inputs.ref,
        [f"'{pattern}'"],
    )


def _recipe(case: Case) -> tuple[list[int], list[int], list[int]]:
    """The split shape of the input, the permutation, and the output shape."""
    source, target = case.groups()
    sizes = case.sizes()
    axes_in = [axis for group in source for axis in group]
    axes_out = [axis for group in target for axis in group]
    split = [sizes[axis] for axis in axes_in]
    perm = [axes_in.index(axis) for axis in axes_out]
    out_shape = [math.prod(sizes[axis] for axis in group) for group in target]
    return split, perm, out_shape


def _setup_recipe(inputs: _Inputs) -> _Timed:
    split, perm, out_shape = _recipe(inputs.case)
    x = inputs.x

    def call() -> Any:
        return x.view(split).permute(perm).contiguous().view(out_shape)

    return _Timed(call, lambda: _fresh(inputs, call()), inputs.ref)


def _setup_recipe_out(inputs: _Inputs) -> _Timed:
    split, perm, _ = _recipe(inputs.case)
    moved = [split[p] for p in perm]
    x, out = inputs.x, inputs.out

    def call() -> Any:
        return out.view(moved).copy_(x.view(split).permute(perm))

    def produce() -> Any:
        inputs.poison()
        call()
        return out

    return _Timed(call, produce, inputs.ref)


def _import_tensorflow(torch: Any, shared: dict[str, Any]) -> Any:
    """TensorFlow, imported once per run with torch's thread count, or _NotInstalled."""
    if "tensorflow" not in shared:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # its import-time banner
        _kernels.load_triton_first()  # torch.compile loads it later
        try:
            tf = importlib.import_module("tensorflow")
        except Exception as error:  # TensorFlow fails in more ways than ImportError
            shared["tensorflow"] = _NotInstalled(f"tensorflow is not importable ({error})")
        else:
            try:  # the same threads as torch; possible only before TF's first op
                tf.config.threading.set_intra_op_parallelism_threads(torch.get_num_threads())
                tf.config.threading.set_inter_op_parallelism_threads(1)
            except RuntimeError:
                pass
            shared["tensorflow"] = tf
    tf = shared["tensorflow"]
    if isinstance(tf, Exception):
        raise tf
    return tf


def _setup_tensorflow(inputs: _Inputs) -> _Timed:
    case, torch = inputs.case, inputs.torch
    if inputs.x.device.type != "cpu":
        raise _NotApplicable("timed on CPU only (this harness feeds TensorFlow CPU tensors)")
    if case.convention != "tf":
        raise _NotApplicable("tf.nn.depth_to_space implements the tf convention only")
    if case.layout != "NHWC":
        raise _NotApplicable("2-D only, and TensorFlow's CPU kernels take NHWC only")
    tf = _import_tensorflow(torch, inputs.shared)
    fn = tf.nn.depth_to_space if case.direction == "up" else tf.nn.space_to_depth
    factor = case.factor
    if inputs.x.dtype == torch.bfloat16:  # NumPy has no bfloat16: move the bits
        x_tf = tf.bitcast(tf.constant(inputs.x.view(torch.int16).numpy()), tf.bfloat16)
    else:
        x_tf = tf.constant(inputs.x.numpy())

    def produce() -> Any:
        y = fn(x_tf, factor)
        if y.dtype == tf.bfloat16:
            return torch.from_numpy(tf.bitcast(y, tf.int16).numpy()).view(torch.bfloat16)
        return torch.from_numpy(y.numpy())

    return _Timed(lambda: fn(x_tf, factor), produce, inputs.ref, ["eager"])


def _onnx_session(inputs: _Inputs) -> tuple[Any, int]:
    """An onnxruntime session of the case's one node, built in memory (cached per case)."""
    if "onnxruntime" in inputs.cache:
        cached = inputs.cache["onnxruntime"]
        if isinstance(cached, Exception):
            raise cached
        return cached
    try:
        return _build_onnx_session(inputs)
    except Exception as error:
        inputs.cache["onnxruntime"] = error
        raise


def _build_onnx_session(inputs: _Inputs) -> tuple[Any, int]:
    case, torch = inputs.case, inputs.torch
    if inputs.x.device.type != "cpu":
        raise _NotApplicable("timed on CPU only (onnxruntime's CPU execution provider)")
    if case.layout != "NCHW":
        raise _NotApplicable("ONNX DepthToSpace/SpaceToDepth are 4-D NCHW only")
    if case.convention == "caffe":
        raise _NotApplicable("ONNX has no column-major (caffe) block order")
    try:
        import onnx
        import onnxruntime
        from onnx import TensorProto, helper
    except ImportError as error:
        raise _NotInstalled(f"onnx or onnxruntime is not installed ({error})") from None
    attributes: dict[str, Any] = {"blocksize": case.factor}
    if case.direction == "up":
        op_type, opset = "DepthToSpace", _ONNX_OPSET_D2S
        attributes["mode"] = "CRD" if case.convention == "torch" else "DCR"
    else:
        op_type, opset = "SpaceToDepth", min(_ONNX_OPSET, onnx.defs.onnx_opset_version())
        if case.convention == "torch":
            if opset < _ONNX_OPSET:
                raise _NotApplicable(
                    f"SpaceToDepth has mode='CRD' from opset {_ONNX_OPSET}; onnx"
                    f" {onnx.__version__} has opset {opset}"
                )
            attributes["mode"] = "CRD"
    element = {
        torch.float32: TensorProto.FLOAT,
        torch.bfloat16: TensorProto.BFLOAT16,
        torch.uint8: TensorProto.UINT8,
        torch.float16: TensorProto.FLOAT16,
        torch.float64: TensorProto.DOUBLE,
        torch.int32: TensorProto.INT32,
        torch.int64: TensorProto.INT64,
    }[inputs.x.dtype]
    node = helper.make_node(op_type, ["x"], ["y"], **attributes)
    graph = helper.make_graph(
        [node],
        "bench",
        [helper.make_tensor_value_info("x", element, list(inputs.x.shape))],
        [helper.make_tensor_value_info("y", element, list(inputs.ref.shape))],
    )
    opset_id = helper.make_opsetid("", opset)
    model = helper.make_model(
        graph, opset_imports=[opset_id], ir_version=helper.find_min_ir_version_for([opset_id])
    )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = inputs.torch.get_num_threads()
    options.inter_op_num_threads = 1
    # idle pool threads spin by default and would steal the cores of whatever is timed next
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    inputs.cache["onnxruntime"] = (session, element)
    return session, element


def _setup_onnxruntime(inputs: _Inputs) -> _Timed:
    session, element = _onnx_session(inputs)
    torch, x = inputs.torch, inputs.x
    binding = session.io_binding()
    binding.bind_input("x", "cpu", 0, element, tuple(x.shape), x.data_ptr())
    binding.bind_output("y", "cpu")  # onnxruntime allocates the output on every run

    def produce() -> Any:
        session.run_with_iobinding(binding)
        value = binding.get_outputs()[0]
        y = torch.empty(value.shape(), dtype=x.dtype)
        ctypes.memmove(y.data_ptr(), value.data_ptr(), y.numel() * y.element_size())
        return y

    return _Timed(lambda: session.run_with_iobinding(binding), produce, inputs.ref, ["io binding"])


def _setup_onnxruntime_out(inputs: _Inputs) -> _Timed:
    session, element = _onnx_session(inputs)
    x, out = inputs.x, inputs.out
    binding = session.io_binding()
    binding.bind_input("x", "cpu", 0, element, tuple(x.shape), x.data_ptr())
    binding.bind_output("y", "cpu", 0, element, tuple(out.shape), out.data_ptr())

    def produce() -> Any:
        inputs.poison()
        session.run_with_iobinding(binding)
        return out

    return _Timed(
        lambda: session.run_with_iobinding(binding), produce, inputs.ref, ["io binding into out"]
    )


_IMPLS = (
    _Impl("clone", "x.clone()", "fresh", "limit", None, _setup_clone, "x.clone()"),
    _Impl(
        "pixelshuffle",
        "pixelshuffle",
        "fresh",
        "library",
        None,
        _setup_library,
        "pixel_(un)shuffle(x, f, convention=, layout=)",
    ),
    _Impl(
        "pixelshuffle_channels_last",
        "pixelshuffle (NCHW, channels_last)",
        "fresh",
        "library",
        None,
        _setup_library_cl,
        "the NHWC input as an NCHW tensor in channels_last memory format, layout='NCHW'",
    ),
    _Impl(
        "torch",
        "F.pixel_(un)shuffle",
        "fresh",
        "peer",
        "torch",
        _setup_torch,
        "torch.nn.functional.pixel_(un)shuffle, eager; NHWC as channels_last NCHW",
    ),
    _Impl(
        "torch_compile",
        "torch.compile",
        "fresh",
        "peer",
        "compile",
        _setup_compile,
        "torch.compile(F.pixel_(un)shuffle, dynamic=False, fullgraph=True), compiled first",
    ),
    _Impl(
        "einops", "einops", "fresh", "peer", "einops", _setup_einops, "einops.rearrange(x, pattern)"
    ),
    _Impl(
        "recipe",
        "view/permute/contiguous",
        "fresh",
        "peer",
        "recipe",
        _setup_recipe,
        "x.view(split).permute(perm).contiguous().view(out_shape)",
    ),
    _Impl(
        "tensorflow",
        "tf.nn",
        "fresh",
        "peer",
        "tensorflow",
        _setup_tensorflow,
        "tf.nn.depth_to_space / space_to_depth, eager, on a tf.Tensor made beforehand",
    ),
    _Impl(
        "onnxruntime",
        "onnxruntime",
        "fresh",
        "peer",
        "onnxruntime",
        _setup_onnxruntime,
        "one DepthToSpace/SpaceToDepth node; io binding, input bound to x's memory,"
        " output allocated by onnxruntime each run",
    ),
    _Impl("copy", "out.copy_(x)", "out", "limit", None, _setup_copy, "flat out.copy_(flat x)"),
    _Impl(
        "pixelshuffle_out",
        "pixelshuffle out=",
        "out",
        "library",
        None,
        _setup_library_out,
        "pixel_(un)shuffle(x, f, ..., out=out)",
    ),
    _Impl(
        "pixelshuffle_channels_last_out",
        "pixelshuffle out= (NCHW, channels_last)",
        "out",
        "library",
        None,
        _setup_library_cl_out,
        "channels_last NCHW input and out, layout='NCHW'",
    ),
    _Impl(
        "recipe_out",
        "view/permute/copy_",
        "out",
        "peer",
        "recipe",
        _setup_recipe_out,
        "out.view(moved).copy_(x.view(split).permute(perm))",
    ),
    _Impl(
        "onnxruntime_out",
        "onnxruntime out=",
        "out",
        "peer",
        "onnxruntime",
        _setup_onnxruntime_out,
        "io binding of both x and out to the tensors' memory",
    ),
)
_LIMIT_OF = {"fresh": "clone", "out": "copy"}


# --------------------------------------------------------------------------- timing


def _sample(call: Callable[[], object], number: int, sync: Callable[[], None]) -> float:
    """Nanoseconds per call of ``number`` back-to-back calls."""
    sync()
    start = time.perf_counter_ns()
    for _ in range(number):
        call()
    sync()
    return (time.perf_counter_ns() - start) / number


def _calibrate(timed: _Timed, options: argparse.Namespace, sync: Callable[[], None]) -> None:
    for _ in range(options.warmup):
        timed.call()
    sync()
    single = min(_sample(timed.call, 1, sync) for _ in range(3))
    timed.number = max(1, min(100_000, math.ceil(options.min_sample_ms * 1e6 / max(single, 1.0))))


def _stats(samples: list[float]) -> dict[str, float]:
    if len(samples) > 1:
        q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    else:
        q1 = median = q3 = samples[0]
    return {
        "median_ns": median,
        "q1_ns": q1,
        "q3_ns": q3,
        "min_ns": min(samples),
        "max_ns": max(samples),
    }


def _compare(torch: Any, got: Any, expected: Any) -> str | None:
    """None if ``got`` holds exactly ``expected``, else what differs."""
    if tuple(got.shape) != tuple(expected.shape) or got.dtype != expected.dtype:
        return (
            f"got shape {tuple(got.shape)} {got.dtype}, expected"
            f" {tuple(expected.shape)} {expected.dtype}"
        )
    if torch.equal(got, expected):
        return None
    differ = got != expected
    where = tuple(int(i) for i in differ.nonzero()[0])
    return (
        f"{int(differ.sum())} of {got.numel()} elements differ; first at {where}:"
        f" got {got[where].item()!r}, expected {expected[where].item()!r}"
    )


def _make_inputs(
    torch: Any, case: Case, options: argparse.Namespace, shared: dict[str, Any]
) -> _Inputs:
    import pixelshuffle

    device = torch.device(options.device)
    in_shape, _ = case.shapes()
    generator = torch.Generator().manual_seed(0)
    # random values, so that a wrong permutation cannot pass the check by accident
    if case.dtype in ("uint8", "int32", "int64"):
        high = 256 if case.dtype == "uint8" else 1 << 30
        x = torch.randint(0, high, in_shape, generator=generator, dtype=getattr(torch, case.dtype))
    else:
        x = torch.randn(in_shape, generator=generator).to(getattr(torch, case.dtype))
    x = x.to(device)
    op = pixelshuffle.pixel_shuffle if case.direction == "up" else pixelshuffle.pixel_unshuffle
    ref = op(x, case.factor, convention=case.convention, layout=case.layout)
    out = torch.empty_like(ref, memory_format=torch.contiguous_format)
    return _Inputs(torch, case, options, x, ref, out, shared)


def _run_case(
    torch: Any, case: Case, options: argparse.Namespace, shared: dict[str, Any]
) -> list[dict[str, Any]]:
    """Check, then time, every implementation of one case; one record each."""
    sync = torch.cuda.synchronize if options.device == "cuda" else (lambda: None)
    records: list[dict[str, Any]] = []
    timed: dict[str, _Timed] = {}
    try:
        inputs = _make_inputs(torch, case, options, shared)
    except Exception as error:
        reason = f"the library's reference failed: {type(error).__name__}: {error}"
        return [_record(impl, "error", reason) for impl in _IMPLS]
    for impl in _IMPLS:
        if impl.peer is not None and impl.peer in options.skip:
            records.append(_record(impl, "skipped", "--skip"))
            continue
        try:
            prepared = impl.setup(inputs)
            mismatch = _compare(torch, prepared.produce(), prepared.expected)
        except _NotApplicable as reason:
            records.append(_record(impl, "n/a", str(reason)))
            continue
        except _NotInstalled as reason:
            records.append(_record(impl, "not installed", str(reason)))
            continue
        except _Mismatch as reason:
            mismatch = str(reason)
        except Exception as error:
            status = "unsupported" if impl.kind == "peer" else "error"
            records.append(_record(impl, status, f"{type(error).__name__}: {_first_line(error)}"))
            continue
        if mismatch is not None:
            records.append(_record(impl, "mismatch", mismatch, check=mismatch))
            continue
        prepared.expected = None  # let the reference go before timing
        timed[impl.key] = prepared
        records.append(_record(impl, "ok", "", check="ok"))
    del inputs.ref
    gc.collect()

    failed: dict[str, str] = {}  # raised while timed (out of memory, say), though checked
    for key, item in timed.items():
        try:
            _calibrate(item, options, sync)
        except Exception as error:
            failed[key] = f"{type(error).__name__} while timed: {_first_line(error)}"
    order = [item for key, item in timed.items() if key not in failed]
    keys = {id(item): key for key, item in timed.items()}
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside a sample would be charged to whoever runs then
    try:
        shuffler = random.Random(0)  # reproducible, and the same for every case
        for _ in range(options.repeats):
            # a new order every round: no implementation always runs after the same one
            # (whose cache state or freed memory it would inherit) or at the same time
            shuffler.shuffle(order)
            for item in list(order):
                try:
                    item.samples.append(_sample(item.call, item.number, sync))
                except Exception as error:
                    failed[keys[id(item)]] = (
                        f"{type(error).__name__} while timed: {_first_line(error)}"
                    )
                    order.remove(item)
    finally:
        if gc_was_enabled:
            gc.enable()
    for record in records:
        if record["implementation"] in failed:
            record.update(status="error", note=failed.pop(record["implementation"]))
            del timed[record["implementation"]]

    nbytes = case.nbytes
    for record in records:
        item = timed.get(record["implementation"])
        if item is None:
            continue
        record.update(_stats(item.samples))
        record["calls_per_sample"] = item.number
        record["samples_ns"] = [round(sample, 1) for sample in item.samples]
        # every element is read once and written once
        record["gb_per_s"] = 2 * nbytes / record["median_ns"]
        if item.notes:
            record["note"] = "; ".join(dict.fromkeys(item.notes))
    for record in records:
        limit = next(
            (r for r in records if r["implementation"] == _LIMIT_OF[record["regime"]]), None
        )
        if "median_ns" in record and limit is not None and "median_ns" in limit:
            record["ratio"] = record["median_ns"] / limit["median_ns"]
    return records


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else ""


def _record(impl: _Impl, status: str, note: str, check: str | None = None) -> dict[str, Any]:
    return {
        "implementation": impl.key,
        "label": impl.label,
        "regime": impl.regime,
        "kind": impl.kind,
        "status": status,
        "check": check,
        "note": note,
    }


# --------------------------------------------------------------------------- environment


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / MIB, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _git_state() -> dict[str, Any] | None:
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}


def _load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _usable_cpus() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def _contention_warnings(torch: Any, load: list[float] | None) -> list[str]:
    """Why the timings may measure the scheduler rather than the code."""
    threads, usable = torch.get_num_threads(), _usable_cpus()
    if load is None or usable is None or threads < 2 or load[0] + threads <= usable + 0.5:
        return []
    # A parallel region ends when its slowest thread does; with every core asked for and
    # other work running, that thread waits for a time slice, so even a memory copy
    # takes milliseconds.
    return [
        f"load average {load[0]} (other processes) with {threads} torch threads on"
        f" {usable} usable CPUs: multi-threaded ops will wait for descheduled threads;"
        f" use an idle machine or --threads {max(1, usable - math.ceil(load[0]))}"
    ]


def _dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _versions(torch: Any) -> dict[str, str | None]:
    import numpy

    import pixelshuffle

    return {
        "pixelshuffle": pixelshuffle.__version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "einops": _dist_version("einops"),
        "tensorflow": _dist_version("tensorflow", "tensorflow-cpu"),
        "onnx": _dist_version("onnx"),
        "onnxruntime": _dist_version("onnxruntime", "onnxruntime-gpu"),
    }


def _machine(torch: Any, options: argparse.Namespace) -> dict[str, Any]:
    machine: dict[str, Any] = {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": _usable_cpus(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "device": options.device,
    }
    if options.device == "cuda":
        machine["gpu"] = torch.cuda.get_device_name()
    return machine


# --------------------------------------------------------------------------- reports


def _duration(ns: float) -> str:
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.3g} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.3g} ms"
    return f"{ns / 1e9:.3g} s"


def _size(nbytes: int) -> str:
    if nbytes >= MIB:
        return f"{nbytes / MIB:.1f} MiB"
    if nbytes >= KIB:
        return f"{nbytes / KIB:.1f} KiB"
    return f"{nbytes} B"


def _cell(record: dict[str, Any]) -> str:
    if record["status"] != "ok":
        return record["status"]
    if record["kind"] == "limit":
        return _duration(record["median_ns"])
    return f"{record['ratio']:.2f}×" if "ratio" in record else _duration(record["median_ns"])


def _summary(report: dict[str, Any], regime: str) -> list[str]:
    impls = [impl for impl in _IMPLS if impl.regime == regime]
    header = ["case", "input", *(impl.label for impl in impls)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for case in report["cases"]:
        by_key = {record["implementation"]: record for record in case["results"]}
        cells = [case["label"], _size(case["bytes"])]
        cells += [_cell(by_key[impl.key]) for impl in impls]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _summaries(report: dict[str, Any]) -> list[str]:
    return [
        "## Fresh output: ratio to `x.clone()`",
        "",
        *_summary(report, "fresh"),
        "",
        "## Preallocated output: ratio to `out.copy_(x)`",
        "",
        *_summary(report, "out"),
    ]


def render_markdown(report: dict[str, Any]) -> str:
    """The report as markdown: provenance, two summary tables, every measurement."""
    machine, versions, method = report["machine"], report["versions"], report["method"]
    git = report.get("git")
    lines = [
        f"# pixelshuffle benchmark: {report['name']}",
        "",
        f"Command: `{report['command']}`",
        "",
        f"- Started {report['started']}, took {report['duration_s']:.0f} s;"
        f" load average {report['load_average_start']} at start,"
        f" {report['load_average_end']} at the end.",
        *(f"- **Warning:** {warning}" for warning in report["warnings"]),
        f"- Machine: {machine['cpu']}, {machine['usable_cpus']} usable of"
        f" {machine['logical_cpus']} logical CPUs, {machine['memory_gib']} GiB;"
        f" {machine['platform']}; device {machine['device']}"
        + (f" ({machine['gpu']})" if "gpu" in machine else "")
        + f"; torch threads {machine['torch_threads']}"
        + (
            f", TensorFlow intra-op threads {machine['tensorflow_threads']}"
            if "tensorflow_threads" in machine
            else ""
        )
        + (
            f", onnxruntime intra-op threads {machine['onnxruntime_threads']}"
            if "onnxruntime_threads" in machine
            else ""
        )
        + ".",
        "- Versions: "
        + ", ".join(f"{k} {v or 'not installed'}" for k, v in versions.items())
        + (
            f"; pixelshuffle at commit {git['commit'][:12]}{' (modified)' if git['dirty'] else ''}"
            if git
            else ""
        )
        + ".",
        f"- Method: {method['warmup']} warm-up calls, then {method['repeats']} samples per"
        " implementation, interleaved round by round in a new random order each round; a"
        f" sample loops the call until it takes ≥ {method['min_sample_ms']} ms and is divided"
        " by the calls. Medians; ratios are"
        " median / median of the limit of the same regime, in the same case (1.00× = copy"
        " speed, lower is faster). Each output was compared bit for bit with the library's"
        " before timing. See benchmarks/README.md.",
        "",
        *_summaries(report),
        "",
        "## Every measurement",
        "",
        "| case | shape in → out | implementation | status | median | IQR | min – max"
        " | GB/s | × limit | calls × samples | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in report["cases"]:
        shapes = f"{tuple(case['input_shape'])} → {tuple(case['output_shape'])}"
        for record in case["results"]:
            if record["status"] == "ok":
                timing = [
                    _duration(record["median_ns"]),
                    f"{_duration(record['q1_ns'])} – {_duration(record['q3_ns'])}",
                    f"{_duration(record['min_ns'])} – {_duration(record['max_ns'])}",
                    f"{record['gb_per_s']:.1f}",
                    f"{record['ratio']:.2f}" if "ratio" in record else "",
                    f"{record['calls_per_sample']} × {len(record['samples_ns'])}",
                ]
            else:
                timing = [""] * 6
            note = str(record.get("note") or "").replace("|", "\\|")
            lines.append(
                "| "
                + " | ".join(
                    [case["label"], shapes, record["label"], record["status"], *timing, note]
                )
                + " |"
            )
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder, so a crash leaves no half file."""
    with atomic_output(path, "w", encoding="utf-8") as stream:
        stream.write(text)


def _command_line() -> str:
    argv = list(sys.argv)
    if argv and argv[0].endswith(".py"):
        return shlex.join(["python", argv[0], *argv[1:]])
    if argv:
        argv[0] = Path(argv[0]).name
    return shlex.join(argv)


# --------------------------------------------------------------------------- entry point


def run(args: argparse.Namespace) -> int:
    """Run the benchmark the options describe and write its report.

    Args:
        args: options parsed by a parser that :func:`add_arguments` set up.

    Returns:
        0 on success; 1 if some implementation's output did not match the library's or
        an implementation failed; 2 for a usage error (nothing is run).
    """
    started = datetime.datetime.now().astimezone()
    name = args.name or started.strftime("%Y%m%d-%H%M%S")
    out_dir: Path = args.output_dir or Path("benchmarks") / "results" / name
    targets = [out_dir / "results.json", out_dir / "results.md"]
    if not args.force and any(path.exists() for path in targets):
        print(
            f"pixelshuffle bench: error: {out_dir} already holds results; pass --force"
            " to overwrite them or choose another --name/--output-dir",
            file=sys.stderr,
        )
        return 2
    try:
        import torch
    except ImportError as error:
        print(f"pixelshuffle bench: error: needs PyTorch ({error})", file=sys.stderr)
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            "pixelshuffle bench: error: --device cuda, but CUDA is not available", file=sys.stderr
        )
        return 2
    if args.repeats is None:
        args.repeats = 5 if args.quick else 11
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"pixelshuffle bench: error: cannot create {out_dir}: {error}", file=sys.stderr)
        return 2
    cases = select_cases(args)
    load_start = _load_average()
    warnings = _contention_warnings(torch, load_start)
    for warning in warnings:
        print(f"pixelshuffle bench: warning: {warning}", file=sys.stderr)
    clock = time.perf_counter()
    report_cases: list[dict[str, Any]] = []
    shared: dict[str, Any] = {}
    if (
        "tensorflow" not in args.skip
        and args.device == "cpu"
        and any(case.convention == "tf" and case.layout == "NHWC" for case in cases)
    ):
        # before the first case, so that its log lines do not split a progress line
        with contextlib.suppress(_NotInstalled):
            _import_tensorflow(torch, shared)

    # what the report says of the machine, versions and checkout, read once
    machine_base, versions, git = _machine(torch, args), _versions(torch), _git_state()

    def write_report() -> dict[str, Any]:
        # after every case too, so that an interrupted run keeps what it measured
        machine = dict(machine_base)
        tf = shared.get("tensorflow")
        if tf is not None and not isinstance(tf, Exception):
            threads = tf.config.threading.get_intra_op_parallelism_threads()
            machine["tensorflow_threads"] = threads or "default (all cores)"
        if "onnxruntime" in sys.modules:
            machine["onnxruntime_threads"] = torch.get_num_threads()
        report = {
            "schema": 1,
            "name": name,
            "command": _command_line(),
            "options": {key: _jsonable(value) for key, value in sorted(vars(args).items())},
            "started": started.isoformat(timespec="seconds"),
            "duration_s": time.perf_counter() - clock,
            "load_average_start": load_start,
            "load_average_end": _load_average(),
            "warnings": warnings,
            "machine": machine,
            "versions": versions,
            "git": git,
            "method": {
                "warmup": args.warmup,
                "repeats": args.repeats,
                "min_sample_ms": args.min_sample_ms,
                "statistic": "median of per-call times; spread as quartiles (q1, q3) and min/max",
                "ratio": "median / median of the same case's limit: x.clone() for fresh outputs,"
                " out.copy_(x) for out=",
                "gb_per_s": "2 × input bytes / median (each byte read once and written once)",
                "implementations": {impl.key: impl.how for impl in _IMPLS},
            },
            "cases": report_cases,
            "cases_planned": len(cases),
        }
        _write_atomic(targets[0], json.dumps(report, indent=1) + "\n")
        markdown = render_markdown(report)
        _write_atomic(targets[1], markdown)
        return report

    for index, case in enumerate(cases, 1):
        in_shape, out_shape = case.shapes()
        print(
            f"[{index}/{len(cases)}] {case.label}: {in_shape} -> {out_shape},"
            f" {_size(case.nbytes)} ...",
            end="",
            file=sys.stderr,
            flush=True,
        )
        case_clock = time.perf_counter()
        records = _run_case(torch, case, args, shared)
        by_key = {record["implementation"]: record for record in records}
        shown = [
            f"{by_key[key]['label']} {by_key[key]['ratio']:.2f}×"
            for key in ("pixelshuffle", "pixelshuffle_out")
            if "ratio" in by_key[key]
        ]
        bad = [r["label"] for r in records if r["status"] in ("mismatch", "error")]
        print(
            f" {time.perf_counter() - case_clock:.1f} s; {', '.join(shown) or 'no timings'}"
            + (f"; MISMATCH/ERROR: {', '.join(bad)}" if bad else ""),
            file=sys.stderr,
            flush=True,
        )
        report_cases.append(
            {
                "key": case.key,
                "label": case.label,
                "direction": case.direction,
                "convention": case.convention,
                "layout": case.layout,
                "dtype": case.dtype,
                "factor": case.factor,
                "size": case.size,
                "input_shape": list(in_shape),
                "output_shape": list(out_shape),
                "bytes": case.nbytes,
                "results": records,
            }
        )
        write_report()
    report = write_report()
    print("\n".join(_summaries(report)))
    print(f"wrote {targets[0]} and {targets[1]}")
    failed = [
        f"{case['label']}: {record['label']} ({record['status']}: {record['note']})"
        for case in report_cases
        for record in case["results"]
        if record["status"] in ("mismatch", "error")
    ]
    if failed:
        print("pixelshuffle bench: not timed because of wrong output or failure:", file=sys.stderr)
        for line in failed:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


def _jsonable(value: Any) -> Any:
    """An option's value as JSON: a subcommand's parser may have added anything."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return str(value)
