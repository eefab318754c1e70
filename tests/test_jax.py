"""pixel_shuffle / pixel_unshuffle on JAX arrays: types, dtypes, jit, grad, vmap, export.

JAX itself has no pixel-shuffle op: neither ``jax.nn`` nor ``jax.image`` offers one
(checked on JAX 0.10.2), and neither does Flax (``flax.linen`` / ``flax.nnx`` 0.12).
DeepMind's dm-pix has ``dm_pix.depth_to_space`` / ``space_to_depth`` for ``HWC`` and
``NHWC`` arrays, square blocks only; it uses TensorFlow's order, i.e.
``convention='tf', layout='NHWC'`` (``test_dm_pix_matches_tf_convention``).
Keras' JAX backend is compared in test_tensorflow.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pixelshuffle as ps

from . import oracle
from .conftest import require

jax = require("jax")
jnp = jax.numpy

pytestmark = pytest.mark.frameworks

CONVENTIONS = ["torch", "tf", "caffe"]
# (layout, factor, depth-form trailing shape): C_out = 2, non-square sizes and factors
CASES = [
    pytest.param("NCHW", 3, (18, 2, 3), id="NCHW-3"),
    pytest.param("NHWC", (2, 3), (3, 2, 12), id="NHWC-2x3"),
    pytest.param("NCL", 3, (6, 5), id="NCL-3"),
    pytest.param("NDHWC", (2, 1, 3), (2, 1, 3, 12), id="NDHWC-2x1x3"),
]


def _depth(trailing, batch=(2,), dtype=np.int32):
    shape = (*batch, *trailing)
    return np.arange(math.prod(shape)).reshape(shape).astype(dtype)


def _equal(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))


def _order(convention, layout):
    return oracle.preset_order(convention, layout)


def _factors(factor, layout):
    rank = len(layout) - 2
    return (factor,) * rank if isinstance(factor, int) else factor


# --- jax.Array in, jax.Array out --------------------------------------------------------

DTYPES = ["float32", "bfloat16", "float16", "int32", "uint8", "bool", "complex64"]


def _values(values: np.ndarray, dtype_name: str) -> np.ndarray:
    if dtype_name == "bool":
        return values % 3 == 1
    if dtype_name == "complex64":
        return (values - 1j * values).astype(np.complex64)
    return values.astype(jnp.dtype(dtype_name))


@pytest.mark.parametrize("dtype_name", DTYPES)
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_dtypes(dtype_name, convention):
    # 2·18·2·3 = 216 elements: distinct and exact in uint8, float16 and bfloat16
    x_np = _values(_depth((18, 2, 3)), dtype_name)
    x = jnp.asarray(x_np)
    assert x.dtype == jnp.dtype(dtype_name)
    order = _order(convention, "NCHW")
    for fn, index_formula in (
        (ps.pixel_shuffle, oracle.shuffle),
        (ps.pixel_unshuffle, oracle.unshuffle),
    ):
        result = fn(x, 3, convention=convention, layout="NCHW")
        assert isinstance(result, jax.Array)
        assert result.dtype == x.dtype
        assert result.devices() == x.devices()
        expected = index_formula(x_np, (3, 3), order, "NCHW")
        assert _equal(result, expected)
        x, x_np = result, expected  # unshuffle the shuffled array next


@pytest.mark.parametrize(("layout", "factor", "trailing"), CASES)
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_matches_index_formula(layout, factor, trailing, convention):
    x_np = _depth(trailing)
    factors = _factors(factor, layout)
    result = ps.pixel_shuffle(jnp.asarray(x_np), factor, convention=convention, layout=layout)
    expected = oracle.shuffle(x_np, factors, _order(convention, layout), layout)
    assert _equal(result, expected)
    back = ps.pixel_unshuffle(result, factor, convention=convention, layout=layout)
    assert _equal(back, x_np)


def test_conventions_differ():
    # guard: the inputs above tell the presets apart
    x = jnp.asarray(_depth((18, 2, 3)))
    results = [np.asarray(ps.pixel_shuffle(x, 3, convention=c)) for c in CONVENTIONS]
    for i in range(len(results)):
        for j in range(i):
            assert not np.array_equal(results[i], results[j])


# --- transformations ------------------------------------------------------------------


@pytest.mark.parametrize(("layout", "factor", "trailing"), CASES)
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_jit(layout, factor, trailing, convention):
    shuffle = jax.jit(ps.pixel_shuffle, static_argnames=("factor", "convention", "layout"))
    unshuffle = jax.jit(ps.pixel_unshuffle, static_argnames=("factor", "convention", "layout"))
    x = jnp.asarray(_depth(trailing, dtype=np.float32))
    kwargs = {"factor": factor, "convention": convention, "layout": layout}
    y = shuffle(x, **kwargs)
    assert isinstance(y, jax.Array)
    assert y.dtype == x.dtype
    assert _equal(y, ps.pixel_shuffle(x, **kwargs))
    assert _equal(unshuffle(y, **kwargs), x)


def test_jit_closure_and_retrace():
    calls = []

    @jax.jit
    def upsample(x):
        calls.append(x.shape)
        return ps.pixel_shuffle(x, (2, 3), convention="tf", layout="NHWC") * 2

    x = jnp.asarray(_depth((3, 2, 12), dtype=np.float32))
    expected = ps.pixel_shuffle(np.asarray(x), (2, 3), convention="tf", layout="NHWC") * 2
    assert _equal(upsample(x), expected)
    assert _equal(upsample(x + 0), expected)
    assert len(calls) == 1  # traced once, the plan is pure Python at trace time
    assert upsample(jnp.zeros((5, 3, 2, 12))).shape == (5, 6, 6, 2)
    assert len(calls) == 2


@pytest.mark.parametrize(("layout", "factor", "trailing"), CASES)
@pytest.mark.parametrize("convention", ["torch", "tf"])
def test_grad(layout, factor, trailing, convention):
    kwargs = {"convention": convention, "layout": layout}
    rng = np.random.default_rng(0)
    x = jnp.asarray(_depth(trailing, dtype=np.float32))
    w = jnp.asarray(rng.standard_normal(ps.pixel_shuffle(x, factor, **kwargs).shape), jnp.float32)

    def loss(t):
        return jnp.sum(w * ps.pixel_shuffle(t, factor, **kwargs))

    assert _equal(jax.grad(loss)(x), ps.pixel_unshuffle(w, factor, **kwargs))
    assert _equal(jax.jit(jax.grad(loss))(x), ps.pixel_unshuffle(w, factor, **kwargs))

    u = jnp.asarray(rng.standard_normal(x.shape), jnp.float32)
    space = ps.pixel_shuffle(x, factor, **kwargs)

    def loss_down(t):
        return jnp.sum(u * ps.pixel_unshuffle(t, factor, **kwargs))

    assert _equal(jax.grad(loss_down)(space), ps.pixel_shuffle(u, factor, **kwargs))


def test_vjp_bfloat16():
    # jax.vjp with a bfloat16 cotangent: the transpose of a permutation is exact
    x = jnp.asarray(_depth((18, 2, 3), dtype=np.float32)).astype(jnp.bfloat16)
    y, vjp = jax.vjp(lambda t: ps.pixel_shuffle(t, 3, convention="caffe"), x)
    cotangent = jnp.arange(y.size, dtype=jnp.float32).reshape(y.shape).astype(jnp.bfloat16) / 4
    (grad,) = vjp(cotangent)
    assert grad.dtype == jnp.bfloat16
    assert _equal(grad, ps.pixel_unshuffle(cotangent, 3, convention="caffe"))


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_vmap_over_leading_axis(convention):
    x = jnp.asarray(_depth((3, 2, 12), batch=(4, 2), dtype=np.float32))

    def shuffle(t):
        return ps.pixel_shuffle(t, (2, 3), convention=convention, layout="NHWC")

    expected = shuffle(x)  # two batch axes at once, without vmap
    assert _equal(jax.vmap(shuffle)(x), expected)
    # vmap of an unbatched (H, W, C) function, twice
    assert _equal(jax.vmap(jax.vmap(shuffle))(x), expected)
    assert _equal(jax.jit(jax.vmap(shuffle))(x), expected)


def test_vmap_over_inner_axis():
    # mapped axis 1 of (N, K, C, H, W): the function sees (N, C, H, W)
    x = jnp.asarray(_depth((18, 2, 3), batch=(2, 3), dtype=np.float32))

    def shuffle(t):
        return ps.pixel_shuffle(t, 3, convention="tf", layout="NCHW")

    result = jax.vmap(shuffle, in_axes=1, out_axes=1)(x)
    assert _equal(result, shuffle(x))


def test_export_with_symbolic_batch():
    # jax.export traces with a symbolic batch size; the plan only needs the known axes
    from jax import export

    spec = jax.ShapeDtypeStruct(export.symbolic_shape("b, 18, 2, 3"), jnp.float32)
    exported = export.export(
        jax.jit(lambda t: ps.pixel_shuffle(t, 3, convention="tf", layout="NCHW"))
    )(spec)
    (out,) = exported.out_avals
    assert str(out.shape[0]) == "b"
    assert out.shape[1:] == (2, 6, 9)
    for batch in (1, 3):
        x = jnp.asarray(_depth((18, 2, 3), batch=(batch,), dtype=np.float32))
        assert _equal(exported.call(x), ps.pixel_shuffle(x, 3, convention="tf", layout="NCHW"))


def test_numpy_input_stays_numpy_under_jax_import():
    # importing jax changes nothing for NumPy arrays: the result is still a NumPy array
    x = _depth((18, 2, 3))
    result = ps.pixel_shuffle(x, 3)
    assert type(result) is np.ndarray
    assert _equal(x, _depth((18, 2, 3)))  # the input is not modified


def test_error_on_jax_array():
    x = jnp.zeros((2, 5, 7, 12))
    with pytest.raises(ps.PixelShuffleError, match=r"must be divisible by 3·3 = 9, got 12"):
        ps.pixel_shuffle(x, 3, convention="tf", layout="NHWC")


# --- dm-pix, JAX's image library, has TensorFlow's depth_to_space ---------------------


@pytest.mark.parametrize("block", [2, 3])
@pytest.mark.parametrize("batch", [(), (2,)], ids=["HWC", "NHWC"])
def test_dm_pix_matches_tf_convention(block, batch):
    pix = require("dm_pix")
    channels, coarse = 2, (2, 3)
    shape = (*batch, *coarse, channels * block * block)
    depth = jnp.arange(math.prod(shape), dtype=jnp.float32).reshape(shape)
    up = ps.pixel_shuffle(depth, block, convention="tf", layout="NHWC")
    assert bool(jnp.array_equal(up, pix.depth_to_space(depth, block)))
    assert not bool(
        jnp.array_equal(
            ps.pixel_shuffle(depth, block, layout="NHWC"), pix.depth_to_space(depth, block)
        )
    )
    down = ps.pixel_unshuffle(up, block, convention="tf", layout="NHWC")
    assert bool(jnp.array_equal(down, pix.space_to_depth(up, block)))
