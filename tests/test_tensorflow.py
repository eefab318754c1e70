"""pixel_shuffle / pixel_unshuffle on TensorFlow tensors, against TensorFlow and Keras 3.

- ``tf.nn.depth_to_space`` / ``tf.nn.space_to_depth`` are the oracle for
  ``convention='tf'``, in NHWC directly and in NCHW through a transpose (TensorFlow's
  CPU kernels take NHWC only). ``convention='torch'`` must differ on the same inputs,
  which proves the inputs tell conventions apart (design.md §5).
- Real ``tf.Tensor``/``tf.Variable`` inputs give ``tf.Tensor`` results of the same dtype,
  eagerly, inside ``tf.function`` and under ``tf.GradientTape``.
- Keras 3's ``keras.ops.depth_to_space`` / ``space_to_depth(x, block_size,
  data_format)``: the backend is fixed when Keras is imported, so every backend runs
  in its own subprocess (all at once), which prints a JSON report of which convention
  each Keras op matches. What was found (Keras 3.15): ``channels_last`` is ``tf`` on
  every backend; ``channels_first`` is ``tf`` on the TensorFlow backend (it transposes
  to NHWC and calls ``tf.nn``) but ``torch`` on the JAX, PyTorch and NumPy backends
  (they reshape NCHW directly) — as design.md §2 says.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pixelshuffle as ps

from .conftest import require

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = require("tensorflow")

pytestmark = pytest.mark.frameworks

# (block, coarse (H, W), output channels): non-square sizes, factors 2 and 3, C >= 2
CASES = [
    pytest.param(2, (2, 3), 2, id="b2-2x3-c2"),
    pytest.param(3, (2, 3), 2, id="b3-2x3-c2"),
    pytest.param(3, (1, 4), 3, id="b3-1x4-c3"),
    pytest.param(2, (3, 2), 3, id="b2-3x2-c3"),
]
BATCH = 2

NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)


def _depth_nhwc(block, coarse, channels, dtype=np.float32):
    """A depth-form NHWC array of distinct values."""
    shape = (BATCH, *coarse, channels * block * block)
    return np.arange(math.prod(shape)).reshape(shape).astype(dtype)


def _space_nhwc(block, coarse, channels, dtype=np.float32):
    """A space-form NHWC array of distinct values."""
    shape = (BATCH, coarse[0] * block, coarse[1] * block, channels)
    return np.arange(math.prod(shape)).reshape(shape).astype(dtype)


def _equal(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))


# --- tf.nn.depth_to_space / space_to_depth are the oracle for convention="tf" ---------


@pytest.mark.parametrize(("block", "coarse", "channels"), CASES)
def test_depth_to_space_nhwc(block, coarse, channels):
    x = tf.constant(_depth_nhwc(block, coarse, channels))
    expected = tf.nn.depth_to_space(x, block)
    result = ps.pixel_shuffle(x, block, convention="tf", layout="NHWC")
    assert _equal(result, expected)
    # guard: the input tells the conventions apart
    torch_order = ps.pixel_shuffle(x, block, convention="torch", layout="NHWC")
    assert torch_order.shape == expected.shape
    assert not _equal(torch_order, expected)


@pytest.mark.parametrize(("block", "coarse", "channels"), CASES)
def test_space_to_depth_nhwc(block, coarse, channels):
    x = tf.constant(_space_nhwc(block, coarse, channels))
    expected = tf.nn.space_to_depth(x, block)
    result = ps.pixel_unshuffle(x, block, convention="tf", layout="NHWC")
    assert _equal(result, expected)
    torch_order = ps.pixel_unshuffle(x, block, convention="torch", layout="NHWC")
    assert torch_order.shape == expected.shape
    assert not _equal(torch_order, expected)


@pytest.mark.parametrize(("block", "coarse", "channels"), CASES)
def test_depth_to_space_nchw(block, coarse, channels):
    # TensorFlow's NCHW depth_to_space runs on GPU only: run it on the NHWC transpose
    x = tf.transpose(tf.constant(_depth_nhwc(block, coarse, channels)), NHWC_TO_NCHW)
    expected = tf.transpose(
        tf.nn.depth_to_space(tf.transpose(x, NCHW_TO_NHWC), block), NHWC_TO_NCHW
    )
    result = ps.pixel_shuffle(x, block, convention="tf", layout="NCHW")
    assert _equal(result, expected)
    assert not _equal(ps.pixel_shuffle(x, block, convention="torch", layout="NCHW"), expected)


@pytest.mark.parametrize(("block", "coarse", "channels"), CASES)
def test_space_to_depth_nchw(block, coarse, channels):
    x = tf.transpose(tf.constant(_space_nhwc(block, coarse, channels)), NHWC_TO_NCHW)
    expected = tf.transpose(
        tf.nn.space_to_depth(tf.transpose(x, NCHW_TO_NHWC), block), NHWC_TO_NCHW
    )
    result = ps.pixel_unshuffle(x, block, convention="tf", layout="NCHW")
    assert _equal(result, expected)
    assert not _equal(ps.pixel_unshuffle(x, block, convention="torch", layout="NCHW"), expected)


@pytest.mark.parametrize("batch", [(), (3,), (2, 3)], ids=["unbatched", "1-batch", "2-batch"])
def test_any_number_of_batch_axes(batch):
    block, coarse, channels = 3, (2, 3), 2
    x_np = np.arange(math.prod(batch) * 6 * 18, dtype=np.float32).reshape(*batch, *coarse, 18)
    x = tf.constant(x_np)
    flat = tf.reshape(x, (-1, *coarse, channels * block * block))
    expected = tf.reshape(tf.nn.depth_to_space(flat, block), (*batch, 6, 9, channels))
    result = ps.pixel_shuffle(x, block, convention="tf", layout="NHWC")
    assert _equal(result, expected)
    back = ps.pixel_unshuffle(result, block, convention="tf", layout="NHWC")
    assert _equal(back, x_np)


# --- tf.Tensor in, tf.Tensor out ------------------------------------------------------

DTYPES = [
    "float32",
    "float64",
    "float16",
    "bfloat16",
    "int32",
    "int64",
    "uint8",
    "bool",
    "complex64",
]


def _tf_array(values: np.ndarray, dtype_name: str):
    dtype = tf.dtypes.as_dtype(dtype_name)
    if dtype == tf.bool:
        values = values % 3 == 1
    elif dtype.is_complex:
        values = values - 1j * values
    return values.astype(dtype.as_numpy_dtype)


def _tf_op_or_none(op, x, block):
    """TensorFlow's own op, or None where TensorFlow has no kernel for the dtype."""
    try:
        return op(x, block)
    except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError, TypeError):
        return None


