"""Array-type dispatch: how to reshape, transpose and copy each framework's arrays.

A backend is found from the input's type (its class's module), never by importing a
framework: whoever passes a ``torch.Tensor`` has already imported torch.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from ._errors import PixelShuffleTypeError
from ._layout import Layout

__all__ = ["Backend", "backend_for"]


class Backend:
    """Reshape, transpose and copy for one kind of array (NumPy semantics)."""

    name = "numpy"

    def reshape(self, x: Any, shape: Sequence[int]) -> Any:
        return x.reshape(shape)

    def transpose(self, x: Any, perm: Sequence[int]) -> Any:
        return x.transpose(perm)

    def prefers_channels_last(self, x: Any, layout: Layout) -> bool:
        """Whether ``x``, in a channels-first ``layout``, is stored channels last."""
        return False

    def fresh(self, result: Any, source: Any, moved: bool) -> Any:
        """``result``, copied if it may still share memory with ``source``.

        ``moved`` says whether the plan transposed anything (if not, the reshapes may
        have returned a view of ``source``).
        """
        np = sys.modules["numpy"]
        return result.copy() if np.may_share_memory(result, source) else result


class _Torch(Backend):
    name = "torch"

    def transpose(self, x: Any, perm: Sequence[int]) -> Any:
        return x.permute(*perm)

    def prefers_channels_last(self, x: Any, layout: Layout) -> bool:
        # torch has memory formats for one batch axis and 2-D or 3-D images only
        if x.dim() != layout.n_axes + 1 or layout.rank not in (2, 3) or x.is_contiguous():
            return False
        torch = sys.modules["torch"]
        fmt = torch.channels_last if layout.rank == 2 else torch.channels_last_3d
        return bool(x.is_contiguous(memory_format=fmt))

    def fresh(self, result: Any, source: Any, moved: bool) -> Any:
        torch = sys.modules["torch"]
        if not torch.compiler.is_compiling() and result._is_view():
            return result.clone()
        return result


class _Immutable(Backend):
    """Frameworks whose arrays cannot be written to: a view is as good as a copy."""

    def __init__(self, name: str, module: str, transpose: str = "transpose") -> None:
        self.name = name
        self._module = module
        self._transpose = transpose

    def reshape(self, x: Any, shape: Sequence[int]) -> Any:
        return sys.modules[self._module].reshape(x, tuple(shape))

    def transpose(self, x: Any, perm: Sequence[int]) -> Any:
        return getattr(sys.modules[self._module], self._transpose)(x, tuple(perm))

    def fresh(self, result: Any, source: Any, moved: bool) -> Any:
        return result


class _Duck(Backend):
    """An array of another framework with NumPy-style ``reshape`` and ``transpose`` methods."""

    name = "duck"

    def fresh(self, result: Any, source: Any, moved: bool) -> Any:
        # no way to ask another framework about aliasing: copy whenever nothing moved
        return result if moved else result.copy()


class _TensorFlow(_Immutable):
    """TensorFlow: graphs may leave batch sizes unknown (``None``) until run time."""

    def __init__(self) -> None:
        super().__init__("tensorflow", "tensorflow")

    def reshape(self, x: Any, shape: Sequence[Any]) -> Any:
        tf = sys.modules["tensorflow"]
        unknown = [i for i, size in enumerate(shape) if size is None]
        if len(unknown) == 1:
            shape = [-1 if size is None else size for size in shape]
        elif unknown:
            # Unknown sizes are batch axes, which lead both the input and the output of
            # every reshape of a plan: axis i of the result has the size of axis i of x.
            dynamic = tf.shape(x)
            shape = tf.stack([dynamic[i] if s is None else s for i, s in enumerate(shape)])
        return tf.reshape(x, shape)


class _ArrayAPI(Backend):
    """Any array that implements the Python array API standard (``__array_namespace__``)."""

    name = "array-api"

    def reshape(self, x: Any, shape: Sequence[int]) -> Any:
        return x.__array_namespace__().reshape(x, tuple(shape))

    def transpose(self, x: Any, perm: Sequence[int]) -> Any:
        return x.__array_namespace__().permute_dims(x, tuple(perm))

    def fresh(self, result: Any, source: Any, moved: bool) -> Any:
        if moved:
            return result
        return result.__array_namespace__().asarray(result, copy=True)


_NUMPY = Backend()
_TORCH = _Torch()
_JAX = _Immutable("jax", "jax.numpy")
_TENSORFLOW = _TensorFlow()
_ARRAY_API = _ArrayAPI()
_DUCK = _Duck()

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
    if hasattr(x, "__array_namespace__"):
        return _ARRAY_API
    if all(hasattr(x, attr) for attr in ("shape", "reshape", "transpose")):
        return _DUCK
    raise PixelShuffleTypeError(
        f"{op}: expected an array (numpy.ndarray, torch.Tensor, jax.Array, tf.Tensor or an"
        f" array with shape, reshape and transpose), got {type(x).__module__}."
        f"{type(x).__qualname__}"
        + ("; wrap it with numpy.asarray(...)" if isinstance(x, (list, tuple)) else "")
    )
