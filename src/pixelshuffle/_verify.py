"""``pixelshuffle verify``: every installed framework's shuffle against the library.

Each depth-to-space / space-to-depth function of each framework that imports runs on
inputs that tell every digit order apart (design.md §5: two or three output channels,
factors 3 and 2, a batch of 2 non-square images, every element distinct),
and its output is compared with :func:`pixelshuffle.pixel_shuffle` /
:func:`pixelshuffle.pixel_unshuffle` under each of the six digit orders of 2-D data
(the presets ``torch``, ``tf`` and ``caffe`` and the three orders no preset names). A
check passes when the framework matches exactly the convention its documentation
promises (:data:`DOCUMENTED`) and nothing else. A framework that does not import is
reported as skipped, never as passed; an exception from a framework's call is reported
as an error, never raised.

Frameworks are imported by :func:`verify`, never when this module is imported, so the
command line parser can be built without any of them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import itertools
import json
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any, Literal

import numpy as np

from . import _kernels
from ._convention import PRESETS, Convention
from ._errors import PixelShuffleError
from ._files import atomic_output
from ._ops import pixel_shuffle, pixel_unshuffle

__all__ = [
    "DESCRIPTION",
    "DOCUMENTED",
    "FRAMEWORKS",
    "HELP",
    "Result",
    "add_arguments",
    "classify",
    "discriminating_input",
    "matching_conventions",
    "render_table",
    "run",
    "summarize",
    "verify",
]

HELP = "check every installed framework's pixel shuffle against the library"
DESCRIPTION = (
    "Run the depth-to-space and space-to-depth functions of every installed framework"
    " (PyTorch, TensorFlow, Keras 3, dm-pix, onnxruntime, onnx.reference, Paddle,"
    " OpenVINO, MXNet) on inputs that tell every channel order apart, report which"
    " convention each one matched and whether that is the convention its documentation"
    " promises. Frameworks that are not installed are listed as skipped. Exit status 1"
    " if any check failed."
)

#: The frameworks ``verify`` knows, in the order of the table.
FRAMEWORKS = (
    "torch",
    "tensorflow",
    "keras",
    "dm_pix",
    "onnxruntime",
    "onnx.reference",
    "paddle",
    "openvino",
    "mxnet",
)

# other names accepted by verify() and --framework (case-insensitive)
_ALIASES: Mapping[str, tuple[str, ...]] = {
    "pytorch": ("torch",),
    "tf": ("tensorflow",),
    "dm-pix": ("dm_pix",),
    "pix": ("dm_pix",),
    "ort": ("onnxruntime",),
    "onnx": ("onnxruntime", "onnx.reference"),
    "paddlepaddle": ("paddle",),
}

#: The convention each framework's documentation promises, by check key. Keras 3's
#: ``channels_first`` differs by backend (design.md §2): TensorFlow and OpenVINO
#: transpose to channels-last and call their own op, the others reshape NCHW directly.
DOCUMENTED: dict[str, str] = {
    "torch": "torch",
    "tensorflow": "tf",
    "keras/channels_last": "tf",
    "keras/channels_first/tensorflow": "tf",
    "keras/channels_first/openvino": "tf",
    "keras/channels_first/torch": "torch",
    "keras/channels_first/jax": "torch",
    "keras/channels_first/numpy": "torch",
    "dm_pix": "tf",
    "onnx/DCR": "tf",
    "onnx/CRD": "torch",
    "onnx/default": "tf",  # DepthToSpace's default mode, and SpaceToDepth before opset 28
    "paddle": "torch",  # NCHW and NHWC alike
    "openvino/blocks_first": "tf",
    "openvino/depth_first": "torch",
    "mxnet/depth_to_space": "tf",  # documented as ONNX's DepthToSpace (DCR)
    "mxnet/PixelShuffle2D": "torch",
}

Direction = Literal["up", "down"]
Status = Literal["pass", "fail", "error", "skipped"]
Op = Callable[[np.ndarray, int], Any]

# (factor, output channels): every digit of the depth index has a radix of at least 2,
# so the six orders give six different outputs (tests/test_verify.py checks it)
CASES: tuple[tuple[int, int], ...] = ((3, 2), (2, 3))
BATCH = 2
COARSE = (2, 5)  # (H, W) of the depth side: non-square

# every digit order of 2-D data, presets first, named as the table shows them
_PRESET_ORDERS = {Convention(name).order_for("NCHW"): name for name in PRESETS}
_ORDERS = (
    *_PRESET_ORDERS,
    *sorted({"".join(p) for p in itertools.permutations("chw")} - set(_PRESET_ORDERS)),
)
BASELINE_OPSET = 13  # DepthToSpace's modes and SpaceToDepth as every runtime knows them
MODE_OPSET = 28  # SpaceToDepth gained `mode` in ONNX 1.23


@dataclass(frozen=True)
class Result:
    """One row of the report: a framework function on one layout and direction.

    A framework that could not be imported has one row with ``status='skipped'`` and an
    empty ``function``; a single check that cannot run here (TensorFlow's NCHW kernels
    without a GPU, an opset the runtime lacks) is ``skipped`` with its ``function`` set.
    ``matched`` lists every convention whose output equals the framework's on all cases
    (preset names, or order strings for the orders no preset names).
    """

    framework: str
    version: str
    function: str
    layout: str
    direction: str
    matched: tuple[str, ...]
    expected: str | None
    status: Status
    note: str = ""
    runtime: str = ""  # what the framework ran on, e.g. Keras's backend

    @property
    def framework_skipped(self) -> bool:
        """Whether this row stands for a whole framework that did not import."""
        return self.status == "skipped" and not self.function

    @property
    def failed(self) -> bool:
        """Whether this check failed or raised."""
        return self.status in ("fail", "error")


@dataclass(frozen=True)
class _Check:
    function: str
    layout: str  # "NCHW" or "NHWC": how the input and output arrays are laid out
    direction: Direction
    documented: str  # key into DOCUMENTED
    op: Op | None  # the framework's function on a NumPy input; None when skipped
    layout_note: str = ""  # shown after the layout, e.g. a memory format
    skip: str = ""


@dataclass(frozen=True)
class _Setup:
    version: str
    checks: list[_Check]
    runtime: str = ""


class _Unsupported(Exception):
    """A runtime cannot run this version of the op at all: skip the check, don't fail it."""


