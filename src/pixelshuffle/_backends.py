"""Array-type dispatch: how each framework runs a plan's reshape → transpose → reshape.

A backend is found from the input's type (its class's module), never by importing a
framework: whoever passes a ``torch.Tensor`` has already imported torch.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from . import _kernels
from ._errors import PixelShuffleError, PixelShuffleTypeError, format_shape
from ._layout import Layout
from ._memo import evict_oldest
from ._plan import Plan

__all__ = ["Backend", "backend_for"]

Shape = Sequence[Any]  # ints, torch.SymInt or scalar tf.Tensor sizes


class Backend:
    """NumPy, and the interface every backend implements."""

    name = "numpy"
    #: arrays that ``out=`` can write into
    mutable = True

    def shape(self, x: Any) -> tuple[Any, ...]:
        return tuple(x.shape)

    def sizes_to_check(self, shape: tuple[Any, ...]) -> tuple[Any, ...]:
        """``shape`` in the form that validation compares (see :meth:`is_known`)."""
        return shape

    def is_known(self, size: Any) -> bool:
        """Whether a size from :meth:`shape` can be checked before the op runs."""
        return True

    def transpose(self, x: Any, perm: Sequence[int]) -> Any:
        return x.transpose(perm)

    def apply(self, plan: Plan, x: Any, shape: tuple[Any, ...]) -> Any:
        """Run ``plan`` on ``x`` (of ``shape``) into a new array."""
        return self.rearrange(x, *_recipe(plan, shape))

    def apply_into(self, plan: Plan, x: Any, shape: tuple[Any, ...], out: Any) -> Any:
        """Run ``plan`` on ``x``, writing into ``out`` (already checked) in one pass."""
        split, perm, _ = _recipe(plan, shape)
        moved = x.reshape(split)
        if perm is not None:
            moved = moved.transpose(perm)
        # out's shape split along its own axes: always a view, whatever out's strides
        target = out.reshape(moved.shape)
        np = sys.modules["numpy"]
        if not np.may_share_memory(target, out):  # pragma: no cover - a split never copies
            raise AssertionError("reshaping out= copied it")
        if not _kernels.copy_numpy(moved, target):
            np.copyto(target, moved, casting="no")
        return out

    def check_out(self, where: str, x: Any, out: Any, expected: tuple[int, ...]) -> None:
        """Raise a library error unless ``out`` can receive the result of ``x``."""
        np = sys.modules["numpy"]
        if not isinstance(out, np.ndarray):
            raise PixelShuffleTypeError(
                f"{where}: out must be a numpy.ndarray like the input, got {_type_name(out)}"
            )
        _check_out_metadata(where, out.shape, expected, out.dtype, x.dtype)
        if not out.flags.writeable:
            raise PixelShuffleError(f"{where}: out must be writeable, got a read-only array")
        if np.may_share_memory(out, x):
            raise PixelShuffleError(
                f"{where}: out must not share memory with the input; pass a separate array"
            )

    def rearrange(self, x: Any, split: Shape, perm: Sequence[int] | None, out: Shape) -> Any:
        """``x`` reshaped to ``split``, transposed by ``perm`` (``None``: not at all) and
        reshaped to ``out``, as a new array that never shares memory with ``x``."""
        y = x.reshape(split)
        if perm is not None:
            y = y.transpose(perm)
        np = sys.modules["numpy"]
        # not a subclass, whose copies may carry more than data
        if type(x) is np.ndarray and y.nbytes >= _kernels.MIN_BYTES:
            result = np.empty(y.shape, dtype=y.dtype)
            if _kernels.copy_numpy(y, result):
                return result.reshape(out)
        y = y.reshape(out)
        return y.copy() if np.may_share_memory(y, x) else y

    def prefers_channels_last(self, x: Any, layout: Layout) -> bool:
        """Whether ``x``, in a channels-first ``layout``, is stored channels last."""
        return False

    def channels_last_native(self, prepared: Any, x: Any) -> Any:
        """The framework's own op on a channels-last ``x``, where it is the faster path,
        or ``None``."""
        return None

    def native_export(self, prepared: Any, x: Any, shape: tuple[Any, ...]) -> Any:
        """The op as one native node of an export format being traced, or ``None``."""
        return None

    def run_remembered(self, prepared: Any, x: Any) -> Any:
        """The result by a recipe :meth:`remember` kept for ``x``'s shape, or ``None``:
        a shortcut past validation and planning for inputs of a shape seen before (the
        small tensors of a loop, and large ones the kernels copy)."""
        return None

    def run_remembered_into(self, prepared: Any, x: Any, out: Any) -> Any:
        """:meth:`run_remembered` into ``out`` (checked here), or ``None``."""
        return None

    def remember(self, prepared: Any, x: Any, shape: tuple[Any, ...]) -> None:
        """Keep a recipe for ``prepared`` on inputs like ``x``, which just ran and so is
        known to be valid (only for memoized ops: an unmemoized one is a new object on
        every call and would only flood the recipes)."""


def _recipe(
    plan: Plan, shape: tuple[Any, ...]
) -> tuple[tuple[Any, ...], tuple[int, ...] | None, tuple[Any, ...]]:
    """The split shape, the transpose (``None`` when nothing moves) and the output shape
    of ``plan`` on an input of ``shape``, batch axes included."""
    n_batch = len(shape) - plan.n_axes
    batch = shape[:n_batch]
    split, out = plan.shapes(shape[n_batch:])
    perm = None
    if plan.moves_data:
        perm = (*range(n_batch), *(n_batch + p for p in plan.perm))
    return batch + split, perm, batch + out


def _check_out_metadata(
    where: str, shape: Sequence[Any], expected: Sequence[Any], dtype: Any, x_dtype: Any
) -> None:
    if tuple(shape) != tuple(expected):
        raise PixelShuffleError(
            f"{where}: out must have the result's shape {format_shape(expected)}, got"
            f" {format_shape(shape)}"
        )
    if dtype != x_dtype:
        raise PixelShuffleError(f"{where}: out must have the input's dtype {x_dtype}, got {dtype}")


def _type_name(x: object) -> str:
    return f"{type(x).__module__}.{type(x).__qualname__}"


class _NumPy(Backend):
    """NumPy: the base implementation, and remembered shapes. Once a C-contiguous
    ``numpy.ndarray`` of a shape has run, later calls of that shape skip validation and
    planning and run the kernel's plan straight away: NumPy's own strided copies are
    slow, so the kernel wins at every size measured, 3.5× at 4 KiB and 4–21× above
    (benchmarks/README.md); below 4 KiB numba is not worth importing."""

    def run_remembered(self, prepared: Any, x: Any) -> Any:
        recipe = _numpy_recipe_for(prepared, x)
        if recipe is None:
            return None
        plan, out_shape = recipe
        result = sys.modules["numpy"].empty(out_shape, dtype=x.dtype)
        _kernels.copy_contiguous_numpy(plan, x, result)
        return result

    def run_remembered_into(self, prepared: Any, x: Any, out: Any) -> Any:
        recipe = _numpy_recipe_for(prepared, x)
        if recipe is None:
            return None
        plan, out_shape = recipe
        self.check_out(prepared.where, x, out, out_shape)
        if type(out) is not type(x) or not out.flags.c_contiguous:
            return None  # the full path writes any strides
        _kernels.copy_contiguous_numpy(plan, x, out)
        return out

    def remember(self, prepared: Any, x: Any, shape: tuple[Any, ...]) -> None:
        np = sys.modules["numpy"]
        # not a subclass, whose copies may carry more than data; one layout per shape
        if not (prepared.memoized and type(x) is np.ndarray and x.flags.c_contiguous):
            return
        # checked first: the arrays no recipe is kept for run through here on every call
        if x.nbytes < _kernels.NUMPY_SMALL_BYTES or x.dtype.itemsize not in _kernels.UNSIGNED:
            return
        key = (prepared, x.shape, x.dtype)
        if key in _NUMPY_RECIPES or x.dtype.hasobject:
            return
        split, perm, out = _recipe(prepared.plan, shape)
        moved = x.reshape(split)
        if perm is not None:
            moved = moved.transpose(perm)
        plan = _kernels.plan_numpy_copy(moved)
        if plan is None:
            return
        if len(_NUMPY_RECIPES) >= _MAX_NUMPY_RECIPES:  # the oldest goes first
            evict_oldest(_NUMPY_RECIPES)
        _NUMPY_RECIPES[key] = (plan, out)


def _numpy_recipe_for(prepared: Any, x: Any) -> tuple[Any, tuple[int, ...]] | None:
    """The remembered kernel plan and output shape for ``x``, where one applies."""
    if not prepared.memoized or type(x) is not sys.modules["numpy"].ndarray:
        return None
    recipe = _NUMPY_RECIPES.get((prepared, x.shape, x.dtype))
    if recipe is None or not x.flags.c_contiguous:
        return None
    return recipe


# Per (prepared op, input shape, dtype): the kernel's plan and the output's shape.
_NUMPY_RECIPES: dict[tuple[Any, ...], tuple[Any, tuple[int, ...]]] = {}
_MAX_NUMPY_RECIPES = 512


class _Immutable(Backend):
    """Frameworks whose arrays cannot be written to: a view is as good as a copy."""

    mutable = False

    def __init__(self, name: str, module: str) -> None:
        self.name = name
        self._module = module

    def transpose(self, x: Any, perm: Sequence[int]) -> Any:
        return sys.modules[self._module].transpose(x, tuple(perm))

    def reshape(self, x: Any, shape: Shape) -> Any:
        return sys.modules[self._module].reshape(x, tuple(shape))

    def rearrange(self, x: Any, split: Shape, perm: Sequence[int] | None, out: Shape) -> Any:
        y = self.reshape(x, split)
        if perm is not None:
            y = self.transpose(y, perm)
        return self.reshape(y, out)


class _TensorFlow(_Immutable):
    """TensorFlow: graphs may leave sizes unknown (``None``) until run time."""

    def __init__(self) -> None:
        super().__init__("tensorflow", "tensorflow")

    def shape(self, x: Any) -> tuple[Any, ...]:
        static = x.shape
        if static.rank is None:
            raise PixelShuffleError(
                f"the input's rank must be known, got a tensor of unknown shape {static}"
            )
        sizes = tuple(static)
        if all(size is not None for size in sizes):
            return sizes
        dynamic = sys.modules["tensorflow"].shape(x)
        return tuple(dynamic[i] if size is None else size for i, size in enumerate(sizes))

    def sizes_to_check(self, shape: tuple[Any, ...]) -> tuple[Any, ...]:
        """``shape`` in the form that validation compares (see :meth:`is_known`)."""
        return shape

    def is_known(self, size: Any) -> bool:
        return isinstance(size, int)  # not a scalar tensor that a graph knows at run time

    def reshape(self, x: Any, shape: Shape) -> Any:
        tf = sys.modules["tensorflow"]
        if all(isinstance(size, int) for size in shape):
            return tf.reshape(x, tuple(shape))
        return tf.reshape(x, tf.stack([tf.cast(size, tf.int32) for size in shape]))


class _Generic(Backend):
    """Arrays of other frameworks: the array API standard (``__array_namespace__``) or
    NumPy-style ``reshape``/``transpose`` methods. Nothing can be asked about aliasing,
    so the result is always copied."""

    name = "generic"
    mutable = False

    def transpose(self, x: Any, perm: Sequence[int]) -> Any:
        if hasattr(x, "__array_namespace__"):
            return x.__array_namespace__().permute_dims(x, tuple(perm))
        return x.transpose(perm)

    def rearrange(self, x: Any, split: Shape, perm: Sequence[int] | None, out: Shape) -> Any:
        api = x.__array_namespace__() if hasattr(x, "__array_namespace__") else None
        y = api.reshape(x, tuple(split)) if api else x.reshape(split)
        if perm is not None:
            y = self.transpose(y, perm)
        y = api.reshape(y, tuple(out)) if api else y.reshape(out)
        return api.asarray(y, copy=True) if api else y.copy()


_NUMPY = _NumPy()
_JAX = _Immutable("jax", "jax.numpy")
_TENSORFLOW = _TensorFlow()
_GENERIC = _Generic()

_BY_PACKAGE = {
    "numpy": _NUMPY,
    "jax": _JAX,
    "jaxlib": _JAX,
    "tensorflow": _TENSORFLOW,
}


def backend_for(x: object, op: str) -> Backend:
    """The backend for ``x``'s type; a :class:`PixelShuffleTypeError` if there is none."""
    backend = _BY_TYPE.get(type(x))
    if backend is None:
        backend = _find_backend(x, op)
        if len(_BY_TYPE) < 64:  # types are few; a bound keeps odd programs from growing it
            _BY_TYPE[type(x)] = backend
    return backend


_BY_TYPE: dict[type, Backend] = {}


def _find_backend(x: object, op: str) -> Backend:
    for cls in type(x).__mro__:
        package = cls.__module__.partition(".")[0]
        backend = _BY_PACKAGE.get(package)
        if backend is not None:
            return backend
        if package == "torch":
            # its own module, with autograd and export support; torch is imported already
            from ._torch import TORCH

            _BY_PACKAGE["torch"] = TORCH
            return TORCH
    if hasattr(x, "__array_namespace__") or all(
        hasattr(x, attr) for attr in ("shape", "reshape", "transpose")
    ):
        return _GENERIC
    raise PixelShuffleTypeError(
        f"{op}: expected an array (numpy.ndarray, torch.Tensor, jax.Array, tf.Tensor or an"
        f" array with shape, reshape and transpose), got {_type_name(x)}"
        + ("; wrap it with numpy.asarray(...)" if isinstance(x, (list, tuple)) else "")
    )
