"""Doctests import every module of the package; the kernels' modules need their optional
compilers, so without those they are left out of collection (the library itself then
uses the reference path).

Triton is loaded here, before any test imports TensorFlow: torch.compile loads it too,
and after TensorFlow's LLVM that aborts the process (see ``load_triton_first``).
"""

import importlib.util

from pixelshuffle._kernels import load_triton_first

load_triton_first()

collect_ignore = [
    path
    for path, compiler in (
        ("src/pixelshuffle/_kernels/cpu.py", "numba"),
        ("src/pixelshuffle/_kernels/gpu.py", "triton"),
    )
    if importlib.util.find_spec(compiler) is None
]