# --------------------------------------------------------------------------- deciding


def discriminating_input(direction: Direction, layout: str, factor: int, channels: int) -> Any:
    """The input of a check: float32 values ``0, 1, 2, ...``, so every element is distinct.

    ``up`` gives the depth side ``(BATCH, channels·factor², 2, 5)`` (or channels last),
    ``down`` the space side ``(BATCH, channels, 2·factor, 5·factor)``.

    Example:
        >>> from pixelshuffle._verify import discriminating_input
        >>> discriminating_input("up", "NHWC", 3, 2).shape
        (2, 2, 5, 18)
        >>> x = discriminating_input("down", "NCHW", 2, 3)
        >>> x.shape, x.dtype, len(set(x.ravel().tolist())) == x.size
        ((2, 3, 4, 10), dtype('float32'), True)
    """
    height, width = COARSE
    if direction == "up":
        c, h, w = channels * factor * factor, height, width
    else:
        c, h, w = channels, height * factor, width * factor
    trailing = (h, w, c) if layout == "NHWC" else (c, h, w)
    shape = (BATCH, *trailing)
    return np.arange(math.prod(shape), dtype=np.float32).reshape(shape)


def matching_conventions(
    result: Any, x: np.ndarray, factor: int, direction: Direction, layout: str
) -> tuple[str, ...]:
    """Every 2-D digit order under which the library turns ``x`` into ``result``.

    Presets are returned by name (``'torch'``, ``'tf'``, ``'caffe'``), the other orders
    as order strings; the comparison is exact (shape and every value).

    Example:
        >>> import pixelshuffle as ps
        >>> from pixelshuffle._verify import discriminating_input, matching_conventions
        >>> x = discriminating_input("up", "NCHW", 3, 2)
        >>> matching_conventions(ps.pixel_shuffle(x, 3, convention="tf"), x, 3, "up", "NCHW")
        ('tf',)
        >>> space = discriminating_input("down", "NCHW", 3, 2)
        >>> depth = ps.pixel_unshuffle(space, 3, convention="hcw")
        >>> matching_conventions(depth, space, 3, "down", "NCHW")
        ('hcw',)
        >>> one = x[:, :9]  # one output channel: the channel digit's place cannot show
        >>> matching_conventions(ps.pixel_shuffle(one, 3), one, 3, "up", "NCHW")
        ('torch', 'tf', 'hcw')
    """
    result = np.asarray(result)
    function = pixel_shuffle if direction == "up" else pixel_unshuffle
    matched = []
    for order in _ORDERS:
        mine = function(x, factor, convention=order, layout=layout)
        if mine.shape == result.shape and np.array_equal(mine, result):
            matched.append(_PRESET_ORDERS.get(order, order))
    return tuple(matched)