@pytest.mark.parametrize("dtype_name", DTYPES)
@pytest.mark.parametrize("direction", ["shuffle", "unshuffle"])
def test_dtypes(dtype_name, direction):
    block, coarse, channels = 3, (2, 3), 2  # 216 elements: exact in uint8 and bfloat16
    if direction == "shuffle":
        values, fn = _depth_nhwc(block, coarse, channels, np.int64), ps.pixel_shuffle
        tf_op = tf.nn.depth_to_space
    else:
        values, fn = _space_nhwc(block, coarse, channels, np.int64), ps.pixel_unshuffle
        tf_op = tf.nn.space_to_depth
    x_np = _tf_array(values, dtype_name)
    x = tf.constant(x_np)
    assert x.dtype.name == dtype_name
    result = fn(x, block, convention="tf", layout="NHWC")
    assert isinstance(result, tf.Tensor)
    assert result.dtype == x.dtype
    assert result.device == x.device
    # the same op on the NumPy copy
    assert _equal(result.numpy(), fn(x_np, block, convention="tf", layout="NHWC"))
    expected = _tf_op_or_none(tf_op, x, block)
    if expected is not None:
        assert _equal(result.numpy(), expected.numpy())
    assert _equal(x.numpy(), x_np)  # the input is not modified


def test_variable_input():
    block, coarse, channels = 3, (2, 3), 2
    x_np = _depth_nhwc(block, coarse, channels)
    v = tf.Variable(x_np)
    result = ps.pixel_shuffle(v, block, convention="tf", layout="NHWC")
    assert isinstance(result, tf.Tensor)
    assert not isinstance(result, tf.Variable)
    assert result.dtype == tf.float32
    assert _equal(result, tf.nn.depth_to_space(v, block))
    back = ps.pixel_unshuffle(tf.Variable(result), block, convention="tf", layout="NHWC")
    assert _equal(back, x_np)
    assert _equal(v.numpy(), x_np)  # the variable is not modified


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_tf_function_static_shape(layout):
    block, coarse, channels = 3, (2, 3), 2
    x_np = _depth_nhwc(block, coarse, channels)
    if layout == "NCHW":
        x_np = x_np.transpose(NHWC_TO_NCHW)

    @tf.function
    def both(x):
        y = ps.pixel_shuffle(x, block, convention="tf", layout=layout)
        return y, ps.pixel_unshuffle(y, block, convention="tf", layout=layout)

    x = tf.constant(x_np)
    y, back = both(x)
    assert _equal(y, ps.pixel_shuffle(x_np, block, convention="tf", layout=layout))
    assert _equal(back, x_np)
    # the traced graph knows the output shape
    spec = tf.TensorSpec(x_np.shape, tf.float32)
    y_spec, back_spec = both.get_concrete_function(spec).structured_outputs
    assert tuple(y_spec.shape) == y.shape
    assert tuple(back_spec.shape) == x_np.shape


