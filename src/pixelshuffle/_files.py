"""Writing files the safe way: a temporary file next to the target, renamed into place.

A crash or an error never leaves half a file at the target, and the finished file gets
the permissions any newly created file would (``mkstemp`` makes it private).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

__all__ = ["atomic_output"]


@contextmanager
def atomic_output(
    path: str | os.PathLike[str], mode: str = "wb", **options: Any
) -> Iterator[IO[Any]]:
    """Open a temporary file in ``path``'s folder; on success rename it to ``path``.

    Example:
        >>> import os, tempfile
        >>> target = os.path.join(tempfile.mkdtemp(), "note.txt")
        >>> with atomic_output(target, "w") as stream:
        ...     _ = stream.write("done")
        >>> open(target).read(), os.listdir(os.path.dirname(target))
        ('done', ['note.txt'])
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    name = os.path.basename(target)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, mode, **options) as stream:
            yield stream
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