def classify(matched: Sequence[str], expected: str | None) -> Status:
    """``'pass'`` when ``matched`` is exactly the documented convention, else ``'fail'``.

    Matching a second convention as well fails too: it means the input could not tell
    them apart, so the check proved nothing.

    Example:
        >>> from pixelshuffle._verify import classify
        >>> classify(["tf"], "tf")
        'pass'
        >>> classify(["tf"], "tensorflow")  # an alias counts as its preset
        'pass'
        >>> classify(["torch"], "tf")
        'fail'
        >>> classify(["torch", "caffe"], "torch")  # the input cannot tell them apart
        'fail'
        >>> classify([], "torch"), classify(["torch"], None)
        ('fail', 'fail')
    """
    if expected is None:
        return "fail"
    order = Convention(expected).order_for("NCHW")
    return "pass" if list(matched) == [_PRESET_ORDERS.get(order, order)] else "fail"


# --------------------------------------------------------------------------- running


def verify(
    frameworks: Iterable[str] | None = None, *, progress: Callable[[str], None] | None = None
) -> list[Result]:
    """Check the frameworks (all of :data:`FRAMEWORKS` by default) against the library.

    Args:
        frameworks: names from :data:`FRAMEWORKS` (or an alias such as ``'pytorch'``,
            ``'tf'`` or ``'onnx'``, which means both ONNX runtimes).
        progress: called with each framework's name before it is imported and run.

    Returns:
        One :class:`Result` per check, in the order of :data:`FRAMEWORKS`.

    Raises:
        PixelShuffleError: an unknown framework name.
    """
    names = _select(frameworks)
    results: list[Result] = []
    for name in names:
        if progress is not None:
            progress(name)
        results.extend(_verify_framework(name))
    return results


def _select(frameworks: Iterable[str] | None) -> list[str]:
    if frameworks is None:
        return list(FRAMEWORKS)
    if isinstance(frameworks, str):
        frameworks = [frameworks]
    wanted: set[str] = set()
    for name in frameworks:
        key = name.strip().lower()
        if key in FRAMEWORKS:
            wanted.add(key)
        elif key in _ALIASES:
            wanted.update(_ALIASES[key])
        else:
            raise PixelShuffleError(
                f"verify: unknown framework {name!r}; expected one of {', '.join(FRAMEWORKS)}"
                f" or an alias ({', '.join(_ALIASES)})"
            )
    return [name for name in FRAMEWORKS if name in wanted]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # The table is the report: frameworks' own deprecation chatter while importing and
    # running is noise here, and a warning filter set to "error" must not turn it into
    # a failed import.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _verify_framework(name: str) -> list[Result]:
    try:
        with _quiet():
            setup = _SETUPS[name]()
    except Exception as error:  # an installed framework that is broken is not a pass either
        own_module = name.partition(".")[0]
        if isinstance(error, ModuleNotFoundError) and error.name == own_module:
            reason = f"not installed ({_first_line(error)})"
        elif isinstance(error, ImportError):  # a dependency, or a version without the API
            reason = f"cannot be used: {_first_line(error)}"
        else:
            reason = f"failed to import: {type(error).__name__}: {_first_line(error)}"
        return [_skipped_framework(name, reason)]
    return [_run_check(name, setup, check) for check in setup.checks]