def test_tf_function_matches_tf_op_in_graph():
    block = 2

    @tf.function
    def difference(x):
        mine = ps.pixel_shuffle(x, block, convention="tf", layout="NHWC")
        return tf.reduce_max(tf.abs(mine - tf.nn.depth_to_space(x, block)))

    assert float(difference(tf.constant(_depth_nhwc(block, (2, 3), 3)))) == 0.0


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_tf_function_unknown_batch(layout):
    block, coarse, channels = 3, (2, 3), 2
    x_np = _depth_nhwc(block, coarse, channels)
    if layout == "NCHW":
        x_np = x_np.transpose(NHWC_TO_NCHW)
    spec = tf.TensorSpec((None, *x_np.shape[1:]), tf.float32)

    @tf.function(input_signature=[spec])
    def shuffle(x):
        return ps.pixel_shuffle(x, block, convention="tf", layout=layout)

    for batch in (1, 2):
        result = shuffle(tf.constant(x_np[:batch]))
        assert _equal(result, ps.pixel_shuffle(x_np[:batch], block, convention="tf", layout=layout))
    out_spec = shuffle.get_concrete_function().structured_outputs
    assert out_spec.shape[0] is None
    assert tuple(out_spec.shape[1:]) == result.shape[1:]


def test_tf_function_two_unknown_batch_axes():
    x_np = _depth_nhwc(3, (2, 3), 2).reshape(2, 1, 2, 3, 18)
    spec = tf.TensorSpec((None, None, 2, 3, 18), tf.float32)

    @tf.function(input_signature=[spec])
    def unshuffle_of_shuffle(x):
        up = ps.pixel_shuffle(x, 3, convention="caffe", layout="NHWC")
        return up, ps.pixel_unshuffle(up, 3, convention="caffe", layout="NHWC")

    up, back = unshuffle_of_shuffle(tf.constant(x_np))
    assert _equal(up, ps.pixel_shuffle(x_np, 3, convention="caffe", layout="NHWC"))
    assert _equal(back, x_np)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_tf_function_unknown_spatial_sizes(layout):
    """A fully convolutional model knows only its channels until it runs."""
    x_np = _depth_nhwc(3, (2, 3), 2)
    if layout == "NCHW":
        x_np = x_np.transpose(NHWC_TO_NCHW)
    shape = (None, None, None, 18) if layout == "NHWC" else (None, 18, None, None)

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
    def up_and_down(x):
        up = ps.pixel_shuffle(x, 3, convention="tf", layout=layout)
        return up, ps.pixel_unshuffle(up, 3, convention="tf", layout=layout)

    up, back = up_and_down(tf.constant(x_np))
    assert _equal(up, ps.pixel_shuffle(x_np, 3, convention="tf", layout=layout))
    assert _equal(back, x_np)
    if layout == "NHWC":
        assert _equal(up, tf.nn.depth_to_space(x_np, 3))


