"""Array-type dispatch: how each framework runs a plan's reshape → transpose → reshape.

A backend is found from the input's type (its class's module), never by importing a
framework: whoever passes a ``torch.Tensor`` has already imported torch.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from ._errors import PixelShuffleError, PixelShuffleTypeError
from ._layout import Layout

__all__ = ["Backend", "backend_for"]

Shape = Sequence[Any]  # ints, torch.SymInt or scalar tf.Tensor sizes


class Backend:
    """NumPy, and the interface every backend implements."""

    name = "numpy"

    def shape(self, x: Any) -> tuple[Any, ...]:
        return tuple(x.shape)

    def is_known(self, size: Any) -> bool:
        """Whether a size from :meth:`shape` can be checked before the op runs."""
        return True

    def transpose(self, x: Any, perm: Sequence[int]) -> Any:
        return x.transpose(perm)

    def rearrange(self, x: Any, split: Shape, perm: Sequence[int] | None, out: Shape) -> Any:
        """``x`` reshaped to ``split``, transposed by ``perm`` (``None``: not at all) and
        reshaped to ``out``, as a new array that never shares memory with ``x``."""
        y = x.reshape(split)
        if perm is not None:
            y = y.transpose(perm)
        y = y.reshape(out)
        np = sys.modules["numpy"]
        return y.copy() if np.may_share_memory(y, x) else y

    def prefers_channels_last(self, x: Any, layout: Layout) -> bool:
        """Whether ``x``, in a channels-first ``layout``, is stored channels last."""
        return False


class _Torch(Backend):
    name = "torch"

    def transpose(self, x: Any, perm: Sequence[int]) -> Any:
        return x.permute(*perm)

    def rearrange(self, x: Any, split: Shape, perm: Sequence[int] | None, out: Shape) -> Any:
        y = x.reshape(split)
        if perm is not None:
            y = y.permute(*perm)
        # Exactly one copy, always a fresh tensor: reshape() would return a view of x
        # when nothing moves, also under inference_mode, torch.compile and export.
        torch = sys.modules["torch"]
        return y.clone(memory_format=torch.contiguous_format).view(out)

    def prefers_channels_last(self, x: Any, layout: Layout) -> bool:
        # torch has memory formats for one batch axis and 2-D or 3-D images only
        if x.dim() != layout.n_axes + 1 or layout.rank not in (2, 3) or x.is_contiguous():
            return False
        torch = sys.modules["torch"]
        fmt = torch.channels_last if layout.rank == 2 else torch.channels_last_3d
        return bool(x.is_contiguous(memory_format=fmt))


class _Immutable(Backend):
    """Frameworks whose arrays cannot be written to: a view is as good as a copy."""

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


_NUMPY = Backend()
_TORCH = _Torch()
_JAX = _Immutable("jax", "jax.numpy")
_TENSORFLOW = _TensorFlow()
_GENERIC = _Generic()

_BY_PACKAGE = {
    "numpy": _NUMPY,
    "torch": _TORCH,
    "jax": _JAX,
    "jaxlib": _JAX,
    "tensorflow": _TENSORFLOW,
}


def backend_for(x: object, op: str) -> Backend:
    """The backend for ``x``'s type; a :class:`PixelShuffleTypeError` if there is none."""
    for cls in type(x).__mro__:
        backend = _BY_PACKAGE.get(cls.__module__.partition(".")[0])
        if backend is not None:
            return backend
    if hasattr(x, "__array_namespace__") or all(
        hasattr(x, attr) for attr in ("shape", "reshape", "transpose")
    ):
        return _GENERIC
    raise PixelShuffleTypeError(
        f"{op}: expected an array (numpy.ndarray, torch.Tensor, jax.Array, tf.Tensor or an"
        f" array with shape, reshape and transpose), got {type(x).__module__}."
        f"{type(x).__qualname__}"
        + ("; wrap it with numpy.asarray(...)" if isinstance(x, (list, tuple)) else "")
    )