def _skipped_framework(name: str, reason: str) -> Result:
    return Result(name, "", "", "", "", (), None, "skipped", reason)


def _run_check(framework: str, setup: _Setup, check: _Check) -> Result:
    expected = DOCUMENTED.get(check.documented)
    layout = f"{check.layout} {check.layout_note}".strip()

    def result(status: Status, matched: tuple[str, ...] = (), note: str = "") -> Result:
        return Result(
            framework,
            setup.version,
            check.function,
            layout,
            check.direction,
            matched,
            expected,
            status,
            note,
            setup.runtime,
        )

    if check.skip or check.op is None:
        return result("skipped", note=check.skip)
    per_case: list[tuple[int, tuple[str, ...]]] = []
    shape_notes = []
    for factor, channels in CASES:
        x = discriminating_input(check.direction, check.layout, factor, channels)
        try:
            with _quiet():
                y = np.asarray(check.op(x.copy(), factor))
        except _Unsupported as error:
            return result("skipped", note=_first_line(error))
        except Exception as error:
            message = f"factor {factor}: {type(error).__name__}: {_first_line(error)}"
            return result("error", note=message)
        matches = matching_conventions(y, x, factor, check.direction, check.layout)
        per_case.append((factor, matches))
        function = pixel_shuffle if check.direction == "up" else pixel_unshuffle
        shape = function(x, factor, layout=check.layout).shape  # the same in every order
        if not matches and y.shape != shape:
            shape_notes.append(f"factor {factor}: output shape {y.shape}, expected {shape}")
    matched = tuple(name for name in per_case[0][1] if all(name in m for _, m in per_case))
    status = classify(matched, expected)
    notes = shape_notes
    if len({m for _, m in per_case}) > 1:
        notes.append("; ".join(f"factor {f}: {', '.join(m) or 'none'}" for f, m in per_case))
    if expected is None:
        notes.append(f"no documented convention for {check.documented!r}")
    elif status == "fail" and len(matched) > 1:
        notes.append("the input cannot tell the matched conventions apart")
    elif status == "fail":
        notes.append(f"documented as {expected!r}")
    return result(status, matched, "; ".join(notes))


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _version(module: ModuleType, distribution: str) -> str:
    version = getattr(module, "__version__", None)
    if isinstance(version, str):
        return version
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _pairs(depth_to_space: str, space_to_depth: str) -> tuple[tuple[str, Direction], ...]:
    """A framework's two function names, each with the direction it goes."""
    return ((depth_to_space, "up"), (space_to_depth, "down"))


# --------------------------------------------------------------------------- frameworks


def _torch() -> _Setup:
    import torch

    def op(name: str, device: str, channels_last: bool) -> Op:
        def call(x: np.ndarray, factor: int) -> np.ndarray:
            tensor = torch.from_numpy(x).to(device)
            if channels_last:
                tensor = tensor.contiguous(memory_format=torch.channels_last)
            # looked up at call time, so that what runs is what torch exposes now
            return getattr(torch.nn.functional, name)(tensor, factor).cpu().numpy()

        return call

    # CUDA has kernels of its own (and drops channels_last): check it where there is one
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    checks = [
        _Check(
            f"F.{name}" + ("" if device == "cpu" else f" ({device})"),
            "NCHW",
            direction,
            "torch",
            op(name, device, channels_last),
            layout_note="channels_last" if channels_last else "",
        )
        for device in devices
        for channels_last in (False, True)
        for name, direction in _pairs("pixel_shuffle", "pixel_unshuffle")
    ]
    return _Setup(_version(torch, "torch"), checks)


