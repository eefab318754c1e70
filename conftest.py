"""Doctests import every module of the package; the kernels' modules need their optional
compilers, so without those they are left out of collection (the library itself then
uses the reference path)."""

import importlib.util

collect_ignore = [
    path
    for path, compiler in (
        ("src/pixelshuffle/_kernels/cpu.py", "numba"),
        ("src/pixelshuffle/_kernels/gpu.py", "triton"),
    )
    if importlib.util.find_spec(compiler) is None
]