def test_keras_layer_with_unknown_spatial_sizes():
    keras = require("keras")

    class Shuffle(keras.layers.Layer):
        def call(self, x):
            return ps.pixel_shuffle(x, 3, convention="tf", layout="NHWC")

    inputs = keras.Input((None, None, 18))
    model = keras.Model(inputs, Shuffle()(inputs))
    x_np = _depth_nhwc(3, (2, 3), 2)
    assert _equal(model(x_np), tf.nn.depth_to_space(x_np, 3))


def test_unknown_rank_is_a_library_error():
    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32)], autograph=False)
    def shuffle(x):
        return ps.pixel_shuffle(x, 3, convention="tf", layout="NHWC")

    with pytest.raises(
        ps.PixelShuffleError,
        match=r"^pixel_shuffle\(convention='tf', layout='NHWC'\): the input's rank must be known",
    ):
        shuffle.get_concrete_function()


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("convention", ["tf", "torch"])
def test_gradient(layout, convention):
    block, coarse, channels = 3, (2, 3), 2
    rng = np.random.default_rng(0)
    x_np = _depth_nhwc(block, coarse, channels)
    if layout == "NCHW":
        x_np = x_np.transpose(NHWC_TO_NCHW)
    kwargs = {"convention": convention, "layout": layout}
    x = tf.constant(x_np)
    w = tf.constant(rng.standard_normal(ps.pixel_shuffle(x_np, block, **kwargs).shape), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(w * ps.pixel_shuffle(x, block, **kwargs))
    grad = tape.gradient(loss, x)
    assert _equal(grad, ps.pixel_unshuffle(w, block, **kwargs))

    # and the other direction, through a variable (watched automatically)
    v = tf.Variable(ps.pixel_shuffle(x_np, block, **kwargs))
    u = tf.constant(rng.standard_normal(x_np.shape), tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(u * ps.pixel_unshuffle(v, block, **kwargs))
    assert _equal(tape.gradient(loss, v), ps.pixel_shuffle(u, block, **kwargs))


def test_gradient_matches_tf_op():
    block = 3
    x = tf.constant(_depth_nhwc(block, (2, 3), 2))
    w = tf.constant(np.random.default_rng(1).standard_normal((BATCH, 6, 9, 2)), tf.float32)
    grads = []
    for shuffle in (
        lambda t: ps.pixel_shuffle(t, block, convention="tf", layout="NHWC"),
        lambda t: tf.nn.depth_to_space(t, block),
    ):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(w * shuffle(x))
        grads.append(tape.gradient(loss, x))
    assert _equal(grads[0], grads[1])


def test_error_on_tf_tensor():
    x = tf.zeros((2, 5, 7, 12))
    with pytest.raises(ps.PixelShuffleError, match=r"must be divisible by 3·3 = 9, got 12"):
        ps.pixel_shuffle(x, 3, convention="tf", layout="NHWC")


# --- Keras 3: one subprocess per backend --------------------------------------------

KERAS_BACKENDS = ("tensorflow", "jax", "torch", "numpy")
# the framework each backend needs, as named in PIXELSHUFFLE_TEST_FRAMEWORKS
KERAS_BACKEND_FRAMEWORK = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}

# Which pixelshuffle convention each Keras op matches, found by the subprocesses below.
KERAS_CONVENTION = {
    "tensorflow": {"channels_last": "tf", "channels_first": "tf"},
    "jax": {"channels_last": "tf", "channels_first": "torch"},
    "torch": {"channels_last": "tf", "channels_first": "torch"},
    "numpy": {"channels_last": "tf", "channels_first": "torch"},
}

_KERAS_PROBE = r"""
import json, math, os, sys

try:
    import keras
except ImportError as error:
    print(json.dumps({"unavailable": f"{type(error).__name__}: {error}"}))
    raise SystemExit(0)

import numpy as np
import pixelshuffle as ps

ops, standardize = keras.ops, keras.backend.standardize_dtype
report = {"backend": keras.backend.backend(), "keras": keras.__version__, "cases": []}
for block in (2, 3):
    for data_format, layout in (("channels_last", "NHWC"), ("channels_first", "NCHW")):
        batch, channels, coarse = 2, 2, (2, 3)
        depth = (batch, *coarse, channels * block * block)
        space = (batch, coarse[0] * block, coarse[1] * block, channels)
        for op, keras_op, ps_op, shape in (
            ("depth_to_space", ops.depth_to_space, ps.pixel_shuffle, depth),
            ("space_to_depth", ops.space_to_depth, ps.pixel_unshuffle, space),
        ):
            if layout == "NCHW":
                shape = (shape[0], shape[3], shape[1], shape[2])
            x = ops.convert_to_tensor(np.arange(math.prod(shape), dtype="float32").reshape(shape))
            expected = keras_op(x, block, data_format=data_format)
            matches, same_type = [], True
            for convention in ("torch", "tf", "caffe"):
                mine = ps_op(x, block, convention=convention, layout=layout)
                same_type &= type(mine) is type(expected)
                same_type &= standardize(mine.dtype) == standardize(expected.dtype)
                if np.array_equal(ops.convert_to_numpy(mine), ops.convert_to_numpy(expected)):
                    matches.append(convention)
            report["cases"].append({
                "op": op, "data_format": data_format, "block": block, "matches": matches,
                "same_type": same_type, "type": type(expected).__module__ + "."
                + type(expected).__qualname__,
            })
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def keras_reports():
    """Run the Keras probe for every backend at once; backend -> (returncode, out, err)."""
    src = str(Path(ps.__file__).resolve().parents[1])
    processes = {}
    for backend in KERAS_BACKENDS:
        env = {
            **os.environ,
            "KERAS_BACKEND": backend,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])),
        }
        processes[backend] = subprocess.Popen(
            [sys.executable, "-c", _KERAS_PROBE],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    reports = {}
    try:
        for backend, process in processes.items():
            out, err = process.communicate(timeout=180)
            reports[backend] = (process.returncode, out, err)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return reports


def _keras_report(keras_reports, backend):
    returncode, out, err = keras_reports[backend]
    assert returncode == 0, f"Keras probe for backend {backend!r} failed:\n{err[-4000:]}"
    lines = out.strip().splitlines()
    assert lines, f"Keras probe for backend {backend!r} printed nothing:\n{err[-4000:]}"
    report = json.loads(lines[-1])
    if "unavailable" in report:
        # the framework the backend needs did not import in the subprocess: fail if the run
        # requires it, skip otherwise (require() decides), fail if it imports here after all
        framework = KERAS_BACKEND_FRAMEWORK.get(backend)
        if framework is not None:
            require(framework)
        pytest.fail(f"Keras backend {backend!r} is unavailable: {report['unavailable']}")
    assert report["backend"] == backend, f"asked for {backend!r}, Keras ran {report['backend']!r}"
    return report


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("op", ["depth_to_space", "space_to_depth"])
@pytest.mark.parametrize("backend", KERAS_BACKENDS)
def test_keras_ops_convention(keras_reports, backend, op, data_format):
    report = _keras_report(keras_reports, backend)
    cases = [c for c in report["cases"] if c["op"] == op and c["data_format"] == data_format]
    assert sorted(c["block"] for c in cases) == [2, 3]
    expected = KERAS_CONVENTION[backend][data_format]
    for case in cases:
        # exactly one convention matches: the input tells them apart
        assert case["matches"] == [expected], (
            f"keras {report['keras']} backend {backend!r}: ops.{op}(data_format="
            f"{data_format!r}, block_size={case['block']}) matches {case['matches']},"
            f" expected [{expected!r}]"
        )
        assert case["same_type"], f"pixelshuffle's result is not a {case['type']} of that dtype"


def test_keras_convention_table_matches_design():
    # design.md §2: channels_first is `tf` on TensorFlow but `torch` on torch, JAX and NumPy
    assert {b: KERAS_CONVENTION[b]["channels_first"] for b in KERAS_BACKENDS} == {
        "tensorflow": "tf",
        "jax": "torch",
        "torch": "torch",
        "numpy": "torch",
    }
    assert {KERAS_CONVENTION[b]["channels_last"] for b in KERAS_BACKENDS} == {"tf"}