def _tensorflow() -> _Setup:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # read at TensorFlow's first import
    _kernels.load_triton_first()  # torch's checks may load it later
    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))

    def op(name: str, data_format: str, xla: bool) -> Op:
        def call(x: np.ndarray, factor: int) -> np.ndarray:
            function = getattr(tf.nn, name)
            if xla:
                compiled = tf.function(
                    lambda t: function(t, factor, data_format=data_format), jit_compile=True
                )
                # every check traces a function of its own, on purpose: keep TensorFlow
                # from warning about retracing
                logger = tf.get_logger()
                level = logger.level
                logger.setLevel("ERROR")
                try:
                    return compiled(tf.constant(x)).numpy()
                finally:
                    logger.setLevel(level)
            with tf.device("/GPU:0" if gpu else "/CPU:0"):
                return function(tf.constant(x), factor, data_format=data_format).numpy()

        return call

    checks = []
    # XLA has kernels of its own, and they take NCHW on CPU too
    for xla in (False, True):
        for layout in ("NHWC", "NCHW"):
            for name, direction in _pairs("depth_to_space", "space_to_depth"):
                skip = ""
                if layout == "NCHW" and not xla and not gpu:
                    skip = "TensorFlow has NCHW kernels on GPU only, and no GPU is visible"
                checks.append(
                    _Check(
                        f"tf.nn.{name}" + (" (XLA)" if xla else ""),
                        layout,
                        direction,
                        "tensorflow",
                        None if skip else op(name, layout, xla),
                        skip=skip,
                    )
                )
    return _Setup(_version(tf, "tensorflow"), checks, "GPU" if gpu else "")


def _keras() -> _Setup:
    import keras

    version = _version(keras, "keras")
    if not hasattr(keras, "ops") or not version[:1].isdigit() or int(version.split(".")[0]) < 3:
        raise ImportError(f"keras.ops needs Keras 3, found keras {version}")
    backend = keras.backend.backend()

    def op(name: str, data_format: str) -> Op:
        def call(x: np.ndarray, factor: int) -> np.ndarray:
            ops = keras.ops
            y = getattr(ops, name)(ops.convert_to_tensor(x), factor, data_format=data_format)
            return np.asarray(ops.convert_to_numpy(y))

        return call

    checks = [
        _Check(
            f"keras.ops.{name}",
            layout,
            direction,
            f"keras/{data_format}" + (f"/{backend}" if data_format == "channels_first" else ""),
            op(name, data_format),
            layout_note=data_format,
        )
        for data_format, layout in (("channels_last", "NHWC"), ("channels_first", "NCHW"))
        for name, direction in _pairs("depth_to_space", "space_to_depth")
    ]
    return _Setup(version, checks, f"{backend} backend")


def _dm_pix() -> _Setup:
    import dm_pix
    import jax
    import jax.numpy as jnp

    def op(name: str) -> Op:
        def call(x: np.ndarray, factor: int) -> np.ndarray:
            return np.asarray(getattr(dm_pix, name)(jnp.asarray(x), factor))

        return call

    checks = [
        _Check(f"dm_pix.{name}", "NHWC", direction, "dm_pix", op(name))
        for name, direction in _pairs("depth_to_space", "space_to_depth")
    ]
    return _Setup(_version(dm_pix, "dm-pix"), checks, f"jax {_version(jax, 'jax')}")


# (op, direction, opset, mode); mode None leaves the attribute out, so the default applies
_ONNX_CASES: tuple[tuple[str, Direction, int, str | None], ...] = (
    ("DepthToSpace", "up", BASELINE_OPSET, "DCR"),
    ("DepthToSpace", "up", BASELINE_OPSET, "CRD"),
    ("DepthToSpace", "up", BASELINE_OPSET, None),
    ("SpaceToDepth", "down", BASELINE_OPSET, None),
    ("SpaceToDepth", "down", MODE_OPSET, "DCR"),
    ("SpaceToDepth", "down", MODE_OPSET, "CRD"),
    ("SpaceToDepth", "down", MODE_OPSET, None),
)


