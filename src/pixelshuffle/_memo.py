"""A bounded memo for the pure planning functions, readable by ``torch.compile``.

``functools.lru_cache`` would do on its own, but Dynamo cannot see into it: it traces
the wrapped function again on every compile and warns about the cache. A plain dict it
can read, so a compiled call finds its plan with one lookup, without recompiling when
other entries are added. While a tracer runs, misses are computed but not stored: the
objects made inside a trace are the tracer's, not ours.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["evict_oldest", "memoize"]

R = TypeVar("R")
_MISSING = object()


class _Memo(Generic[R]):
    def __init__(self, function: Callable[..., R], maxsize: int) -> None:
        self._function = function
        self._maxsize = maxsize
        self._results: dict[tuple[Any, ...], R] = {}
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any) -> R:
        # one lookup: between a membership test and a read another thread may evict
        result = self._results.get(args, _MISSING)
        if result is not _MISSING:
            return result  # type: ignore[return-value]
        result = self._function(*args)
        if not _tracing():
            if len(self._results) >= self._maxsize:
                evict_oldest(self._results)
            self._results[args] = result
        return result

    def cache_clear(self) -> None:
        self._results.clear()


def memoize(maxsize: int) -> Callable[[Callable[..., R]], _Memo[R]]:
    """Memoize a pure function of hashable positional arguments (compared with ``==``)."""
    return lambda function: _Memo(function, maxsize)


def evict_oldest(results: dict[Any, Any]) -> None:
    """Forget the oldest entry of ``results``, safely while other threads evict too: they
    may take the same entry first, or change the dict between ``iter`` and ``next``."""
    with contextlib.suppress(KeyError, RuntimeError, StopIteration):
        del results[next(iter(results))]


def _tracing() -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and torch.compiler.is_compiling()