def _onnx_checks(
    onnx: ModuleType, run_model: Callable[[Any, np.ndarray, bool], Any]
) -> list[_Check]:
    """ONNX's two ops in every mode, as one-node models built in memory.

    ``run_model(model, x, baseline)`` runs a model on one runtime; ``baseline`` says
    whether the model uses the opset every runtime supports, so that a runtime that
    cannot load a newer one is skipped rather than failed.
    """
    helper = onnx.helper

    def model(op: str, opset: int, mode: str | None, blocksize: int) -> Any:
        attributes: dict[str, Any] = {"blocksize": blocksize}
        if mode is not None:
            attributes["mode"] = mode
        graph = helper.make_graph(
            [helper.make_node(op, ["x"], ["y"], **attributes)],
            f"verify_{op}_{opset}",
            [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", "C", "H", "W"])],
            [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", "C2", "H2", "W2"])],
        )
        opsets = [helper.make_opsetid("", opset)]
        options: dict[str, Any] = {"opset_imports": opsets}
        if hasattr(helper, "find_min_ir_version_for"):
            # the oldest IR that carries the opset: what the most runtime releases read
            options["ir_version"] = helper.find_min_ir_version_for(opsets)
        proto = helper.make_model(graph, **options)
        onnx.checker.check_model(proto)
        return proto

    def op(name: str, opset: int, mode: str | None) -> Op:
        def call(x: np.ndarray, factor: int) -> np.ndarray:
            return np.asarray(run_model(model(name, opset, mode, factor), x, opset <= 13))

        return call

    known = onnx.defs.onnx_opset_version()
    checks = []
    for name, direction, opset, mode in _ONNX_CASES:
        skip = ""
        if opset > known:
            skip = f"onnx {onnx.__version__} knows opsets up to {known}, this needs {opset}"
        checks.append(
            _Check(
                f"{name}-{opset} " + (f"mode={mode}" if mode else "(default mode)"),
                "NCHW",
                direction,
                f"onnx/{mode or 'default'}",
                None if skip else op(name, opset, mode),
                skip=skip,
            )
        )
    return checks


def _onnxruntime() -> _Setup:
    import onnx
    import onnxruntime

    def run_model(model: Any, x: np.ndarray, baseline: bool) -> Any:
        try:
            session = onnxruntime.InferenceSession(
                model.SerializeToString(), providers=["CPUExecutionProvider"]
            )
        except Exception as error:
            if baseline:
                raise
            raise _Unsupported(
                f"onnxruntime {onnxruntime.__version__} cannot load it: {_first_line(error)}"
            ) from error
        return session.run(None, {"x": x})[0]

    version = _version(onnxruntime, "onnxruntime")
    return _Setup(version, _onnx_checks(onnx, run_model), f"onnx {_version(onnx, 'onnx')}")


def _onnx_reference() -> _Setup:
    import onnx
    import onnx.reference

    def run_model(model: Any, x: np.ndarray, baseline: bool) -> Any:
        try:
            evaluator = onnx.reference.ReferenceEvaluator(model)
        except Exception as error:
            if baseline:
                raise
            raise _Unsupported(f"onnx.reference cannot load it: {_first_line(error)}") from error
        return evaluator.run(None, {"x": x})[0]

    return _Setup(_version(onnx, "onnx"), _onnx_checks(onnx, run_model))


def _paddle() -> _Setup:
    import paddle

    def op(name: str, data_format: str) -> Op:
        def call(x: np.ndarray, factor: int) -> np.ndarray:
            function = getattr(paddle.nn.functional, name)
            return function(paddle.to_tensor(x), factor, data_format=data_format).numpy()

        return call

    # Paddle's NHWC keeps the channel-major depth order of its NCHW (design.md §2)
    checks = [
        _Check(f"F.{name}", layout, direction, "paddle", op(name, layout))
        for layout in ("NCHW", "NHWC")
        for name, direction in _pairs("pixel_shuffle", "pixel_unshuffle")
    ]
    return _Setup(_version(paddle, "paddlepaddle"), checks)


def _openvino() -> _Setup:
    import openvino

    try:
        opset = importlib.import_module("openvino.opset1")
    except ImportError:  # releases before 2024 keep the opsets under openvino.runtime
        opset = importlib.import_module("openvino.runtime.opset1")
    runtime = openvino if hasattr(openvino, "Core") else importlib.import_module("openvino.runtime")
    core = runtime.Core()

    def op(name: str, mode: str) -> Op:
        def call(x: np.ndarray, factor: int) -> np.ndarray:
            parameter = opset.parameter(list(x.shape), dtype=np.float32, name="x")
            node = getattr(opset, name)(parameter, mode, block_size=factor)
            model = runtime.Model([node], [parameter], "verify")
            # CPUs with bf16 units may otherwise run in bf16, which rounds the index values
            compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
            return np.asarray(compiled([x])[compiled.output(0)])

        return call

    checks = [
        _Check(f"{name} mode={mode}", "NCHW", direction, f"openvino/{mode}", op(name, mode))
        for mode in ("blocks_first", "depth_first")
        for name, direction in _pairs("depth_to_space", "space_to_depth")
    ]
    return _Setup(_version(openvino, "openvino"), checks, "CPU")


def _mxnet() -> _Setup:
    import mxnet

    def op(name: str) -> Op:
        def call(x: np.ndarray, factor: int) -> np.ndarray:
            function = getattr(mxnet.nd, name)
            return function(mxnet.nd.array(x, dtype=x.dtype), block_size=factor).asnumpy()

        return call

    def pixel_shuffle_2d(x: np.ndarray, factor: int) -> np.ndarray:
        from mxnet.gluon.contrib.nn import PixelShuffle2D

        return PixelShuffle2D(factor)(mxnet.nd.array(x, dtype=x.dtype)).asnumpy()

    checks = [
        _Check(f"nd.{name}", "NCHW", direction, "mxnet/depth_to_space", op(name))
        for name, direction in _pairs("depth_to_space", "space_to_depth")
    ]
    checks.append(
        _Check(
            "gluon.contrib.nn.PixelShuffle2D",
            "NCHW",
            "up",
            "mxnet/PixelShuffle2D",
            pixel_shuffle_2d,
        )
    )
    return _Setup(_version(mxnet, "mxnet"), checks)


_SETUPS: dict[str, Callable[[], _Setup]] = {
    "torch": _torch,
    "tensorflow": _tensorflow,
    "keras": _keras,
    "dm_pix": _dm_pix,
    "onnxruntime": _onnxruntime,
    "onnx.reference": _onnx_reference,
    "paddle": _paddle,
    "openvino": _openvino,
    "mxnet": _mxnet,
}


# --------------------------------------------------------------------------- reporting

_COLUMNS = ("framework", "function", "layout", "direction", "matched", "expected", "result", "note")


def _row(result: Result) -> tuple[str, ...]:
    framework = f"{result.framework} {result.version}".strip()
    if result.runtime:
        framework += f" ({result.runtime})"
    shown = result.status not in ("error", "skipped")
    matched = (", ".join(result.matched) or "none") if shown else "-"
    return (
        framework,
        result.function or "-",
        result.layout or "-",
        result.direction or "-",
        matched,
        result.expected or "-",
        result.status.upper() if result.failed else result.status,
        result.note,
    )


def render_table(results: Sequence[Result]) -> str:
    """The results as an aligned text table, one row per check.

    Example:
        >>> from pixelshuffle._verify import Result, render_table
        >>> torch = Result("torch", "2.5", "F.pixel_shuffle", "NCHW", "up", ("torch",), "torch",
        ...                "pass")
        >>> paddle = Result("paddle", "", "", "", "", (), None, "skipped", "not installed")
        >>> print(render_table([torch, paddle]))
        framework  function         layout  direction  matched  expected  result   note
        ---------  ---------------  ------  ---------  -------  --------  -------  -------------
        torch 2.5  F.pixel_shuffle  NCHW    up         torch    torch     pass
        paddle     -                -       -          -        -         skipped  not installed
    """
    rows = [_COLUMNS, *(_row(result) for result in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    rows.insert(1, tuple("-" * width for width in widths))
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def summarize(results: Sequence[Result]) -> str:
    """The summary line: checks passed and failed (errors included), frameworks skipped.

    Example:
        >>> from pixelshuffle._verify import Result, summarize
        >>> torch = Result("torch", "2.5", "F.pixel_shuffle", "NCHW", "up", ("torch",), "torch",
        ...                "pass")
        >>> paddle = Result("paddle", "", "", "", "", (), None, "skipped", "not installed")
        >>> summarize([torch, paddle])
        '1 check passed, 0 failed, 1 framework skipped'
    """
    passed = sum(r.status == "pass" for r in results)
    failed = sum(r.failed for r in results)
    errors = sum(r.status == "error" for r in results)
    frameworks = sum(r.framework_skipped for r in results)
    checks_skipped = sum(r.status == "skipped" and not r.framework_skipped for r in results)
    line = f"{_count(passed, 'check')} passed, {failed} failed"
    if errors:
        line += f" ({_count(errors, 'error')})"
    line += f", {_count(frameworks, 'framework')} skipped"
    if checks_skipped:
        line += f" ({_count(checks_skipped, 'check')} skipped)"
    return line


def _report(results: Sequence[Result]) -> dict[str, Any]:
    from . import __version__

    return {
        "pixelshuffle": __version__,
        "python": sys.version.split()[0],
        "summary": {
            "passed": sum(r.status == "pass" for r in results),
            "failed": sum(r.status == "fail" for r in results),
            "errors": sum(r.status == "error" for r in results),
            "checks_skipped": sum(
                r.status == "skipped" and not r.framework_skipped for r in results
            ),
            "frameworks_skipped": sorted({r.framework for r in results if r.framework_skipped}),
            "text": summarize(results),
        },
        "results": [asdict(result) for result in results],
    }


def _write_json(path: str, report: dict[str, Any]) -> None:
    with atomic_output(path, "w", encoding="utf-8") as file:
        json.dump(report, file, indent=2)
        file.write("\n")


# --------------------------------------------------------------------------- command line


def _framework_names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``pixelshuffle verify``."""
    parser.add_argument(
        "--framework",
        metavar="NAME",
        type=_framework_names,
        action="extend",
        help=(
            f"check only this framework (repeatable or comma-separated): {', '.join(FRAMEWORKS)};"
            " 'onnx' means both ONNX runtimes (default: all)"
        ),
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --json file")


def run(args: argparse.Namespace) -> int:
    """Run ``pixelshuffle verify``: 0 when no check failed, 1 when one did, 2 on bad usage."""
    if args.json and os.path.exists(args.json) and not args.force:
        print(f"pixelshuffle verify: error: {args.json} exists; pass --force", file=sys.stderr)
        return 2

    def progress(name: str) -> None:
        if sys.stderr.isatty():  # only for a person waiting on slow imports, not for logs
            print(f"checking {name} ...", file=sys.stderr, flush=True)

    try:
        results = verify(args.framework or None, progress=progress)
    except PixelShuffleError as error:
        print(f"pixelshuffle verify: error: {error}", file=sys.stderr)
        return 2
    print("direction: up = depth to space (pixel_shuffle), down = space to depth (pixel_unshuffle)")
    print()
    print(render_table(results))
    print()
    print(summarize(results))
    if args.json:
        try:
            _write_json(args.json, _report(results))
        except OSError as error:
            print(f"pixelshuffle verify: error: cannot write {args.json}: {error}", file=sys.stderr)
            return 2
        print(f"wrote {args.json}")
    return 1 if any(result.failed for result in results) else 0
